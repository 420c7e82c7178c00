// Noticing a caller that hung up while waiting for a sync answer, so its waiter slot is freed
// at once and its answer is not counted as delivered.

import type { ServerResponse } from "node:http";

/** What ends when the caller hangs up: its wait for an answer (SyncWaiters' `Wait`). */
export interface HangUp {
  cancel(): void;
}

/** Whether a waiting caller's connection closed before its answer, and one hook for when it does. */
export interface CallerGone {
  readonly aborted: boolean;
  /** `hangUp` is cancelled once when the connection closes before the answer (at once if it has); null removes it. */
  onAbort(hangUp: HangUp | null): void;
}

const GONE = Symbol("sluice.caller-gone");

// Per waiting caller only this small object: no AbortController, EventTarget or listener
// closure (10 000 sync callers each held those for their whole wait).
class ConnectionGone implements CallerGone {
  aborted = false;
  private hangUp: HangUp | null = null;

  onAbort(hangUp: HangUp | null): void {
    // Gone already (while its message was being persisted): its slot is freed at once too.
    if (this.aborted && hangUp) hangUp.cancel();
    else this.hangUp = hangUp;
  }

  closed(): void {
    this.aborted = true;
    const hangUp = this.hangUp;
    this.hangUp = null;
    hangUp?.cancel();
  }
}

/** One listener function for every response; the state hangs on the response itself. */
function onClose(this: ServerResponse & { [GONE]?: ConnectionGone }): void {
  if (!this.writableFinished) this[GONE]?.closed();
}

/** The hang-up state of the caller answered through `res`. */
export function connectionGone(res: ServerResponse): CallerGone {
  const gone = new ConnectionGone();
  (res as ServerResponse & { [GONE]?: ConnectionGone })[GONE] = gone;
  // `on`, not `once`: an answer closes once, and `once` wraps the listener in a bound function
  // and a state object of its own, kept by every waiting caller. A second close finds nothing
  // left to cancel.
  res.on("close", onClose);
  return gone;
}
