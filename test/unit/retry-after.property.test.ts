// Property tests of Retry-After and HTTP-dates (shared/protocol/retry-after.ts, http-date.ts) as
// the worker and the response worker read them: any value gives undefined or a wait between 0
// and the cap, never NaN; delta-seconds of any length, with leading zeros or white space, is
// that many seconds up to the cap; an HTTP-date in each of the three forms RFC 9110 §5.6.7 has
// recipients accept (IMF-fixdate, RFC 850 with its two-digit year, asctime) reads as the
// instant a reference reader written here gives, and one in the past means now. `now` is
// always given, so nothing depends on the clock. Seeded and bounded:
// test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { parseHttpDate } from "../../shared/protocol/http-date";
import { parseRetryAfter, RETRY_AFTER_CAP_MS } from "../../shared/protocol/retry-after";
import { check } from "../support/property-runs";

const DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
const LONG_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"];
const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

const two = (n: number): string => String(n).padStart(2, "0");

/** An instant on a whole second between 1970 and 9999. */
const instant = fc
  .integer({ min: 0, max: Date.UTC(9999, 11, 31, 23, 59, 59) / 1000 })
  .map((s) => s * 1000);
const now = fc
  .integer({ min: Date.UTC(2000, 0, 1) / 1000, max: Date.UTC(2090, 0, 1) / 1000 })
  .map((s) => s * 1000);

function imfFixdate(at: number): string {
  const d = new Date(at);
  return `${DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())} ${MONTHS[d.getUTCMonth()]} ${d.getUTCFullYear()} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`;
}
function rfc850(at: number): string {
  const d = new Date(at);
  return `${LONG_DAYS[d.getUTCDay()]}, ${two(d.getUTCDate())}-${MONTHS[d.getUTCMonth()]}-${two(d.getUTCFullYear() % 100)} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} GMT`;
}
function asctime(at: number): string {
  const d = new Date(at);
  return `${DAYS[d.getUTCDay()]} ${MONTHS[d.getUTCMonth()]} ${String(d.getUTCDate()).padStart(2, " ")} ${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} ${d.getUTCFullYear()}`;
}

/**
 * The instant an RFC 850 date names, by RFC 9110 §5.6.7: a two-digit year that appears more than
 * 50 years in the future is the most recent past year with those last two digits.
 */
function rfc850Reference(at: number, nowMs: number): number {
  const d = new Date(at);
  const fiftyYearsOn = new Date(nowMs);
  fiftyYearsOn.setUTCFullYear(fiftyYearsOn.getUTCFullYear() + 50);
  const nowYear = new Date(nowMs).getUTCFullYear();
  // The latest year with those last two digits not more than 50 years ahead.
  let year = nowYear - (nowYear % 100) + 100 + (d.getUTCFullYear() % 100);
  const candidate = (y: number): number =>
    Date.UTC(
      y,
      d.getUTCMonth(),
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes(),
      d.getUTCSeconds(),
    );
  while (candidate(year) > fiftyYearsOn.getTime()) year -= 100;
  return candidate(year);
}

function waitFor(at: number, nowMs: number): number {
  return Math.min(Math.max(0, at - nowMs), RETRY_AFTER_CAP_MS);
}

/** Any text a Retry-After could carry: numbers of every shape, dates, their pieces, garbage. */
const anyValue = fc.oneof(
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.constantFrom(..."0123456789 -+.,:eE\tGMTSunNov"), maxLength: 40 }),
  instant.map(imfFixdate),
  instant.map(rfc850),
  instant.map(asctime),
  fc.double().map(String),
  fc.bigInt({ min: -(10n ** 400n), max: 10n ** 400n }).map(String),
);

describe("Retry-After and HTTP-dates (properties)", () => {
  it("gives undefined or a wait between 0 and the cap, never NaN, for any value", () => {
    check(
      fc.property(fc.oneof(anyValue, fc.array(anyValue, { maxLength: 3 })), now, (value, nowMs) => {
        const ms = parseRetryAfter(value, nowMs);
        if (ms === undefined) return;
        expect(Number.isNaN(ms), String(value)).to.equal(false);
        expect(ms, String(value)).to.be.within(0, RETRY_AFTER_CAP_MS);
      }),
      1000,
    );
  });

  it("reads delta-seconds of any length, leading zeros and white space included", () => {
    check(
      fc.property(
        fc.bigInt({ min: 0n, max: 10n ** 400n }),
        fc.constantFrom("", "0", "000"),
        fc.constantFrom("", " ", "\t"),
        now,
        (seconds, zeros, space, nowMs) => {
          const ms = parseRetryAfter(`${space}${zeros}${seconds}${space}`, nowMs);
          expect(ms).to.equal(
            seconds * 1000n > BigInt(RETRY_AFTER_CAP_MS)
              ? RETRY_AFTER_CAP_MS
              : Number(seconds) * 1000,
          );
        },
      ),
      300,
    );
  });

  it("refuses negative, fractional and exponent delta-seconds", () => {
    check(
      fc.property(
        fc.nat({ max: 10 ** 6 }),
        fc.constantFrom("-", "+", ".5", "e3", ",1", "0x"),
        now,
        (n, odd, nowMs) => {
          const text = odd === "-" || odd === "+" || odd === "0x" ? `${odd}${n}` : `${n}${odd}`;
          expect(parseRetryAfter(text, nowMs), text).to.equal(undefined);
        },
      ),
      300,
    );
  });

  it("reads an IMF-fixdate and an asctime date as their instant; one past means now", () => {
    check(
      fc.property(instant, now, (at, nowMs) => {
        expect(parseHttpDate(imfFixdate(at))).to.equal(at);
        expect(parseHttpDate(asctime(at))).to.equal(at);
        expect(parseRetryAfter(imfFixdate(at), nowMs)).to.equal(waitFor(at, nowMs));
        expect(parseRetryAfter(asctime(at), nowMs)).to.equal(waitFor(at, nowMs));
      }),
      1000,
    );
  });

  it("reads an RFC 850 date's two-digit year as RFC 9110 §5.6.7 has a recipient do", () => {
    check(
      fc.property(instant, now, (at, nowMs) => {
        const expected = rfc850Reference(at, nowMs);
        expect(parseRetryAfter(rfc850(at), nowMs), rfc850(at)).to.equal(waitFor(expected, nowMs));
      }),
      1000,
    );
  });
});
