// The exit codes of the sluice command, one meaning each, so a script can tell "ask again later"
// from "no such message": 0 done, 1 not found / refused / too late / ambiguous (or any other
// failure), 2 a usage or configuration problem, 3 Redis or RabbitMQ out of reach.

import { SluiceError } from "../shared/protocol/errors";
import { outageOf, outageOfMessage } from "../shared/runtime/outage";
import { StartupError } from "../shared/runtime/startup-error";

/** Done. */
export const EXIT_OK = 0;
/** The answer is no: not found, refused, too late, ambiguous; or another failure. */
export const EXIT_FAILED = 1;
/** A usage or configuration problem, found before anything is connected. */
export const EXIT_USAGE = 2;
/**
 * Redis or RabbitMQ could not be reached or did not answer (refused, closed, timed out),
 * at the start or during the command: nothing was decided, and the same command may work later.
 */
export const EXIT_UNREACHABLE = 3;

/**
 * Whether `error` is Redis or RabbitMQ out of reach: a connect that got no answer, a command or
 * channel that lost its connection or timed out, or an answer of 503 Unavailable (Retry-After).
 * A refused login, a missing virtual host or database, or a refused certificate is not: asking
 * again does not help.
 */
export function isUnreachable(error: unknown): boolean {
  if (error instanceof StartupError) return error.unreachable;
  if (error instanceof SluiceError) return error.code === "Unavailable";
  return outageOf(error) !== null;
}

/** The exit code of a command that failed with `error`. */
export function exitCodeOf(error: unknown): number {
  return isUnreachable(error) ? EXIT_UNREACHABLE : EXIT_FAILED;
}

/**
 * The exit code of one replay, discard or redelivery: 0 when it went through (or had already),
 * 3 when the broker did not take it (503 with Retry-After on the admin port), 1 on a refusal
 * asking again will not change.
 */
export function refusedExit(result: { result: string; retryAfter?: number }): number {
  if (result.result !== "refused") return EXIT_OK;
  return result.retryAfter !== undefined ? EXIT_UNREACHABLE : EXIT_FAILED;
}

/**
 * The exit code of a bulk run that stopped at an error, of which the run kept the message alone
 * (its answer's `failure`): 3 when the message is Redis's or the broker's for a lost connection,
 * a timeout or a Redis not ready (`Command timed out`, `Connection is closed.`, spent retries,
 * `LOADING`), else 1.
 */
export function failureExit(failure: string): number {
  return outageOfMessage(failure) !== null ? EXIT_UNREACHABLE : EXIT_FAILED;
}
