// Noticing a caller that hung up while waiting for a sync answer, so its waiter slot is freed
// at once and its answer is not counted as delivered.

import type { ServerResponse } from "node:http";

/** A signal that aborts when the caller's connection closes before the answer was sent. */
export function connectionGone(res: ServerResponse): AbortSignal {
  const controller = new AbortController();
  res.once("close", () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
