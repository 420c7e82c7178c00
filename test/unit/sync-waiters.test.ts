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
    const first = waiters.register("a", 60_000);
    const duplicate = waiters.register("a", 60_000);
    const other = waiters.register("b", 60_000);
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
    const woken = waiters.register("a", 60_000);
    waiters.wake(wake("a"));
    woken.cancel();
    expect((await woken.promise)?.id).to.equal("a");
    const timedOut = waiters.register("c", 1);
    expect(await timedOut.promise).to.equal(null);
    expect(waiters.size).to.equal(0);
  });

  // The caller's hang-up hook is handed the wait itself and calls it later, detached from
  // the code that registered it.
  it("can be cancelled through the wait handed to a hang-up hook", async () => {
    waiters = new SyncWaiters(10);
    const wait = waiters.register("a", 60_000);
    const hook: { cancel(): void } = wait;
    hook.cancel();
    expect(await wait.promise).to.equal(null);
    expect(waiters.size).to.equal(0);
  });

  it("refuses a caller beyond its limit with Busy", () => {
    waiters = new SyncWaiters(1);
    waiters.register("a", 60_000);
    expect(() => waiters.register("b", 60_000))
      .to.throw(SluiceError)
      .with.property("code", "Busy");
  });
});
