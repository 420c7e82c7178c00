// Turns a benchmark report into its JSON file in bench/results/, the ratios and target checks,
// and docs/benchmarks.md with its plots; the hand-written analysis in the doc is kept.

import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { RUN_NAMES, USAGE } from "./bench-options";
import {
  round,
  type BenchReport,
  type Comparison,
  type CostCheck,
  type ProfileSummary,
  type RunGroup,
  type RunResult,
  type TargetCheck,
} from "./bench-result";
import { formatValue, renderBarChart, type BarGroup } from "./svg-plot";

const ANALYSIS_START = "<!-- analysis:start -->";
const ANALYSIS_END = "<!-- analysis:end -->";

const find = (runs: RunResult[], name: string): RunResult | undefined =>
  runs.find((run) => run.name === name && run.error === undefined);

/** The pairs each group is judged by: Sluice against the baseline measured in the same run. */
const PAIRS: Array<{ group: RunGroup; subject: string; baseline: string; latency: boolean }> = [
  {
    group: "ingest-json",
    subject: "ingest-json.sluice",
    baseline: "baseline.bare-koa.json",
    latency: true,
  },
  {
    group: "ingest-json",
    subject: "ingest-json.sluice",
    baseline: "baseline.amqp-publisher",
    latency: false,
  },
  {
    group: "ingest-json",
    subject: "ingest-json.sluice",
    baseline: "baseline.naive.json",
    latency: true,
  },
  {
    group: "ingest-soap",
    subject: "ingest-soap.sluice",
    baseline: "baseline.bare-koa.soap",
    latency: true,
  },
  {
    group: "sync",
    subject: "sync.sluice.latency",
    baseline: "baseline.direct.latency",
    latency: true,
  },
  {
    group: "sync",
    subject: "sync.sluice.throughput",
    baseline: "baseline.direct.throughput",
    latency: true,
  },
  {
    group: "sync",
    subject: "baseline.naive-sync.latency",
    baseline: "baseline.direct.latency",
    latency: true,
  },
  {
    group: "sync",
    subject: "baseline.naive-sync.throughput",
    baseline: "baseline.direct.throughput",
    latency: true,
  },
  {
    group: "sync",
    subject: "sync.sluice.latency",
    baseline: "baseline.naive-sync.latency",
    latency: true,
  },
  {
    group: "sync",
    subject: "sync.sluice.throughput",
    baseline: "baseline.naive-sync.throughput",
    latency: true,
  },
];

export function comparisonsFor(runs: RunResult[]): Comparison[] {
  const out: Comparison[] = [];
  const pairs = [...PAIRS];
  const backlogs = runs.filter((run) => run.group === "backlog" && run.name !== "backlog.0");
  for (const run of backlogs) {
    pairs.push({ group: "backlog", subject: run.name, baseline: "backlog.0", latency: true });
  }
  for (const pair of pairs) {
    const subject = find(runs, pair.subject)?.stats;
    const baseline = find(runs, pair.baseline)?.stats;
    if (!subject || !baseline) continue;
    const common = { group: pair.group, subject: pair.subject, baseline: pair.baseline };
    out.push({
      ...common,
      metric: "rps",
      kind: "ratio",
      value: round(subject.okRps / Math.max(baseline.okRps, 1e-9)),
    });
    if (!pair.latency) continue;
    for (const metric of ["p50", "p99"] as const) {
      out.push({
        ...common,
        metric,
        kind: "difference",
        value: round(subject.latencyMs[metric] - baseline.latencyMs[metric]),
      });
    }
  }
  return out;
}

export function targetsFor(runs: RunResult[], comparisons: Comparison[]): TargetCheck[] {
  const get = (subject: string, baseline: string, metric: Comparison["metric"]) =>
    comparisons.find(
      (c) => c.subject === subject && c.baseline === baseline && c.metric === metric,
    );
  const targets: TargetCheck[] = [];
  const ingest = get("ingest-json.sluice", "baseline.bare-koa.json", "rps");
  targets.push({
    name: "ack ingest vs bare Koa",
    goal: "≥ 0.5 × bare Koa req/s",
    actual: ingest ? `${ingest.value.toFixed(2)} ×` : "not measured",
    met: ingest ? ingest.value >= 0.5 : null,
  });
  const overhead = get("sync.sluice.latency", "baseline.direct.latency", "p50");
  targets.push({
    name: "sync round-trip overhead",
    goal: "p50 ≤ 3 ms over calling the backend directly",
    actual: overhead ? `+${overhead.value.toFixed(2)} ms` : "not measured",
    met: overhead ? overhead.value <= 3 : null,
  });
  const backlogRuns = runs
    .filter((run) => run.group === "backlog" && run.error === undefined && run.name !== "backlog.0")
    .sort((a, b) => Number(a.extra?.backlog ?? 0) - Number(b.extra?.backlog ?? 0));
  const deepest = backlogRuns.at(-1);
  const ratio = deepest ? get(deepest.name, "backlog.0", "rps") : undefined;
  const size = Number(deepest?.extra?.backlog ?? 0);
  targets.push({
    name: deepest
      ? `ingest with ${size >= 1_000_000 ? `${size / 1_000_000}M` : size.toLocaleString("en-US")} queued`
      : "ingest behind a backlog",
    goal: "≥ 0.9 × ingest into an empty queue (1M queued)",
    actual: ratio
      ? `${ratio.value.toFixed(2)} ×${size < 1_000_000 ? " (smaller backlog than the target's 1M)" : ""}`
      : "not measured",
    met: ratio ? ratio.value >= 0.9 : null,
  });
  const waiters = find(runs, "memory.waiters");
  const count = Number(waiters?.extra?.waiters ?? 10_000);
  targets.push({
    name: `adapter RSS with ${count.toLocaleString("en-US")} sync waiters`,
    goal: "≤ 300 MB with 10 000 waiters",
    actual: waiters?.memory
      ? `${waiters.memory.peakMb.toFixed(0)} MB peak${count < 10_000 ? " (fewer waiters than the target's 10 000)" : ""}`
      : "not measured",
    met: waiters?.memory ? waiters.memory.peakMb <= 300 : null,
  });
  return targets;
}

const cpuOf = (run: RunResult | undefined, name: string): number | undefined =>
  run?.stats?.cpu?.find((c) => c.name === name)?.msPerRequest;

const ms = (value: number): string => `${value.toFixed(3)} ms`;
const signedMs = (value: number): string => `${value >= 0 ? "+" : ""}${value.toFixed(2)} ms`;

/** CPU per request of `process` in `subject` divided by `baseProcess`'s in `baseline`. */
function cpuRatio(
  runs: RunResult[],
  figure: string,
  before: string,
  limit: number,
  subject: [run: string, process: string],
  baseline: [run: string, process: string, label: string],
): CostCheck {
  const s = cpuOf(find(runs, subject[0]), subject[1]);
  const b = cpuOf(find(runs, baseline[0]), baseline[1]);
  const ok = s !== undefined && b !== undefined && b > 0;
  return {
    figure,
    before,
    target: `≤ ${limit.toFixed(1)} ×`,
    measured: ok ? `${(s / b).toFixed(2)} × (${subject[1]} ${ms(s)})` : "not measured",
    baseline: b !== undefined ? `${baseline[2]}: ${ms(b)}` : "not measured",
    met: ok ? s / b <= limit : null,
  };
}

/** Processes a sync round trip runs through (the load generator and the backend excluded). */
const ROUND_TRIP_PROCESSES = ["adapter", "worker", "response-worker", "rabbitmq", "redis"];
/** The same for the naive durable sync round trip, so the two sums compare. */
const NAIVE_ROUND_TRIP_PROCESSES = ["naive server", "naive worker", "rabbitmq", "redis"];

/** CPU ms per request of `processes` in `run` summed, and each one's share as text. */
function roundTripCpu(
  run: RunResult | undefined,
  processes: string[],
): { total: number; parts: string } | undefined {
  const cpu = run?.stats?.cpu;
  if (!cpu) return undefined;
  const total = cpu
    .filter((c) => processes.includes(c.name))
    .reduce((sum, c) => sum + c.msPerRequest, 0);
  const parts = processes.map((n) => `${n} ${cpuOf(run, n)?.toFixed(3) ?? "–"}`).join(", ");
  return { total, parts: `${parts}; machine ${cpuOf(run, "machine")?.toFixed(3) ?? "–"}` };
}

const NAIVE_SYNC = "naive durable sync round trip (reference, not a target)";

/**
 * The cost-per-message table (issue 17): each figure next to the baseline it is divided by or
 * compared with, both from this run, and the naive designs (koa + SET NX + confirmed publish for
 * the ack, and that plus a worker and one Redis pub/sub subscription for the sync round trip).
 */
export function costsFor(runs: RunResult[], comparisons: Comparison[]): CostCheck[] {
  const rows: CostCheck[] = [];
  rows.push(
    cpuRatio(
      runs,
      "adapter CPU per REST JSON ack ÷ bare Koa CPU per request",
      "3.8 ×",
      2.0,
      ["ingest-json.sluice", "adapter"],
      ["baseline.bare-koa.json", "bare koa", "bare Koa read + JSON.parse + 202"],
    ),
  );
  const naive = find(runs, "baseline.naive.json");
  const naiveCpu = cpuOf(naive, "naive");
  const adapterCpu = cpuOf(find(runs, "ingest-json.sluice"), "adapter");
  const bareCpu = cpuOf(find(runs, "baseline.bare-koa.json"), "bare koa");
  rows.push({
    figure: "naive design's CPU per ack ÷ bare Koa (reference, not a target)",
    before: "–",
    target: "Sluice ahead of it",
    measured:
      naiveCpu !== undefined && bareCpu
        ? `${(naiveCpu / bareCpu).toFixed(2)} × (naive ${ms(naiveCpu)}; Sluice adapter ÷ naive ` +
          `${adapterCpu !== undefined ? `${(adapterCpu / naiveCpu).toFixed(2)} ×` : "–"})`
        : "not measured",
    baseline: bareCpu !== undefined ? `bare Koa: ${ms(bareCpu)}` : "not measured",
    met: null,
  });
  rows.push(
    cpuRatio(
      runs,
      "adapter CPU per SOAP ack ÷ bare Koa (envelope read) CPU per request",
      "10.8 ×",
      4.0,
      ["ingest-soap.sluice", "adapter"],
      ["baseline.bare-koa.soap", "bare koa", "bare Koa envelope read + fixed answer"],
    ),
  );
  const syncRun = find(runs, "sync.sluice.throughput");
  const roundTrip = roundTripCpu(syncRun, ROUND_TRIP_PROCESSES);
  const direct = find(runs, "baseline.direct.throughput");
  const directCpu = cpuOf(direct, "legacy-sim");
  const directCpuText =
    directCpu !== undefined
      ? `backend called directly: legacy-sim ${ms(directCpu)}, machine ${ms(cpuOf(direct, "machine") ?? 0)}`
      : "not measured";
  rows.push({
    figure: `CPU per sync round trip (${syncRun?.stats?.connections ?? "N"} connections): Sluice roles + RabbitMQ + Redis`,
    before: "0.94 ms (machine)",
    target: "≤ 0.5 ms",
    measured:
      roundTrip !== undefined ? `${ms(roundTrip.total)} (${roundTrip.parts})` : "not measured",
    baseline: directCpuText,
    met: roundTrip !== undefined ? roundTrip.total <= 0.5 : null,
  });
  const naiveSyncRun = find(runs, "baseline.naive-sync.throughput");
  const naiveTrip = roundTripCpu(naiveSyncRun, NAIVE_ROUND_TRIP_PROCESSES);
  rows.push({
    figure: `${NAIVE_SYNC}: CPU per round trip (${naiveSyncRun?.stats?.connections ?? "N"} connections), naive server + naive worker + RabbitMQ + Redis`,
    before: "–",
    target: "–",
    measured:
      naiveTrip !== undefined
        ? `${ms(naiveTrip.total)} (${naiveTrip.parts}); Sluice ÷ naive ` +
          `${roundTrip !== undefined && naiveTrip.total > 0 ? `${(roundTrip.total / naiveTrip.total).toFixed(2)} ×` : "–"}`
        : "not measured",
    baseline: directCpuText,
    met: null,
  });
  const p50Over = (subject: string) =>
    comparisons.find(
      (c) =>
        c.subject === subject && c.baseline === "baseline.direct.latency" && c.metric === "p50",
    );
  const overhead = p50Over("sync.sluice.latency");
  const directLatency = find(runs, "baseline.direct.latency")?.stats?.latencyMs.p50;
  const directLatencyText =
    directLatency !== undefined ? `direct call p50 ${directLatency.toFixed(2)} ms` : "–";
  rows.push({
    figure: "sync p50 overhead over calling the backend directly (1 connection)",
    before: "+1.9 to +8 ms",
    target: "≤ +1.5 ms, stable across 3 runs",
    measured: overhead ? `${signedMs(overhead.value)} (this run only)` : "not measured",
    baseline: directLatencyText,
    met: overhead ? overhead.value <= 1.5 : null,
  });
  const naiveOverhead = p50Over("baseline.naive-sync.latency");
  rows.push({
    figure: `${NAIVE_SYNC}: p50 overhead over calling the backend directly (1 connection)`,
    before: "–",
    target: "–",
    measured: naiveOverhead
      ? `${signedMs(naiveOverhead.value)}; Sluice − naive ` +
        `${overhead ? signedMs(round(overhead.value - naiveOverhead.value)) : "–"}`
      : "not measured",
    baseline: directLatencyText,
    met: null,
  });
  const waiters = find(runs, "memory.waiters")?.memory?.peakMb;
  const hold = find(runs, "baseline.bare-koa.hold")?.memory?.peakMb;
  rows.push({
    figure: "adapter RSS with the sync callers ÷ bare Koa holding as many requests",
    before: "1.58 ×",
    target: "≤ 1.2 ×",
    measured:
      waiters !== undefined && hold
        ? `${(waiters / hold).toFixed(2)} × (adapter ${waiters.toFixed(0)} MB peak)`
        : "not measured",
    baseline: hold !== undefined ? `bare Koa: ${hold.toFixed(0)} MB peak` : "not measured",
    met: waiters !== undefined && hold ? waiters / hold <= 1.2 : null,
  });
  const rps = (baseline: string) =>
    comparisons.find(
      (c) => c.subject === "ingest-json.sluice" && c.baseline === baseline && c.metric === "rps",
    );
  const vsBare = rps("baseline.bare-koa.json");
  const vsNaive = rps("baseline.naive.json");
  const naiveVsBare =
    naive?.stats && find(runs, "baseline.bare-koa.json")?.stats
      ? naive.stats.okRps / Math.max(find(runs, "baseline.bare-koa.json")?.stats?.okRps ?? 1, 1e-9)
      : undefined;
  rows.push({
    figure: "ack ingest req/s ÷ bare Koa req/s (reported, not a target)",
    before: "0.23 ×",
    target: "–",
    measured: vsBare
      ? `${vsBare.value.toFixed(2)} ×${vsNaive ? `; ${vsNaive.value.toFixed(2)} × the naive design's` : ""}`
      : "not measured",
    baseline:
      naiveVsBare !== undefined ? `naive design: ${naiveVsBare.toFixed(2)} × bare Koa` : "–",
    met: null,
  });
  return rows;
}

export function costTable(costs: CostCheck[]): string[] {
  return [
    "| figure | before | target | measured | baseline (same run) | met |",
    "|---|---|---|---|---|---|",
    ...costs.map(
      (c) =>
        `| ${c.figure} | ${c.before} | ${c.target} | ${c.measured} | ${c.baseline} | ${c.met === null ? "–" : c.met ? "yes" : "**no**"} |`,
    ),
  ];
}

// --- markdown ------------------------------------------------------------------------------

const GROUP_TITLES: Record<RunGroup, string> = {
  "ingest-json": "1. Ack-mode ingest, REST JSON (~500 B body, schema validation on)",
  "ingest-soap": "2. Ack-mode ingest, X-Road SOAP (simple.query)",
  sync: "3. Sync round trip, 0 ms backend",
  backlog: "4. Ack ingest behind a backlog",
  memory: "5. Adapter memory",
  profile: "Profiled runs (not comparable: the profiler slows the role it profiles)",
};

function cell(value: number | undefined, digits = 2): string {
  return value === undefined ? "–" : value.toFixed(digits);
}

function vsText(run: RunResult, comparisons: Comparison[]): string {
  const parts: string[] = [];
  for (const c of comparisons.filter((x) => x.subject === run.name)) {
    const short = c.baseline.replace(/^baseline\./, "");
    if (c.kind === "ratio") parts.push(`${c.value.toFixed(2)} × ${short} req/s`);
    else parts.push(`${c.metric} ${c.value >= 0 ? "+" : ""}${c.value.toFixed(2)} ms`);
  }
  return parts.join("; ") || (run.role === "baseline" ? "baseline" : "–");
}

function loadTable(runs: RunResult[], comparisons: Comparison[]): string[] {
  const lines = [
    "| run | conns | ok req/s | all req/s | p50 ms | p99 ms | max ms | answers | vs baseline |",
    "|---|---:|---:|---:|---:|---:|---:|---|---|",
  ];
  for (const run of runs) {
    if (run.error) {
      lines.push(`| ${run.title} | | | | | | | failed: ${run.error.replace(/\|/g, "/")} | |`);
      continue;
    }
    const s = run.stats;
    if (!s) continue;
    const codes = Object.entries(s.statusCodes)
      .map(([code, n]) => `${code}×${n}`)
      .join(" ");
    const errs = s.errors > 0 ? ` errors×${s.errors}` : "";
    lines.push(
      `| ${run.title} | ${s.connections} | ${formatValue(s.okRps)} | ${formatValue(s.rps)} | ` +
        `${cell(s.latencyMs.p50)} | ${cell(s.latencyMs.p99)} | ${cell(s.latencyMs.max, 1)} | ` +
        `${codes || "confirmed"}${errs} | ${vsText(run, comparisons)} |`,
    );
  }
  return lines;
}

const CPU_ORDER = [
  "adapter",
  "worker",
  "response-worker",
  "bare koa",
  "naive",
  "naive server",
  "naive worker",
  "publisher",
  "legacy-sim",
  "rabbitmq",
  "redis",
  "load generator",
  "others",
  "machine",
];

/** CPU ms per request of each process, with the cores it kept busy in brackets. */
function cpuTable(runs: RunResult[]): string[] {
  const measuredRuns = runs.filter((run) => run.stats?.cpu && !run.error);
  if (measuredRuns.length === 0) return [];
  const names = CPU_ORDER.filter((name) =>
    measuredRuns.some((run) => run.stats?.cpu?.some((c) => c.name === name)),
  );
  const lines = [
    "CPU per request in ms (cores kept busy, on average, in brackets):",
    "",
    `| run | ${names.join(" | ")} |`,
    `|---|${names.map(() => "---:").join("|")}|`,
  ];
  for (const run of measuredRuns) {
    const cells = names.map((name) => {
      const c = run.stats?.cpu?.find((x) => x.name === name);
      return c ? `${c.msPerRequest.toFixed(3)} (${c.cores.toFixed(2)})` : "";
    });
    lines.push(`| ${run.title} | ${cells.join(" | ")} |`);
  }
  lines.push("");
  return lines;
}

function memoryTable(runs: RunResult[]): string[] {
  const lines = [
    "| run | RSS idle MB | RSS peak MB | RSS end MB | load | details |",
    "|---|---:|---:|---:|---|---|",
  ];
  for (const run of runs) {
    if (run.error) {
      lines.push(`| ${run.title} | | | | | failed: ${run.error.replace(/\|/g, "/")} |`);
      continue;
    }
    const m = run.memory;
    const s = run.stats;
    const load = s
      ? `${formatValue(s.rps)} req/s, ${Object.entries(s.statusCodes)
          .map(([code, n]) => `${code}×${n}`)
          .join(" ")}`
      : "–";
    const extra = Object.entries(run.extra ?? {})
      .map(([key, value]) => `${key}: ${value}`)
      .join(", ");
    lines.push(
      `| ${run.title} | ${cell(m?.idleMb, 0)} | ${cell(m?.peakMb, 0)} | ${cell(m?.endMb, 0)} | ${load} | ${extra} |`,
    );
  }
  return lines;
}

/** "Adapter", "Worker", "Response-worker": a role as a heading's first word. */
function roleTitle(role: string): string {
  return role.charAt(0).toUpperCase() + role.slice(1);
}

export function profileTables(profile: ProfileSummary): string[] {
  const rows = (entries: ProfileSummary["byArea"], n: number): string[] =>
    entries
      .slice(0, n)
      .map(
        (e) =>
          `| ${tableCell(e.label)} | ${e.selfMs.toFixed(0)} | ${(e.share * 100).toFixed(1)} % |`,
      );
  return [
    `#### ${roleTitle(profile.role ?? "adapter")} profile: ${profile.run} (busy ${(profile.totalMs / 1000).toFixed(1)} s of CPU)`,
    "",
    "Self time by area:",
    "",
    "| area | ms | share |",
    "|---|---:|---:|",
    ...rows(profile.byArea, 15),
    "",
    "Hottest functions (self time):",
    "",
    "| function — where | ms | share |",
    "|---|---:|---:|",
    ...rows(profile.topFunctions, 15),
    "",
    "Sluice functions (inclusive time: the function and everything it calls):",
    "",
    "| function — where | ms | share |",
    "|---|---:|---:|",
    ...rows(profile.sluiceInclusive, 15),
    "",
  ];
}

const STATIC_INTRO = `# Benchmarks

How fast the adapter ingests, what a sync round trip costs, how ingest holds up behind a
backlog, and how much memory the adapter needs for many waiting callers. Every Sluice figure
sits next to a baseline measured in the same invocation on the same machine, so the ratios
mean something even when absolute numbers move between machines.

## Running them

\`\`\`sh
npm run build
npm run bench                      # everything, about 9 minutes; rewrites this file
npm run bench -- --quick           # smoke run, under 2 minutes (smaller backlogs, short runs)
npm run bench -- --only baselines  # only the baselines (bare Koa, raw publisher, naive designs, direct backend)
npm run bench -- --only sync,memory --duration 30 --connections 100
\`\`\`

\`\`\`text
${USAGE}
\`\`\`

Runs: ${RUN_NAMES.map((name) => `\`${name}\``).join(", ")}. Each run group measures its own
baselines first, so \`--only ingest-json\` still reports its ratios.

The benchmark needs RabbitMQ and Redis (the same ones the tests use). It starts everything
else itself, each in its own process: the Sluice roles (\`node bin/sluice.js <role> --config\`
with a generated configuration whose queues, exchanges and Redis keys carry a unique
\`bench-xxxxxxxx.\` prefix), the legacy simulator, the bare Koa and naive-design baselines,
and the load generator (autocannon's programmatic API in a separate process, so it never shares
an event loop with a server under test). When a run ends it deletes its queues, exchanges and keys.
Results land in \`bench/results/<timestamp>.json\` (not committed); a full run also rewrites
this file and the plots. The benchmark is never part of \`npm test\`.

### What each run measures

1. **Ack ingest, REST JSON.** \`POST /rest/benchIngest\` with a ~500-byte JSON record, validated
   against a JSON Schema (types, required fields, formats, patterns), \`X-Road-Client\` and a
   unique \`X-Road-Id\` per request; the adapter answers 202 after the broker confirmed the
   message and the transaction record is in Redis. Only the adapter runs (no worker), so the
   figure is the adapter's alone. Baselines: (a) **bare Koa**: the same framework and body
   reader, \`JSON.parse\`, 202 with an ack-sized body, nothing else; (b) **raw publisher**:
   amqplib on a confirm channel publishing the same ~1 KB request message to a quorum queue
   with as many unconfirmed messages in flight as the HTTP runs have connections: the
   broker's ceiling for persisted publishes on this machine.; (c) **naive design**: what a
   user would write by hand: Koa, \`JSON.parse\`, one ioredis \`SET NX\` (de-duplication) and one
   confirmed amqplib publish to a quorum queue per request, then 202.
2. **Ack ingest, SOAP.** \`POST /soap\` with the X-Road \`simple.query\` envelope (its
   \`xroad:id\` made unique per request) vs bare Koa reading the envelope and answering a fixed
   acknowledgement without parsing it.
3. **Sync round trip.** adapter → \`requests.legacy\` → worker → legacy simulator (0 ms) →
   \`responses\` → response-worker → adapter → caller, all roles as separate processes, no
   rate limit. Measured with 1 connection (pure per-request latency) and with N connections
   (throughput), each against two baselines: (a) calling the simulator directly with the same
   request; (b) the **naive durable sync round trip**, what a user would write by hand with the
   same skeleton of guarantees, in two processes: a Koa server reads and parses the body,
   records the request with one ioredis \`SET NX\`, publishes it persistent and confirmed to a
   quorum queue, and waits for the answer on one Redis pub/sub subscription shared by every
   caller (200 with the backend's body, 504 after a timeout); a worker (amqplib, prefetch = connections)
   calls the same simulator over keep-alive connections, stores the result and publishes the
   answer in one Redis \`MULTI\` (\`SET\` + \`PUBLISH\`), then acks. Its CPU per round trip counts
   the same kind of processes as Sluice's (its server and worker, RabbitMQ, Redis; not the
   simulator or the load generator), so the cost-per-message table can set the two side by
   side: it is what one durable quorum hop and the wake-ups around it cost with nothing else.
4. **Backlog.** Ack ingest as in (1) after pre-filling \`requests.legacy\` with N messages
   (raw confirmed publisher, 500 in flight), nothing consuming. The 0-message run is the
   baseline.
5. **Memory.** (a) The adapter's resident memory (VmRSS of its process, sampled every 250 ms)
   while it holds N concurrent sync callers, opened as raw HTTP connections with one request
   each, while no worker runs so nothing answers; (b) its RSS while it answers sustained load
   with 503 \`Busy\` because the queue is above its high water.

Latencies are client-side, from the load generator, at full precision (autocannon's own
histogram rounds to whole milliseconds). "ok req/s" counts answers with the expected status
(202, 200, or 503 in the busy run); "all req/s" counts every answer.

The machine is shared: RabbitMQ, Redis, the load generator and every Sluice role run on the
same cores, and so may other work. Two things keep the comparisons honest. Sluice and the
baselines it is compared with take turns in rounds (\`--rounds\`, each starting with a
different run), so load from elsewhere falls on both alike. And every load run reports the
CPU time each process spent per request during its measured window (from \`/proc/<pid>/stat\`):
that cost does not depend on how busy the machine was. \`others\` is what the machine spent
beyond the listed processes (other work, and kernel time charged to no process); \`machine\`
is everything, where 2 cores means fully busy.
`;

export function renderReport(report: BenchReport, analysis: string): string {
  const { machine, runs } = report;
  const comparisons = report.comparisons;
  const lines: string[] = [STATIC_INTRO];
  const quick = report.options.quick === true;
  lines.push(
    `## Results (${report.startedAt.slice(0, 16).replace("T", " ")} UTC${quick ? ", quick run" : ""})`,
    "",
    "### Machine",
    "",
    "| | |",
    "|---|---|",
    `| CPU | ${machine.cpuModel}, ${machine.cores} cores (shared by broker, Redis, Sluice and the load generator) |`,
    `| background load | ${machine.backgroundCores ?? "–"} cores busy before the run started (other work on the machine) |`,
    `| memory | ${machine.memoryGb} GB |`,
    `| OS | ${machine.os} |`,
    `| Sluice | commit ${machine.revision ?? "unknown"} |`,
    `| Node.js | ${machine.node} |`,
    `| RabbitMQ | ${machine.rabbitmq} (${machine.erlang}) |`,
    `| Redis | ${machine.redis} |`,
    "",
    "### Commands",
    "",
    "```sh",
    ...report.commands,
    "```",
    "",
    `Options: ${Object.entries(report.options)
      .filter(([key]) => !/url/i.test(key))
      .map(([key, value]) => `\`${key}=${JSON.stringify(value)}\``)
      .join(", ")}.`,
    "",
    "### Targets",
    "",
    "| target | goal | measured | met |",
    "|---|---|---|---|",
    ...report.targets.map(
      (t) =>
        `| ${t.name} | ${t.goal} | ${t.actual} | ${t.met === null ? "–" : t.met ? "yes" : "**no**"} |`,
    ),
    "",
    "### Cost per message",
    "",
    "CPU per message from `/proc`, each next to the baseline it is divided by, both measured in",
    "this run. The latency row needs three `--only sync` runs to call it stable.",
    "",
    ...costTable(report.costs ?? costsFor(runs, comparisons)),
    "",
    "![Throughput per run](benchmarks-throughput.svg)",
    "",
    "![Latency per run](benchmarks-latency.svg)",
    "",
  );
  for (const group of Object.keys(GROUP_TITLES) as RunGroup[]) {
    const inGroup = runs.filter((run) => run.group === group);
    if (inGroup.length === 0) continue;
    lines.push(`### ${GROUP_TITLES[group]}`, "");
    if (group === "memory") {
      lines.push(...memoryTable(inGroup), "", "![Adapter memory](benchmarks-memory.svg)", "");
    } else lines.push(...loadTable(inGroup, comparisons), "");
    lines.push(...cpuTable(inGroup));
    for (const run of inGroup) {
      if (run.extra && group !== "memory") {
        const extra = Object.entries(run.extra)
          .map(
            ([key, value]) =>
              `${key} ${
                typeof value !== "number"
                  ? value
                  : Number.isInteger(value)
                    ? value.toLocaleString("en-US")
                    : formatValue(value)
              }`,
          )
          .join(", ");
        lines.push(`- ${run.title}: ${extra}`);
      }
      for (const note of run.notes ?? []) lines.push(`- ${run.title}: ${note}`);
    }
    if (inGroup.some((run) => run.extra || run.notes)) lines.push("");
  }
  for (const profile of report.profiles) lines.push(...profileTables(profile));
  lines.push("## Analysis", "", ANALYSIS_START, analysis.trim(), ANALYSIS_END, "");
  return lines.join("\n");
}

// --- plots ---------------------------------------------------------------------------------

function plotGroups(runs: RunResult[], latency: boolean): BarGroup[] {
  const groups: BarGroup[] = [];
  for (const group of ["ingest-json", "ingest-soap", "sync", "backlog"] as RunGroup[]) {
    const bars = runs
      .filter((run) => run.group === group && run.stats && !run.error)
      .filter((run) => !(latency && run.name === "baseline.amqp-publisher"))
      .map((run) => ({
        label: run.name.replace(/^baseline\./, "baseline: "),
        value: latency ? (run.stats?.latencyMs.p50 ?? 0) : (run.stats?.okRps ?? 0),
        secondary: latency ? run.stats?.latencyMs.p99 : undefined,
        kind: run.role,
      }));
    if (bars.length > 0) groups.push({ title: GROUP_TITLES[group], bars });
  }
  return groups;
}

export function renderPlots(report: BenchReport): Record<string, string> {
  const plots: Record<string, string> = {};
  plots["benchmarks-throughput.svg"] = renderBarChart({
    title: "Throughput: answers with the expected status per second (higher is better)",
    unit: "req/s",
    groups: plotGroups(report.runs, false),
  });
  plots["benchmarks-latency.svg"] = renderBarChart({
    title: "Latency seen by the caller (lower is better)",
    unit: "ms",
    groups: plotGroups(report.runs, true),
    legend: { primary: "p50", secondary: "p99" },
  });
  const memoryBars = report.runs
    .filter((run) => run.group === "memory" && run.memory)
    .map((run) => ({
      label: run.name,
      value: run.memory?.peakMb ?? 0,
      secondary: run.memory?.idleMb,
      kind: run.role,
    }));
  if (memoryBars.length > 0) {
    plots["benchmarks-memory.svg"] = renderBarChart({
      title: "Resident memory with 10 000 held requests, and under 503 load (lower is better)",
      unit: "MB",
      groups: [{ title: "RSS of the process under test (target: 300 MB)", bars: memoryBars }],
      legend: { primary: "peak", secondary: "idle before the run" },
    });
  }
  return plots;
}

// --- files ---------------------------------------------------------------------------------

export function writeResults(report: BenchReport, resultsDir: string): string {
  mkdirSync(resultsDir, { recursive: true });
  const file = join(resultsDir, `${report.startedAt.replace(/[:.]/g, "-")}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  return file;
}

/** The hand-written analysis between the markers of an existing report, if there is one. */
export function keptAnalysis(docFile: string): string {
  if (!existsSync(docFile)) return "No analysis written yet.";
  const text = readFileSync(docFile, "utf8");
  const start = text.indexOf(ANALYSIS_START);
  const end = text.indexOf(ANALYSIS_END);
  if (start < 0 || end < start) return "No analysis written yet.";
  return text.slice(start + ANALYSIS_START.length, end);
}

/** Formats the markdown the way `npm test` checks it (prettier), when prettier is installed. */
async function prettierFormat(text: string, file: string): Promise<string> {
  try {
    const prettier = await import("prettier");
    const config = (await prettier.resolveConfig(file)) ?? {};
    return await prettier.format(text, { ...config, filepath: file });
  } catch {
    return text;
  }
}

export async function writeDocs(report: BenchReport, docsDir: string): Promise<string[]> {
  const docFile = join(docsDir, "benchmarks.md");
  const written = [docFile];
  const markdown = renderReport(report, keptAnalysis(docFile));
  writeFileSync(docFile, await prettierFormat(markdown, docFile));
  for (const [name, svg] of Object.entries(renderPlots(report))) {
    writeFileSync(join(docsDir, name), svg);
    written.push(join(docsDir, name));
  }
  return written;
}

/**
 * A profile label as a Markdown table cell: "|" would end the cell, and a label holding "](" (a
 * regular expression's source) would read as a link.
 */
function tableCell(label: string): string {
  return label.replace(/\|/g, "/").replace(/\]\(/g, "]\\(");
}
