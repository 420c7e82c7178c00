// How long a worker may hold one request message unacknowledged, per backend, checked against
// the broker's consumer_timeout: past it RabbitMQ closes the channel and redelivers its messages.

import { gcraParameters } from "./rate-spacing";

/** What of a backend's configuration decides its hold (config.ts's BackendConfig fits it). */
export interface HoldSettings {
  name: string;
  rate: { limit: number; perMs: number; burst?: number; guardMs?: number } | null;
  maxInFlight: number;
  timeoutMs: number;
  retry: { attempts: number; backoffMs: number[] };
  ordering: "none" | "strict" | { partitions: number };
}

/** RabbitMQ's default `consumer_timeout` (30 minutes). */
export const DEFAULT_AMQP_CONSUMER_TIMEOUT_MS = 1_800_000;

/**
 * The share of the broker's consumer_timeout a hold may reach. The rest is the margin for what
 * the figure leaves out (Redis and broker round trips, renewals, publishing the answer) and for
 * a token taken a little later than its turn.
 */
export const HOLD_SHARE_OF_CONSUMER_TIMEOUT = 0.9;

/** The time between two of the backend's rate tokens, as the worker's limiter spaces them. */
export function tokenIntervalMs(rate: NonNullable<HoldSettings["rate"]>): number {
  return gcraParameters({ ...rate, burst: rate.burst ?? 0 }).intervalUs / 1000;
}

/** Messages one worker holds at once of a backend: its prefetch on each queue it consumes. */
function heldPerWorker(backend: HoldSettings): number {
  const { ordering, maxInFlight } = backend;
  if (ordering === "none") return Math.max(1, maxInFlight);
  // Ordered queues are consumed with prefetch 1: `requests.<backend>` and each partition.
  return ordering === "strict" ? 1 : ordering.partitions + 1;
}

/**
 * The longest a message of `backend` may stay unacknowledged on one worker, as far as the
 * configuration decides it. Each call waits for its in-flight slot (the calls ahead of it, up to
 * `timeout` each: the worker's waits take the slots in the order they came) and its rate token (one interval for each message held, itself included, the
 * token before it just spent), then calls for up to `timeout`. An ordered backend retries in
 * place, holding the message through every scheduled retry delay and call.
 */
export function longestHoldMs(backend: HoldSettings): number {
  const held = heldPerWorker(backend);
  const intervalMs = backend.rate ? tokenIntervalMs(backend.rate) : 0;
  const slotWaitMs = (Math.ceil(held / Math.max(1, backend.maxInFlight)) - 1) * backend.timeoutMs;
  const oneCallMs = slotWaitMs + held * intervalMs + backend.timeoutMs;
  if (backend.ordering === "none") return oneCallMs;
  const attempts = Math.max(1, backend.retry.attempts);
  return attempts * oneCallMs + retryWaitsMs(backend.retry.backoffMs, attempts - 1);
}

/**
 * What `retries` retries wait in all: retry n waits `backoffMs[n - 1]`, the last delay repeating
 * when the list is shorter (as the worker's retry schedule and the callback backoff read it).
 */
export function retryWaitsMs(backoffMs: number[], retries: number): number {
  let total = 0;
  for (let retry = 1; retry <= retries && backoffMs.length > 0; retry++) {
    total += backoffMs[Math.min(retry, backoffMs.length) - 1];
  }
  return total;
}

const minutes = (ms: number): string =>
  ms >= 60_000 ? `${Math.round(ms / 6_000) / 10}m` : `${Math.round(ms / 100) / 10}s`;

/**
 * One problem per backend whose longest hold reaches its share of the broker's consumer_timeout,
 * naming the figure, what it is made of and the fixes.
 */
export function unacknowledgedHoldProblems(
  backends: Record<string, HoldSettings>,
  consumerTimeoutMs: number,
): string[] {
  const boundMs = consumerTimeoutMs * HOLD_SHARE_OF_CONSUMER_TIMEOUT;
  const problems: string[] = [];
  for (const backend of Object.values(backends)) {
    // A rate of no calls is a problem of its own, already named: no hold to compute from it.
    if (backend.rate && !(backend.rate.limit > 0)) continue;
    const holdMs = longestHoldMs(backend);
    if (holdMs < boundMs) continue;
    const held = heldPerWorker(backend);
    const ordered = backend.ordering !== "none";
    const fixes = [
      backend.rate && !ordered ? "a lower maxInFlight (the prefetch)" : null,
      backend.rate && backend.ordering !== "strict" && ordered ? "fewer partitions" : null,
      ordered ? "fewer attempts or shorter retry.backoff (retried in place)" : null,
      "a shorter timeout",
    ].filter((fix): fix is string => fix !== null);
    problems.push(
      `config.backends.${backend.name}: a worker may hold one of its messages unacknowledged for ${minutes(holdMs)} (${held} held per worker${backend.rate ? `, one rate token each ${minutes(tokenIntervalMs(backend.rate))}` : ""}${ordered ? `, ${backend.retry.attempts} attempts retried in place` : ""}), at least ${HOLD_SHARE_OF_CONSUMER_TIMEOUT * 100} % of the broker's consumer_timeout (${minutes(consumerTimeoutMs)}), which would close the channel and redeliver its messages; use ${fixes.join(", ")}, or raise the broker's consumer_timeout and set config.amqpConsumerTimeout to it`,
    );
  }
  return problems;
}
