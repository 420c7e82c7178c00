import { expect } from "chai";
import { setTimeout as sleep } from "node:timers/promises";
import { MessageWaits } from "../../worker/processing/message-waits";
import { FixedClock } from "../../shared/runtime/clock";

const T0 = Date.parse("2026-03-01T10:00:00Z");
const NEVER = new AbortController().signal;

describe("a message's waits and its expiry", () => {
  it("are cut short only once the clock has passed the expiry, whatever the timer says", async () => {
    const clock = new FixedClock(T0);
    const waits = new MessageWaits(NEVER, NEVER, T0 + 3, clock);
    const expiry = waits.expiry();
    // The timer comes due several times over while the clock still reads before the expiry: a
    // wait cut short now would be judged not expired, and its message failed instead.
    await sleep(40);
    expect(expiry.aborted).to.equal(false);
    expect(waits.expiryFired).to.equal(false);
    clock.set(T0 + 4);
    for (let i = 0; i < 200 && !expiry.aborted; i++) await sleep(5);
    expect(expiry.aborted).to.equal(true);
    expect(waits.expiryFired).to.equal(true);
    waits.dispose();
  });

  it("are over at once for a message already past its expiry, and never end for one without", () => {
    const past = new MessageWaits(NEVER, NEVER, T0, new FixedClock(T0 + 1));
    expect(past.signal().aborted).to.equal(true);
    expect(past.expiryFired).to.equal(true);
    const timeless = new MessageWaits(NEVER, NEVER, null, new FixedClock(T0));
    expect(timeless.signal().aborted).to.equal(false);
    expect(timeless.expiryFired).to.equal(false);
    past.dispose();
    timeless.dispose();
  });
});
