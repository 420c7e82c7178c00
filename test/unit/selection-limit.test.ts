// The `limit` of an operator's list or bulk action: one rule and one wording for the admin
// port (query parameter, JSON body field) and the CLI's --limit.

import { expect } from "chai";
import { BULK_LIMIT, LIST_LIMIT, parseLimit } from "../../shared/operator/selection-limit";

describe("an operator's selection limit", () => {
  it("reads nothing given (absent, null, empty) as no limit, for the caller's default", () => {
    for (const raw of [undefined, null, ""]) expect(parseLimit(raw)).to.deep.equal({ limit: null });
  });

  it("reads a whole number of 1 or more, as text or as a JSON number", () => {
    expect(parseLimit("1")).to.deep.equal({ limit: 1 });
    expect(parseLimit("25")).to.deep.equal({ limit: 25 });
    expect(parseLimit(25)).to.deep.equal({ limit: 25 });
    expect(parseLimit("007")).to.deep.equal({ limit: 7 });
    expect(parseLimit(String(Number.MAX_SAFE_INTEGER))).to.deep.equal({
      limit: Number.MAX_SAFE_INTEGER,
    });
  });

  it("refuses anything else, naming the value as it was sent", () => {
    for (const bad of [
      "abc",
      "0",
      "-5",
      "2.5",
      "1e3",
      " 7",
      "7 ",
      "+7",
      "0x10",
      "99999999999999999999",
    ]) {
      expect(parseLimit(bad), bad).to.deep.equal({
        problem: `limit takes a whole number of 1 or more, not "${bad}"`,
      });
    }
    for (const bad of [0, -5, 2.5, 1e21, Number.NaN, true, [5], { n: 5 }]) {
      expect(parseLimit(bad), String(bad)).to.deep.equal({
        problem: `limit takes a whole number of 1 or more, not ${JSON.stringify(bad)}`,
      });
    }
  });

  it("names the option as the operator wrote it", () => {
    expect(parseLimit("abc", "--limit")).to.deep.equal({
      problem: '--limit takes a whole number of 1 or more, not "abc"',
    });
  });

  it("has a page for a listing and a larger run for a bulk action", () => {
    expect(LIST_LIMIT).to.deep.equal({ fallback: 100, max: 1000 });
    expect(BULK_LIMIT).to.deep.equal({ fallback: 1000, max: 10_000 });
  });
});
