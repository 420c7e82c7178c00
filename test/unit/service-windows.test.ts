import { expect } from "chai";
import { compileServiceWindows, type ServiceWindows } from "../../shared/config/service-windows";

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

function windows(raw: unknown): ServiceWindows {
  const { windows: compiled, problems } = compileServiceWindows(raw, "backends.legacy.windows");
  expect(problems).to.deep.equal([]);
  return compiled;
}

const at = (iso: string): number => Date.parse(iso);

describe("service windows", () => {
  it("is always open without windows", () => {
    const always = windows([]);
    expect(always.isOpen(at("2026-11-22T03:00:00Z"))).to.equal(true);
    expect(always.msUntilOpen(at("2026-11-22T03:00:00Z"))).to.equal(0);
    expect(windows(undefined).isOpen(at("2026-11-22T14:00:00Z"))).to.equal(true);
  });

  describe("office hours in Europe/Tallinn (UTC+2 in November)", () => {
    const office = windows([
      { days: ["mon-fri"], from: "08:00", to: "18:00", tz: "Europe/Tallinn" },
    ]);

    it("opens at 08:00 and closes at 18:00 local time", () => {
      expect(office.isOpen(at("2026-11-23T05:59:59Z"))).to.equal(false); // Mon 07:59:59
      expect(office.isOpen(at("2026-11-23T06:00:00Z"))).to.equal(true); // Mon 08:00
      expect(office.isOpen(at("2026-11-23T15:59:59Z"))).to.equal(true); // Mon 17:59:59
      expect(office.isOpen(at("2026-11-23T16:00:00Z"))).to.equal(false); // Mon 18:00
    });

    it("says how long until the next opening", () => {
      expect(office.msUntilOpen(at("2026-11-23T05:59:00Z"))).to.equal(MINUTE);
      expect(office.msUntilOpen(at("2026-11-23T06:30:00Z"))).to.equal(0);
      expect(office.msUntilOpen(at("2026-11-23T16:00:00Z"))).to.equal(14 * HOUR); // → Tue 08:00
      expect(office.msUntilOpen(at("2026-11-27T16:00:00Z"))).to.equal(62 * HOUR); // Fri 18:00 → Mon 08:00
      expect(office.msUntilOpen(at("2026-11-22T12:00:00Z"))).to.equal(18 * HOUR); // Sun 14:00 → Mon 08:00
    });

    it("keeps to the local clock when summer time starts", () => {
      // Mon 2027-03-29 08:00 is 05:00Z (UTC+3); the Friday before, 08:00 was 06:00Z (UTC+2).
      expect(office.isOpen(at("2027-03-29T05:00:00Z"))).to.equal(true);
      expect(office.isOpen(at("2027-03-29T04:59:00Z"))).to.equal(false);
      expect(office.msUntilOpen(at("2027-03-26T16:00:00Z"))).to.equal(61 * HOUR);
    });
  });

  describe("a window across midnight", () => {
    const night = windows([{ days: ["sat"], from: "22:00", to: "02:00" }]);

    it("belongs to the day it starts on and runs into the next", () => {
      expect(night.isOpen(at("2026-11-28T21:59:00Z"))).to.equal(false); // Sat 21:59
      expect(night.isOpen(at("2026-11-28T22:00:00Z"))).to.equal(true); // Sat 22:00
      expect(night.isOpen(at("2026-11-28T23:59:59Z"))).to.equal(true);
      expect(night.isOpen(at("2026-11-29T00:00:00Z"))).to.equal(true); // Sun 00:00
      expect(night.isOpen(at("2026-11-29T01:59:59Z"))).to.equal(true);
      expect(night.isOpen(at("2026-11-29T02:00:00Z"))).to.equal(false); // Sun 02:00
      expect(night.isOpen(at("2026-11-29T23:00:00Z"))).to.equal(false); // Sun 23:00: not a start day
      expect(night.isOpen(at("2026-11-28T01:00:00Z"))).to.equal(false); // Sat 01:00: Fri did not start one
    });

    it("waits a week less the window for the next opening", () => {
      expect(night.msUntilOpen(at("2026-11-29T02:00:00Z"))).to.equal(6 * 24 * HOUR + 20 * HOUR);
    });
  });

  it("takes from = to as a whole day and accepts 24:00 as the end", () => {
    const allSunday = windows([{ days: ["sun"], from: "00:00", to: "24:00" }]);
    expect(allSunday.isOpen(at("2026-11-22T00:00:00Z"))).to.equal(true);
    expect(allSunday.isOpen(at("2026-11-22T23:59:59Z"))).to.equal(true);
    expect(allSunday.isOpen(at("2026-11-23T00:00:00Z"))).to.equal(false);
    const fromNoon = windows([{ days: ["mon"], from: "12:00", to: "12:00" }]);
    expect(fromNoon.isOpen(at("2026-11-24T11:59:00Z"))).to.equal(true); // Tue 11:59
    expect(fromNoon.isOpen(at("2026-11-24T12:00:00Z"))).to.equal(false);
  });

  it("opens at the jump when the start time is skipped by summer time", () => {
    // Tallinn 2027-03-28: 03:00 local becomes 04:00 at 01:00Z, so 03:30 never happens that day.
    const early = windows([{ from: "03:30", to: "05:00", tz: "Europe/Tallinn" }]);
    expect(early.msUntilOpen(at("2027-03-28T00:00:00Z"))).to.equal(HOUR);
    expect(early.isOpen(at("2027-03-28T01:00:00Z"))).to.equal(true);
  });

  it("opens at the first of two 03:30s when clocks go back", () => {
    // Tallinn 2026-10-25: 04:00 local becomes 03:00 at 01:00Z; 03:30 first happens at 00:30Z.
    const early = windows([{ from: "03:30", to: "03:45", tz: "Europe/Tallinn" }]);
    expect(early.msUntilOpen(at("2026-10-25T00:00:00Z"))).to.equal(30 * MINUTE);
  });

  it("combines several windows", () => {
    const split = windows([
      { days: ["mon-fri"], from: "08:00", to: "12:00" },
      { days: ["mon-fri"], from: "13:00", to: "17:00" },
    ]);
    expect(split.isOpen(at("2026-11-23T12:30:00Z"))).to.equal(false);
    expect(split.msUntilOpen(at("2026-11-23T12:30:00Z"))).to.equal(30 * MINUTE);
    expect(split.isOpen(at("2026-11-23T13:30:00Z"))).to.equal(true);
  });

  it("lists every problem of a bad windows list", () => {
    const { problems } = compileServiceWindows(
      [
        { days: ["mon", "funday"], from: "8", to: "25:00", tz: "Mars/Olympus", colour: "red" },
        { days: [], from: "24:00", to: "10:00" },
        "always",
      ],
      "backends.legacy.windows",
    );
    expect(problems).to.deep.equal([
      "backends.legacy.windows[0].colour: unknown field",
      'backends.legacy.windows[0].from: must be a time "HH:MM" from 00:00 to 23:59',
      'backends.legacy.windows[0].to: must be a time "HH:MM" from 00:00 to 24:00',
      "backends.legacy.windows[0].tz: must be an IANA time zone such as Europe/Tallinn",
      'backends.legacy.windows[0].days: "funday" is not a day or a range such as mon-fri',
      'backends.legacy.windows[1].from: must be a time "HH:MM" from 00:00 to 23:59',
      "backends.legacy.windows[1].days: must be a non-empty list such as [mon-fri, sun]",
      "backends.legacy.windows[2]: must be { days, from, to, tz }",
    ]);
    expect(compileServiceWindows({}, "w").problems).to.deep.equal(["w: must be a list"]);
  });

  it("accepts full day names and ranges over the weekend", () => {
    const weekend = windows([{ days: ["Friday-mon"], from: "00:00", to: "00:00" }]);
    expect(weekend.isOpen(at("2026-11-27T10:00:00Z"))).to.equal(true); // Fri
    expect(weekend.isOpen(at("2026-11-30T10:00:00Z"))).to.equal(true); // Mon
    expect(weekend.isOpen(at("2026-11-24T10:00:00Z"))).to.equal(false); // Tue
  });
});
