// The benchmark runs, one group per question, each measured next to its baselines in the same
// invocation: ack ingest (JSON, SOAP), the sync round trip, ingest behind a backlog, memory.

import { copyFileSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import type { BenchOptions } from "./bench-options";
import { round, type LoadStats, type ProfileSummary, type RunResult } from "./bench-result";
import { forkReady } from "./child-processes";
import { LegacyBackend } from "./legacy-backend";
import type { LoadGenerator, LoadOptions } from "./load-generator";
import { RawPublisher, requestMessageFor, type PublishRate } from "./amqp-publisher";
import {
  JSON_BODY,
  REST_SERVICE,
  REST_SYNC_SERVICE,
  soapSimpleQuery,
  XROAD_CLIENT,
} from "./payloads";
import { summariseProfile } from "./profile-summary";
import { RssSampler } from "./rss-sampler";
import { BACKEND, deleteRedisKeys, SluiceSystem, type SystemOptions } from "./sluice-system";
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
  baselines?(ctx: BenchContext): Promise<void>;
  sluice(ctx: BenchContext): Promise<void>;
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
    ...patch,
  };
}

/** Runs `body`; a failure is recorded against the run instead of ending the benchmark. */
async function measured(
  ctx: BenchContext,
  base: Omit<RunResult, "stats">,
  body: () => Promise<Partial<RunResult>>,
): Promise<void> {
  ctx.log(`run ${base.name}: ${base.title}`);
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
        ? `  ${s.okRps} ok req/s (${s.rps} total), p50 ${s.latencyMs.p50} ms, p99 ${s.latencyMs.p99} ms, ` +
          `codes ${JSON.stringify(s.statusCodes)} [${Math.round((Date.now() - started) / 1000)} s]`
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

async function withBareKoa<T>(body: (url: string) => Promise<T>): Promise<T> {
  const { process, ready } = await forkReady<{ type: "ready"; port: number }>(
    "bare-koa",
    join(__dirname, "bare-koa-server.js"),
  );
  try {
    return await body(`http://127.0.0.1:${ready.port}`);
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
// (1) ack-mode REST JSON ingest

const ingestJson: BenchGroup = {
  name: "ingest-json",
  async baselines(ctx) {
    await measured(
      ctx,
      {
        name: "baseline.bare-koa.json",
        title: "bare Koa: read + JSON.parse + 202",
        group: "ingest-json",
        role: "baseline",
      },
      () =>
        withBareKoa(async (url) => {
          const stats = await ctx.load.run(
            loadOptions(ctx, { url: `${url}/rest/${REST_SERVICE}`, expectStatus: 202 }),
          );
          return { stats: expectMostlyOk(stats, "bare Koa") };
        }),
    );
    await measured(
      ctx,
      {
        name: "baseline.amqp-publisher",
        title: `raw amqplib publisher, confirms, ${ctx.options.connections} in flight, quorum queue`,
        group: "ingest-json",
        role: "baseline",
      },
      async () => {
        const publisher = await RawPublisher.open(ctx.options.amqpUrl);
        const queue = `bench-${randomUUID().slice(0, 8)}.publisher-ceiling`;
        try {
          await publisher.declareQuorumQueue(queue);
          const make = (): Buffer => requestMessageFor(JSON_BODY, REST_SERVICE, BACKEND);
          const inFlight = ctx.options.connections;
          await publisher.flood(queue, make, { durationS: ctx.options.warmupS }, inFlight);
          await publisher.purge(queue);
          const rate = await publisher.flood(
            queue,
            make,
            { durationS: ctx.options.durationS },
            inFlight,
          );
          return {
            stats: publishStats(rate),
            extra: { messageBytes: make().length },
            notes: ["latency = publish to broker confirm"],
          };
        } finally {
          await publisher.deleteQueues([queue]);
          await publisher.close();
        }
      },
    );
  },
  async sluice(ctx) {
    await measured(
      ctx,
      {
        name: "ingest-json.sluice",
        title: "Sluice adapter: REST JSON, ack mode, schema validation",
        group: "ingest-json",
        role: "sluice",
      },
      () =>
        withSystem(systemOptions(ctx, {}), async (system) => {
          const stats = await ctx.load.run(
            loadOptions(ctx, {
              url: `${system.adapterUrl}/rest/${REST_SERVICE}`,
              expectStatus: 202,
            }),
          );
          const depth = await queueDepth(ctx, system.requestsQueue);
          return { stats: expectMostlyOk(stats, "adapter ack ingest"), extra: { queued: depth } };
        }),
    );
  },
};

async function queueDepth(ctx: BenchContext, queue: string): Promise<number> {
  const publisher = await RawPublisher.open(ctx.options.amqpUrl);
  try {
    return await publisher.depth(queue);
  } finally {
    await publisher.close();
  }
}

// ---------------------------------------------------------------------------------------------
// (2) SOAP ack-mode ingest

const soapHeaders = { "content-type": "text/xml; charset=utf-8", soapaction: '""' };

const ingestSoap: BenchGroup = {
  name: "ingest-soap",
  async baselines(ctx) {
    await measured(
      ctx,
      {
        name: "baseline.bare-koa.soap",
        title: "bare Koa: read the envelope + fixed answer",
        group: "ingest-soap",
        role: "baseline",
      },
      () =>
        withBareKoa(async (url) => {
          const stats = await ctx.load.run(
            loadOptions(ctx, { url: `${url}/soap`, headers: soapHeaders, body: soapBody() }),
          );
          return { stats: expectMostlyOk(stats, "bare Koa SOAP") };
        }),
    );
  },
  async sluice(ctx) {
    await measured(
      ctx,
      {
        name: "ingest-soap.sluice",
        title: "Sluice adapter: X-Road SOAP simple.query, ack mode",
        group: "ingest-soap",
        role: "sluice",
      },
      () =>
        withSystem(systemOptions(ctx, {}), async (system) => {
          const stats = await ctx.load.run(
            loadOptions(ctx, {
              url: `${system.adapterUrl}/soap`,
              headers: soapHeaders,
              body: soapBody(),
            }),
          );
          return { stats: expectMostlyOk(stats, "adapter SOAP ingest") };
        }),
    );
  },
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

const sync: BenchGroup = {
  name: "sync",
  async baselines(ctx) {
    await withBackend(async (backend) => {
      for (const [suffix, connections] of [
        ["latency", 1],
        ["throughput", ctx.options.connections],
      ] as const) {
        await measured(
          ctx,
          {
            name: `baseline.direct.${suffix}`,
            title: `legacy-sim called directly, ${connections} connection${connections > 1 ? "s" : ""}`,
            group: "sync",
            role: "baseline",
          },
          async () => {
            const stats = await ctx.load.run(
              loadOptions(ctx, { url: `${backend.url}${SYNC_PATH}`, connections }),
            );
            return { stats: expectMostlyOk(stats, "direct backend call") };
          },
        );
      }
    });
  },
  async sluice(ctx) {
    await withBackend((backend) =>
      withSystem(
        systemOptions(ctx, {
          roles: ["adapter", "worker", "response-worker"],
          backendUrl: backend.url,
        }),
        async (system) => {
          for (const [suffix, connections] of [
            ["latency", 1],
            ["throughput", ctx.options.connections],
          ] as const) {
            await measured(
              ctx,
              {
                name: `sync.sluice.${suffix}`,
                title: `Sluice sync round trip (adapter → queue → worker → backend → response-worker → adapter), ${connections} connection${connections > 1 ? "s" : ""}`,
                group: "sync",
                role: "sluice",
              },
              async () => {
                const stats = await ctx.load.run(
                  loadOptions(ctx, {
                    url: `${system.adapterUrl}/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
                    connections,
                  }),
                );
                return { stats: expectMostlyOk(stats, "sync round trip") };
              },
            );
          }
        },
      ),
    );
  },
};

// ---------------------------------------------------------------------------------------------
// (4) ingest behind a backlog

const backlog: BenchGroup = {
  name: "backlog",
  async sluice(ctx) {
    await withSystem(systemOptions(ctx, {}), async (system) => {
      const publisher = await RawPublisher.open(ctx.options.amqpUrl);
      try {
        for (const count of ctx.options.backlogs) {
          await measured(
            ctx,
            {
              name: `backlog.${count}`,
              title: `Sluice ack ingest with ${count.toLocaleString("en-US")} messages queued`,
              group: "backlog",
              role: "sluice",
            },
            async () => {
              await publisher.purge(system.requestsQueue);
              await deleteRedisKeys(ctx.options.redisUrl, system.prefix);
              let prefill: PublishRate | null = null;
              if (count > 0) {
                const make = (): Buffer => requestMessageFor(JSON_BODY, REST_SERVICE, BACKEND);
                prefill = await publisher.flood(system.requestsQueue, make, { count }, 500);
                ctx.log(`  pre-filled ${count} messages at ${prefill.rps} msg/s`);
              }
              const before = await publisher.depth(system.requestsQueue);
              const stats = await ctx.load.run(
                loadOptions(ctx, {
                  url: `${system.adapterUrl}/rest/${REST_SERVICE}`,
                  expectStatus: 202,
                }),
              );
              const after = await publisher.depth(system.requestsQueue);
              return {
                stats: expectMostlyOk(stats, `ingest with ${count} queued`),
                extra: {
                  backlog: count,
                  depthBefore: before,
                  depthAfter: after,
                  prefillRate: prefill?.rps ?? 0,
                },
              };
            },
          );
        }
        await publisher.purge(system.requestsQueue);
      } finally {
        await publisher.close();
      }
    });
  },
};

// ---------------------------------------------------------------------------------------------
// (5) adapter memory: many sync waiters, and sustained 503 answers

async function syncWaitersGauge(adminPort: number): Promise<number | null> {
  try {
    const response = await fetch(`http://127.0.0.1:${adminPort}/metrics`, {
      signal: AbortSignal.timeout(5_000),
    });
    const text = await response.text();
    const match = /^sluice_sync_waiters(?:\{[^}]*\})? (\d+(?:\.\d+)?(?:e\+?\d+)?)$/m.exec(text);
    return match ? Number(match[1]) : null;
  } catch {
    return null;
  }
}

const memory: BenchGroup = {
  name: "memory",
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
        withSystem(
          systemOptions(ctx, { maxSyncWaiters: waiters + 1_000, maxWaitS: SYNC_WAIT_S }),
          async (system) => {
            const admin = system.adminPorts.get("adapter") ?? 0;
            const sampler = new RssSampler(system.pid("adapter"));
            const flood = await WaiterFlood.start();
            const started = Date.now();
            try {
              flood.open({
                port: system.servicePort,
                path: `/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
                headers: restHeaders(),
                body: JSON_BODY,
                count: waiters,
                batch: 200,
              });
              // Held = connected and not answered; the adapter's gauge confirms it holds them.
              await flood.until((p) => p.connected + p.errors >= waiters, 120_000);
              let gauge: number | null = null;
              const deadline = Date.now() + 120_000;
              while (Date.now() < deadline) {
                gauge = await syncWaitersGauge(admin);
                const p = flood.progress;
                if ((gauge ?? 0) + p.answered + p.errors >= waiters) break;
                await new Promise((resolve) => setTimeout(resolve, 500));
              }
              const rampS = (Date.now() - started) / 1000;
              // Hold them a while: timers, sockets and records settle at their steady size.
              await new Promise((resolve) => setTimeout(resolve, 5_000));
              gauge = await syncWaitersGauge(admin);
              const mem = sampler.stop();
              const progress = flood.progress;
              return {
                memory: mem,
                extra: {
                  waiters,
                  held: progress.connected - progress.answered,
                  gauge: gauge ?? "n/a",
                  answeredEarly: progress.answered,
                  errors: progress.errors,
                  statusCodes: JSON.stringify(progress.statusCodes),
                  rampS: round(rampS, 1),
                },
              };
            } finally {
              sampler.stop();
              await flood.close();
            }
          },
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
          let stats: LoadStats;
          try {
            stats = await ctx.load.run(loadOptions(ctx, { url, expectStatus: 503 }));
          } finally {
            sampler.stop();
          }
          return { stats: expectMostlyOk(stats, "503 load"), memory: sampler.stop() };
        }),
    );
  },
};

// ---------------------------------------------------------------------------------------------
// Profile of the adapter's hot path

async function profiled(
  ctx: BenchContext,
  label: string,
  roles: SystemOptions["roles"],
  request: (adapterUrl: string) => Partial<LoadOptions> & { url: string },
): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), "sluice-prof-"));
  const withBackendIfNeeded =
    roles.length > 1 ? withBackend : (f: (b: null) => Promise<void>) => f(null);
  try {
    await withBackendIfNeeded(async (backend) => {
      const system = await SluiceSystem.start(
        systemOptions(ctx, {
          roles,
          backendUrl: backend?.url ?? "http://127.0.0.1:9",
          adapterProfileDir: dir,
        }),
      );
      try {
        await measured(
          ctx,
          {
            name: `profile.${label}`,
            title: `adapter under --cpu-prof: ${label}`,
            group: "profile",
            role: "sluice",
            notes: ["profiling slows the adapter; these figures are not comparable"],
          },
          async () => ({ stats: await ctx.load.run(loadOptions(ctx, request(system.adapterUrl))) }),
        );
      } finally {
        // The profile is written when the adapter exits by itself (SIGTERM → drain → exit).
        await system.stop();
        await system.cleanup();
      }
    });
    const file = readdirSync(dir).find((name) => name.endsWith(".cpuprofile"));
    if (!file) throw new Error("the adapter wrote no CPU profile (did it exit cleanly?)");
    const summary = summariseProfile(join(dir, file), label);
    const kept = join(ctx.resultsDir, `adapter-${label}.cpuprofile`);
    rmSync(kept, { force: true });
    copyFileSync(join(dir, file), kept);
    ctx.profiles.push({ ...summary, file: kept });
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
    await profiled(ctx, "sync-json", ["adapter", "worker", "response-worker"], (url) => ({
      url: `${url}/rest/${REST_SYNC_SERVICE}${SYNC_PATH}`,
    }));
  },
};

export const GROUPS: BenchGroup[] = [ingestJson, ingestSoap, sync, backlog, memory, profile];
