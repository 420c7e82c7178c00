import { expect } from "chai";
import { parseRetryAfter, RETRY_AFTER_CAP_MS } from "../../shared/protocol/retry-after";

describe("parseRetryAfter", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");

  it("reads delta-seconds", () => {
    expect(parseRetryAfter("0", now)).to.equal(0);
    expect(parseRetryAfter(" 120 ", now)).to.equal(120_000);
  });

  it("reads an HTTP-date as the time left, never negative", () => {
    expect(parseRetryAfter("Thu, 01 Jan 2026 00:00:30 GMT", now)).to.equal(30_000);
    expect(parseRetryAfter("Wed, 31 Dec 2025 23:00:00 GMT", now)).to.equal(0);
  });

  it("caps a long or absurd wait at a day, for backends and callback receivers alike", () => {
    expect(parseRetryAfter("999999", now)).to.equal(RETRY_AFTER_CAP_MS);
    expect(parseRetryAfter("9".repeat(400), now)).to.equal(RETRY_AFTER_CAP_MS);
    expect(parseRetryAfter("Fri, 01 Jan 2027 00:00:00 GMT", now)).to.equal(RETRY_AFTER_CAP_MS);
  });

  it("reads the first of several values", () => {
    expect(parseRetryAfter(["7", "9"], now)).to.equal(7_000);
  });

  it("ignores absent and malformed values", () => {
    for (const value of [undefined, "", "soon", "-5", "1.5", "12abc", []]) {
      expect(parseRetryAfter(value, now), String(value)).to.equal(undefined);
    }
  });

  it("reads a date in a form HTTP does not have as no Retry-After, where Date.parse took it", () => {
    for (const value of ["2026-12-07", "Dec 7 2026", "7 December 2026 10:00 GMT+0200"]) {
      expect(parseRetryAfter(value, now), value).to.equal(undefined);
    }
    expect(parseRetryAfter("7 January 2026 10:00 GMT", now)).to.equal(undefined);
  });

  it("waits for an RFC 850 date whose two-digit year is within 50 years ahead", () => {
    // Read as 1952, `01-Jan-52` in 2026 was past and retried at once instead of after the cap.
    const now = Date.UTC(2026, 11, 7);
    expect(parseRetryAfter("Monday, 01-Jan-52 00:00:00 GMT", now)).to.equal(RETRY_AFTER_CAP_MS);
    expect(parseRetryAfter("Tuesday, 08-Dec-26 00:00:00 GMT", now)).to.equal(86_400_000);
  });
});
