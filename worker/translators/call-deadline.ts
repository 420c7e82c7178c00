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

  dispose(): void {
    clearTimeout(this.timer);
    this.parent.removeEventListener("abort", this.onParentAbort);
  }
}
