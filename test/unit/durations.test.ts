import { expect } from "chai";
import { parseDuration } from "../../shared/config/durations";

describe("parseDuration", () => {
  it("converts every unit to milliseconds", () => {
    expect(parseDuration("250ms")).to.equal(250);
    expect(parseDuration("30s")).to.equal(30_000);
    expect(parseDuration("2m")).to.equal(120_000);
    expect(parseDuration("1h")).to.equal(3_600_000);
    expect(parseDuration("1.5s")).to.equal(1500);
    expect(parseDuration(40)).to.equal(40);
  });
  it("refuses what is not a duration", () => {
    expect(parseDuration("10")).to.equal(undefined);
    expect(parseDuration("ten s")).to.equal(undefined);
    expect(parseDuration(-1)).to.equal(undefined);
    expect(parseDuration(null)).to.equal(undefined);
  });
});
