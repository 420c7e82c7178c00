import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import Redis from "ioredis";
import { InflightLeases } from "../../worker/inflight-leases";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { TransactionStore, type SlotClaim } from "../../shared/store/transaction-store";
import { transactionMeta } from "../support/messages";
import { REDIS_URL } from "../support/harness";
import { busy } from "../support/event-loop";
import { mostOvertaken } from "../support/overtaking";
import { spawn } from "../support/spawned-children";

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("in-flight leases (real Redis)", function () {
  this.timeout(15_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const connections: Redis[] = [];
  const pools: InflightLeases[] = [];
  // A holder left alive by a failed test would keep its slot and Redis connection.
  const children: ChildProcess[] = [];

  /** Connected like the roles' own clients: no offline queue, auto-pipelining. */
  async function connect(): Promise<Redis> {
    const redis = new Redis(REDIS_URL, {
      lazyConnect: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      enableAutoPipelining: true,
    });
    connections.push(redis);
    await redis.connect();
    return redis;
  }

  /**
   * A pool for `backend`. Its leases outlast any stall of a loaded machine unless a test gives
   * a shorter one: a lease that ran out while a test held it let another try in, and the test
   * failed for the machine.
   */
  async function leases(
    backend: string,
    max: number,
    leaseMs = 60_000,
    options: { redis?: Redis; pollMs?: number } = {},
  ): Promise<InflightLeases> {
    const redis = options.redis ?? (await connect());
    const pool = new InflightLeases(redis, prefix, backend, {
      max,
      leaseMs,
      pollMs: options.pollMs,
    });
    pools.push(pool);
    return pool;
  }

  /**
   * Whether `pool` admits at once: the signal is aborted before the first answer, and a pool
   * asks for it only when it has to wait, so only a first-try admission resolves.
   */
  async function admitsAtOnce(pool: InflightLeases): Promise<boolean> {
    const controller = new AbortController();
    const trying = pool.acquire(controller.signal);
    controller.abort();
    return trying.then(
      async (lease) => {
        await lease.release();
        return true;
      },
      () => false,
    );
  }

  /**
   * Hears `backend`'s release notices. `heardUntilMark()` publishes a mark on the channel and,
   * once the mark comes back, returns every notice heard before it: Redis delivers one
   * channel's messages in the order it ran the commands, so the list is complete up to the mark.
   */
  async function releaseNotices(backend: string) {
    const channel = redisKeys(prefix).inflightReleased(backend);
    const subscriber = new Redis(REDIS_URL);
    connections.push(subscriber);
    const heard: string[] = [];
    let marks = 0;
    subscriber.on("message", (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(channel);
    const publisher = await connect();
    return {
      async heardUntilMark(): Promise<string[]> {
        const mark = `mark-${++marks}`;
        await publisher.publish(channel, mark);
        while (!heard.includes(mark)) await sleep(10);
        return heard.filter((message) => !message.startsWith("mark-"));
      },
    };
  }

  /**
   * Two pools of one slot for `backend` on one command connection (so Redis runs their
   * commands in the order they are sent) whose polls and leases do not end within a test's
   * time: only a release notice admits a try that waits.
   */
  async function twoPoolsOnOneConnection(backend: string) {
    const redis = await connect();
    const never = { redis, pollMs: 60_000 };
    const pool = await leases(backend, 1, 60_000, never);
    const waiterPool = await leases(backend, 1, 60_000, never);
    return { redis, pool, waiterPool };
  }

  /** Waits until `count` connections listen for `backend`'s release notices. */
  async function untilSubscribed(redis: Redis, backend: string, count: number): Promise<void> {
    const channel = redisKeys(prefix).inflightReleased(backend);
    while (((await redis.pubsub("NUMSUB", channel)) as [string, number])[1] < count) {
      await sleep(20);
    }
  }

  /** The tries waiting in a backend's waiting set. */
  const waitingOf = (redis: Redis, backend: string): Promise<string[]> =>
    redis.zrange(redisKeys(prefix).inflightWaiting(backend), 0, -1);

  /** The expiries (Redis time, ms) of the leases held in a backend's set. */
  async function leaseExpiries(redis: Redis, key: string): Promise<number[]> {
    const flat = await redis.zrange(key, 0, -1, "WITHSCORES");
    return flat.filter((_, i) => i % 2 === 1).map(Number);
  }

  after(async () => {
    for (const child of children) child.kill("SIGKILL");
    await Promise.all(pools.map((p) => p.close()));
    const keys = await connections[0].keys(`${prefix}*`);
    if (keys.length > 0) await connections[0].del(...keys);
    await Promise.all(connections.map((c) => c.quit()));
  });

  it("never lets more than max calls run across many acquirers, and uses every slot", async () => {
    const max = 3;
    const instances = await Promise.all(Array.from({ length: 4 }, () => leases("busy", max)));
    let running = 0;
    let most = 0;
    let calls = 0;
    const callers = Array.from({ length: 12 }, async (_, i) => {
      const pool = instances[i % instances.length];
      for (let n = 0; n < 8; n++) {
        const lease = await pool.acquire();
        running++;
        most = Math.max(most, running);
        await sleep(5 + Math.random() * 15);
        running--;
        calls++;
        await lease.release();
      }
    });
    await Promise.all(callers);
    expect(calls).to.equal(96);
    expect(most).to.equal(max);
  });

  it("gives one worker's waiting messages their slots in the order they came", async function () {
    // A worker holds more messages than a backend has slots (a partitioned backend, or slots
    // another worker holds), and each waits for one. Raced, a freed slot went to whichever
    // asked first after the release notice, and the holder that had just freed it, taking its
    // next message, asked first: one message was overtaken again and again. Counted in grants.
    this.timeout(60_000);
    const pool = await leases("in-line", 1);
    const held = 4;
    // Four messages held by one worker with one slot: each one takes the slot, calls (a short
    // while), frees it, and the next delivery takes its place.
    const mostAhead = await mostOvertaken(held, 40, 20, async () => {
      const lease = await pool.acquire();
      return () => lease.release();
    });
    expect(mostAhead).to.be.at.most(held - 1);
  });

  it("sends no give-back of a lost lease's own token when its regain's answer is lost", async () => {
    // A regain (`Lease.confirm`) uses the lease's own token, and its holder tries again with it
    // before the call. Given back for a lease time after a lost answer, the release came after
    // the next regain had taken the slot, and freed it under the running call.
    const redis = await connect();
    const pool = await leases("regain-lost", 1, 60_000, { redis });
    const lease = await pool.acquire();
    const failed = await pool
      .acquireWith<undefined>(
        () => Promise.reject(new Error("the answer was lost")),
        () => undefined,
        undefined,
        lease.token,
      )
      .then(
        () => null,
        (error: Error) => error,
      );
    expect(failed).to.be.instanceOf(Error);
    // On the pool's own connection: a give-back, had one been sent, ran before this read.
    const key = redisKeys(prefix).inflight("regain-lost");
    expect(await redis.zscore(key, lease.token), "the lease keeps its slot").to.not.equal(null);
    await lease.release();
  });

  it("lets a wait in line give up, and the ones behind it still get their turn", async () => {
    const redis = await connect();
    const pool = await leases("line-abort", 1, 60_000, { redis, pollMs: 60_000 });
    const holder = await pool.acquire();
    const first = new AbortController();
    const second = new AbortController();
    const firstWait = pool.acquire(first.signal);
    // The first in line has asked and waits for a release; the others wait behind it.
    while ((await waitingOf(redis, "line-abort")).length === 0) await sleep(10);
    const secondWait = pool.acquire(second.signal);
    const thirdWait = pool.acquire();
    second.abort(new Error("second gives up"));
    expect(
      await secondWait.then(
        () => "taken",
        (e: Error) => e.message,
      ),
    ).to.equal("second gives up");
    first.abort(new Error("first gives up"));
    expect(
      await firstWait.then(
        () => "taken",
        (e: Error) => e.message,
      ),
    ).to.equal("first gives up");
    // With a 60 s poll only the release notice can admit the third: the pool hears releases on
    // a subscriber it subscribes in the background, which a loaded machine may not have up yet.
    await untilSubscribed(redis, "line-abort", 1);
    await holder.release();
    const third = await thirdWait;
    await third.release();
  });

  it("keeps a slot held past its lease time while the holder renews it", async function () {
    // Renewed ten times a lease, as the crashed holder's below: with a renewal every third of a
    // 1 s lease, a loaded machine that held this process for a second let the slot go.
    this.timeout(30_000);
    const leaseMs = 3000;
    const pool = new InflightLeases(await connect(), prefix, "long", {
      max: 1,
      leaseMs,
      renewMs: leaseMs / 10,
    });
    pools.push(pool);
    const lease = await pool.acquire();
    const controller = new AbortController();
    const other = pool.acquire(controller.signal).then(
      () => "admitted",
      () => "aborted",
    );
    await sleep(2 * leaseMs);
    controller.abort();
    expect(await other).to.equal("aborted");
    expect(lease.lost).to.equal(false);
    await lease.release();
    expect(await admitsAtOnce(pool), "the released slot is free").to.equal(true);
  });

  it("wakes a waiter when a slot is released, before any poll or lease expiry", async () => {
    // Neither the poll nor the holder's lease ends within the test's time: only the release
    // notice can admit the waiter. One command connection for both, so Redis runs the
    // waiter's first (refused) try before the release.
    const { redis, pool, waiterPool } = await twoPoolsOnOneConnection("wake");
    const lease = await pool.acquire();
    const waiting = waiterPool.acquire();
    // Both pools hear releases on their own subscriber, subscribed in the background.
    await untilSubscribed(redis, "wake", 2);
    await lease.release();
    const next = await waiting;
    await next.release();
  });

  it("announces a freed slot only while a try waits for one", async () => {
    const { redis, pool, waiterPool } = await twoPoolsOnOneConnection("quiet");
    const notices = await releaseNotices("quiet");
    // Nobody waits: calls come and go without a notice, so no worker is woken for them.
    for (let i = 0; i < 5; i++) await (await pool.acquire()).release();
    expect(await notices.heardUntilMark(), "releases nobody waited for").to.deep.equal([]);
    // A try refused a slot waits in the waiting set until admitted.
    const lease = await pool.acquire();
    const waiting = waiterPool.acquire();
    while ((await waitingOf(redis, "quiet")).length === 0) await sleep(10);
    // Both pools and the notices' listener hear releases, each subscribed in the background.
    await untilSubscribed(redis, "quiet", 3);
    await lease.release();
    const next = await waiting;
    expect(await notices.heardUntilMark(), "the release a try waited for").to.deep.equal(["1"]);
    expect(await waitingOf(redis, "quiet"), "admitted, it waits no more").to.deep.equal([]);
    await next.release();
    expect(await notices.heardUntilMark(), "nobody waits again").to.deep.equal(["1"]);
  });

  it("announces nothing for a waiter whose entry lapsed (it crashed while waiting)", async () => {
    const redis = await connect();
    const pool = await leases("lapsed", 1);
    const notices = await releaseNotices("lapsed");
    const [seconds] = await redis.time();
    // A waiter that died left its entry; its wait ended a second ago by Redis's clock.
    await redis.zadd(
      redisKeys(prefix).inflightWaiting("lapsed"),
      Number(seconds) * 1000 - 1000,
      "dead-worker/try",
    );
    await (await pool.acquire()).release();
    expect(await notices.heardUntilMark()).to.deep.equal([]);
  });

  it("takes a try that gives up out of the waiting set", async () => {
    const redis = await connect();
    const pool = await leases("given-up", 1, 60_000, { redis, pollMs: 60_000 });
    const lease = await pool.acquire();
    const controller = new AbortController();
    const waiting = pool.acquire(controller.signal).then(
      () => "admitted",
      () => "aborted",
    );
    while ((await waitingOf(redis, "given-up")).length === 0) await sleep(10);
    controller.abort();
    expect(await waiting).to.equal("aborted");
    // Sent on the same connection before the try rejected, so Redis ran it before this read.
    expect(await waitingOf(redis, "given-up")).to.deep.equal([]);
    await lease.release();
  });

  it("hears a release that comes between a refused claim's answer and its wait", async () => {
    // The worker's own try: the claim script takes the slot and claims the message. Neither
    // the poll nor the holder's lease ends within the test's time: only the release notice
    // can admit the waiter, and the release runs after its refused try, before it waits.
    const { redis, pool, waiterPool } = await twoPoolsOnOneConnection("between");
    const store = new TransactionStore(redis, prefix, 60_000);
    const meta = transactionMeta();
    await store.create(meta);
    const holder = await pool.acquire();
    const tries: string[] = [];
    const { lease, value } = await waiterPool.acquireWith(
      async (slot) => {
        // Subscribed before the first try, so the notice has a listener.
        await untilSubscribed(redis, "between", 2);
        const claim: SlotClaim = await store.claimWithSlot(meta.id, 60_000, slot);
        tries.push(claim.result);
        if (claim.result === "busy") {
          await holder.release();
          return { outcome: "busy", retryInMs: claim.retryInMs };
        }
        return { outcome: claim.result === "ok" ? "admitted" : "settled", value: claim };
      },
      () => undefined,
    );
    expect(tries).to.deep.equal(["busy", "ok"]);
    expect(value).to.deep.equal({ result: "ok", previous: "accepted", called: false });
    expect(await waitingOf(redis, "between")).to.deep.equal([]);
    lease!.freed();
  });

  it("gives a crashed holder's slot back when its lease runs out", async function () {
    // The holder renews ten times a lease: on a loaded machine a process may stand still for a
    // second or two, which with a renewal every third of a 1 s lease let the slot go early.
    // The holder's start counts too: a process loading ioredis on a loaded machine.
    this.timeout(60_000);
    const leaseMs = 5000;
    const script = `
      const Redis = require("ioredis");
      const { InflightLeases } = require(${JSON.stringify(path.resolve(__dirname, "../../worker/inflight-leases.js"))});
      const pool = new InflightLeases(new Redis(${JSON.stringify(REDIS_URL)}), ${JSON.stringify(prefix)}, "crash", { max: 1, leaseMs: ${leaseMs}, renewMs: ${leaseMs / 10} });
      pool.acquire().then(() => process.stdout.write("held\\n"));
    `;
    const child = spawn(process.execPath, ["-e", script], {
      cwd: path.resolve(__dirname, "../../.."),
      stdio: ["ignore", "pipe", "inherit"],
    });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout.on("data", (chunk: Buffer) => chunk.toString().includes("held") && resolve());
      child.on("exit", () => reject(new Error("holder exited early")));
    });
    // It renews while alive: nobody gets in during two lease times.
    await sleep(2 * leaseMs);
    const pool = await leases("crash", 1, leaseMs);
    const early = new AbortController();
    setTimeout(() => early.abort(), 300);
    expect(
      await pool.acquire(early.signal).then(
        () => "admitted",
        () => "refused",
      ),
    ).to.equal("refused");
    const exited = new Promise((resolve) => child.once("exit", resolve));
    child.kill("SIGKILL");
    await exited;
    const redis = await connect();
    const key = redisKeys(prefix).inflight("crash");
    const [deadUntil] = await leaseExpiries(redis, key);
    expect(deadUntil, "the dead holder's lease").to.be.a("number");
    const lease = await pool.acquire();
    const [ours] = await leaseExpiries(redis, key);
    // Scores are lease expiries in Redis time: ours began (score less a lease) no earlier than
    // the dead holder's lease ended.
    expect(ours - leaseMs, "admitted only once the dead lease ran out").to.be.at.least(deadUntil);
    await lease.release();
  });

  it("measures the wait on the monotonic clock: a wall clock stepped back meanwhile leaves it positive", async () => {
    const pool = await leases("stepped", 1);
    const wall = Date.now;
    let tries = 0;
    try {
      const { lease } = await pool.acquireWith(
        async () => {
          if (++tries > 1) return { outcome: "admitted", value: undefined };
          // The machine's clock is set back an hour (NTP, an operator) while the slot is busy.
          const stepped = wall() - 3_600_000;
          Date.now = () => stepped;
          return { outcome: "busy", retryInMs: 1 };
        },
        () => undefined,
      );
      expect(lease!.waitedMs).to.be.at.least(0);
      lease!.freed();
    } finally {
      Date.now = wall;
    }
  });

  it("tells the holder when its lease was lost", async () => {
    const redis = await connect();
    const pool = new InflightLeases(redis, prefix, "lost", { max: 1, leaseMs: 300, renewMs: 50 });
    pools.push(pool);
    let told!: () => void;
    const lostNotice = new Promise<void>((resolve) => (told = resolve));
    const lease = await pool.acquire(undefined, () => told());
    await redis.del(redisKeys(prefix).inflight("lost"));
    // The next renewal finds the slot gone.
    await lostNotice;
    expect(lease.lost).to.equal(true);
    await lease.release();
  });

  it("keeps the set as long as its longest lease: a holder with a shorter one no longer makes it expire", async () => {
    // Workers with different lease times (a rolling change of leaseTime): each acquire and
    // renewal set the set's expiry from its own lease, and the shortest made the whole set, the
    // other workers' open calls with it, vanish.
    const redis = await connect();
    const key = redisKeys(prefix).inflight("mixed");
    const long = new InflightLeases(redis, prefix, "mixed", { max: 3, leaseMs: 30_000 });
    const short = new InflightLeases(redis, prefix, "mixed", { max: 3, leaseMs: 1_000 });
    pools.push(long, short);
    const held = await long.acquire();
    for (let i = 0; i < 3; i++) await (await short.acquire()).release();
    expect(await redis.pttl(key)).to.be.above(2_000);
    await held.release();
  });

  it("takes a slot lost before its call again, waiting while another worker holds it", async () => {
    // A worker stalled past its lease (stopped, starved of CPU) finds its slot taken by another
    // worker: its call must wait for a slot, not go out beside the other's.
    const redis = await connect();
    const key = redisKeys(prefix).inflight("regain");
    // Long leases, the loss made by the test: the other worker's lease that ran out while the
    // test looked let the stalled one in beside nobody, and it "confirmed" without waiting.
    const stalled = new InflightLeases(redis, prefix, "regain", {
      max: 1,
      leaseMs: 60_000,
      renewMs: 50,
      pollMs: 100,
    });
    const other = await leases("regain", 1);
    pools.push(stalled);
    const lease = await stalled.acquire();
    await redis.zrem(key, lease.token);
    const taken = await other.acquire();
    // The next renewal finds it gone.
    while (!lease.lost) await sleep(20);
    let settled = false;
    const confirming = lease
      .confirm(() => new AbortController().signal)
      .finally(() => {
        settled = true;
      });
    // Several of its tries come and go while the other holds the slot.
    await sleep(400);
    expect(settled, "confirmed while another worker holds the only slot").to.equal(false);
    expect(await redis.zrange(key, 0, -1)).to.deep.equal([taken.token]);
    await taken.release();
    expect(await confirming, "had to wait").to.equal(true);
    expect(await redis.zrange(key, 0, -1)).to.deep.equal([lease.token]);
    expect(lease.lost).to.equal(false);
    // Held again, and renewed as before.
    await sleep(200);
    expect(await redis.zscore(key, lease.token)).to.not.equal(null);
    await lease.release();
  });

  it("confirms a slot still held without waiting, and asks Redis only past half a lease", async () => {
    const redis = await connect();
    const pool = await leases("confirm", 1);
    const lease = await pool.acquire();
    expect(await lease.confirm(() => new AbortController().signal)).to.equal(false);
    expect(await redis.zcard(redisKeys(prefix).inflight("confirm"))).to.equal(1);
    await lease.release();
  });

  it("puts back a slot lost while its call is open: that call is at the backend whatever Redis says", async () => {
    const redis = await connect();
    const key = redisKeys(prefix).inflight("open-call");
    // A long lease, the loss made by the test: one that also ran out on its own while the
    // process stood still was no longer the loss the test makes.
    const pool = new InflightLeases(redis, prefix, "open-call", {
      max: 1,
      leaseMs: 60_000,
      renewMs: 50,
    });
    pools.push(pool);
    const lease = await pool.acquire();
    lease.callStarted();
    await redis.zrem(key, lease.token);
    // The next renewal puts it back, so a newcomer waits instead of calling beside it.
    while ((await redis.zscore(key, lease.token)) === null) await sleep(20);
    expect(lease.lost).to.equal(false);
    const other = await leases("open-call", 1);
    const controller = new AbortController();
    const waiting = other.acquire(controller.signal);
    await sleep(200);
    controller.abort();
    await waiting.then(
      () => expect.fail("a newcomer took the slot of an open call"),
      () => undefined,
    );
    await lease.release();
  });

  it("asks Redis before the call when the slot's answer was read after a stall, however fresh it looks", async () => {
    // Redis ran the acquire, then the worker stood still with the answer waiting in its socket
    // past the lease: read late, the answer is no sign the slot is still held at the call.
    const redis = new Redis(REDIS_URL); // no auto-pipelining: a command is sent as it is made
    connections.push(redis);
    const key = redisKeys(prefix).inflight("stale-answer");
    const stalled = new InflightLeases(redis, prefix, "stale-answer", {
      max: 1,
      leaseMs: 1_000,
      renewMs: 60_000,
      pollMs: 100,
    });
    pools.push(stalled);
    await (await stalled.acquire()).release(); // the script loaded, the subscription made
    const taking = stalled.acquire();
    busy(1_500);
    const lease = await taking;
    // Another worker took the slot while this one stood still (its lease had run out).
    const other = await leases("stale-answer", 1);
    const taken = await other.acquire();
    let settled = false;
    const confirming = lease
      .confirm(() => new AbortController().signal)
      .finally(() => {
        settled = true;
      });
    await sleep(400);
    expect(settled, "confirmed while another worker holds the only slot").to.equal(false);
    await taken.release();
    expect(await confirming, "had to wait").to.equal(true);
    expect(await redis.zrange(key, 0, -1)).to.deep.equal([lease.token]);
    await lease.release();
  });
});
