// The service port's answer while the transaction store is known to be unusable (Redis
// disconnected, or silent by the heartbeat): one 503 for submissions, status reads, cancels
// and the event hub alike, given before any command is sent.

import { SluiceError } from "../shared/protocol/errors";
import { OUTAGE_RETRY_AFTER_S, outageAnswer } from "../shared/runtime/outage";

export const STORE_UNAVAILABLE = "transaction store unavailable";

/** A caller of the service port is told the store is unavailable, never Redis's own words. */
export function storeOutageMessage(): string {
  return STORE_UNAVAILABLE;
}

/**
 * Redis failed or went silent under a caller's request: 503, which the caller may try again.
 * Any other error is a bug, answered 500 Internal (and logged with its stack) where it arrives.
 */
export function storeUnavailable(error: unknown): unknown {
  return outageAnswer(error, storeOutageMessage);
}

/** Seconds a caller is told to wait: the heartbeat looks again every second. */
export const STORE_RETRY_AFTER_S = OUTAGE_RETRY_AFTER_S;

/**
 * Refuses at once while Redis is disconnected or silent, instead of sending a command that
 * waits out redisCommandTimeout before the same 503.
 */
export function refuseWhileStoreDown(storeReady: (() => boolean) | undefined): void {
  if (storeReady !== undefined && !storeReady()) {
    throw new SluiceError("Unavailable", STORE_UNAVAILABLE, { retryAfter: STORE_RETRY_AFTER_S });
  }
}
