// Retrying a consumer's work through short Redis or broker outages while holding the message:
// a nack would count as a delivery against the queue's delivery limit, and enough of them
// during an outage would dead-letter healthy messages.

import type { Logger } from "pino";

/** Total wait before giving the message back is about a minute (0.5 s doubling, 15 s cap). */
export const PATIENT_TRIES = 8;

/**
 * Runs `work` until it succeeds, waiting between tries; gives up (throws the last error) after
 * `tries` or as soon as `stillWanted()` says the consumer is draining.
 */
export async function patiently<T>(
  work: () => Promise<T>,
  log: Logger,
  stillWanted: () => boolean,
  tries = PATIENT_TRIES,
): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await work();
    } catch (error) {
      if (attempt >= tries || !stillWanted()) throw error;
      const delayMs = Math.min(500 * 2 ** (attempt - 1), 15_000);
      log.warn(
        { err: (error as Error).message, attempt, delayMs },
        "work interrupted; trying again",
      );
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
