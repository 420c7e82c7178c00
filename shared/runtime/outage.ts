// Whether an error is Redis or the broker out of reach or too slow, which a request answers
// 503 Unavailable with Retry-After (asking again later may work), or a bug, which it answers
// 500 Internal and logs with its stack: calling again would meet it again.

import type { Logger } from "pino";
import { SluiceError } from "../protocol/errors";
import { isCommandTimeout } from "../store/redis";

export type Dependency = "Redis" | "message broker";

/** Seconds a caller is told to wait before asking again. */
export const OUTAGE_RETRY_AFTER_S = 5;

/** What ioredis fails a command with when it has no usable connection (no offline queue). */
const REDIS_NO_CONNECTION = new Set([
  "Connection is closed.",
  "Stream isn't writeable and enableOfflineQueue options is false",
]);
/** ioredis's errors for commands a lost connection aborted. */
const REDIS_ABORTED = new Set(["AbortError", "InterruptError", "MaxRetriesPerRequestError"]);
/**
 * Redis's own "not now" replies: loading its data, a replica or a failover under way, out of
 * memory, a slow script, no connection slot. Any other reply (WRONGTYPE, a script's error, a
 * syntax error) is the command's fault, a bug.
 */
const REDIS_NOT_NOW =
  /^(LOADING|READONLY|MASTERDOWN|BUSY|OOM|TRYAGAIN|CLUSTERDOWN|NOREPLICAS|MISCONF)\b|^ERR max number of clients/;
/** amqplib's and amqp-connection-manager's words for a channel or connection that is gone. */
const BROKER_GONE =
  /^(channel closed|Channel ended, no reply will be forthcoming|Connection closed|Socket closed abruptly|Unexpected close|Heartbeat timeout|not connected to RabbitMQ)/i;

/** The dependency `error` says is out of reach or too slow; null for anything else. */
export function outageOf(error: unknown): Dependency | null {
  if (!(error instanceof Error)) return null;
  if (isCommandTimeout(error) || REDIS_NO_CONNECTION.has(error.message)) return "Redis";
  if (REDIS_ABORTED.has(error.name)) return "Redis";
  if (error.name === "ReplyError" && REDIS_NOT_NOW.test(error.message)) return "Redis";
  if (error.name === "IllegalOperationError" || BROKER_GONE.test(error.message)) {
    return "message broker";
  }
  return null;
}

/** ioredis's MaxRetriesPerRequestError by its words: a command its lost connection failed. */
const REDIS_RETRIES_SPENT = /^Reached the max retries per request limit/;

/**
 * As outageOf, from an error's message alone (a bulk run keeps no more of it): without the
 * error's name, ioredis's spent retries and Redis's "not now" replies are known by their words.
 */
export function outageOfMessage(message: string): Dependency | null {
  const dependency = outageOf(new Error(message));
  if (dependency !== null) return dependency;
  return REDIS_RETRIES_SPENT.test(message) || REDIS_NOT_NOW.test(message) ? "Redis" : null;
}

/**
 * `error` as a request's answer: a SluiceError keeps its own; an outage becomes 503
 * Unavailable with Retry-After and `message`; anything else is returned as it is, for the
 * boundary to answer 500 Internal (asSluiceError) and log with its stack.
 */
export function outageAnswer(
  error: unknown,
  message: (dependency: Dependency, error: Error) => string,
): unknown {
  if (error instanceof SluiceError) return error;
  const dependency = outageOf(error);
  if (!dependency) return error;
  return new SluiceError("Unavailable", message(dependency, error as Error), {
    retryAfter: OUTAGE_RETRY_AFTER_S,
    cause: error,
  });
}

/**
 * Logs an error of work a request goes on without (its answer stands either way): an outage is
 * expected and the readiness checks report it; anything else is a bug, logged with its stack so
 * it does not pass unseen behind an answer that looks right.
 */
export function logUnlessOutage(log: Logger, error: unknown, what: string): void {
  if (outageOf(error) === null) log.error({ err: (error as Error)?.stack ?? String(error) }, what);
}
