// HTTP-dates (RFC 9110 §5.6.7), as in Retry-After, read as instants. Every HTTP-date is UTC,
// the obsolete asctime form included, which names no zone: read as it is, it would be taken in
// the machine's own zone and the wait would be off by the zone's offset.

const DAY = "(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)";
const LONG_DAY = "(?:Monday|Tuesday|Wednesday|Thursday|Friday|Saturday|Sunday)";
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
const MONTH = `(${MONTHS.join("|")})`;
const TIME = "(\\d{2}):(\\d{2}):(\\d{2})";

/** IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`. Groups: day, month, year, time. */
const IMF_FIXDATE = new RegExp(`^${DAY}, (\\d{2}) ${MONTH} (\\d{4}) ${TIME} GMT$`);

/** RFC 850: `Sunday, 06-Nov-94 08:49:37 GMT`, the one form with a two-digit year. */
const RFC850 = new RegExp(`^${LONG_DAY}, (\\d{2})-${MONTH}-(\\d{2}) ${TIME} GMT$`);

/**
 * asctime: `Sun Nov  6 08:49:37 1994`, the one form without `GMT`. Groups: month, day, time,
 * year.
 */
const ASCTIME = new RegExp(`^${DAY} ${MONTH} ( \\d|\\d{2}) ${TIME} (\\d{4})$`);

/**
 * Epoch milliseconds of an HTTP-date in exactly one of its three forms (IMF-fixdate, RFC 850,
 * asctime; RFC 9110 §5.6.7, case-sensitive as its grammar is); undefined for anything else.
 * Date.parse is not asked: it takes forms no HTTP-date has (`2026-12-07`, `Dec 7 2026`,
 * `7 December 2026 10:00 GMT`, a zone offset), each of which a backend could send as a
 * Retry-After. A day the month does not have, and a time past 23:59:60, are refused. An RFC 850
 * date's two-digit year is the latest year with those digits not more than 50 years after `now`.
 */
export function parseHttpDate(text: string, now: number = Date.now()): number | undefined {
  const value = text.trim();
  let m = IMF_FIXDATE.exec(value);
  if (m) return instant(Number(m[3]), m[2], m[1], m.slice(4));
  m = ASCTIME.exec(value);
  if (m) return instant(Number(m[6]), m[1], m[2].trim(), m.slice(3, 6));
  m = RFC850.exec(value);
  if (!m) return undefined;
  const time = m.slice(4);
  const year = withinFiftyYears(Number(m[3]), MONTHS.indexOf(m[2]), Number(m[1]), time, now);
  return year === undefined ? undefined : instant(year, m[2], m[1], time);
}

/** The instant of those fields, UTC; undefined for a day or time that does not exist. */
function instant(year: number, month: string, day: string, time: string[]): number | undefined {
  const [h, min, s] = time.map(Number);
  const monthIndex = MONTHS.indexOf(month);
  const d = Number(day);
  if (d < 1 || d > daysIn(year, monthIndex) || h > 23 || min > 59 || s > 60) return undefined;
  return utc(year, monthIndex, d, h, min, s);
}

/**
 * Date.UTC with the year as written: Date.UTC reads 0–99 as 1900–1999, so `01 Jan 0050` would be
 * 1950, and 29 February 0000 (a leap year) would be judged in 1900 (none) and refused.
 */
function utc(year: number, month: number, day: number, h = 0, min = 0, s = 0): number {
  const date = new Date(0);
  date.setUTCFullYear(year, month, day);
  // After the day, so that a leap second (:60) rolls into the next minute as Date.UTC rolls it.
  return date.setUTCHours(h, min, s);
}

function daysIn(year: number, month: number): number {
  return new Date(utc(year, month + 1, 0)).getUTCDate();
}

/**
 * The year of two digits `yy`: the latest with those digits whose instant (`month`, `day`,
 * `time`) is not more than 50 years after `now`, to the second: the day's midnight alone read a
 * date later that day, past the 50 years, as ahead. A day is checked in each candidate year,
 * never moved: 29 February of a century year that is not a leap year is passed over for one
 * that is.
 */
function withinFiftyYears(
  yy: number,
  month: number,
  day: number,
  time: string[],
  now: number,
): number | undefined {
  const [h, min, s] = time.map(Number);
  const limit = new Date(now);
  limit.setUTCFullYear(limit.getUTCFullYear() + 50);
  const nowYear = new Date(now).getUTCFullYear();
  // Start a century past `now`'s and step back.
  for (let year = nowYear - (nowYear % 100) + 100 + yy; year > nowYear - 200; year -= 100) {
    if (day > daysIn(year, month)) continue;
    if (utc(year, month, day, h, min, s) <= limit.getTime()) return year;
  }
  return undefined;
}
