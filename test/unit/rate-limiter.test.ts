import { expect } from "chai";
import { gcraParameters, rateProblems, staleGrantMs } from "../../worker/rate-limiter";

describe("rate limiter parameters", () => {
  it("spaces calls by per/limit and takes a 25 ms jitter guard out of the burst", () => {
    expect(gcraParameters({ limit: 20, perMs: 1000, burst: 5 })).to.deep.equal({
      intervalUs: 50_000,
      toleranceUs: 225_000,
    });
  });

  it("without a burst, lengthens the interval by the guard spread over the period", () => {
    // limit + 1 calls then span 1025 ms: 25 ms of delivery jitter cannot fit 11 into a second.
    expect(gcraParameters({ limit: 10, perMs: 1000, burst: 0 })).to.deep.equal({
      intervalUs: 102_500,
      toleranceUs: 0,
    });
    expect(gcraParameters({ limit: 50, perMs: 1000, burst: 0 })).to.deep.equal({
      intervalUs: 20_500,
      toleranceUs: 0,
    });
  });

  it("splits the guard when the burst is shorter than it", () => {
    // burst 10 at 1000/s is 10 ms of tolerance: all of it goes, 15 ms more lengthen the interval.
    expect(gcraParameters({ limit: 1000, perMs: 1000, burst: 10 })).to.deep.equal({
      intervalUs: 1_015,
      toleranceUs: 0,
    });
  });

  it("keeps the guard to a fortieth of short periods", () => {
    expect(gcraParameters({ limit: 5, perMs: 100, burst: 1 })).to.deep.equal({
      intervalUs: 20_000,
      toleranceUs: 17_500,
    });
  });

  it("takes a configured guard (rate.guard) out of the burst first, up to half the period", () => {
    // 2/s with a burst of 1 and a 300 ms guard: the burst's 500 ms tolerance keeps 200 ms.
    expect(gcraParameters({ limit: 2, perMs: 1000, burst: 1, guardMs: 300 })).to.deep.equal({
      intervalUs: 500_000,
      toleranceUs: 200_000,
    });
    // Without a burst the guard lengthens the interval: 10/s becomes 100 ms + 100 ms / 10.
    expect(gcraParameters({ limit: 10, perMs: 1000, burst: 0, guardMs: 100 })).to.deep.equal({
      intervalUs: 110_000,
      toleranceUs: 0,
    });
    expect(staleGrantMs({ limit: 20, perMs: 1000, burst: 5, guardMs: 200 })).to.equal(200);
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
