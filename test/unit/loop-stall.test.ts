// The event-loop stall guard on a clock of the test's own: a body is refused only while the
// loop's heartbeat is overdue by more than the limit, and never with the limit 0.

import { expect } from "chai";
import { LoopStall } from "../../adapter/loop-stall";
import { refusal } from "../support/rejection";

describe("LoopStall", () => {
  let now: number;
  let guard: LoopStall | null = null;

  beforeEach(() => {
    now = 1_000;
  });
  afterEach(() => guard?.stop());

  it("refuses with 503 Busy and Retry-After 1 once the heartbeat is overdue by more than the limit", () => {
    guard = new LoopStall(100, () => now);
    guard.start();
    now += 25 + 100; // due after 25 ms; 100 ms late is at the limit, not past it
    expect(guard.stalledMs()).to.equal(100);
    guard.refuseIfStalled();
    now += 1;
    const error = refusal(() => guard!.refuseIfStalled());
    expect(error.code).to.equal("Busy");
    expect(error.status).to.equal(503);
    expect(error.retryAfter).to.equal(1);
  });

  it("refuses nothing with the limit 0, or once stopped", () => {
    guard = new LoopStall(0, () => now);
    guard.start();
    now += 60_000;
    guard.refuseIfStalled();
    const stopped = new LoopStall(10, () => now);
    stopped.start();
    stopped.stop();
    now += 60_000;
    stopped.refuseIfStalled();
  });
});
