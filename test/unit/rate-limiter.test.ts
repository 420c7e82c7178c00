import { expect } from "chai";
import type Redis from "ioredis";
import {
  gcraParameters,
  LateGrants,
  RateLimiter,
  rateProblems,
  staleGrantMs,
} from "../../worker/rate-limiter";

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

  it("rounds the interval up and the tolerance down to whole microseconds: never a call over the limit", () => {
    // 98 000 a second is 10.20 µs apart (the guard adds 0.26): rounded to 10 µs the limiter
    // would grant 100 000 a second.
    const { intervalUs, toleranceUs } = gcraParameters({ limit: 98_000, perMs: 1000, burst: 0 });
    expect(intervalUs).to.equal(11);
    expect(Math.floor(1_000_000 / intervalUs)).to.be.at.most(98_000);
    expect(toleranceUs).to.equal(0);
    // 3 a second with a burst of 1: 333 333.3 µs apart, 333 333.3 - 25 000 µs of tolerance.
    expect(gcraParameters({ limit: 3, perMs: 1000, burst: 1 })).to.deep.equal({
      intervalUs: 333_334,
      toleranceUs: 308_333,
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

  it("judges a grant late by its round trip beyond the usual one, not by the whole round trip", () => {
    // A Redis 30 ms away (or a process that is always a little behind) delays every grant
    // alike: the calls keep their spacing, so none is late. A stall on top of it is.
    const late = new LateGrants(25);
    const judged = [30, 31, 30, 32, 30, 31].map((ms) => late.late(ms));
    expect(judged.slice(4)).to.deep.equal([false, false]);
    expect(late.late(120), "a stall of 90 ms more").to.equal(true);
    expect(late.late(31)).to.equal(false);
  });

  it("knows no usual round trip from its first asks: until then the whole round trip counts", () => {
    // A process stalled from its start would otherwise take its stall for the usual delay.
    const late = new LateGrants(25);
    expect([200, 200, 200].map((ms) => late.late(ms))).to.deep.equal([true, true, true]);
    expect(new LateGrants(25).late(10)).to.equal(false);
  });

  it("a limiter whose every answer takes longer than the stale bound still grants", async () => {
    // Each ask takes 60 ms (a Redis farther away): dropping every such grant spent all tokens
    // and made no call at all.
    let asks = 0;
    const fake = {
      sluiceGcraAcquire: async () => {
        asks++;
        await new Promise((resolve) => setTimeout(resolve, 60));
        return [1, 0, 0];
      },
    } as unknown as Redis;
    const limiter = new RateLimiter(fake, "unit.", "far", { limit: 20, perMs: 1000, burst: 0 });
    const gaveUp = new AbortController();
    const tooMany = setInterval(() => asks >= 40 && gaveUp.abort(new Error("no grant used")), 5);
    try {
      await limiter.acquire(gaveUp.signal);
    } finally {
      clearInterval(tooMany);
    }
  });

  it("measures its wait on the monotonic clock, and names the grant's Redis time", async () => {
    const wall = Date.now;
    let asks = 0;
    const fake = {
      sluiceGcraAcquire: async () => {
        if (++asks > 1) return [1, 0, 7_000_000];
        // The machine's clock is set back an hour (NTP, an operator) while the token is due.
        const stepped = wall() - 3_600_000;
        Date.now = () => stepped;
        return [0, 1000, 5_000_000];
      },
    } as unknown as Redis;
    const limiter = new RateLimiter(fake, "unit.", "stepped", { limit: 10, perMs: 1000, burst: 0 });
    try {
      const token = await limiter.acquire();
      expect(token.grantedAtUs).to.equal(7_000_000);
      expect(token.waitedMs).to.be.at.least(0);
    } finally {
      Date.now = wall;
    }
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
