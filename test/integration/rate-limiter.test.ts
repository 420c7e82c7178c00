import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import { RateLimiter, gcraParameters } from "../../worker/rate-limiter";
import { maxInWindow } from "../../legacy-sim/arrival-windows";
import { REDIS_URL } from "../support/harness";
import { mostOvertaken } from "../support/overtaking";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

type RateLimitPair = [
  { limit: number; perMs: number; burst: number },
  { limit: number; perMs: number; burst: number },
];

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

  // Every observation below is on the limiter's own clock (the Redis time each decision was
  // taken at), so a loaded machine that delays the acquirers changes what they ask, never
  // whether the answers were right.

  it("holds several workers together to limit + burst per window and withholds no due token", async () => {
    const rate = { limit: 20, perMs: 1000, burst: 5 };
    const intervalMs = rate.perMs / rate.limit;
    const decisions: { granted: boolean; atUs: number; retryInMs: number }[] = [];
    // Enough grants for the limit to have been reached twice over, however long they take.
    const wanted = 3 * rate.limit;
    let granted = 0;
    // Four acquirers, each on its own connection, stand in for four worker instances; each
    // comes back when it was told a token is due, as the worker's acquire loop does.
    const acquirers = Array.from({ length: 4 }, async () => {
      const limiter = new RateLimiter(connect(), prefix, "legacy", rate);
      while (granted < wanted) {
        const decision = await limiter.tryAcquire();
        if (decision.granted) {
          granted++;
          decisions.push({ granted: true, atUs: decision.atUs, retryInMs: 0 });
        } else {
          decisions.push({ granted: false, atUs: decision.atUs, retryInMs: decision.retryInMs });
          await sleep(decision.retryInMs);
        }
      }
    });
    await Promise.all(acquirers);
    // Redis runs the script atomically: Redis time orders the decisions as they were taken.
    decisions.sort((a, b) => a.atUs - b.atUs);
    const grants = decisions.filter((d) => d.granted).map((d) => d.atUs / 1000);
    expect(grants.length).to.be.at.least(wanted);
    expect(maxInWindow(grants, rate.perMs)).to.be.at.most(rate.limit + rate.burst);
    // Nearly the full rate: a refusal names a wait of at most one emission interval (the
    // guard may lengthen it by 2.5 %), and when a caller comes back after that wait, it is
    // granted unless someone else took the token in between.
    let withheld = 0;
    for (let i = 0; i < decisions.length; i++) {
      const refusal = decisions[i];
      if (refusal.granted) continue;
      expect(refusal.retryInMs).to.be.within(1, Math.ceil(intervalMs * 1.025) + 1);
      const dueUs = refusal.atUs + refusal.retryInMs * 1000;
      const next = decisions.slice(i + 1).find((d) => d.granted || d.atUs >= dueUs);
      if (next !== undefined && !next.granted) withheld++;
    }
    expect(withheld, "refusals after a token was due with no grant in between").to.equal(0);
  });

  it("grants at most the burst at once after idle, then answers how long to wait", async () => {
    const limiter = new RateLimiter(connect(), prefix, "burst", {
      limit: 10,
      perMs: 1000,
      burst: 3,
    });
    const decisions = [];
    for (let i = 0; i < 5; i++) decisions.push(await limiter.tryAcquire());
    // After idle the burst is granted at once; the default 25 ms jitter guard comes out of the
    // burst tolerance (3 x 100 ms - 25 ms), so the k-th grant after the first is due at
    // first + k x 100 ms - 275 ms by Redis time. However long the calls took, each decision
    // must be exactly that: granted when due, otherwise refused with the wait until it is.
    const firstUs = decisions[0].atUs;
    let grantedSoFar = 0;
    for (const [i, decision] of decisions.entries()) {
      const dueUs = firstUs + Math.max(0, grantedSoFar * 100_000 - 275_000);
      if (decision.atUs >= dueUs) {
        expect(decision.granted, `decision ${i}`).to.equal(true);
        grantedSoFar++;
      } else {
        expect(decision, `decision ${i}`).to.deep.equal({
          granted: false,
          retryInMs: Math.max(1, Math.ceil((dueUs - decision.atUs) / 1000)),
          atUs: decision.atUs,
        });
      }
    }
    // The first three come at once whatever the delays: the burst is granted after idle.
    expect(decisions.slice(0, 3).every((d) => d.granted)).to.equal(true);
  });

  it("keeps backends apart", async () => {
    const redis = connect();
    const rate = { limit: 1, perMs: 60_000, burst: 0 };
    const a = new RateLimiter(redis, prefix, "a", rate);
    const b = new RateLimiter(redis, prefix, "b", rate);
    const first = await a.tryAcquire();
    expect(first).to.include({ granted: true });
    expect(await b.tryAcquire()).to.include({ granted: true });
    const again = await a.tryAcquire();
    expect(again.granted).to.equal(false);
    // Due one emission interval after a's grant, by Redis time: b's grant took nothing of it.
    const dueUs = first.atUs + gcraParameters(rate).intervalUs;
    if (!again.granted)
      expect(again.retryInMs).to.equal(Math.max(1, Math.ceil((dueUs - again.atUs) / 1000)));
  });

  it("a faster rate applies once the slower one is out of use, not after its next due time", async function () {
    // The agreement changed from one call an hour to ten a second: the key still holds the
    // old rate's next due time, an hour away, which no decision of the new rate can reach.
    this.timeout(20_000);
    const redis = connect();
    const hourly = new RateLimiter(redis, prefix, "renegotiated", {
      limit: 1,
      perMs: 3_600_000,
      burst: 0,
    });
    expect(await hourly.tryAcquire()).to.include({ granted: true });
    const rate = { limit: 10, perMs: 1000, burst: 0 };
    const faster = new RateLimiter(redis, prefix, "renegotiated", rate);
    // While the hourly rate may still be in use (it asked within the last 3 s), its time holds.
    expect(await faster.tryAcquire()).to.include({ granted: false });
    // Its workers gone (restarted with the new rate), the new rate takes over: a wait of at
    // most one interval of it (and its guard), not an hour.
    await sleep(3_100);
    const next = await faster.tryAcquire();
    if (!next.granted) expect(next.retryInMs).to.be.at.most(rate.perMs / rate.limit + 25);
    // And the new rate holds from there: the one after is an interval later, on the limiter's
    // clock (asked at once, a loaded machine may ask an interval later and be granted).
    const first = await faster.acquire();
    const second = await faster.acquire();
    expect(second.grantedAtUs - first.grantedAtUs).to.be.at.least((rate.perMs / rate.limit) * 1000);
  });

  it("two rates side by side (a rolling change) stay within the faster rate and the larger burst", async function () {
    // Each ask of one rate pulled the due time back to its own bound, handing both rates their
    // bursts again: 104 and 442 calls in a second where the rates promised 12 and 60.
    this.timeout(60_000);
    const pairs: Array<[string, RateLimitPair]> = [
      [
        "a",
        [
          { limit: 10, perMs: 1000, burst: 0 },
          { limit: 2, perMs: 1000, burst: 10 },
        ],
      ],
      [
        "b",
        [
          { limit: 50, perMs: 1000, burst: 10 },
          { limit: 5, perMs: 1000, burst: 10 },
        ],
      ],
      [
        "c",
        [
          { limit: 5, perMs: 1000, burst: 2 },
          { limit: 10, perMs: 1000, burst: 2 },
        ],
      ],
    ];
    for (const [name, rates] of pairs) {
      const grants: number[] = [];
      const stopAt = performance.now() + 3_000;
      // Three acquirers per rate, each on its own connection, asking as a worker's loop does.
      const acquirers = rates.flatMap((rate) =>
        Array.from({ length: 3 }, async () => {
          const limiter = new RateLimiter(connect(), prefix, `side-by-side-${name}`, rate);
          while (performance.now() < stopAt) {
            const decision = await limiter.tryAcquire();
            if (decision.granted) grants.push(decision.atUs / 1000);
            else await sleep(Math.min(decision.retryInMs, 1000));
          }
        }),
      );
      await Promise.all(acquirers);
      grants.sort((x, y) => x - y);
      const faster = Math.max(...rates.map((r) => r.limit));
      const burst = Math.max(...rates.map((r) => r.burst));
      // One more for a window's edge: the bound is on the limiter's own clock (Redis time).
      expect(maxInWindow(grants, 1000), name).to.be.at.most(faster + burst + 1);
    }
  });

  it("gives one worker's waiting messages their tokens in the order they came", async function () {
    // Each message a worker holds waits for a token; the worker's unacknowledged-hold bound
    // counts one interval for each of them. Raced, the waiters' tokens went to whichever asked
    // first after the due time: with four held, one waited 33 intervals (a slow rate: hours,
    // past the broker's consumer_timeout). Counted in grants, not time.
    this.timeout(60_000);
    const limiter = new RateLimiter(connect(), prefix, "in-line", {
      limit: 5,
      perMs: 1000,
      burst: 0,
    });
    const held = 4;
    // Four messages held, as a worker with maxInFlight 4 holds them: each one granted calls
    // (a short while) and the next delivery takes its place.
    const mostAhead = await mostOvertaken(held, 40, 50, async () => {
      await limiter.acquire();
    });
    expect(mostAhead).to.be.at.most(held - 1);
  });

  it("stops waiting as soon as the signal aborts", async () => {
    const limiter = new RateLimiter(connect(), prefix, "slow", {
      limit: 1,
      perMs: 60_000,
      burst: 0,
    });
    await limiter.acquire();
    // Told to wait, the limiter sleeps (a second at most, then asks again); the abort comes
    // once that sleep has begun.
    let refused!: () => void;
    const toldToWait = new Promise<void>((resolve) => (refused = resolve));
    const ask = limiter.tryAcquire.bind(limiter);
    limiter.tryAcquire = async () => {
      const decision = await ask();
      if (!decision.granted) refused();
      return decision;
    };
    const controller = new AbortController();
    const waiting = limiter.acquire(controller.signal).then(
      () => "granted",
      (e: Error) => e.message,
    );
    await toldToWait;
    await new Promise((resolve) => setImmediate(resolve));
    controller.abort(new Error("draining"));
    // An abortable sleep rejects in the abort's own turn, before any timer, however loaded the
    // machine; a sleep that ignored it would end no earlier than its second, after this mark.
    const mark = new Promise((resolve) => setTimeout(() => resolve("still sleeping"), 500));
    expect(await Promise.race([waiting, mark])).to.equal("draining");
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
