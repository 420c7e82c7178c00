// The worker hands a translator the call's deadline: tests of a translator end one themselves,
// as the backend's timeout or a shutdown would, while the backend is still working.

import type { CallDeadline } from "../../worker/translators/translator";

/**
 * A deadline that ends `afterMs` from now: its signal aborts, and `timedOut` says whether its
 * time ran out (true, the backend's timeout) or a shutdown cut it short (false).
 */
export function endingDeadline(
  afterMs: number,
  timedOut = true,
): { signal: AbortSignal; deadline: CallDeadline } {
  const controller = new AbortController();
  const deadline = { signal: controller.signal, timedOut: false };
  setTimeout(() => {
    deadline.timedOut = timedOut;
    controller.abort(new Error(timedOut ? "the deadline's time ran out" : "shutting down"));
  }, afterMs);
  return { signal: controller.signal, deadline };
}
