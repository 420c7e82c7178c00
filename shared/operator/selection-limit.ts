// The `limit` of an operator's list or bulk action (dead letters, dead callbacks), read the same
// way from an admin request (query parameter or body field) and from the CLI's --limit.

/** What no limit means, and the most one admin request takes. */
export interface LimitBounds {
  fallback: number;
  max: number;
}

/** A listing: the newest first, a page of them. */
export const LIST_LIMIT: LimitBounds = { fallback: 100, max: 1000 };
/** A replay or redelivery of a selection: the oldest first, one run's worth. */
export const BULK_LIMIT: LimitBounds = { fallback: 1000, max: 10_000 };

/**
 * `raw` read as a limit: null when absent (or empty), a whole number of 1 or more, or the
 * problem, naming the option as the operator wrote it (`limit`, `--limit`). `abc`, 0 or -5 are
 * refused, not read as the default: a mistyped limit would act on up to 10 000 entries; a
 * number past 2^53 cannot be read exactly, so it is refused too.
 */
export function parseLimit(
  raw: unknown,
  option = "limit",
): { limit: number | null } | { problem: string } {
  if (raw === undefined || raw === null || raw === "") return { limit: null };
  // A JSON body may send a number: 25 is "25", 2.5 stays refused.
  const text = typeof raw === "number" || typeof raw === "string" ? String(raw) : "";
  const count = /^[0-9]+$/.test(text) ? Number(text) : NaN;
  if (!Number.isSafeInteger(count) || count < 1) {
    return { problem: `${option} takes a whole number of 1 or more, not ${JSON.stringify(raw)}` };
  }
  return { limit: count };
}
