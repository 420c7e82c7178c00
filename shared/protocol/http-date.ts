// HTTP-dates (RFC 9110 §5.6.7), as in Retry-After, read as instants. Every HTTP-date is UTC,
// the obsolete asctime form included, which names no zone: read as it is, it would be taken in
// the machine's own zone and the wait would be off by the zone's offset.

/** asctime: `Sun Nov  6 08:49:37 1994`, the one form without `GMT`. */
const ASCTIME = /^[A-Za-z]{3} [A-Za-z]{3} [ \d]\d \d{2}:\d{2}:\d{2} \d{4}$/;

/**
 * Epoch milliseconds of an HTTP-date in any of its three forms (IMF-fixdate, RFC 850, asctime);
 * undefined for anything else, a date without a zone included.
 */
export function parseHttpDate(text: string): number | undefined {
  const value = text.trim();
  const utc = ASCTIME.test(value) ? `${value} GMT` : / GMT$/.test(value) ? value : null;
  if (utc === null) return undefined;
  const at = Date.parse(utc);
  return Number.isNaN(at) ? undefined : at;
}
