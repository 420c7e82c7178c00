import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import Redis from "ioredis";
import { InflightLeases } from "../../worker/inflight-leases";
import { redisKeys } from "../../shared/protocol/redis-keys";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe("in-flight leases (real Redis)", function () {
  this.timeout(15_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const connections: Redis[] = [];
  const pools: InflightLeases[] = [];

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

  async function leases(backend: string, max: number, leaseMs = 5000): Promise<InflightLeases> {
    const redis = await connect();
    const pool = new InflightLeases(redis, prefix, backend, { max, leaseMs });
    pools.push(pool);
    return pool;
  }

  after(async () => {
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

  it("keeps a slot held past its lease time while the holder renews it", async () => {
    const pool = await leases("long", 1, 300);
    const lease = await pool.acquire();
    const controller = new AbortController();
    const other = pool.acquire(controller.signal).then(
      () => "admitted",
      () => "aborted",
    );
    await sleep(1000);
    controller.abort();
    expect(await other).to.equal("aborted");
    expect(lease.lost).to.equal(false);
    await lease.release();
    const next = await pool.acquire();
    expect(next.waitedMs).to.be.below(200);
    await next.release();
  });

  it("wakes a waiter as soon as a slot is released", async () => {
    const pool = await leases("wake", 1, 10_000);
    const waiterPool = await leases("wake", 1, 10_000);
    const lease = await pool.acquire();
    const waiting = waiterPool.acquire();
    await sleep(200);
    const released = Date.now();
    await lease.release();
    const next = await waiting;
    // Without the release notice the waiter would poll only once a second.
    expect(Date.now() - released).to.be.below(500);
    await next.release();
  });

  it("gives a crashed holder's slot back when its lease runs out", async () => {
    const leaseMs = 1000;
    const script = `
      const Redis = require("ioredis");
      const { InflightLeases } = require(${JSON.stringify(path.resolve(__dirname, "../../worker/inflight-leases.js"))});
      const pool = new InflightLeases(new Redis(${JSON.stringify(REDIS_URL)}), ${JSON.stringify(prefix)}, "crash", { max: 1, leaseMs: ${leaseMs} });
      pool.acquire().then(() => process.stdout.write("held\\n"));
    `;
    const child = spawn(process.execPath, ["-e", script], {
      cwd: path.resolve(__dirname, "../../.."),
      stdio: ["ignore", "pipe", "inherit"],
    });
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
    child.kill("SIGKILL");
    const killed = Date.now();
    const lease = await pool.acquire();
    const after = Date.now() - killed;
    expect(after).to.be.at.most(leaseMs + 300);
    await lease.release();
  });

  it("tells the holder when its lease was lost", async () => {
    const redis = await connect();
    const pool = new InflightLeases(redis, prefix, "lost", { max: 1, leaseMs: 300, renewMs: 50 });
    pools.push(pool);
    let lost = false;
    const lease = await pool.acquire(undefined, () => (lost = true));
    await redis.del(redisKeys(prefix).inflight("lost"));
    await sleep(200);
    expect(lost).to.equal(true);
    expect(lease.lost).to.equal(true);
    await lease.release();
  });
});
