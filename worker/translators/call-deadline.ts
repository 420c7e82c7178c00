// A deadline for one backend call: the worker's shutdown signal plus the backend's timeout,
// released after every call so long-lived signals never collect listeners. The worker makes one
// per call and hands it to the translator, which times the call with it rather than again.

import type { CallDeadline, TranslatorCall } from "./translator";

/** Why a deadline aborted its signal when its time ran out (not a shutdown). */
export class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
}

/** The worker's signal plus a timer; `timedOut` tells a timeout from a shutdown. */
export class Deadline implements CallDeadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onParentAbort = () => {
    // A deadline made under another one's signal (a translator called without the deadline,
    // by a translator wrapping it): a timeout passed down is still a timeout, not an abort.
    if (this.parent.reason instanceof DeadlineExceeded) this.timedOut = true;
    this.controller.abort(this.parent.reason);
  };
  timedOut = false;

  constructor(
    private readonly parent: AbortSignal,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort(new DeadlineExceeded(`timed out after ${timeoutMs} ms`));
    }, timeoutMs);
    if (parent.aborted) this.onParentAbort();
    else parent.addEventListener("abort", this.onParentAbort, { once: true });
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
    this.parent.removeEventListener("abort", this.onParentAbort);
  }
}

/**
 * `work` under the call's deadline: the worker's when it handed one over (the backend's
 * timeout is already in it), else one of its own over `call.signal`, released afterwards.
 */
export function underDeadline<T>(
  call: TranslatorCall,
  timeoutMs: number,
  work: (deadline: CallDeadline) => Promise<T>,
): Promise<T> {
  if (call.deadline) return work(call.deadline);
  const own = new Deadline(call.signal, timeoutMs);
  return work(own).finally(() => own.dispose());
}

/** `work`, or what `onAbort` gives (or throws) as soon as `signal` aborts. */
export function raceAbort<T>(signal: AbortSignal, work: Promise<T>, onAbort: () => T): Promise<T> {
  if (signal.aborted) return Promise.resolve().then(onAbort);
  return new Promise<T>((resolve, reject) => {
    const abort = () => {
      try {
        resolve(onAbort());
      } catch (error) {
        reject(error);
      }
    };
    signal.addEventListener("abort", abort, { once: true });
    work.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}
