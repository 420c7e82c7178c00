// A deadline for one outbound call that reads what has arrived before it gives up: a process
// that stood still (SIGSTOP, a long GC pause, a starved CPU) past the deadline while the answer,
// given in time, waited unread in its socket ends the call with that answer, not a timeout that
// would send the call again. The worker times its backend calls with it, the response worker
// its callbacks.

import { performance } from "node:perf_hooks";

/** Why a deadline aborted its signal when its time ran out (not a shutdown). */
export class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
}

/**
 * How much later than due the deadline's timer may fire before the process counts as having
 * stood still: a busy event loop fires timers a few milliseconds late, which the one turn of
 * reading below covers; a stall (SIGSTOP, a long GC pause, a starved CPU) is far longer.
 */
const STALL_MS = 20;

/** A parent signal (a shutdown) plus a timer; `timedOut` tells a timeout from a shutdown. */
export class Deadline {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;
  private reading: NodeJS.Immediate | undefined;
  private readonly onParentAbort = () => {
    // A deadline made under another one's signal (a translator called without the deadline,
    // by a translator wrapping it): a timeout passed down is still a timeout, not an abort.
    const reason: unknown = this.parent?.reason;
    if (reason instanceof DeadlineExceeded) this.timedOut = true;
    this.controller.abort(reason);
  };
  timedOut = false;

  /** `parent`: a signal whose abort (a shutdown) aborts the call too; none for a call alone. */
  constructor(
    private readonly parent: AbortSignal | null,
    private readonly timeoutMs: number,
  ) {
    // A call that settles in time costs one clock read besides the timer; the rest below
    // happens only once the timer fires.
    const due = performance.now() + timeoutMs;
    this.timer = setTimeout(() => this.expire(due), timeoutMs);
    if (parent?.aborted) this.onParentAbort();
    else parent?.addEventListener("abort", this.onParentAbort, { once: true });
  }

  /**
   * The timer fired. Timers run in the event loop's timers phase, before the poll phase reads
   * the sockets: an answer that arrived while the process stood still is waiting there unread,
   * and aborting now would throw it away and make the call again (docs/semantics.md). So:
   * - fired late by a stall: the call lost that much time in which nothing was read, whatever
   *   the other side did; it gets it back, once. One turn of reading is not enough then: an answer
   *   larger than a socket read, or than the receive window (the sender's writes waited for
   *   this process to read), needs many turns and the network's time.
   * - otherwise (and when that time is up): one more turn of the loop, whose poll phase reads
   *   what has arrived before `setImmediate` runs (undici's connect timeout waits so too); an
   *   answer read then ends the call, whose `dispose` clears the abort.
   */
  private expire(due: number | null): void {
    const late = due === null ? 0 : performance.now() - due;
    if (late > STALL_MS) {
      this.timer = setTimeout(() => this.expire(null), late);
      return;
    }
    this.timer = undefined;
    this.reading = setImmediate(() => {
      this.reading = undefined;
      // A shutdown meanwhile aborted it already, and is no timeout.
      if (this.controller.signal.aborted) return;
      this.timedOut = true;
      this.controller.abort(new DeadlineExceeded(`timed out after ${this.timeoutMs} ms`));
    });
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  /**
   * `work`, given up `graceMs` after the deadline passed when it has not settled by then:
   * `giveUp()` is thrown instead. A translator that ignores its signal would otherwise hold
   * the message, its in-flight slot and its claim for as long as the worker lives.
   */
  within<T>(work: Promise<T>, graceMs: number, giveUp: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const abandon = () => {
        timer = setTimeout(() => reject(giveUp()), graceMs);
      };
      if (this.signal.aborted) abandon();
      else this.signal.addEventListener("abort", abandon, { once: true });
      void work.then(resolve, reject).finally(() => {
        clearTimeout(timer);
        this.signal.removeEventListener("abort", abandon);
      });
    });
  }

  dispose(): void {
    clearTimeout(this.timer);
    if (this.reading) clearImmediate(this.reading);
    this.parent?.removeEventListener("abort", this.onParentAbort);
  }
}
