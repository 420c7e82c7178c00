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
      expect(parseHttpDate("Sunday, 06-Nov-94 08:49:37 GMT")).to.equal(instant);
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
});
