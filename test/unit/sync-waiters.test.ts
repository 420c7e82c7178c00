import { expect } from "chai";
import { SyncWaiters } from "../../adapter/sync-waiters";
import type { WakeMessage } from "../../shared/protocol/wake-message";
import { SluiceError } from "../../shared/protocol/errors";

const wake = (id: string): WakeMessage => ({ id }) as WakeMessage;

describe("SyncWaiters", () => {
  let waiters: SyncWaiters;
  afterEach(() => waiters.releaseAll());

  it("wakes every waiter of an id (a caller and its sync duplicate) and frees their slots", async () => {
    waiters = new SyncWaiters(10);
    const first = waiters.register("a", 60_000, "EE/GOV/A");
    const duplicate = waiters.register("a", 60_000, "EE/GOV/A");
    const other = waiters.register("b", 60_000, "EE/GOV/A");
    expect(waiters.size).to.equal(3);
    expect(waiters.wake(wake("a"))).to.equal(true);
    expect((await first.promise)?.id).to.equal("a");
    expect((await duplicate.promise)?.id).to.equal("a");
    expect(waiters.size).to.equal(1);
    expect(waiters.ids()).to.deep.equal(["b"]);
    expect(waiters.wake(wake("a")), "nobody waits for it now").to.equal(false);
    other.cancel();
    expect(await other.promise).to.equal(null);
    expect(waiters.size).to.equal(0);
  });

  it("ends a wait once: a cancel after the wake changes nothing, and the deadline ends it with null", async () => {
    waiters = new SyncWaiters(10);
    const woken = waiters.register("a", 60_000, "EE/GOV/A");
    waiters.wake(wake("a"));
    woken.cancel();
    expect((await woken.promise)?.id).to.equal("a");
    const timedOut = waiters.register("c", 1, "EE/GOV/A");
    expect(await timedOut.promise).to.equal(null);
    expect(waiters.size).to.equal(0);
  });

  // The caller's hang-up hook is handed the wait itself and calls it later, detached from
  // the code that registered it.
  it("can be cancelled through the wait handed to a hang-up hook", async () => {
    waiters = new SyncWaiters(10);
    const wait = waiters.register("a", 60_000, "EE/GOV/A");
    const hook: { cancel(): void } = wait;
    hook.cancel();
    expect(await wait.promise).to.equal(null);
    expect(waiters.size).to.equal(0);
  });

  it("refuses a caller beyond its limit with Busy", () => {
    waiters = new SyncWaiters(1);
    waiters.register("a", 60_000, "EE/GOV/A");
    expect(() => waiters.register("b", 60_000, "EE/GOV/A"))
      .to.throw(SluiceError)
      .with.property("code", "Busy");
  });

  // One client's flood of sync callers took every slot, and every other client was refused
  // waiters_full until those waits ended.
  describe("one client's flood", () => {
    const A = "EE/GOV/A/batch";
    const B = "EE/GOV/B/app";

    it("keeps the upper half of the slots for the others once another client waits", () => {
      waiters = new SyncWaiters(6);
      for (const id of ["a1", "a2"]) waiters.register(id, 60_000, A);
      waiters.register("b1", 60_000, B);
      // Past half of the slots, A holds more than half of the waits: refused.
      expect(waiters.refusal(A)).to.equal("waiters_client_share");
      expect(() => waiters.register("a3", 60_000, A))
        .to.throw(SluiceError)
        .with.property("code", "Busy");
      // The others take the rest; A is back under its share as they do.
      for (const id of ["b2", "b3"]) waiters.register(id, 60_000, B);
      expect(waiters.refusal(A)).to.equal(null);
      waiters.register("a3", 60_000, A);
      expect(waiters.refusal(B)).to.equal("waiters_full");
    });

    it("lets a client calling alone take every slot", () => {
      waiters = new SyncWaiters(4);
      for (const id of ["a1", "a2", "a3", "a4"]) waiters.register(id, 60_000, A);
      expect(waiters.refusal(A)).to.equal("waiters_full");
    });

    it("refuses nobody below half of the slots, and counts the waits held, not those that ended", () => {
      waiters = new SyncWaiters(6);
      waiters.register("a1", 60_000, A);
      waiters.register("a2", 60_000, A);
      waiters.register("b1", 60_000, B);
      waiters.releaseAll();
      // Below the mark: A is over its share but the others have room.
      waiters.register("a3", 60_000, A);
      waiters.register("a4", 60_000, A);
      expect(waiters.refusal(A)).to.equal(null);
      const b2 = waiters.register("b2", 60_000, B);
      expect(waiters.refusal(A)).to.equal("waiters_client_share");
      // B no longer waits: A waits alone, and may take every slot.
      b2.cancel();
      waiters.register("a5", 60_000, A);
      expect(waiters.refusal(A)).to.equal(null);
    });

    it("does not refuse a client of many short waits for the slots another's long waits hold", () => {
      // Counted by the waits begun in the last minute, A (forty short calls, each answered at
      // once) was refused while B's three long waits held the slots and A held one.
      waiters = new SyncWaiters(6);
      for (let i = 0; i < 40; i++) {
        waiters.register(`short${i}`, 60_000, A);
        expect(waiters.wake(wake(`short${i}`))).to.equal(true);
      }
      for (const id of ["b1", "b2", "b3"]) waiters.register(id, 60_000, B);
      expect(waiters.refusal(A)).to.equal(null);
      waiters.register("a1", 60_000, A);
      expect(waiters.refusal(B), "B holds three of four").to.equal("waiters_client_share");
    });
  });
});
