// A waiting caller's hang-up: its wait is cancelled once, whenever the connection closes before
// the answer, with one listener shared by every answer.

import { expect } from "chai";
import { EventEmitter } from "node:events";
import type { ServerResponse } from "node:http";
import { connectionGone } from "../../adapter/connection-gone";

/** As much of an answer as connectionGone looks at. */
function answer(): ServerResponse & { writableFinished: boolean } {
  const res = new EventEmitter() as unknown as ServerResponse & { writableFinished: boolean };
  (res as { writableFinished: boolean }).writableFinished = false;
  return res;
}

describe("connectionGone", () => {
  it("cancels the wait once when the connection closes before the answer", () => {
    const res = answer();
    const gone = connectionGone(res);
    let cancelled = 0;
    gone.onAbort({ cancel: () => (cancelled += 1) });
    res.emit("close");
    res.emit("close");
    expect(gone.aborted).to.equal(true);
    expect(cancelled).to.equal(1);
  });

  it("cancels a wait registered after the close at once", () => {
    const res = answer();
    const gone = connectionGone(res);
    res.emit("close");
    let cancelled = 0;
    gone.onAbort({ cancel: () => (cancelled += 1) });
    expect(cancelled).to.equal(1);
  });

  it("is no hang-up when the answer was sent, nor after the wait was removed", () => {
    const sent = answer();
    const done = connectionGone(sent);
    let cancelled = 0;
    done.onAbort({ cancel: () => (cancelled += 1) });
    sent.writableFinished = true;
    sent.emit("close");
    expect(done.aborted).to.equal(false);
    const left = answer();
    const removed = connectionGone(left);
    removed.onAbort({ cancel: () => (cancelled += 1) });
    removed.onAbort(null);
    left.emit("close");
    expect(removed.aborted).to.equal(true);
    expect(cancelled).to.equal(0);
  });

  // Each waiting caller kept a `once` wrapper (a bound function and its state) for its wait.
  it("adds one shared listener per answer, no wrapper made per caller", () => {
    const [a, b] = [answer(), answer()];
    connectionGone(a);
    connectionGone(b);
    const [first] = a.rawListeners("close");
    expect(a.rawListeners("close")).to.have.length(1);
    expect("listener" in first, "a once wrapper").to.equal(false);
    expect(b.rawListeners("close")).to.deep.equal([first]);
  });
});
