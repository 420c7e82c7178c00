// Retry-After (RFC 9110 §10.2.3) as the milliseconds to wait, read the same way wherever Sluice
// meets one: a backend's answer to the worker and a callback receiver's answer to the response
// worker. The cap keeps a hostile or mistaken value (a year, or more digits than a number holds)
// from parking a message or a callback job out of every operator's sight.

import { parseHttpDate } from "./http-date";

/** The longest wait a Retry-After can ask for; a longer one is read as this. */
export const RETRY_AFTER_CAP_MS = 86_400_000;

/**
 * Milliseconds to wait from a Retry-After value (delta-seconds or an HTTP-date, the first of
 * several), capped at {@link RETRY_AFTER_CAP_MS}; undefined when absent or unreadable.
 */
export function parseRetryAfter(
  value: string | readonly string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const text = (typeof value === "string" ? value : value?.[0])?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = parseHttpDate(text, now);
    if (at === undefined) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, RETRY_AFTER_CAP_MS);
}
