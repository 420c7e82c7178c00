// The operator's answer when Redis fails or does not answer within redisCommandTimeout: 503
// Unavailable with Retry-After (try again soon), never 500 Internal, which says a bug.

import { SluiceError } from "../protocol/errors";

/** Seconds an operator (or the CLI) is told to wait before asking again. */
const RETRY_AFTER_S = 5;

/**
 * Runs `operation`; an error from it (a Redis command failed, timed out, or found no
 * connection) becomes 503 Unavailable with Retry-After. A SluiceError keeps its own status:
 * the broker's Unavailable and Busy already say what to do.
 */
export async function unavailableOnError<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof SluiceError) throw error;
    throw new SluiceError("Unavailable", `Redis unavailable (${(error as Error).message})`, {
      retryAfter: RETRY_AFTER_S,
      cause: error,
    });
  }
}
