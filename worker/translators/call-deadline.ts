// A deadline for one backend call: the worker's shutdown signal plus the backend's timeout,
// released after every call so long-lived signals never collect listeners.

/** Why a deadline aborted its signal when its time ran out (not a shutdown). */
export class DeadlineExceeded extends Error {
  override readonly name = "DeadlineExceeded";
}

/** The worker's signal plus a timer; `timedOut` tells a timeout from a shutdown. */
export class Deadline {
  private readonly controller = new AbortController();
  private readonly timer: NodeJS.Timeout;
  private readonly onParentAbort = () => {
    // The worker times the same call with the same timeout, started a moment earlier, so its
    // deadline usually fires first: a timeout passed down is still a timeout, not an abort.
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

  /** `work`, or what `onAbort` gives (or throws) as soon as the deadline passes. */
  race<T>(work: Promise<T>, onAbort: () => T): Promise<T> {
    if (this.signal.aborted) return Promise.resolve().then(onAbort);
    return new Promise<T>((resolve, reject) => {
      const abort = () => {
        try {
          resolve(onAbort());
        } catch (error) {
          reject(error);
        }
      };
      this.signal.addEventListener("abort", abort, { once: true });
      work.then(resolve, reject).finally(() => this.signal.removeEventListener("abort", abort));
    });
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
