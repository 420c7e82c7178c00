// The Prometheus metrics every role exposes on its admin port: one registry per process holding
// the default process metrics and the gateway's own, labelled only by bounded names (never ids or URLs).

import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";

/** The single registry of the process; the admin server serves it at GET /metrics. */
export const registry = new Registry();
collectDefaultMetrics({ register: registry });

/** Latency of a single HTTP exchange or backend call: 1 ms to 30 s. */
export const CALL_BUCKETS: readonly number[] = [
  0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30,
];
/** Accepted-to-answered time of a message, which includes queueing: 5 ms to 6 h. */
export const END_TO_END_BUCKETS: readonly number[] = [
  0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600, 7200,
  21600,
];
/** Time a worker waits for a rate-limit or in-flight slot: 1 ms to 5 min. */
export const WAIT_BUCKETS: readonly number[] = [
  0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300,
];

export const queueDepth = new Gauge<"queue">({
  name: "sluice_queue_depth_messages",
  help: "Ready messages in a Sluice queue (requests.<backend>, responses, retry, dead letter).",
  labelNames: ["queue"],
  registers: [registry],
});

export const queueHighWater = new Gauge<"queue">({
  name: "sluice_queue_high_water",
  help: "Configured high water of a queue; at or above it the adapter answers 503.",
  labelNames: ["queue"],
  registers: [registry],
});

export const queueConsumers = new Gauge<"queue">({
  name: "sluice_queue_consumers",
  help: "Consumers attached to a Sluice queue as reported by the broker.",
  labelNames: ["queue"],
  registers: [registry],
});

export const queueGateOpen = new Gauge<"queue">({
  name: "sluice_queue_gate_open",
  // SluiceNoConsumers reads 0 as "no consumer by design", not as workers gone.
  help: "1 while workers consume a request queue, 0 while its backend is paused or outside its service windows (reported by workers).",
  labelNames: ["queue"],
  registers: [registry],
});

export const requests = new Counter<"protocol" | "service" | "outcome">({
  name: "sluice_requests_total",
  // The alerts read outcome="busy" and outcome="unavailable" as the 503 answers.
  help: "Requests answered by the adapter, by protocol, service and outcome (accepted, duplicate, completed, rejected, failed, expired, cancelled, status, invalid, error, busy, unavailable).",
  labelNames: ["protocol", "service", "outcome"],
  registers: [registry],
});

export const requestDuration = new Histogram<"protocol" | "service">({
  name: "sluice_request_duration_seconds",
  help: "Time from receiving a request to sending the adapter's answer.",
  labelNames: ["protocol", "service"],
  buckets: [...CALL_BUCKETS],
  registers: [registry],
});

export const endToEnd = new Histogram<"service">({
  name: "sluice_end_to_end_seconds",
  help: "Time from accepting a message to its terminal outcome being recorded.",
  labelNames: ["service"],
  buckets: [...END_TO_END_BUCKETS],
  registers: [registry],
});

export const backendCalls = new Counter<"backend" | "outcome">({
  name: "sluice_backend_calls_total",
  // The alerts read retryable_error, timeout, redirect and poison as the backend's errors.
  help: "Calls of a legacy backend by outcome (completed, rejected, retryable_error, timeout, redirect, poison, interrupted).",
  labelNames: ["backend", "outcome"],
  registers: [registry],
});

export const backendCallDuration = new Histogram<"backend">({
  name: "sluice_backend_call_duration_seconds",
  help: "Duration of one call of a legacy backend.",
  labelNames: ["backend"],
  buckets: [...CALL_BUCKETS],
  registers: [registry],
});

export const rateLimitWait = new Histogram<"backend">({
  name: "sluice_rate_limit_wait_seconds",
  help: "Time a worker waited for the backend's shared rate and in-flight limits.",
  labelNames: ["backend"],
  buckets: [...WAIT_BUCKETS],
  registers: [registry],
});

export const backendRateLimit = new Gauge<"backend">({
  name: "sluice_backend_rate_limit",
  help: "Configured call rate limit of a backend in calls per second (shared by all workers).",
  labelNames: ["backend"],
  registers: [registry],
});

export const syncWaiters = new Gauge({
  name: "sluice_sync_waiters",
  help: "Callers this adapter instance holds waiting for a synchronous answer.",
  registers: [registry],
});

export const callbackDeliveries = new Counter<"outcome">({
  name: "sluice_callback_deliveries_total",
  help: "Callback and hub event delivery attempts by outcome (delivered, retry, failed, gone, refused: a hub event whose receiver the configuration no longer admits).",
  labelNames: ["outcome"],
  registers: [registry],
});

export const callbackAttemptsSetApart = new Gauge({
  name: "sluice_callback_attempts_set_apart",
  help: "Callback and hub event attempts under way for over a second, set apart from this response worker's prefetch.",
  registers: [registry],
});

export const callbackJobsInHand = new Gauge({
  name: "sluice_callback_jobs_in_hand",
  help: "Callback and hub event jobs this response worker holds from its delivery queue: attempted, waiting for a receiver's slot, or being settled.",
  registers: [registry],
});

export const deadLetters = new Counter<"backend" | "reason">({
  name: "sluice_dead_letters_total",
  help: "Messages sent to the dead-letter queue, by backend and reason.",
  labelNames: ["backend", "reason"],
  registers: [registry],
});

export const messagesExpired = new Counter<"backend">({
  name: "sluice_messages_expired_total",
  help: "Messages a worker ended expired: past their service's expireAfter before any call of the backend.",
  labelNames: ["backend"],
  registers: [registry],
});

export const backpressureRejections = new Counter<"reason">({
  name: "sluice_backpressure_rejections_total",
  help: "Requests refused with 503 by the adapter, by reason (high_water, client_share, loop_stalled, broker_blocked, broker_down, broker_refused, publishes_full, queue_missing, redis_down, just_refused, waiters_full, waiters_client_share, draining).",
  labelNames: ["reason"],
  registers: [registry],
});

export const parserRefusals = new Counter<"reason">({
  name: "sluice_http_parser_refusals_total",
  help: "Requests on the service port that Node's HTTP parser refused before any route saw them, by reason (target_too_long, headers_too_large, timeout, chunk_extensions, malformed).",
  labelNames: ["reason"],
  registers: [registry],
});

export const tlsRefusals = new Counter<"reason">({
  name: "sluice_tls_handshake_refusals_total",
  help: "TLS handshakes on the service port that ended without a connection, by reason (no_certificate, expired_certificate, not_yet_valid_certificate, untrusted_certificate, revoked_certificate, revocation_list_unusable, unlisted_certificate, certificate_refused_by_client, plain_http, protocol, timeout, closed, other).",
  labelNames: ["reason"],
  registers: [registry],
});

export const dependencyConnectFailures = new Counter<"dependency" | "reason">({
  name: "sluice_dependency_connect_failures_total",
  help: "Connection attempts to RabbitMQ or Redis (dependency) that failed, by reason (revoked_certificate, revocation_list_unusable, untrusted_certificate, certificate_refused_by_server, other): a certificate reason lasts until the TLS files change, where other is most often an outage that ends by itself.",
  labelNames: ["dependency", "reason"],
  registers: [registry],
});

/** How each dependency of this process is reached, read at every scrape (watchDependency). */
const dependencyChecks = new Map<string, () => boolean>();

export const dependencyUp = new Gauge<"dependency">({
  name: "sluice_dependency_up",
  help: "1 while this process reaches the dependency (rabbitmq; redis, as its heartbeat finds it), else 0: what /readyz says, for an alert that fires with no traffic.",
  labelNames: ["dependency"],
  registers: [registry],
  collect() {
    for (const [dependency, up] of dependencyChecks) this.set({ dependency }, up() ? 1 : 0);
  },
});

/** Reports `dependency` as up or down on every scrape, as `up` says at that moment. */
export function watchDependency(dependency: "rabbitmq" | "redis", up: () => boolean): void {
  dependencyChecks.set(dependency, up);
}

/** Whether the Redis this process uses evicts keys when full, read at every scrape. */
let redisEvicting: () => boolean = () => false;

export const redisEvictingGauge = new Gauge({
  name: "sluice_redis_evicting",
  help: "1 while the Redis this process uses has a memory limit and an eviction policy other than noeviction (records of accepted messages could be dropped when it is full), else 0 (also while its INFO memory cannot be read).",
  registers: [registry],
  collect() {
    this.set(redisEvicting() ? 1 : 0);
  },
});

/** Reports on every scrape what `evicting` says of the Redis's eviction policy. */
export function watchRedisEviction(evicting: () => boolean): void {
  redisEvicting = evicting;
}

/** Every gateway metric, for the roles to update. */
export const metrics = {
  queueDepth,
  queueHighWater,
  queueConsumers,
  queueGateOpen,
  requests,
  requestDuration,
  endToEnd,
  backendCalls,
  backendCallDuration,
  rateLimitWait,
  backendRateLimit,
  syncWaiters,
  callbackDeliveries,
  callbackAttemptsSetApart,
  callbackJobsInHand,
  deadLetters,
  messagesExpired,
  backpressureRejections,
  parserRefusals,
  tlsRefusals,
  dependencyConnectFailures,
  dependencyUp,
};

/** Content-Type of the exposition text, for the admin server's answer. */
export const METRICS_CONTENT_TYPE: string = registry.contentType;

/** The Prometheus text exposition of every metric of the process. */
export function metricsText(): Promise<string> {
  return registry.metrics();
}
