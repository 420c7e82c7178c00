import { expect } from "chai";
import { parseHttpDate } from "../../shared/protocol/http-date";

describe("HTTP-dates", () => {
  const instant = Date.parse("1994-11-06T08:49:37Z");

  it("reads all three forms as UTC, whatever the process's time zone", () => {
    const zone = process.env.TZ;
    // Fourteen hours ahead of UTC: a form read in the machine's zone would be off by that.
    process.env.TZ = "Pacific/Kiritimati";
    try {
      expect(parseHttpDate("Sun, 06 Nov 1994 08:49:37 GMT")).to.equal(instant);
      expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT", Date.UTC(2026, 0, 1))).to.equal(
        instant,
      );
      expect(parseHttpDate("Sun Nov  6 08:49:37 1994")).to.equal(instant);
    } finally {
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("refuses what is no HTTP-date, a date without a zone included", () => {
    for (const value of ["", "soon", "1.5", "2026-01-01 10:00:00", "Sun, 06 Nov 1994 08:49:37"]) {
      expect(parseHttpDate(value), value).to.equal(undefined);
    }
  });

  it("refuses what Date.parse takes and no HTTP-date form has (RFC 9110 §5.6.7)", () => {
    const now = Date.UTC(2026, 11, 7);
    for (const value of [
      "2026-12-07",
      "2026-12-07 GMT",
      "2026-12-07T10:00:00Z",
      "Dec 7 2026",
      "Dec 7 2026 GMT",
      "7 December 2026 10:00 GMT+0200",
      "7 December 2026 10:00 GMT",
      "Mon, 07 December 2026 10:00:00 GMT",
      "Mon, 7 Dec 2026 10:00:00 GMT",
      "Mon, 07 Dec 2026 10:00 GMT",
      "Mon 07 Dec 2026 10:00:00 GMT",
      "mon, 07 dec 2026 10:00:00 GMT",
      "Mon, 07 Dec 2026 10:00:00 UTC",
      "Mon, 07 Dec 2026 10:00:00 +0000",
      "Foo, 07 Dec 2026 10:00:00 GMT",
      "Mon, 31 Feb 2026 10:00:00 GMT",
      "Mon, 07 Dec 2026 24:00:00 GMT",
      "Mon, 07-Dec-26 10:00:00 GMT",
      "Monday, 7-Dec-26 10:00:00 GMT",
      "Mon Dec 7 10:00:00 2026",
      "Mon Dec  7 10:00:00 2026 GMT",
      "Thursday, 29-Feb-01 12:00:00 GMT",
    ]) {
      expect(parseHttpDate(value, now), value).to.equal(undefined);
    }
  });

  it("reads a two-digit day in asctime and each form's exact spelling", () => {
    const at = Date.UTC(2026, 11, 17, 10);
    expect(parseHttpDate("Thu Dec 17 10:00:00 2026")).to.equal(at);
    expect(parseHttpDate("Thu, 17 Dec 2026 10:00:00 GMT")).to.equal(at);
    expect(parseHttpDate("Thursday, 17-Dec-26 10:00:00 GMT", Date.UTC(2026, 0, 1))).to.equal(at);
  });

  it("reads an RFC 850 two-digit year as at most 50 years ahead (RFC 9110 §5.6.7)", () => {
    // The parser's own rule put 50–99 in the 1900s, so in 2020 `01-Jan-70` was 1970, long past.
    const now = Date.UTC(2020, 0, 1, 21);
    expect(parseHttpDate("Thursday, 01-Jan-70 00:00:00 GMT", now)).to.equal(Date.UTC(2070, 0, 1));
    expect(parseHttpDate("Monday, 01-Jan-52 00:00:00 GMT", Date.UTC(2026, 11, 7))).to.equal(
      Date.UTC(2052, 0, 1),
    );
    expect(parseHttpDate("Tuesday, 01-Jan-80 00:00:00 GMT", Date.UTC(2026, 11, 7))).to.equal(
      Date.UTC(1980, 0, 1),
    );
    expect(parseHttpDate("Saturday, 01-Jan-00 00:00:00 GMT", Date.UTC(2080, 0, 1))).to.equal(
      Date.UTC(2100, 0, 1),
    );
  });

  it("judges an RFC 850 date's 50 years to the second, not by its day", () => {
    const now = Date.UTC(2026, 11, 7, 10);
    expect(parseHttpDate("Monday, 07-Dec-76 10:00:00 GMT", now)).to.equal(
      Date.UTC(2076, 11, 7, 10),
    );
    // One second more than 50 years ahead: the latest such year in the past.
    expect(parseHttpDate("Monday, 07-Dec-76 10:00:01 GMT", now)).to.equal(
      Date.UTC(1976, 11, 7, 10, 0, 1),
    );
  });

  it("keeps 29 February of a two-digit year 00 on the day it names", () => {
    // Tried first in 2100, no leap year, it became 1 March and stayed so back in 2000.
    expect(parseHttpDate("Tuesday, 29-Feb-00 12:00:00 GMT", Date.UTC(2026, 11, 7))).to.equal(
      Date.UTC(2000, 1, 29, 12),
    );
    expect(parseHttpDate("Thursday, 29-Feb-96 12:00:00 GMT", Date.UTC(2026, 11, 7))).to.equal(
      Date.UTC(1996, 1, 29, 12),
    );
  });

  it("reads a four-digit year 0000–0099 as written, not as 1900–1999", () => {
    // Date.UTC takes a year below 100 as 19yy: `0050` was 1950, and 29 February 0000, a leap
    // year, was refused as 1900's, which is none.
    expect(parseHttpDate("Sat, 01 Jan 0050 00:00:00 GMT")).to.equal(
      Date.parse("0050-01-01T00:00:00Z"),
    );
    expect(parseHttpDate("Tue Feb 29 12:00:00 0000")).to.equal(Date.parse("0000-02-29T12:00:00Z"));
    expect(parseHttpDate("Tue, 29 Feb 0000 12:00:00 GMT")).to.equal(
      Date.parse("0000-02-29T12:00:00Z"),
    );
    expect(parseHttpDate("Thu Dec 31 23:59:60 0099")).to.equal(Date.parse("0100-01-01T00:00:00Z"));
    expect(parseHttpDate("Sun, 29 Feb 1900 12:00:00 GMT")).to.equal(undefined);
  });
});
