// The benchmark runs, one group per question, each measured next to its baselines in the same
// invocation: ack ingest (JSON, SOAP), the sync round trip, ingest behind a backlog, memory.

import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import type { BenchOptions } from "./bench-options";
import { round, type LoadStats, type ProfileSummary, type RunResult } from "./bench-result";
import { forkReady } from "./child-processes";
import {
  cpuShares,
  CpuWindow,
  serviceProcesses,
  type CpuSample,
  type WatchedProcess,
} from "./cpu-usage";
import { LegacyBackend } from "./legacy-backend";
import type { LoadGenerator, LoadOptions } from "./load-generator";
import {
  newPublishTally,
  RawPublisher,
  requestMessageFor,
  type PublishRate,
} from "./amqp-publisher";
import {
  JSON_BODY,
  REST_SERVICE,
  REST_SYNC_SERVICE,
  soapSimpleQuery,
  XROAD_CLIENT,
} from "./payloads";
import { summariseProfile } from "./profile-summary";
import { RssSampler } from "./rss-sampler";
import {
  BACKEND,
  laneBackend,
  laneService,
  PREFIX_STEM,
  SluiceSystem,
  type SystemOptions,
} from "./sluice-system";
import { WaiterFlood } from "./waiter-flood";

export interface BenchContext {
  options: BenchOptions;
  load: LoadGenerator;
  runs: RunResult[];
  profiles: ProfileSummary[];
  /** Where profiles and other artefacts of this invocation go. */
  resultsDir: string;
  log(line: string): void;
}

export interface BenchGroup {
  name: "ingest-json" | "ingest-soap" | "sync" | "backlog" | "memory" | "profile";
  /** The baselines alone (`--only baselines`). */
  baselines?(ctx: BenchContext): Promise<void>;
  /** The group's Sluice runs, and its baselines too when `both` is set. */
  sluice(ctx: BenchContext): Promise<void>;
  /** `sluice` measures the baselines itself, interleaved with the Sluice runs. */
  both?: boolean;
}

/** Sync callers may wait this long; longer than any run, so every wait ends in an answer. */
const SYNC_WAIT_S = 120;
/** High water of the ingest runs: far above anything a run queues, so no 503 interferes. */
const NO_BACKPRESSURE = 20_000_000;

const restHeaders = (): Record<string, string> => ({
  "content-type": "application/json",
  "x-road-client": XROAD_CLIENT,
  "x-road-id": "bench-[<id>]",
});

/** simple.query with a fresh X-Road id per request (the adapter deduplicates ids). */
function soapBody(): string {
  const body = soapSimpleQuery().replace(
    /<xroad:id>[^<]*<\/xroad:id>/,
    "<xroad:id>[<id>]</xroad:id>",
  );
  if (!body.includes("[<id>]")) throw new Error("simple.query has no xroad:id to vary");
  return body;
}

function loadOptions(
  ctx: BenchContext,
  patch: Partial<LoadOptions> & { url: string },
): LoadOptions {
  return {
    method: "POST",
    headers: restHeaders(),
    body: JSON_BODY,
    connections: ctx.options.connections,
    durationS: ctx.options.durationS,
    warmupS: ctx.options.warmupS,
    expectStatus: 200,
    idReplacement: true,
    ...patch,
  };
}

function systemOptions(ctx: BenchContext, patch: Partial<SystemOptions>): SystemOptions {
  return {
    amqpUrl: ctx.options.amqpUrl,
    redisUrl: ctx.options.redisUrl,
    backendUrl: "http://127.0.0.1:9",
    roles: ["adapter"],
    highWater: NO_BACKPRESSURE,
    maxLength: NO_BACKPRESSURE,
    maxSyncWaiters: 20_000,
    maxWaitS: SYNC_WAIT_S,
    preload: ctx.options.preload,
    adapterNodeOptions: ctx.options.adapterNodeOptions,
    ...patch,
  };
}

/** Runs `body`; a failure is recorded against the run instead of ending the benchmark. */
async function measured(
  ctx: BenchContext,
  base: Omit<RunResult, "stats">,
  body: () => Promise<Partial<RunResult>>,
  announce = true,
): Promise<void> {
  if (announce) ctx.log(`run ${base.name}: ${base.title}`);
  const started = Date.now();
  let run: RunResult;
  try {
    run = { ...base, ...(await body()) };
  } catch (error) {
    run = { ...base, error: (error as Error).message.split("\n").slice(0, 6).join(" | ") };
  }
  ctx.runs.push(run);
  const s = run.stats;
  ctx.log(
    run.error
      ? `  failed: ${run.error}`
      : s
        ? `  ${base.name}: ${s.okRps} ok req/s (${s.rps} total), p50 ${s.latencyMs.p50} ms, ` +
          `p99 ${s.latencyMs.p99} ms, codes ${JSON.stringify(s.statusCodes)}` +
          (announce ? ` [${Math.round((Date.now() - started) / 1000)} s]` : "")
        : `  ${JSON.stringify(run.memory ?? run.extra ?? {})}`,
  );
}

/** Checks a load run actually exercised the intended path; mostly-wrong answers are an error. */
function expectMostlyOk(stats: LoadStats, what: string): LoadStats {
  if (stats.requests === 0) throw new Error(`${what}: no answers at all`);
  if (stats.ok < stats.requests * 0.95) {
    throw new Error(
      `${what}: only ${stats.ok} of ${stats.requests} answers had the expected status ` +
        `(${JSON.stringify(stats.statusCodes)}, ${stats.errors} errors)`,
    );
  }
  return stats;
}

async function withSystem<T>(
  options: SystemOptions,
  body: (system: SluiceSystem) => Promise<T>,
): Promise<T> {
  const system = await SluiceSystem.start(options);
  try {
    return await body(system);
  } finally {
    await system.stop();
    await system.cleanup();
  }
}

async function withBareKoa<T>(
  body: (url: string, watch: WatchedProcess[]) => Promise<T>,
): Promise<T> {
  const { process, ready } = await forkReady<{ type: "ready"; port: number }>(
    "bare-koa",
    join(__dirname, "bare-koa-server.js"),
  );
  try {
    return await body(`http://127.0.0.1:${ready.port}`, [{ name: "bare koa", pid: process.pid }]);
  } finally {
    await process.stop(2_000);
  }
}

function publishStats(rate: PublishRate): LoadStats {
  return {
    rps: rate.rps,
    okRps: rate.rps,
    requests: rate.published,
    ok: rate.published,
    durationS: rate.durationS,
    connections: rate.inFlight,
    latencyMs: rate.latencyMs,
    statusCodes: {},
    errors: 0,
    timeouts: 0,
  };
}

// ---------------------------------------------------------------------------------------------
// Comparisons measured in rounds: Sluice and its baselines take turns

/** One side of a comparison, its servers already running. */
interface Contender {
  base: Omit<RunResult, "stats">;
  /** One round of load; resolves with the run's stats over all its rounds so far. */
  round(durationS: number, warmupS: number): Promise<LoadStats>;
  extra?(): Promise<Record<string, number | string>>;
  notes?: string[];
}

let invocation = 0;

function httpContender(
  ctx: BenchContext,
  base: Omit<RunResult, "stats">,
  options: LoadOptions,
  watch: WatchedProcess[],
): Contender {
  const key = `${base.name}#${++invocation}`;
  return {
    base,
    round: (durationS, warmupS) =>
      ctx.load.run({ ...options, durationS, warmupS, accumulate: key }, watch),
  };
}

/**
 * Runs every contender in `rounds` turns of duration/rounds seconds (warm-up in the first
 * turn only) and records each one's accumulated figures.
 */
async function interleave(ctx: BenchContext, contenders: Contender[]): Promise<void> {
  const rounds = ctx.options.rounds;
  const durationS = Math.max(1, Math.round(ctx.options.durationS / rounds));
  const latest = new Map<string, LoadStats>();
  const failed = new Map<string, string>();
  for (let round = 0; round < rounds; round++) {
    // Each round starts with a different contender, so no run always follows the same one.
    const order = contenders.map((_, i) => contenders[(i + round) % contenders.length]);
    for (const contender of order) {
      const name = contender.base.name;
      if (failed.has(name)) continue;
      if (round === 0) ctx.log(`run ${name}: ${contender.base.title} (${rounds} rounds)`);
      try {
        latest.set(name, await contender.round(durationS, round === 0 ? ctx.options.warmupS : 0));
      } catch (error) {
        failed.set(name, (error as Error).message.split("\n").slice(0, 6).join(" | "));
      }
    }
  }
  for (const contender of contenders) {
    const name = contender.base.name;
    await measured(
      ctx,
      { ...contender.base, notes: contender.notes },
      async () => {
        const error = failed.get(name);
        const stats = latest.get(name);
        if (error !== undefined || !stats) throw new Error(error ?? "not measured");
        const extra = contender.extra ? await contender.extra() : undefined;
        return { stats: expectMostlyOk(stats, contender.base.title), extra };
      },
      false,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// (1) ack-mode REST JSON ingest, (2) SOAP ack-mode ingest

const BARE_KOA_JSON = {
  name: "baseline.bare-koa.json",
  title: "bare Koa: read + JSON.parse + 202",
  group: "ingest-json",
  role: "baseline",
} as const;

const NAIVE_JSON = {
  name: "baseline.naive.json",
  title:
    "naive design: koa + JSON.parse + one ioredis SET NX + one confirmed amqplib publish + 202",
  group: "ingest-json",
  role: "baseline",
} as const;

async function publisherContender(ctx: BenchContext): Promise<{
  contender: Contender;
  close(): Promise<void>;
}> {
  const publisher = await RawPublisher.open(ctx.options.amqpUrl);
  const queue = `${PREFIX_STEM}${randomUUID().slice(0, 8)}.publisher-ceiling`;
  await publisher.declareQuorumQueue(queue);
  const make = (): Buffer => requestMessageFor(JSON_BODY, REST_SERVICE, BACKEND);
  const inFlight = ctx.options.connections;
  const tally = newPublishTally();
  const cpu: CpuSample[] = [];
  const contender: Contender = {
    base: {
      name: "baseline.amqp-publisher",
      title: `raw amqplib publisher, confirms, ${inFlight} in flight, quorum queue`,
      group: "ingest-json",
      role: "baseline",
    },
    notes: ["latency = publish to broker confirm"],
    extra: async () => ({ messageBytes: make().length }),
    async round(durationS, warmupS) {
      if (warmupS > 0) await publisher.flood(queue, make, { durationS: warmupS }, inFlight);
      await publisher.purge(queue);
      const window = new CpuWindow([
        { name: "publisher", pid: process.pid },
        ...serviceProcesses(),
      ]);
      const rate = await publisher.flood(queue, make, { durationS }, inFlight, tally);
      cpu.push(window.stop());
      await publisher.purge(queue);
      return { ...publishStats(rate), cpu: cpuShares(cpu, rate.published) };
    },
  };
  return {
    contender,
    async close() {
      await publisher.deleteQueues([queue]);
      await publisher.close();
    },
  };
}

/** The naive design (koa + one `SET NX` + one confirmed publish), in its own process. */
async function withNaive<T>(
  ctx: BenchContext,
  body: (url: string, watch: WatchedProcess[]) => Promise<T>,
): Promise<T> {
  const prefix = `${PREFIX_STEM}${randomUUID().slice(0, 8)}.`;
  const { process, ready } = await forkReady<{ type: "ready"; port: number }>(
    "naive",
    join(__dirname, "naive-server.js"),
    [ctx.options.amqpUrl, ctx.options.redisUrl, prefix],
  );
  try {
    return await body(`http://127.0.0.1:${ready.port}`, [{ name: "naive", pid: process.pid }]);
  } finally {
    // It deletes its queue and keys before it exits.
    await process.stop(30_000);
  }
}

async function ingestJsonRuns(ctx: BenchContext, withSluice: boolean): Promise<void> {
  await withBareKoa((bareUrl, bareWatch) =>
    withNaive(ctx, async (naiveUrl, naiveWatch) => {
      const publisher = await publisherContender(ctx);
      try {
        const contenders: Contender[] = [
          httpContender(
            ctx,
            BARE_KOA_JSON,
            loadOptions(ctx, { url: `${bareUrl}/rest/${REST_SERVICE}`, expectStatus: 202 }),
            bareWatch,
          ),
          publisher.contender,
          httpContender(
            ctx,
            NAIVE_JSON,
            loadOptions(ctx, { url: `${naiveUrl}/rest/${REST_SERVICE}`, expectStatus: 202 }),
            naiveWatch,
          ),
        ];
        if (!withSluice) return await interleave(ctx, contenders);
        await withSystem(systemOptions(ctx, {}), async (system) => {
          const sluice = httpContender(
            ctx,
            {
              name: "ingest-json.sluice",
              title: "Sluice adapter: REST JSON, ack mode, schema validation",
              group: "ingest-json",
              role: "sluice",
            },
            loadOptions(ctx, {
              url: `${system.adapterUrl}/rest/${REST_SERVICE}`,
              expectStatus: 202,
            }),
            system.watch(),
          );
          sluice.extra = async () => ({ queued: await queueDepth(ctx, system.requestsQueue) });
          await interleave(ctx, [...contenders, sluice]);
        });
      } finally {
        await publisher.close();
      }
    }),
  );
}

const ingestJson: BenchGroup = {
  name: "ingest-json",
  baselines: (ctx) => ingestJsonRuns(ctx, false),
  sluice: (ctx) => ingestJsonRuns(ctx, true),
  both: true,
};

async function queueDepth(ctx: BenchContext, queue: string): Promise<number> {
  const publisher = await RawPublisher.open(ctx.options.amqpUrl);
  try {
    return await publisher.depth(queue);
  } finally {
    await publisher.close();
  }
}

const soapHeaders = { "content-type": "text/xml; charset=utf-8", soapaction: '""' };

async function ingestSoapRuns(ctx: BenchContext, withSluice: boolean): Promise<void> {
  await withBareKoa(async (bareUrl, bareWatch) => {
    const bare = httpContender(
      ctx,
      {
        name: "baseline.bare-koa.soap",
        title: "bare Koa: read the envelope + fixed answer",
        group: "ingest-soap",
        role: "baseline",
      },
      loadOptions(ctx, { url: `${bareUrl}/soap`, headers: soapHeaders, body: soapBody() }),
      bareWatch,
    );
    if (!withSluice) return await interleave(ctx, [bare]);
    await withSystem(systemOptions(ctx, {}), async (system) => {
      const sluice = httpContender(
        ctx,
        {
          name: "ingest-soap.sluice",
          title: "Sluice adapter: X-Road SOAP simple.query, ack mode",
          group: "ingest-soap",
          role: "sluice",
        },
        loadOptions(ctx, {
          url: `${system.adapterUrl}/soap`,
          headers: soapHeaders,
          body: soapBody(),
        }),
        system.watch(),
      );
      await interleave(ctx, [bare, sluice]);
    });
  });
}

const ingestSoap: BenchGroup = {
  name: "ingest-soap",
  baselines: (ctx) => ingestSoapRuns(ctx, false),
  sluice: (ctx) => ingestSoapRuns(ctx, true),
  both: true,
};

// ---------------------------------------------------------------------------------------------
// (3) sync round trip with a 0 ms backend

async function withBackend<T>(body: (backend: LegacyBackend) => Promise<T>): Promise<T> {
  const backend = await LegacyBackend.start(0);
  try {
    return await body(backend);
  } finally {
    await backend.stop();
  }
}

const SYNC_PATH = "/lookup";

/**
 * The naive durable sync round trip (naive-sync-server.ts and naive-sync-worker.ts, one process
 * each) against `backendUrl`; `body` gets its URL and its processes, watched like Sluice's roles.
 */
async function withNaiveSync<T>(
  ctx: BenchContext,
  backendUrl: string,
  body: (url: string, watch: WatchedProcess[]) => Promise<T>,
): Promise<T> {
  const prefix = `${PREFIX_STEM}${randomUUID().slice(0, 8)}.`;
  const server = await forkReady<{ type: "ready"; port: number }>(
    "naive-sync-server",
    join(__dirname, "naive-sync-server.js"),
    [ctx.options.amqpUrl, ctx.options.redisUrl, prefix],
  );
  try {
    const worker = await forkReady("naive-sync-worker", join(__dirname, "naive-sync-worker.js"), [
      ctx.options.amqpUrl,
      ctx.options.redisUrl,
      prefix,
      backendUrl,
      String(ctx.options.connections),
    ]);
    try {
      return await body(`http://127.0.0.1:${server.ready.port}`, [
        { name: "naive server", pid: server.process.pid },
        { name: "naive worker", pid: worker.process.pid },
      ]);
    } finally {
      await worker.process.stop(10_000);
    }
  } finally {
    // It deletes the queue and keys before it exits.
    await server.process.stop(30_000);
  }
}

async function syncRuns(ctx: BenchContext, withSluice: boolean): Promise<void> {
  await withBackend((backend) =>
    withNaiveSync(ctx, backend.url, async (naiveUrl, naiveWatch) => {
      const backendWatch = [{ name: "legacy-sim", pid: backend.pid }];
      const conns = (n: number): string => `${n} connection${n > 1 ? "s" : ""}`;
      const direct = (suffix: string, connections: number): Contender =>
        httpContender(
          ctx,
          {
            name: `baseline.direct.${suffix}`,
            title: `legacy-sim called directly, ${conns(connections)}`,
            group: "sync",
            role: "baseline",
          },
          loadOptions(ctx, { url: `${backend.url}${SYNC_PATH}`, connections }),
          backendWatch,
        );
      const naive = (suffix: string, connections: number): Contender =>
        httpContender(
          ctx,
          {
            name: `baseline.naive-sync.${suffix}`,
            title:
              "naive durable sync round trip: koa + SET NX + confirmed publish to a quorum " +
              `queue, worker + one Redis MULTI (SET + PUBLISH), ${conns(connections)}`,
            group: "sync",
            role: "baseline",
          },
          loadOptions(ctx, {
            url: `${naiveUrl}/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
            connections,
          }),
          [...naiveWatch, ...backendWatch],
        );
      const shapes = [
        ["latency", 1],
        ["throughput", ctx.options.connections],
      ] as const;
      if (!withSluice) {
        for (const [suffix, connections] of shapes)
          await interleave(ctx, [direct(suffix, connections), naive(suffix, connections)]);
        return;
      }
      await withSystem(
        systemOptions(ctx, {
          roles: ["adapter", "worker", "response-worker"],
          backendUrl: backend.url,
        }),
        async (system) => {
          for (const [suffix, connections] of shapes) {
            const sluice = httpContender(
              ctx,
              {
                name: `sync.sluice.${suffix}`,
                title: `Sluice sync round trip, all roles, ${conns(connections)}`,
                group: "sync",
                role: "sluice",
              },
              loadOptions(ctx, {
                url: `${system.adapterUrl}/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
                connections,
              }),
              system.watch(backendWatch),
            );
            await interleave(ctx, [
              direct(suffix, connections),
              naive(suffix, connections),
              sluice,
            ]);
          }
        },
      );
    }),
  );
}

const sync: BenchGroup = {
  name: "sync",
  baselines: (ctx) => syncRuns(ctx, false),
  sluice: (ctx) => syncRuns(ctx, true),
  both: true,
};

// ---------------------------------------------------------------------------------------------
// (4) ingest behind a backlog

/**
 * Waits (at most 60 s) until RabbitMQ keeps less than a fifth of a core busy, so work left
 * over from a large pre-fill (segment writes, snapshots) does not land in a measured round.
 */
async function brokerSettled(): Promise<number> {
  const started = Date.now();
  const broker = serviceProcesses().filter((p) => p.name === "rabbitmq");
  while (Date.now() - started < 60_000) {
    const window = new CpuWindow(broker);
    await new Promise((resolve) => setTimeout(resolve, 1_000));
    const sample = window.stop();
    if ((sample.cpuS.rabbitmq ?? 0) / sample.seconds < 0.2) break;
  }
  return round((Date.now() - started) / 1000, 1);
}

/**
 * One adapter, one ack service and request queue per backlog size: every queue is pre-filled
 * once, then the sizes take turns in rounds, so they share the machine's conditions.
 */
const backlog: BenchGroup = {
  name: "backlog",
  async sluice(ctx) {
    const sizes = ctx.options.backlogs;
    const lanes = sizes.map((_, i) => `b${i}`);
    await withSystem(systemOptions(ctx, { laneNames: lanes }), async (system) => {
      const publisher = await RawPublisher.open(ctx.options.amqpUrl);
      try {
        const prefillRates = new Map<number, number>();
        for (const [i, count] of sizes.entries()) {
          const queue = system.names.requestsQueue(laneBackend(lanes[i]));
          if (count === 0) continue;
          const make = (): Buffer =>
            requestMessageFor(JSON_BODY, laneService(lanes[i]), laneBackend(lanes[i]));
          const rate = await publisher.flood(queue, make, { count }, 500);
          prefillRates.set(count, rate.rps);
          ctx.log(`  pre-filled ${count} messages at ${rate.rps} msg/s`);
        }
        ctx.log(`  broker settled after the pre-fill in ${await brokerSettled()} s`);
        const contenders = sizes.map((count, i): Contender => {
          const queue = system.names.requestsQueue(laneBackend(lanes[i]));
          const http = httpContender(
            ctx,
            {
              name: `backlog.${count}`,
              title: `Sluice ack ingest with ${count.toLocaleString("en-US")} messages queued`,
              group: "backlog",
              role: "sluice",
            },
            loadOptions(ctx, {
              url: `${system.adapterUrl}/rest/${laneService(lanes[i])}`,
              expectStatus: 202,
            }),
            system.watch(),
          );
          let depthBefore = -1;
          return {
            ...http,
            async round(durationS, warmupS) {
              // The empty queue stays (nearly) empty: what earlier rounds queued goes.
              if (count === 0) {
                await publisher.purge(queue);
                await new Promise((resolve) => setTimeout(resolve, 500));
              }
              if (depthBefore < 0) depthBefore = await publisher.depth(queue);
              return http.round(durationS, warmupS);
            },
            extra: async () => ({
              backlog: count,
              depthBefore,
              depthAfter: await publisher.depth(queue),
              prefillRate: prefillRates.get(count) ?? 0,
            }),
          };
        });
        await interleave(ctx, contenders);
      } finally {
        await publisher.close();
      }
    });
  },
};

// ---------------------------------------------------------------------------------------------
// (5) adapter memory: many sync waiters, and sustained 503 answers

/** The adapter's own view of its memory (prom-client default metrics), in MB. */
async function heapFigures(adminPort: number): Promise<Record<string, number>> {
  const text = await metricsText(adminPort);
  const mb = (metric: string): number => {
    const match = new RegExp(`^${metric}(?:\\{[^}]*\\})? (\\S+)$`, "m").exec(text);
    return match ? round(Number(match[1]) / 1024 / 1024, 1) : -1;
  };
  return {
    heapUsedMb: mb("nodejs_heap_size_used_bytes"),
    heapTotalMb: mb("nodejs_heap_size_total_bytes"),
    externalMb: mb("nodejs_external_memory_bytes"),
  };
}

async function metricsText(adminPort: number): Promise<string> {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    return await response.text();
  } catch {
    return "";
  }
}

async function syncWaitersGauge(adminPort: number): Promise<number | null> {
  const text = await metricsText(adminPort);
  const match = /^sluice_sync_waiters(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text);
  return match ? Number(match[1]) : null;
}

/**
 * Callers the flood keeps opened but not yet held: within Node's listen backlog (511), so no
 * connection is dropped and retried by the kernel while the server takes the others in.
 */
const FLOOD_WINDOW = 400;

/** Opens `count` held requests against `port`, waits until `held()` says they are all in. */
async function holdMany(
  port: number,
  pid: number,
  path: string,
  count: number,
  held: (flood: WaiterFlood) => Promise<number | null>,
  probe?: () => Promise<Record<string, number | string>>,
): Promise<Pick<RunResult, "memory" | "extra">> {
  const sampler = new RssSampler(pid);
  const flood = await WaiterFlood.start();
  const started = Date.now();
  try {
    flood.open({
      port,
      path,
      headers: restHeaders(),
      body: JSON_BODY,
      count,
      batch: 200,
      window: FLOOD_WINDOW,
    });
    // The flood opens callers as the server takes them in: it hears how many are held.
    const rampDeadline = Date.now() + 120_000;
    while (Date.now() < rampDeadline) {
      flood.held((await held(flood)) ?? 0);
      const p = flood.progress;
      if (p.connected + p.errors >= count) break;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
    let holding: number | null = null;
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      holding = await held(flood);
      const p = flood.progress;
      if ((holding ?? 0) + p.answered + p.errors >= count) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const rampS = (Date.now() - started) / 1000;
    // Hold them a while: timers, sockets and records settle at their steady size.
    await new Promise((resolve) => setTimeout(resolve, 5_000));
    holding = await held(flood);
    const probed = probe ? await probe() : {};
    const memory = sampler.stop();
    const progress = flood.progress;
    return {
      memory,
      extra: {
        waiters: count,
        held: holding ?? "n/a",
        answeredEarly: progress.answered,
        errors: progress.errors,
        statusCodes: JSON.stringify(progress.statusCodes),
        rampS: round(rampS, 1),
        ...probed,
      },
    };
  } finally {
    sampler.stop();
    await flood.close();
  }
}

/**
 * Repeats a memory measurement on a fresh process (twice in a full run): the peak depends on
 * when the garbage collector last ran, so the report gives the highest and every trial's peak.
 */
async function trials(
  ctx: BenchContext,
  once: () => Promise<Pick<RunResult, "memory" | "extra">>,
): Promise<Pick<RunResult, "memory" | "extra">> {
  const results: Array<Pick<RunResult, "memory" | "extra">> = [];
  for (let i = 0; i < (ctx.options.quick ? 1 : 2); i++) {
    const result = await once();
    ctx.log(`  trial ${i + 1}: ${JSON.stringify({ ...result.memory, ...result.extra })}`);
    results.push(result);
  }
  // A trial whose callers were answered or lost before the end (a ramp slower than their wait,
  // on a busy machine) measured something else: the figure is the worst of the trials that held
  // them all, and only where none did, the worst of all, with the count saying so.
  const complete = results.filter(heldAll);
  const worst = (complete.length > 0 ? complete : results).reduce((a, b) =>
    (b.memory?.peakMb ?? 0) > (a.memory?.peakMb ?? 0) ? b : a,
  );
  return {
    memory: worst.memory,
    extra: {
      ...worst.extra,
      peaksMb: results.map((r) => r.memory?.peakMb ?? 0).join(" / "),
      trialsHoldingAll: `${complete.length} of ${results.length}`,
    },
  };
}

/** Whether a trial held (nearly) every caller it opened at its end: 99 %, for a stray reset. */
function heldAll(result: Pick<RunResult, "extra">): boolean {
  const { held, waiters } = result.extra ?? {};
  return typeof held === "number" && typeof waiters === "number" && held >= waiters * 0.99;
}

const memory: BenchGroup = {
  name: "memory",
  async baselines(ctx) {
    const waiters = ctx.options.waiters;
    await measured(
      ctx,
      {
        name: "baseline.bare-koa.hold",
        title: `bare Koa RSS holding ${waiters.toLocaleString("en-US")} parsed requests open`,
        group: "memory",
        role: "baseline",
      },
      () =>
        trials(ctx, async () => {
          const { process, ready } = await forkReady<{ type: "ready"; port: number }>(
            "bare-koa",
            join(__dirname, "bare-koa-server.js"),
          );
          try {
            return await holdMany(
              ready.port,
              process.pid,
              `/hold/${REST_SYNC_SERVICE}`,
              waiters,
              async (flood) => flood.progress.connected - flood.progress.answered,
            );
          } finally {
            await process.stop(2_000);
          }
        }),
    );
  },
  async sluice(ctx) {
    const waiters = ctx.options.waiters;
    await measured(
      ctx,
      {
        name: "memory.waiters",
        title: `adapter RSS holding ${waiters.toLocaleString("en-US")} concurrent sync callers (no worker: the backend never answers)`,
        group: "memory",
        role: "sluice",
      },
      () =>
        trials(ctx, () =>
          withSystem(
            systemOptions(ctx, { maxSyncWaiters: waiters + 1_000, maxWaitS: SYNC_WAIT_S }),
            (system) =>
              holdMany(
                system.servicePort,
                system.pid("adapter"),
                `/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
                waiters,
                // The adapter's own gauge says how many callers it holds.
                () => syncWaitersGauge(system.adminPorts.get("adapter") ?? 0),
                () => heapFigures(system.adminPorts.get("adapter") ?? 0),
              ),
          ),
        ),
    );
    await measured(
      ctx,
      {
        name: "memory.busy-503",
        title: "adapter RSS under sustained load answered 503 (queue above high water)",
        group: "memory",
        role: "sluice",
      },
      () =>
        withSystem(systemOptions(ctx, { highWater: 1, maxLength: 10_000 }), async (system) => {
          const publisher = await RawPublisher.open(ctx.options.amqpUrl);
          try {
            const make = (): Buffer => requestMessageFor(JSON_BODY, REST_SERVICE, BACKEND);
            await publisher.flood(system.requestsQueue, make, { count: 10 }, 10);
          } finally {
            await publisher.close();
          }
          // The adapter learns the depth by polling; wait until it refuses.
          const url = `${system.adapterUrl}/rest/${REST_SERVICE}`;
          const deadline = Date.now() + 30_000;
          for (;;) {
            const response = await fetch(url, {
              method: "POST",
              headers: { ...restHeaders(), "x-road-id": `probe-${randomUUID()}` },
              body: JSON_BODY,
            });
            await response.arrayBuffer();
            if (response.status === 503) break;
            if (Date.now() > deadline)
              throw new Error(`adapter never answered 503 (${response.status})`);
            await new Promise((resolve) => setTimeout(resolve, 250));
          }
          const sampler = new RssSampler(system.pid("adapter"));
          try {
            const stats = await ctx.load.run(
              loadOptions(ctx, { url, expectStatus: 503 }),
              system.watch(),
            );
            return { memory: sampler.stop(), stats: expectMostlyOk(stats, "503 load") };
          } finally {
            sampler.stop();
          }
        }),
    );
  },
};

// ---------------------------------------------------------------------------------------------
// Profile of a role's hot path (the adapter's unless --profile-role names another)

async function profiled(
  ctx: BenchContext,
  label: string,
  roles: SystemOptions["roles"],
  request: (adapterUrl: string) => Partial<LoadOptions> & { url: string },
): Promise<void> {
  const role = ctx.options.profileRole;
  // A run without that role has nothing to profile (the ack runs start an adapter only).
  if (!roles.includes(role)) return;
  const dir = mkdtempSync(join(tmpdir(), "sluice-prof-"));
  let profileWindow: { fromS: number; toS: number } | undefined;
  const withBackendIfNeeded =
    roles.length > 1 ? withBackend : (f: (b: null) => Promise<void>) => f(null);
  try {
    await withBackendIfNeeded(async (backend) => {
      const system = await SluiceSystem.start(
        systemOptions(ctx, {
          roles,
          backendUrl: backend?.url ?? "http://127.0.0.1:9",
          profile: { role, dir },
        }),
      );
      try {
        await measured(
          ctx,
          {
            name: `profile.${label}`,
            title: `${role} under --cpu-prof: ${label}`,
            group: "profile",
            role: "sluice",
            notes: ["profiling slows the adapter; these figures are not comparable"],
          },
          async () => {
            const stats = await ctx.load.run(
              loadOptions(ctx, request(system.adapterUrl)),
              system.watch(),
            );
            // Only the measured load counts: not start-up, warm-up or shutdown.
            const origin = system.startedAt.get(role) ?? 0;
            const window = ctx.load.lastWindow;
            if (window) {
              profileWindow = {
                fromS: (window.startMs - origin) / 1000,
                toS: (window.endMs - origin) / 1000,
              };
            }
            return { stats };
          },
        );
      } finally {
        // The profile is written when the adapter exits by itself (SIGTERM → drain → exit).
        await system.stop();
        await system.cleanup();
      }
    });
    const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
    if (!file) throw new Error(`the ${role} wrote no CPU profile (did it exit cleanly?)`);
    const summary = summariseProfile(join(dir, file), label, profileWindow);
    const kept = join(ctx.resultsDir, `${role}-${label}.cpuprofile`);
    // A clean clone has no results directory until the first results file is written.
    mkdirSync(ctx.resultsDir, { recursive: true });
    rmSync(kept, { force: true });
    copyFileSync(join(dir, file), kept);
    ctx.profiles.push({ ...summary, role, file: kept });
  } catch (error) {
    ctx.log(`  profile ${label} failed: ${(error as Error).message}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const profile: BenchGroup = {
  name: "profile",
  async sluice(ctx) {
    await profiled(ctx, "ack-json", ["adapter"], (url) => ({
      url: `${url}/rest/${REST_SERVICE}`,
      expectStatus: 202,
    }));
    await profiled(ctx, "ack-soap", ["adapter"], (url) => ({
      url: `${url}/soap`,
      headers: soapHeaders,
      body: soapBody(),
    }));
    await profiled(ctx, "sync-json", ["adapter", "worker", "response-worker"], (url) => ({
      url: `${url}/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
    }));
  },
};

export const GROUPS: BenchGroup[] = [ingestJson, ingestSoap, sync, backlog, memory, profile];
