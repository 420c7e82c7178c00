// The shape of a benchmark report (written as JSON to bench/results/ and rendered into
// docs/benchmarks.md) and the arithmetic shared by every measurement.

/** One measured load: throughput, latency in milliseconds, and what the server answered. */
export interface LoadStats {
  /** Completed requests (any status) per second over the measured window. */
  rps: number;
  /** Completed requests with the expected status per second. */
  okRps: number;
  requests: number;
  ok: number;
  durationS: number;
  connections: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  statusCodes: Record<string, number>;
  errors: number;
  timeouts: number;
  /** CPU spent by each process (and the whole machine) during the measured window. */
  cpu?: CpuShare[];
}

export interface CpuShare {
  name: string;
  /** Cores this process kept busy on average over the window (1 = one full core). */
  cores: number;
  /** CPU milliseconds per completed request. */
  msPerRequest: number;
}

/** Memory of one process over a run (kB from /proc/<pid>/status VmRSS, reported in MB). */
export interface MemoryStats {
  idleMb: number;
  peakMb: number;
  endMb: number;
  samples: number;
}

export type RunGroup = "ingest-json" | "ingest-soap" | "sync" | "backlog" | "memory" | "profile";

export interface RunResult {
  /** Stable key, e.g. `ingest-json.sluice` or `baseline.bare-koa.json`. */
  name: string;
  title: string;
  group: RunGroup;
  /** What this run stands for in its group: the system under test or a baseline. */
  role: "sluice" | "baseline";
  stats?: LoadStats;
  memory?: MemoryStats;
  /** Anything else worth a column: backlog size, waiters held, queue depth. */
  extra?: Record<string, number | string>;
  notes?: string[];
  /** Set when the run could not be done; the report says why instead of a number. */
  error?: string;
}

export interface Comparison {
  group: RunGroup;
  subject: string;
  baseline: string;
  metric: "rps" | "p50" | "p99";
  /** subject / baseline for rps; subject − baseline (ms) for latencies. */
  value: number;
  kind: "ratio" | "difference";
}

export interface TargetCheck {
  name: string;
  goal: string;
  actual: string;
  met: boolean | null;
}

/** One row of the cost-per-message table: a figure, what it was, its goal, and this run's. */
export interface CostCheck {
  figure: string;
  /** The figure before the cost work (issue 17), as measured then. */
  before: string;
  target: string;
  measured: string;
  /** What the figure is divided by (or compared with), measured in the same run. */
  baseline: string;
  met: boolean | null;
}

export interface MachineInfo {
  cpuModel: string;
  cores: number;
  memoryGb: number;
  os: string;
  node: string;
  rabbitmq: string;
  erlang: string;
  redis: string;
  /** Cores busy with other work just before the run (the machine is shared). */
  backgroundCores?: number;
  /** The Sluice commit measured (`+changes`: with uncommitted changes in the working tree). */
  revision?: string;
}

export interface BenchReport {
  startedAt: string;
  finishedAt: string;
  machine: MachineInfo;
  options: Record<string, unknown>;
  commands: string[];
  runs: RunResult[];
  comparisons: Comparison[];
  targets: TargetCheck[];
  /** Cost per message against its baselines (older reports have none). */
  costs?: CostCheck[];
  profiles: ProfileSummary[];
}

export interface ProfileEntry {
  label: string;
  selfMs: number;
  share: number;
}

export interface ProfileSummary {
  run: string;
  /** The role profiled; the adapter when absent (results written before it was recorded). */
  role?: string;
  totalMs: number;
  /** Self time grouped by where the code lives (sluice file, package, node internals, GC). */
  byArea: ProfileEntry[];
  /** The hottest functions by self time. */
  topFunctions: ProfileEntry[];
  /** Inclusive time of Sluice's own functions: what each step of a request costs. */
  sluiceInclusive: ProfileEntry[];
  file: string;
}

/** Growable store of latency samples (ms), cheap enough for millions of responses. */
export class LatencySamples {
  private data = new Float64Array(1 << 16);
  length = 0;
  push(value: number): void {
    if (this.length === this.data.length) {
      const bigger = new Float64Array(this.data.length * 2);
      bigger.set(this.data);
      this.data = bigger;
    }
    this.data[this.length++] = value;
  }
  values(): Float64Array {
    return this.data.subarray(0, this.length);
  }
}

/** Nearest-rank percentile of sorted samples. */
export function percentile(sorted: ArrayLike<number>, p: number): number {
  if (sorted.length === 0) return 0;
  const rank = Math.ceil((p / 100) * sorted.length) - 1;
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank))];
}

/** Latency summary of a set of samples in milliseconds. */
export function summarise(samples: Float64Array): LoadStats["latencyMs"] {
  const sorted = Float64Array.from(samples).sort();
  let sum = 0;
  for (const value of sorted) sum += value;
  return {
    p50: round(percentile(sorted, 50)),
    p90: round(percentile(sorted, 90)),
    p99: round(percentile(sorted, 99)),
    max: round(sorted.length > 0 ? sorted[sorted.length - 1] : 0),
    mean: round(sorted.length > 0 ? sum / sorted.length : 0),
  };
}

/** Three significant decimals: enough for ms latencies and ratios. */
export function round(value: number, digits = 3): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
