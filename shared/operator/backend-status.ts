// What the status page shows of each backend, gathered from what every role already has: the
// queue monitor's samples, the in-flight leases and pauses in Redis, the service windows, the
// dead letters and the recent failures.

import type Redis from "ioredis";
import type { BackendConfig, SluiceConfig } from "../config/config";
import type { QueueMonitor } from "../broker/queue-monitor";
import { compileServiceWindows, type ServiceWindows } from "../config/service-windows";
import type { TopologyNames } from "../protocol/names";
import type { BackendPauses } from "./backend-pauses";
import type { DeadLetters } from "./dead-letters";
import type { RecentFailure, RecentFailures } from "./recent-failures";
import { redisKeys } from "../protocol/redis-keys";

export interface BackendStatus {
  name: string;
  queue: {
    depth: number | null;
    highWater: number;
    maxLength: number;
    /** Past this fraction of highWater a client with more than it of the intake is refused. */
    clientShare: number;
    consumers: number | null;
    /**
     * Messages per second leaving the queue (smoothed), to DRAIN_RATE_DECIMALS places, 0 once
     * negligible; null until known.
     */
    drainRate: number | null;
    /**
     * When the broker was last asked for these figures (ISO time); null before the first
     * answer. Old while the broker is out of reach: the figures are from then.
     */
    sampledAt: string | null;
  };
  inFlight: number;
  maxInFlight: number;
  rate: { limit: number; perMs: number; burst: number } | null;
  paused: boolean;
  pausedSince: string | null;
  window: {
    configured: boolean;
    open: boolean;
    /** When the window state next changes (ISO time); null when it never does. */
    nextChange: string | null;
  };
  deadLetters: Record<string, number>;
  /** Newest first; `at` in epoch milliseconds as stored, `failedAt` the same instant in ISO. */
  recentFailures: Array<RecentFailure & { failedAt: string }>;
}

/**
 * Places kept of the drain rate: the monitor's smoothed figure only decays towards 0 while
 * nothing drains (2.5e-24 after a few minutes), which a script reads as a drain still going on.
 */
const DRAIN_RATE_DECIMALS = 2;

/** The drain rate as the status gives it: rounded, so a negligible rate reads 0. */
function shownDrainRate(rate: number | null): number | null {
  if (rate === null) return null;
  const scale = 10 ** DRAIN_RATE_DECIMALS;
  return Math.round(rate * scale) / scale;
}

const MINUTE_MS = 60_000;
/** How far ahead a window's next change is looked for. */
const HORIZON_MS = 8 * 86_400_000;

/** When an open window next closes, or a closed one opens; minute precision. */
function nextChange(windows: ServiceWindows, now: number): number | null {
  if (windows.windows.length === 0) return null;
  if (!windows.isOpen(now)) {
    const wait = windows.msUntilOpen(now);
    return Number.isFinite(wait) ? now + wait : null;
  }
  const start = Math.ceil(now / MINUTE_MS) * MINUTE_MS;
  for (let at = start; at < now + HORIZON_MS; at += MINUTE_MS) {
    if (!windows.isOpen(at)) return at;
  }
  return null;
}

export class BackendStatusReader {
  private readonly windows = new Map<string, ServiceWindows>();
  /** Next window change per backend, computed at most once a minute (a scan of minutes). */
  private readonly changes = new Map<string, { until: number; at: number | null; open: boolean }>();

  constructor(
    private readonly deps: {
      config: SluiceConfig;
      redis: Redis;
      /** The latest sample of each request queue: a role's monitor, or one look by the CLI. */
      monitor: Pick<QueueMonitor, "get">;
      names: TopologyNames;
      pauses: BackendPauses;
      deadLetters: DeadLetters;
      failures: RecentFailures;
    },
  ) {
    for (const backend of Object.values(deps.config.backends)) {
      this.windows.set(backend.name, compileServiceWindows(backend.windows, backend.name).windows);
    }
  }

  private window(backend: BackendConfig, now: number): BackendStatus["window"] {
    const windows = this.windows.get(backend.name)!;
    const open = windows.isOpen(now);
    let cached = this.changes.get(backend.name);
    if (
      !cached ||
      cached.until <= now ||
      cached.open !== open ||
      (cached.at !== null && cached.at <= now)
    ) {
      cached = { until: now + MINUTE_MS, at: nextChange(windows, now), open };
      this.changes.set(backend.name, cached);
    }
    return {
      configured: windows.windows.length > 0,
      open,
      nextChange: cached.at === null ? null : new Date(cached.at).toISOString(),
    };
  }

  async read(
    now = Date.now(),
  ): Promise<{ backends: BackendStatus[]; deadLetters: Record<string, number> }> {
    const { config, redis, monitor, names, pauses, failures } = this.deps;
    const backends = Object.values(config.backends);
    // Counts kept by the scripts that record and replay dead letters: each open status page
    // asks every second, and reading the records themselves took ~0.3 s per 10 000.
    const [paused, waiting, inFlight, recent] = await Promise.all([
      redisPauses(pauses, backends),
      this.deps.deadLetters.waitingCounts(),
      Promise.all(
        backends.map((b) => redis.zcount(redisKeys(config.prefix).inflight(b.name), now, "+inf")),
      ),
      Promise.all(backends.map((b) => failures.list(b.name, 10))),
    ]);
    const total: Record<string, number> = {};
    for (const { reason, count } of waiting) total[reason] = (total[reason] ?? 0) + count;
    return {
      deadLetters: total,
      backends: backends.map((backend, i) => {
        const sample = monitor.get(names.requestsQueue(backend.name));
        const byReason: Record<string, number> = {};
        for (const group of waiting) {
          if (group.backend === backend.name)
            byReason[group.reason] = (byReason[group.reason] ?? 0) + group.count;
        }
        const pause = paused.get(backend.name);
        return {
          name: backend.name,
          queue: {
            depth: sample?.depth ?? null,
            highWater: backend.queue.highWater,
            maxLength: backend.queue.maxLength,
            clientShare: backend.queue.clientShare,
            consumers: sample?.consumers ?? null,
            drainRate: shownDrainRate(sample?.drainRate ?? null),
            sampledAt: sample ? new Date(sample.at).toISOString() : null,
          },
          inFlight: inFlight[i],
          maxInFlight: backend.maxInFlight,
          rate: backend.rate,
          paused: pause !== undefined,
          pausedSince: pause === undefined ? null : new Date(pause).toISOString(),
          window: this.window(backend, now),
          deadLetters: byReason,
          recentFailures: recent[i].map((f) => ({ ...f, failedAt: new Date(f.at).toISOString() })),
        };
      }),
    };
  }
}

async function redisPauses(
  pauses: BackendPauses,
  backends: BackendConfig[],
): Promise<Map<string, number>> {
  const states = await Promise.all(backends.map((b) => pauses.state(b.name)));
  const map = new Map<string, number>();
  states.forEach((state, i) => {
    if (state.paused) map.set(backends[i].name, state.since ?? 0);
  });
  return map;
}
