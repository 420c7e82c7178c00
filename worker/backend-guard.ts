// What a worker waits for before it calls a backend: an open gate (window, pause), then an
// in-flight slot, then a rate token; the call goes out right after the token is granted.

import type Redis from "ioredis";
import { parseDuration } from "../shared/durations";
import type { BackendConfig } from "../shared/config";
import { SluiceError } from "../shared/errors";
import { metrics } from "../shared/metrics";
import type { BackendGates } from "./backend-gates";
import { InflightLeases, type Lease } from "./inflight-leases";
import { RateLimiter } from "./rate-limiter";
import type { RequestMessage } from "../shared/envelope";

/** Lease time when neither the configuration nor SLUICE_LEASE_TIME sets one. */
export const DEFAULT_LEASE_MS = 30_000;

/** Waits until the backend may be called; resolves with the function that frees the slot. */
export type BackendGuard = (
  request: RequestMessage,
  signal: AbortSignal,
) => Promise<() => Promise<void>>;

/**
 * How long a crashed worker's in-flight slot stays taken: the backend's `leaseTime` when the
 * configuration carries one, else SLUICE_LEASE_TIME (a duration such as "10s"), else 30 s.
 */
export function leaseTimeMs(backend: BackendConfig, env: NodeJS.ProcessEnv = process.env): number {
  const configured = (backend as BackendConfig & { leaseMs?: number }).leaseMs;
  if (typeof configured === "number" && configured > 0) return configured;
  const fromEnv = parseDuration(env.SLUICE_LEASE_TIME);
  return fromEnv !== undefined && fromEnv > 0 ? fromEnv : DEFAULT_LEASE_MS;
}

export interface GuardDeps {
  redis: Redis;
  /** The configuration's prefix: namespaces the Redis keys like the queues. */
  prefix: string;
  backend: BackendConfig;
  gates: BackendGates;
}

export interface GuardHandle {
  guard: BackendGuard;
  close(): Promise<void>;
}

/** The error a message's wait ends with when the gate shuts: the message goes back to its queue. */
function gateClosed(gates: BackendGates, backend: string): SluiceError {
  return new SluiceError(
    "Unavailable",
    `backend ${backend} is ${gates.closedReason(backend) ?? "closed"}`,
    {
      retryable: true,
    },
  );
}

export function createBackendGuard(deps: GuardDeps): GuardHandle {
  const { redis, prefix, backend, gates } = deps;
  const keyPrefix = `${prefix}sluice:`;
  const leases = new InflightLeases(redis, keyPrefix, backend.name, {
    max: backend.maxInFlight,
    leaseMs: leaseTimeMs(backend),
  });
  const limiter = backend.rate
    ? new RateLimiter(redis, keyPrefix, backend.name, backend.rate)
    : null;

  const guard: BackendGuard = async (_request, signal) => {
    if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
    const wait = AbortSignal.any([signal, gates.closingSignal(backend.name)]);
    const started = process.hrtime.bigint();
    let lease: Lease | undefined;
    try {
      // Slot before token: a token taken while waiting for a slot would be spent late, and
      // several late calls together would exceed the rate at the backend.
      lease = await leases.acquire(wait);
      await limiter?.acquire(wait);
    } catch (error) {
      await lease?.release().catch(() => undefined);
      if (!signal.aborted && !gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
      throw error;
    }
    metrics.rateLimitWait.observe(
      { backend: backend.name },
      Number(process.hrtime.bigint() - started) / 1e9,
    );
    const held = lease;
    return () => held.release().catch(() => undefined);
  };

  return { guard, close: () => leases.close() };
}
