import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import { RateLimiter } from "../../worker/rate-limiter";
import { maxInWindow } from "../../legacy-sim/arrival-windows";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

describe("rate limiter (real Redis)", function () {
  this.timeout(15_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const connections: Redis[] = [];

  function connect(): Redis {
    const redis = new Redis(REDIS_URL, { lazyConnect: false });
    connections.push(redis);
    return redis;
  }

  after(async () => {
    const keys = await connections[0].keys(`${prefix}*`);
    if (keys.length > 0) await connections[0].del(...keys);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it("holds several workers together to limit + burst per window at nearly the full rate", async () => {
    const rate = { limit: 20, perMs: 1000, burst: 5 };
    const runMs = 3000;
    const grants: number[] = [];
    const started = Date.now();
    // Four acquirers, each on its own connection, stand in for four worker instances.
    const acquirers = Array.from({ length: 4 }, async () => {
      const limiter = new RateLimiter(connect(), prefix, "legacy", rate);
      while (Date.now() - started < runMs) {
        await limiter.acquire();
        grants.push(Date.now());
      }
    });
    await Promise.all(acquirers);
    const inRun = grants.filter((t) => t - started < runMs);
    expect(maxInWindow(grants, rate.perMs)).to.be.at.most(rate.limit + rate.burst);
    // The burst is spent in the first second; after it the rate is the limit.
    const steady = inRun.filter((t) => t - started >= 1000);
    expect(steady.length / ((runMs - 1000) / 1000)).to.be.at.least(0.9 * rate.limit);
    expect(inRun.length / (runMs / 1000)).to.be.at.least(0.9 * rate.limit);
  });

  it("grants at most the burst at once after idle, then answers how long to wait", async () => {
    const limiter = new RateLimiter(connect(), prefix, "burst", {
      limit: 10,
      perMs: 1000,
      burst: 3,
    });
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.tryAcquire());
    const granted = decisions.filter((d) => d.granted).length;
    expect(granted).to.equal(3);
    const refused = decisions[decisions.length - 1];
    expect(refused.granted).to.equal(false);
    if (!refused.granted) expect(refused.retryInMs).to.be.within(1, 100);
  });

  it("keeps backends apart", async () => {
    const redis = connect();
    const a = new RateLimiter(redis, prefix, "a", { limit: 1, perMs: 60_000, burst: 0 });
    const b = new RateLimiter(redis, prefix, "b", { limit: 1, perMs: 60_000, burst: 0 });
    expect(await a.tryAcquire()).to.deep.equal({ granted: true });
    expect(await b.tryAcquire()).to.deep.equal({ granted: true });
    const again = await a.tryAcquire();
    expect(again.granted).to.equal(false);
    if (!again.granted) expect(again.retryInMs).to.be.within(59_000, 60_025);
  });

  it("stops waiting as soon as the signal aborts", async () => {
    const limiter = new RateLimiter(connect(), prefix, "slow", {
      limit: 1,
      perMs: 60_000,
      burst: 0,
    });
    await limiter.acquire();
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal);
    setTimeout(() => controller.abort(new Error("draining")), 50);
    const began = Date.now();
    const error = await waiting.then(
      () => null,
      (e: Error) => e,
    );
    expect(error?.message).to.equal("draining");
    expect(Date.now() - began).to.be.below(1000);
  });

  it("reports an unreachable Redis as a retryable Unavailable error", async () => {
    const dead = new Redis("redis://127.0.0.1:1", {
      lazyConnect: true,
      maxRetriesPerRequest: 0,
      enableOfflineQueue: false,
      retryStrategy: () => null,
    });
    dead.on("error", () => undefined);
    const limiter = new RateLimiter(dead, prefix, "down", { limit: 1, perMs: 1000, burst: 0 });
    const error = await limiter.acquire().then(
      () => null,
      (e: { code?: string; retryable?: boolean }) => e,
    );
    expect(error).to.include({ code: "Unavailable", retryable: true });
    dead.disconnect();
  });
});
