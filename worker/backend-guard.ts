// What a worker waits for before it calls a backend: an open gate (window, pause) and an
// in-flight slot before the message is claimed, then a rate token right before the call.

import { linkedSignal } from "../shared/runtime/either-signal";
import type Redis from "ioredis";
import type { Logger } from "pino";
import type { BackendConfig } from "../shared/config/config";
import { parseDuration } from "../shared/config/durations";
import type { RequestMessage } from "../shared/protocol/envelope";
import { BackendUnavailableError, SluiceError } from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";
import type { BackendGates } from "./backend-gates";
import type { SlotAsk, SlotRef } from "../shared/store/inflight-slot";
import { InflightLeases, type Lease, type LeaseLoss, type SlotTry } from "./inflight-leases";
import { RateLimiter } from "./rate-limiter";
import { MessageLog } from "./processing/message-log";

/** Lease time when neither the configuration nor SLUICE_LEASE_TIME sets one. */
export const DEFAULT_LEASE_MS = 30_000;

/** A taken in-flight slot: the rate token is waited for separately, right before each call. */
export interface CallPermit {
  /**
   * Waits for a rate token and takes it; resolves when the call may start. Each call of an
   * in-place retry takes its own token. Rejects with a retryable `BackendUnavailableError` when
   * no token can be had (Redis lost), with the signal's reason when the signal aborts. The
   * signal is asked for only when there is something to wait for (a rate limit). Resolves
   * with the token's grant time on the limiter's clock (epoch ms, Redis time), for the call's
   * log line; null when the backend has no rate limit.
   */
  beforeCall(signal: () => AbortSignal): Promise<number | null>;
  /** Frees the slot. */
  release(): Promise<void>;
  /**
   * Where the slot is in Redis, for a script that frees it with other work: `freeing` before
   * that script is sent, `freed` once it ran.
   */
  readonly slot?: SlotRef;
  /** Notes that a script freeing the slot is about to be sent: its call is over. */
  freeing?(): void;
  /** Notes that a script freed the slot: `release` has nothing left to do. */
  freed?(): void;
}

/**
 * Waits for an open gate, then takes an in-flight slot through `attempt`, a script that claims
 * the message in the same round trip (or finds it is not to be claimed: `settled`, no permit).
 * `waits` is asked for only when a wait begins.
 */
export type ClaimingGuard = <T>(
  request: RequestMessage,
  attempt: (slot: SlotAsk) => Promise<SlotTry<T>>,
  waits: () => AbortSignal,
) => Promise<{ permit: CallPermit | null; value: T }>;

/**
 * Waits for an open gate and an in-flight slot; resolves with the permit holding the slot.
 * `claiming`, when there, does the same with the claim in the slot's round trip.
 */
export type BackendGuard = ((
  request: RequestMessage,
  signal: AbortSignal,
) => Promise<CallPermit>) & {
  claiming?: ClaimingGuard;
};

/**
 * How long a crashed worker's in-flight slot stays taken: the backend's `leaseMs` when the
 * configuration carries one, else SLUICE_LEASE_TIME (a duration such as "10s"), else 30 s.
 */
export function leaseTimeMs(backend: BackendConfig, env: NodeJS.ProcessEnv = process.env): number {
  if (backend.leaseMs) return backend.leaseMs;
  const fromEnv = parseDuration(env.SLUICE_LEASE_TIME);
  return fromEnv !== undefined && fromEnv > 0 ? fromEnv : DEFAULT_LEASE_MS;
}

export interface GuardDeps {
  redis: Redis;
  /** The configuration's prefix: namespaces the Redis keys like the queues. */
  prefix: string;
  backend: BackendConfig;
  gates: BackendGates;
  /** This worker's instance id, written into its leases. */
  holder?: string;
  /** Where a slot found taken away is warned of. */
  log?: Logger;
}

export interface BackendLimits {
  /**
   * Gate and in-flight slot, taken before the message is claimed; the permit's rate token is
   * taken immediately before each call: a token granted earlier (before the claim's round trip)
   * would reach the backend late, and late calls bunch together.
   */
  guard: BackendGuard;
  close(): Promise<void>;
}

/** The error a message's wait ends with when the gate shuts: the message goes back to its queue. */
export class GateShutError extends SluiceError {
  constructor(gates: BackendGates, backend: string) {
    const reason = gates.closedReason(backend) ?? "closed";
    super("Unavailable", `backend ${backend} is ${reason}`, { retryCall: true });
  }
}

function gateClosed(gates: BackendGates, backend: string): SluiceError {
  return new GateShutError(gates, backend);
}

export function createBackendLimits(deps: GuardDeps): BackendLimits {
  const { redis, prefix, backend, gates, holder } = deps;
  const leases = new InflightLeases(redis, prefix, backend.name, {
    max: backend.maxInFlight,
    leaseMs: leaseTimeMs(backend),
    holder,
  });
  const limiter = backend.rate ? new RateLimiter(redis, prefix, backend.name, backend.rate) : null;
  const leaseLog = deps.log?.child({ backend: backend.name });
  /**
   * Warns once each time a message's slot is found taken away: the worker stood still (or was
   * cut off from Redis) past its lease, and the backend may have seen more than `maxInFlight`.
   */
  const lossOf =
    (request: RequestMessage) =>
    (loss: LeaseLoss): void => {
      if (!leaseLog) return;
      const log = new MessageLog(leaseLog, request);
      if (loss === "put back") {
        log.warn(
          { leaseMs: leases.options.leaseMs },
          "in-flight slot was taken away while its call was open (this worker stood still or lost Redis past its lease); put back, so the backend may have more than maxInFlight calls open until this one ends",
        );
      } else {
        log.warn(
          { leaseMs: leases.options.leaseMs },
          "in-flight slot was taken away before its call (this worker stood still or lost Redis past its lease); the call waits for a slot again",
        );
      }
    };
  /** The permit of a taken slot: the rate token is waited for right before each call. */
  const permitOf = (lease: Lease): CallPermit => {
    /** The slot's wait counts toward the first call's wait in the metric. */
    let slotWaitMs = lease.waitedMs;
    return {
      async beforeCall(callSignal) {
        let tokenWaitMs = 0;
        let grantedAt: number | null = null;
        // A slot taken again after a wait makes the token stale: another one is taken.
        do {
          ({ tokenWaitMs, grantedAt } = await rateToken(callSignal, tokenWaitMs));
        } while (await slotConfirmed(lease, callSignal));
        lease.callStarted();
        metrics.rateLimitWait.observe({ backend: backend.name }, (slotWaitMs + tokenWaitMs) / 1000);
        slotWaitMs = 0;
        return grantedAt;
      },
      release: () => lease.release().catch(() => undefined),
      slot: lease.slot,
      freeing: () => lease.freeing(),
      freed: () => lease.freed(),
    };
  };
  /**
   * The slot still this worker's right before the call (`Lease.confirm`); true when it had to be
   * taken again after a wait. Any failure (Redis out of reach, the wait aborted) means nothing
   * reached the backend: the call's try turns it into a retry.
   */
  const slotConfirmed = async (lease: Lease, callSignal: () => AbortSignal): Promise<boolean> => {
    const ends = waitEnds();
    try {
      return await lease.confirm(() => ends.of(callSignal()));
    } catch (error) {
      if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
      throw error;
    } finally {
      ends.dispose();
    }
  };
  /** Waits for the gate and a rate token; `waitedMs` adds to what was waited before. */
  const rateToken = async (
    callSignal: () => AbortSignal,
    waitedMs: number,
  ): Promise<{ tokenWaitMs: number; grantedAt: number | null }> => {
    // A gate that shut since the slot was taken (a pause, a window's end) stops the call:
    // the message waited for its token, or for an in-place retry, past the gate's closing.
    if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
    let tokenWaitMs = waitedMs;
    let grantedAt: number | null = null;
    if (limiter) {
      const signal = callSignal();
      const ends = waitEnds();
      try {
        const token = await limiter.acquire(ends.of(signal));
        tokenWaitMs += token.waitedMs;
        grantedAt = token.grantedAtUs / 1000;
      } catch (error) {
        if (signal.aborted) throw signal.reason ?? error;
        if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
        // Redis lost while waiting: nothing reached the backend, so it is safe to try later.
        throw new BackendUnavailableError("no rate-limit token could be taken", {
          cause: error,
        });
      } finally {
        ends.dispose();
      }
      if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
    }
    return { tokenWaitMs, grantedAt };
  };
  /**
   * What ends one wait: its own signal or the gate's shutting. Linked by listeners taken off
   * when the wait is over (`dispose`): AbortSignal.any left every wait's signal entered in the
   * gate's, which lives until the gate shuts, and Node 20 never takes one out.
   */
  const waitEnds = () => {
    const made: Array<() => void> = [];
    return {
      of(signal: AbortSignal): AbortSignal {
        const linked = linkedSignal([signal, gates.closingSignal(backend.name)]);
        made.push(linked.dispose);
        return linked.signal;
      },
      dispose(): void {
        for (const dispose of made.splice(0)) dispose();
      },
    };
  };
  const guard: BackendGuard = async (request, signal) => {
    if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
    const ends = waitEnds();
    let lease: Lease;
    try {
      lease = await leases.acquire(ends.of(signal), lossOf(request));
    } catch (error) {
      if (!signal.aborted && !gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
      throw error;
    } finally {
      ends.dispose();
    }
    return permitOf(lease);
  };
  guard.claiming = async (request, attempt, waits) => {
    if (!gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
    // Built only when a wait begins: most messages find a slot at once.
    let signal: AbortSignal | undefined;
    const ends = waitEnds();
    try {
      const { lease, value } = await leases.acquireWith(
        attempt,
        () => {
          signal = waits();
          return ends.of(signal);
        },
        lossOf(request),
      );
      return { permit: lease && permitOf(lease), value };
    } catch (error) {
      if (!signal?.aborted && !gates.isOpen(backend.name)) throw gateClosed(gates, backend.name);
      throw error;
    } finally {
      ends.dispose();
    }
  };

  return { guard, close: () => leases.close() };
}
