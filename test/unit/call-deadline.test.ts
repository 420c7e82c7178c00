// A backend call's deadline: the worker times a call once and hands the deadline to the
// translator; a translator called without one times the call itself, under the signal it was
// given. A timeout passed down is a timeout, and a shutdown is not one.

import { expect } from "chai";
import { Deadline } from "../../shared/runtime/stall-aware-deadline";
import { underDeadline } from "../../worker/translators/call-deadline";
import type { CallDeadline, TranslatorCall } from "../../worker/translators/translator";

const aborted = (signal: AbortSignal) =>
  new Promise<void>((resolve) =>
    signal.aborted ? resolve() : signal.addEventListener("abort", () => resolve(), { once: true }),
  );

describe("call deadline", () => {
  it("times out on its own timer", async () => {
    const deadline = new Deadline(new AbortController().signal, 5);
    await aborted(deadline.signal);
    expect(deadline.timedOut).to.equal(true);
    deadline.dispose();
  });

  it("does not abort a call that ends in the loop turn its timer fired in (an answer read then)", async () => {
    const deadline = new Deadline(new AbortController().signal, 5);
    // Runs after the deadline's timer in the same timers phase, as the poll phase after it
    // would read an answer that waited in the socket.
    setTimeout(() => deadline.dispose(), 5);
    // Both timers overdue before the loop runs again, so that phase runs them both, in order:
    // created a millisecond apart, the second could otherwise fall into a later turn.
    const until = performance.now() + 10;
    while (performance.now() < until) {
      // The process stands still, as a stalled worker does.
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(deadline.signal.aborted).to.equal(false);
    expect(deadline.timedOut).to.equal(false);
  });

  it("is not a timeout when a shutdown comes in the loop turn its timer fired in", async () => {
    const shutdown = new AbortController();
    const deadline = new Deadline(shutdown.signal, 5);
    setTimeout(() => shutdown.abort(new Error("shutting down")), 5);
    // Both timers overdue, so one timers phase runs them both (see the test above).
    const until = performance.now() + 10;
    while (performance.now() < until) {
      // The process stands still.
    }
    await aborted(deadline.signal);
    await new Promise((resolve) => setImmediate(resolve));
    expect(deadline.timedOut).to.equal(false);
    deadline.dispose();
  });

  it("a translator's call runs under the deadline it was handed, with no timer of its own", async () => {
    const worker = new Deadline(new AbortController().signal, 60_000);
    const call: TranslatorCall = {
      signal: worker.signal,
      deadline: worker,
      idempotencyKey: "k",
      attempt: 1,
    };
    let seen: CallDeadline | null = null;
    await underDeadline(call, 5, async (deadline) => {
      seen = deadline;
    });
    expect(seen).to.equal(worker);
    worker.dispose();
  });

  it("a translator's call handed no deadline is timed by one of its own", async () => {
    const call: TranslatorCall = {
      signal: new AbortController().signal,
      idempotencyKey: "k",
      attempt: 1,
    };
    const timedOut = await underDeadline(call, 5, async (deadline) => {
      await aborted(deadline.signal);
      return deadline.timedOut;
    });
    expect(timedOut).to.equal(true);
  });

  it("is a timeout when a deadline around it (a wrapping translator's signal) ran out first", async () => {
    const worker = new Deadline(new AbortController().signal, 5);
    const translator = new Deadline(worker.signal, 60_000);
    await aborted(translator.signal);
    expect(worker.timedOut).to.equal(true);
    expect(translator.timedOut).to.equal(true);
    translator.dispose();
    worker.dispose();
  });

  it("is not a timeout when a shutdown aborts it", () => {
    const shutdown = new AbortController();
    const worker = new Deadline(shutdown.signal, 60_000);
    const translator = new Deadline(worker.signal, 60_000);
    shutdown.abort(new Error("shutting down"));
    expect(translator.signal.aborted).to.equal(true);
    expect(translator.timedOut).to.equal(false);
    expect(worker.timedOut).to.equal(false);
    translator.dispose();
    worker.dispose();
  });

  it("is a timeout when created under a deadline that had already run out", async () => {
    const worker = new Deadline(new AbortController().signal, 1);
    await aborted(worker.signal);
    const translator = new Deadline(worker.signal, 60_000);
    expect(translator.signal.aborted).to.equal(true);
    expect(translator.timedOut).to.equal(true);
    translator.dispose();
    worker.dispose();
  });
});
