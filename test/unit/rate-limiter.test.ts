import { expect } from "chai";
import { gcraParameters, rateProblems, staleGrantMs } from "../../worker/rate-limiter";

describe("rate limiter parameters", () => {
  it("spaces calls by per/limit and allows the burst less a small jitter guard", () => {
    expect(gcraParameters({ limit: 20, perMs: 1000, burst: 5 })).to.deep.equal({
      intervalUs: 50_000,
      toleranceUs: 225_000,
    });
  });

  it("keeps a burst of zero strictly smooth", () => {
    expect(gcraParameters({ limit: 50, perMs: 1000, burst: 0 })).to.deep.equal({
      intervalUs: 20_000,
      toleranceUs: 0,
    });
  });

  it("never lets the guard take more than half an interval of a fast rate", () => {
    expect(gcraParameters({ limit: 1000, perMs: 1000, burst: 10 })).to.deep.equal({
      intervalUs: 1_000,
      toleranceUs: 9_500,
    });
  });

  it("drops a grant that took longer than half an interval (at least 25 ms) to arrive", () => {
    expect(staleGrantMs({ limit: 20, perMs: 1000, burst: 5 })).to.equal(25);
    expect(staleGrantMs({ limit: 1, perMs: 1000, burst: 0 })).to.equal(500);
    expect(staleGrantMs({ limit: 1000, perMs: 1000, burst: 0 })).to.equal(25);
  });

  it("lists the problems of an unusable rate", () => {
    expect(rateProblems({ limit: 10, perMs: 1000, burst: 0 }, "r")).to.deep.equal([]);
    expect(rateProblems({ limit: 0, perMs: 0, burst: 1.5 }, "r")).to.deep.equal([
      "r.limit must be a positive number",
      "r.per must be a positive duration",
      "r.burst must be a whole number >= 0",
    ]);
  });
});
