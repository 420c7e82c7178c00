// How exactly the shared rate limit holds: several processes take tokens from one backend's
// limiter in Redis and call legacy-sim right after each grant; the simulator's arrival times
// give the rate the backend really sees. Prints a Markdown table of limit versus observed.
//
//   node dist/bench/rate-limit-accuracy.js [--seconds 6] [--processes 3] [--acquirers 4]

import { fork } from "node:child_process";
import { randomUUID } from "node:crypto";
import Redis from "ioredis";
import { request } from "undici";
import { startLegacySim } from "../legacy-sim/legacy-sim";
import { RateLimiter, type RateLimit } from "../worker/rate-limiter";
import { maxInWindow } from "../legacy-sim/arrival-windows";

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

const RATES: RateLimit[] = [
  { limit: 10, perMs: 1000, burst: 0 },
  { limit: 20, perMs: 1000, burst: 5 },
  { limit: 50, perMs: 1000, burst: 10 },
  { limit: 100, perMs: 1000, burst: 10 },
  { limit: 200, perMs: 1000, burst: 20 },
  { limit: 500, perMs: 1000, burst: 50 },
];

interface ChildTask {
  keyPrefix: string;
  rate: RateLimit;
  acquirers: number;
  startMs: number;
  untilMs: number;
  simUrl: string;
}

/** One process: `acquirers` loops, each taking a token and then calling the simulator. */
async function runChild(redis: Redis, task: ChildTask): Promise<number[]> {
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, task.startMs - Date.now())));
  const limiter = new RateLimiter(redis, task.keyPrefix, "bench", task.rate);
  const grants: number[] = [];
  await Promise.all(
    Array.from({ length: task.acquirers }, async () => {
      while (Date.now() < task.untilMs) {
        const controller = new AbortController();
        const stop = setTimeout(() => controller.abort(), task.untilMs - Date.now());
        try {
          await limiter.acquire(controller.signal);
        } catch {
          break;
        } finally {
          clearTimeout(stop);
        }
        grants.push(Date.now());
        const answer = await request(`${task.simUrl}/bench`, { method: "POST", body: "{}" });
        await answer.body.dump();
      }
    }),
  );
  return grants;
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? 0;
}

interface Row {
  rate: RateLimit;
  /** When each token was granted, as the taking process saw it. */
  grants: number[];
  arrivals: number[];
  startedAt: number;
  seconds: number;
}

function describe(row: Row): string {
  const { rate, grants, arrivals, startedAt, seconds } = row;
  const perS = (n: number) => (n * 1000) / rate.perMs;
  // The burst is spent at the start; after one period the pace is the limit alone.
  const steady = arrivals.filter((t) => t - startedAt >= rate.perMs);
  const steadyRate = (steady.length / (seconds * 1000 - rate.perMs)) * rate.perMs;
  const sorted = [...arrivals].sort((a, b) => a - b);
  const gaps = sorted.slice(1).map((t, i) => t - sorted[i]);
  const window = rate.perMs;
  return [
    `${rate.limit}/${rate.perMs / 1000}s`,
    String(rate.burst),
    String(rate.limit + rate.burst),
    String(maxInWindow(grants, window)),
    String(maxInWindow(arrivals, window)),
    `${perS(rate.limit).toFixed(1)}`,
    `${perS(steadyRate).toFixed(2)}`,
    `${((steadyRate / rate.limit) * 100).toFixed(1)} %`,
    `${(rate.perMs / rate.limit).toFixed(1)}`,
    `${percentile(gaps, 1)} / ${percentile(gaps, 50)} / ${percentile(gaps, 99)}`,
  ].join(" | ");
}

async function main(argv: string[]): Promise<void> {
  const option = (name: string, fallback: number): number => {
    const at = argv.indexOf(`--${name}`);
    const value = at >= 0 ? Number(argv[at + 1]) : fallback;
    if (!Number.isFinite(value) || value <= 0)
      throw new Error(`--${name} must be a positive number`);
    return value;
  };
  const seconds = option("seconds", 6);
  const processes = option("processes", 3);
  const acquirers = option("acquirers", 4);
  const sim = await startLegacySim({ port: 0 });
  process.env.BENCH_SIM_URL = sim.url;
  const rows: Row[] = [];
  try {
    for (const rate of RATES) {
      sim.reset();
      const children = Array.from({ length: processes }, () => spawnChild());
      await Promise.all(children.map((c) => c.ready));
      const keyPrefix = `bench-${randomUUID().slice(0, 8)}:`;
      const startedAt = Date.now() + 200;
      const task: ChildTask = {
        keyPrefix,
        rate,
        acquirers,
        startMs: startedAt,
        untilMs: startedAt + seconds * 1000,
        simUrl: sim.url,
      };
      const results = await Promise.all(children.map((c) => c.run(task)));
      const arrivals = sim.calls().map((c) => c.startedAt);
      rows.push({ rate, grants: results.flat(), arrivals, startedAt, seconds });
      const cleanup = new Redis(REDIS_URL);
      await cleanup.del(`${keyPrefix}rate:bench`);
      cleanup.disconnect();
      process.stderr.write(`${rate.limit}/${rate.perMs}ms done: ${arrivals.length} calls\n`);
    }
  } finally {
    await sim.close();
  }
  const lines = [
    `Rate-limit accuracy: ${processes} processes × ${acquirers} acquirers, one Redis limiter, calls to legacy-sim; arrival times as the simulator saw them.`,
    "",
    "| rate | burst | allowed per window | most in a window, granted | most in a window, at the backend | limit per s | observed per s (after the first window) | observed / limit | interval ms | arrival gap ms p1 / p50 / p99 |",
    "|---|---|---|---|---|---|---|---|---|---|",
    ...rows.map((row) => `| ${describe(row)} |`),
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/**
 * Forks this file as a child. It connects and warms its HTTP client (on the simulator's
 * unrecorded /stats), says it is ready, and starts at the time the parent then sends.
 */
function spawnChild(): { ready: Promise<void>; run(task: ChildTask): Promise<number[]> } {
  const child = fork(__filename, ["--child"], { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<never>((_, reject) =>
    child.once("exit", (code) => reject(new Error(`child exited with ${code}`))),
  );
  exited.catch(() => undefined);
  const ready = Promise.race([
    new Promise<void>((resolve) => child.once("message", () => resolve())),
    exited,
  ]);
  return {
    ready,
    run(task) {
      const grants = new Promise<number[]>((resolve) =>
        child.once("message", (message) => resolve(message as number[])),
      );
      child.send(task);
      return Promise.race([grants, exited]);
    },
  };
}

if (process.argv.includes("--child")) {
  const redis = new Redis(REDIS_URL);
  process.once("message", (task: ChildTask) => {
    void runChild(redis, task).then((grants) => {
      redis.disconnect();
      process.send?.(grants, () => process.exit(0));
    });
  });
  void redis
    .ping()
    .then(() => request(`${process.env.BENCH_SIM_URL}/stats?limit=0`))
    .then((answer) => answer.body.dump())
    .then(() => process.send?.("ready"));
} else {
  main(process.argv.slice(2)).catch((error: Error) => {
    process.stderr.write(`rate-limit-accuracy: ${error.message}\n`);
    process.exit(1);
  });
}
