// The answers the operator routes share: the JSON error shapes, a list's or bulk action's limit
// and selection, a dead entry with its age, and the answer to an action on one entry (a replay,
// a redelivery), so dead letters and dead callbacks answer alike.

import type { AdminAnswer } from "../observability/admin-route-table";
import { shownCallbackTarget } from "../delivery/callback-target";
import { withCredentialsRedacted } from "../protocol/credential-headers";
import { SluiceError, type ErrorCode } from "../protocol/errors";
import { BULK_LIMIT, parseLimit, type LimitBounds } from "./selection-limit";

export const ok = (body: unknown): AdminAnswer => ({ status: 200, body });
export const notFound = (message: string): AdminAnswer => ({
  status: 404,
  body: { type: "NotFound", message },
});
export const invalid = (message: string): AdminAnswer => ({
  status: 400,
  body: { type: "InvalidRequest", message },
});

/**
 * A list's or a bulk action's `limit`, or the 400 answer: one above the bounds' maximum is
 * refused, as the CLI refuses it. Cut to the maximum without a word, `{"all": true, "limit":
 * 50000}` replayed 10 000 and answered as if that were all.
 */
export function limitOf(raw: unknown, bounds: LimitBounds): number | AdminAnswer {
  const read = parseLimit(raw);
  if ("problem" in read) return invalid(read.problem);
  if (read.limit !== null && read.limit > bounds.max) {
    return invalid(`limit is at most ${bounds.max}, not ${read.limit}`);
  }
  return read.limit ?? bounds.fallback;
}

/**
 * What a bulk replay or redelivery acts on, from its request body: the filter `filterOf` reads
 * from it, and its limit; or the 400 answer. Acting on everything is never the default: it
 * must be asked for by name (`"all": true`). `keys` are the filter's keys: any other key, or a
 * filter that is not a string, is refused, as the CLI refuses an unknown option: dropped, a
 * typo (`"backnd"`) or a number widened the selection to dead entries nobody chose. With
 * `options.dryRun`, the body may also hold `"dryRun"`, a boolean (anything else is refused:
 * `"false"` read as true would be as wrong as read as false), answered as `dryRun`, and
 * `"until"`, the `until` a dry run answered (see `untilOf`): it narrows the selection to what
 * that dry run saw, and names no selection by itself.
 */
export function bulkSelection<F extends { until?: number }>(
  body: unknown,
  filterOf: (get: (key: string) => unknown) => F,
  keys: readonly string[],
  options: { dryRun?: boolean } = {},
): { filter: F; limit: number; dryRun?: boolean } | AdminAnswer {
  if (body !== undefined && body !== null && (typeof body !== "object" || Array.isArray(body))) {
    return invalid("the body is a JSON object");
  }
  const selection = (body ?? {}) as Record<string, unknown>;
  const flags = options.dryRun ? ["dryRun", "until"] : [];
  const problem = keyProblem(Object.keys(selection), [...keys, "all", "limit", ...flags]);
  if (problem !== null) return problem;
  for (const key of keys) {
    const value = selection[key];
    if (value !== undefined && value !== null && typeof value !== "string") {
      return invalid(`${key} is a string`);
    }
  }
  const dryRun = selection.dryRun;
  if (dryRun !== undefined && typeof dryRun !== "boolean") {
    return invalid("dryRun is true or false");
  }
  const filter = filterOf((key) => selection[key]);
  if (Object.keys(filter).length === 0 && selection.all !== true) {
    return invalid(`name a filter (${keys.join(", ")}) or send {"all": true}`);
  }
  if (selection.until !== undefined) {
    const until = untilOf(selection.until);
    if (until === null) return invalid("until is a time as a dry run answers it (ISO 8601, UTC)");
    filter.until = until;
  }
  const limit = limitOf(selection.limit, BULK_LIMIT);
  if (typeof limit !== "number") return limit;
  return options.dryRun ? { filter, limit, dryRun: dryRun === true } : { filter, limit };
}

/**
 * A bulk run's `until` in epoch ms, or null when it is not one: the newest entry's time a dry
 * run selected, as `toISOString` writes it (see `Dry` in bulk-actions.ts). The status page's bulk buttons
 * send it back with the confirmed run, which then leaves alone what failed while the operator
 * read the dry run's numbers: acted on unseen, a burst of new failures was replayed on a
 * question that had counted one.
 */
export function untilOf(raw: unknown): number | null {
  if (typeof raw !== "string" || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,3})?Z$/.test(raw)) {
    return null;
  }
  const at = Date.parse(raw);
  // Date.parse rolls 30 February over into March: a day that does not exist is refused.
  if (!Number.isFinite(at) || new Date(at).toISOString().slice(0, 19) !== raw.slice(0, 19)) {
    return null;
  }
  return at;
}

/**
 * The 400 answer to a key of a list's query or a bulk body outside `known`, or to a query key
 * given twice, or null: ignored, a misspelt filter listed or acted on more than was asked for,
 * and of `?backend=a&backend=b` only the first was read.
 */
export function keyProblem(keys: Iterable<string>, known: readonly string[]): AdminAnswer | null {
  const seen = new Set<string>();
  for (const key of keys) {
    const shown = JSON.stringify(key.slice(0, 64));
    if (!known.includes(key)) return invalid(`unknown key ${shown}; known: ${known.join(", ")}`);
    if (seen.has(key)) return invalid(`the key ${shown} is given twice; give each key once`);
    seen.add(key);
  }
  return null;
}

/** A dead letter or dead callback as the operator reads it: its time in words, and its age. */
export function describeDead<T extends { at: number }>(entry: T, now: number) {
  return {
    ...entry,
    at: new Date(entry.at).toISOString(),
    ageSeconds: Math.max(0, Math.round((now - entry.at) / 1000)),
  };
}

/**
 * One dead callback as the admin port and `sluice dead-callbacks list|show` give it: its target
 * without the query's values (`shownCallbackTarget`), which may be the caller's tokens.
 */
export function deadCallbackDocument<T extends { at: number; target: string }>(
  entry: T,
  now: number,
) {
  return describeDead({ ...entry, target: shownCallbackTarget(entry.target) }, now);
}

/**
 * One dead letter as the admin port and `sluice dead-letters show` give it: its request parsed
 * (as stored when it is not JSON), with the caller's credential headers redacted and its
 * callback target shown as dead callbacks' are (`shownCallbackTarget`).
 */
export function deadLetterDocument<T extends { at: number; request: string }>(
  entry: T,
  now: number,
) {
  const { request, ...rest } = entry;
  let parsed: unknown = request;
  try {
    parsed = JSON.parse(request);
  } catch {
    // shown as stored
  }
  const shown = withCredentialsRedacted(parsed);
  // The target a callback of it goes to: its query may hold the caller's token.
  const callback = (shown as { callback?: unknown } | null)?.callback;
  if (typeof callback === "string") {
    return {
      ...describeDead(rest, now),
      request: { ...(shown as object), callback: shownCallbackTarget(callback) },
    };
  }
  return { ...describeDead(rest, now), request: shown };
}

/** What a replay or redelivery of one entry came to. */
interface ActionResult {
  id?: string;
  result: string;
  error?: string;
  /** Set when the broker was out of reach: nothing was sent, ask again after this long. */
  retryAfter?: number;
}

/** The error shape of the other operator answers (`notFound`, `invalid`): a code and why. */
interface ErrorShape {
  type: ErrorCode;
  message: string;
}

/**
 * A replay's or redelivery's result, a refused one in the error shape with its own fields kept:
 * Unavailable when the broker was out of reach (ask again after `retryAfter`), NotFound when
 * there is no such entry (`missing` is that refusal's error), Conflict for any other refusal.
 * One refused alone is answered so (`actionAnswer`), and so is each in a bulk run's list.
 */
export function withErrorShape<R extends ActionResult>(
  result: R,
  missing: string,
): R | (R & ErrorShape) {
  if (result.result !== "refused") return result;
  const type: ErrorCode =
    result.retryAfter !== undefined
      ? "Unavailable"
      : result.error === missing
        ? "NotFound"
        : "Conflict";
  return { ...result, type, message: result.error ?? "refused" };
}

/** An entry a bulk replay or redelivery left for later, why, in the error shape. */
export interface Skipped extends ErrorShape {
  id: string;
  /** The message again, as earlier answers named it. */
  reason: string;
}

/**
 * An entry left for later: Busy when its queue is full, Unavailable when the broker did not
 * take the run's last one or the process is shutting down.
 */
export function skipped(id: string, type: "Busy" | "Unavailable", reason: string): Skipped {
  return { id, reason, type, message: reason };
}

/**
 * A bulk run's entry whose replay or redelivery failed with an error (Redis did not answer): it
 * may or may not have been made, which the entry itself shows.
 */
export function failedAt(error: string): string {
  return `the run stopped here: ${error}; whether this one was sent shows in its entry (list or show it), ask again for the rest`;
}

/** A bulk run's entry not tried after that failure. */
export function stoppedBy(error: string): string {
  return `not tried: the run stopped at an error (${error}); ask again`;
}

/**
 * The answer to a replay or redelivery of one entry: 503 Unavailable with Retry-After when the
 * broker was out of reach (nothing was queued, asking again is safe), 404 when there is no such
 * entry (`missing` is that refusal's error), 409 for any other refusal, else 200. Refusals carry
 * the error shape besides the result's own fields.
 */
export function actionAnswer(result: ActionResult, missing: string): AdminAnswer {
  if (result.result === "refused" && result.retryAfter !== undefined) {
    throw new SluiceError("Unavailable", result.error ?? "message broker unavailable", {
      retryAfter: result.retryAfter,
    });
  }
  const body = withErrorShape(result, missing);
  if ("type" in body) return { status: body.type === "NotFound" ? 404 : 409, body };
  return ok(body);
}
