// A backend call's deadline: the worker times a call and the translator times it again with the
// same timeout; whichever fires first, the call is a timeout, and a shutdown is not one.

import { expect } from "chai";
import { Deadline } from "../../worker/translators/call-deadline";

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

  it("is a timeout when the worker's deadline around it ran out first", async () => {
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
