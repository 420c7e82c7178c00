// HTTP-dates (RFC 9110 §5.6.7), as in Retry-After, read as instants. Every HTTP-date is UTC,
// the obsolete asctime form included, which names no zone: read as it is, it would be taken in
// the machine's own zone and the wait would be off by the zone's offset.

/** asctime: `Sun Nov  6 08:49:37 1994`, the one form without `GMT`. */
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/** RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`, the one form with a two-digit year. */
const RFC850 = /^[A-Za-z]+, \d{2}-[A-Za-z]{3}-(\d{2}) \d{2}:\d{2}:\d{2} GMT$/;

/**
 * Epoch milliseconds of an HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime);
 * undefined for anything else, a date without a zone included. An RFC 850 date's two-digit year
 * is the latest year with those digits not more than 50 years after `now` (RFC 9110 §5.6.7).
 */
export function parseHttpDate(text: string, now: number = Date.now()): number | undefined {
  const value = text.trim();
  const utc = ASCTIME.test(value) ? `${value} GMT` : / GMT$/.test(value) ? value : null;
  if (utc === null) return undefined;
  const at = Date.parse(utc);
  if (Number.isNaN(at)) return undefined;
  return RFC850.test(value) ? withinFiftyYears(at, now) : at;
}

/**
 * `at` moved by whole centuries to the latest instant not more than 50 years after `now`. Each
 * candidate is built from `at`'s fields, never by moving a date: 29 February moved to a century
 * year that is not a leap year became 1 March, and stayed 1 March when stepped back to one that is.
 */
function withinFiftyYears(at: number, now: number): number {
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 50);
  const date = new Date(at);
  const candidate = (year: number): number =>
    Date.UTC(
      year,
      date.getUTCMonth(),
      date.getUTCDate(),
      date.getUTCHours(),
      date.getUTCMinutes(),
      date.getUTCSeconds(),
    );
  // The parser put the year in 1950–2049; start a century past `now`'s and step back.
  const nowYear = new Date(now).getUTCFullYear();
  let year = nowYear - (nowYear % 100) + 100 + (date.getUTCFullYear() % 100);
  while (candidate(year) > limit.getTime()) year -= 100;
  return candidate(year);
}
