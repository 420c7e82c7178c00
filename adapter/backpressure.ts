// Decides whether the adapter may accept one more message for a backend, from the depth of its
// request queue, the broker's state, Redis and the adapter's own limits, and estimates the
// Retry-After a refused (or accepted) caller should honour.

import type { Logger } from "pino";
import type { BackendConfig } from "../shared/config/config";
import { SluiceError } from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";
import type { QueueSample } from "../shared/broker/queue-monitor";
import { UnroutedPublishError } from "../shared/broker/unrouted-publish";
import { STORE_RETRY_AFTER_S, STORE_UNAVAILABLE, storeUnavailable } from "./store-unavailable";
import { ClientShares } from "./client-shares";

export const MIN_RETRY_AFTER = 1;
export const MAX_RETRY_AFTER = 300;
/** Retry-After while nothing consumes the queue: no drain rate tells when room will appear. */
export const NO_CONSUMER_RETRY_AFTER = 30;
/** Drain rate assumed when neither a measured rate nor a configured rate limit exists. */
const FALLBACK_DRAIN_PER_SECOND = 10;

/** What backpressure reads of the broker connection (the Broker, or a stub in unit tests). */
export interface BrokerState {
  isConnected(): boolean;
  /** Why the broker blocks publishers (memory or disk alarm), or null. */
  readonly blocked: string | null;
}

/** What backpressure reads of the queue monitor. */
export interface DepthSource {
  get(queue: string): QueueSample | undefined;
  estimatedDepth(queue: string): number | undefined;
  notePublished(queue: string): void;
  /** A publish for the queue came back unroutable: it is missing until sampled again. */
  noteUnrouted(queue: string): void;
  /** The broker said the queue does not exist (a publish would be routed nowhere). */
  isMissing(queue: string): boolean;
}

export interface BackpressureOptions {
  /** Whether the transaction store can take a write right now (Redis connected). */
  storeReady?: () => boolean;
  /** Publishes awaiting a broker confirm beyond which the adapter answers Busy. */
  maxInFlightPublishes?: number;
  /** Gets one line when a backend's intake closes at its high-water mark and one when it reopens. */
  log?: Logger;
  /** Each client's part of the recent intake (a clock of its own in unit tests). */
  clientShares?: ClientShares;
}

/**
 * One admitted message. It counts toward its queue's depth from admission, so a burst of
 * requests that all pass the check before the first publish is confirmed still stops at the
 * high-water mark. A confirmed publish moves it into the monitor's published count; `release`
 * ends it.
 */
export interface Admission {
  /**
   * Its publish starts: counted against `maxInFlightPublishes` until `settled`. Two calls
   * around the caller's own `await`, not a wrapper taking the publish as a function: that cost
   * an async frame, a promise and a closure per message on the acknowledgement path.
   */
  publishing(): void;
  /** Its publish ended: confirmed (null) or failed with `error`. Only the first call counts. */
  settled(error: unknown): void;
  /** Ends the admission (a publish still open is settled as failed). */
  release(): void;
}

export type RefusalReason =
  | "draining"
  | "broker_down"
  | "broker_blocked"
  | "redis_down"
  | "publishes_full"
  | "queue_missing"
  | "high_water"
  | "client_share"
  /** A resubmission whose first submission was refused a moment ago (its record is gone). */
  | "just_refused";

export class Backpressure {
  private inFlightPublishes = 0;
  /** Admitted messages per queue not yet confirmed by the broker (or given up). */
  private readonly admitted = new Map<string, number>();
  private draining = false;
  private readonly storeReady: () => boolean;
  private readonly maxInFlightPublishes: number;
  private readonly log: Logger | undefined;
  /** Backends whose intake is closed at the high-water mark (for the open/close log lines). */
  private readonly full = new Set<string>();
  private readonly shares: ClientShares;
  /**
   * Clients refused for their share, by backend, logged once each until the queue is below the
   * share's mark again (one at a time is over a share of a half or more; over a long stretch
   * others may follow, hence MAX_LOGGED_OVER_SHARE).
   */
  private readonly overShare = new Map<string, Set<string>>();

  constructor(
    private readonly broker: BrokerState,
    private readonly monitor: DepthSource,
    private readonly names: { requestsQueue(backend: string): string },
    options: BackpressureOptions = {},
  ) {
    this.storeReady = options.storeReady ?? (() => true);
    this.maxInFlightPublishes = options.maxInFlightPublishes ?? 5_000;
    this.log = options.log;
    this.shares = options.clientShares ?? new ClientShares();
  }

  /** Request queue names by backend, made once: every admission asks several times. */
  private readonly queues = new Map<string, string>();

  private queueOf(backend: string): string {
    let queue = this.queues.get(backend);
    if (queue === undefined) {
      queue = this.names.requestsQueue(backend);
      this.queues.set(backend, queue);
    }
    return queue;
  }

  /** Whether Redis can take a command now (as the admission judges it). */
  storeAvailable(): boolean {
    return this.storeReady();
  }

  /** From now on every new message is refused: the adapter is shutting down. */
  stopIntake(): void {
    this.draining = true;
  }

  /** Whether the adapter is shutting down (`stopIntake` was called). */
  isDraining(): boolean {
    return this.draining;
  }

  /**
   * Admits one message for `backend` or throws `Busy`/`Unavailable` (503 with Retry-After).
   * The caller must `release` the admission on every path (a `finally`).
   */
  admit(backend: BackendConfig, client: string): Admission {
    const admitted = this.tryAdmit(backend, client);
    if ("reason" in admitted) throw this.counted(admitted);
    return admitted;
  }

  /**
   * Admits one message for `backend`, or returns the refusal it meets, not counted: the caller
   * counts it (`counted`) once it answers it, as a persisted message's resubmission is answered
   * as its duplicate instead. The caller must `release` an admission on every path.
   */
  tryAdmit(backend: BackendConfig, client: string): Admission | Refusal {
    const refused = this.check(backend, client);
    if (refused !== null) return refused;
    this.shares.note(backend.name, client);
    const queue = this.queueOf(backend.name);
    this.admitted.set(queue, (this.admitted.get(queue) ?? 0) + 1);
    return new QueueAdmission(this, queue);
  }

  /**
   * The refusal `admit` would meet now, or null: judged from the backend and the client alone,
   * so a route can answer it before it reads the request's body. Not counted yet: `counted`
   * counts it once it is the answer (a persisted message's resubmission is not refused).
   */
  refusal(backend: BackendConfig, client: string): Refusal | null {
    return this.check(backend, client);
  }

  /**
   * A refusal answered: counted under its reason, and its 503 to throw. Called once per 503
   * answered, never for a refusal met by a resubmission answered as its duplicate.
   */
  counted(refusal: Refusal): SluiceError {
    metrics.backpressureRejections.inc({ reason: refusal.reason });
    return refusal.error;
  }

  /**
   * A Redis command failed under an admitted request, after the checks passed: an outage is
   * answered 503 Unavailable and counted under redis_down, as the check's refusal would be;
   * anything else (a bug, or a 503 already made) is returned as it is, not counted.
   */
  storeFailed(error: unknown): unknown {
    const answer = storeUnavailable(error);
    if (answer !== error) metrics.backpressureRejections.inc({ reason: "redis_down" });
    return answer;
  }

  /** A resubmission answered 503 as its first submission was refused a moment ago, counted. */
  justRefused(): SluiceError {
    metrics.backpressureRejections.inc({ reason: "just_refused" });
    return new SluiceError("Busy", "the same message was just refused; retry shortly", {
      retryAfter: 1,
    });
  }

  /** An admitted message's publish started. */
  publishStarted(): void {
    this.inFlightPublishes++;
  }

  /** An admitted message's publish ended: confirmed (`error` null) or refused or lost. */
  publishSettled(admission: QueueAdmission, error: unknown): void {
    this.inFlightPublishes--;
    if (error === null && admission.close()) this.monitor.notePublished(admission.queue);
  }

  /**
   * A publish the broker refused (a full queue, no confirm in time), lost (it went away) or
   * returned (confirmed, but no queue took it), answered: counted under broker_refused,
   * broker_down or queue_missing, and `error` to throw. Not called for one answered otherwise:
   * a 202 when a worker took the message whose confirm was lost, a 413 when the broker closed
   * the channel over a message larger than its limit.
   */
  publishRefused(error: unknown, backend: string): unknown {
    const code = error instanceof SluiceError ? error.code : "";
    // Returned is Unavailable too, but the broker is up: it is the queue the operator must
    // declare again, as when the monitor finds it missing before the publish.
    if (error instanceof UnroutedPublishError) {
      metrics.backpressureRejections.inc({ reason: "queue_missing" });
      // The next requests are refused before their body, not each published into nowhere
      // until the monitor's next sample finds the queue gone.
      this.monitor.noteUnrouted(this.queueOf(backend));
    } else if (code === "Busy") {
      metrics.backpressureRejections.inc({ reason: "broker_refused" });
    } else if (code === "Unavailable") {
      metrics.backpressureRejections.inc({ reason: "broker_down" });
    }
    return error;
  }

  /** An admission ended: its message no longer counts toward its queue's depth here. */
  ended(queue: string): void {
    const left = (this.admitted.get(queue) ?? 1) - 1;
    if (left > 0) this.admitted.set(queue, left);
    else this.admitted.delete(queue);
  }

  /** Messages the adapter believes wait in the backend's queue, its own unconfirmed ones included. */
  depth(backend: BackendConfig): number {
    const queue = this.queueOf(backend.name);
    return (this.monitor.estimatedDepth(queue) ?? 0) + (this.admitted.get(queue) ?? 0);
  }

  /** Seconds until `ahead` messages of the backend's queue are likely drained (1..300). */
  retryAfter(backend: BackendConfig, ahead?: number): number {
    const queue = this.queueOf(backend.name);
    const waiting = ahead ?? this.depth(backend);
    const sample = this.monitor.get(queue);
    const measured = sample?.drainRate ?? 0;
    let seconds: number;
    if (measured > 0.1) seconds = waiting / measured;
    else if (sample && sample.consumers === 0 && waiting > 0) seconds = NO_CONSUMER_RETRY_AFTER;
    else {
      const configured = backend.rate ? (backend.rate.limit * 1000) / backend.rate.perMs : 0;
      seconds = waiting / (configured > 0 ? configured : FALLBACK_DRAIN_PER_SECOND);
    }
    return clampRetryAfter(seconds);
  }

  private check(backend: BackendConfig, client: string): Refusal | null {
    if (this.draining) {
      return refusal("draining", "Unavailable", "this adapter instance is shutting down", 1);
    }
    if (!this.broker.isConnected()) {
      return refusal("broker_down", "Unavailable", "message broker unavailable", 5);
    }
    if (this.broker.blocked) {
      return refusal("broker_blocked", "Busy", "message broker is refusing publishes", 30);
    }
    if (!this.storeReady()) {
      return refusal("redis_down", "Unavailable", STORE_UNAVAILABLE, STORE_RETRY_AFTER_S);
    }
    if (this.inFlightPublishes >= this.maxInFlightPublishes) {
      return refusal("publishes_full", "Busy", "too many messages being persisted", 1);
    }
    const queue = this.queueOf(backend.name);
    if (this.monitor.isMissing(queue)) {
      // An unroutable publish is confirmed and dropped: never acknowledge into nowhere.
      return refusal("queue_missing", "Unavailable", "the request queue is not declared", 5);
    }
    const depth = this.depth(backend);
    const highWater = backend.queue.highWater;
    if (depth < highWater) {
      // Logged once the backlog is clearly below the mark, not each time it dips under it:
      // under steady pressure the depth hovers at the mark and would log twice a second.
      const clear = highWater - Math.max(1, Math.ceil(highWater * 0.1));
      if (depth <= clear && this.full.delete(backend.name)) {
        this.log?.info({ backend: backend.name, queue, depth, highWater }, "intake reopened");
      }
      return this.checkShare(backend, client, depth);
    } else {
      if (!this.full.has(backend.name)) {
        this.full.add(backend.name);
        this.log?.warn(
          { backend: backend.name, queue, depth, highWater },
          "intake closed: request queue at its high-water mark; answering 503 Busy",
        );
      }
      return refusal(
        "high_water",
        "Busy",
        "the backlog for this service is full; retry later",
        this.retryAfter(backend, depth - highWater + 1),
      );
    }
  }

  /**
   * Past `clientShare` of the mark, the rest of the backlog is kept for the other clients: one
   * that sent more than that share of the recent intake while others called waits until the
   * queue is below that point again.
   */
  private checkShare(backend: BackendConfig, client: string, depth: number): Refusal | null {
    const share = backend.queue.clientShare;
    if (share >= 1) return null;
    const mark = Math.ceil(backend.queue.highWater * share);
    if (depth < mark) {
      this.overShare.delete(backend.name);
      return null;
    }
    if (!this.shares.over(backend.name, client, share)) return null;
    let logged = this.overShare.get(backend.name);
    if (logged === undefined) this.overShare.set(backend.name, (logged = new Set()));
    if (!logged.has(client) && logged.size < MAX_LOGGED_OVER_SHARE) {
      logged.add(client);
      this.log?.warn(
        { backend: backend.name, client, depth, highWater: backend.queue.highWater, share },
        "a client sent more than its share of a deep backlog; answering its requests 503 Busy while others call",
      );
    }
    return refusal(
      "client_share",
      "Busy",
      "this client sent more than its share of a deep backlog for this service; the rest is kept for other clients; retry later",
      this.retryAfter(backend, depth - mark + 1),
    );
  }
}

/** Why a message is not admitted, and the 503 that says so. */
export interface Refusal {
  reason: RefusalReason;
  error: SluiceError;
}

function refusal(
  reason: RefusalReason,
  code: "Busy" | "Unavailable",
  message: string,
  retryAfter: number,
): Refusal {
  return {
    reason,
    error: new SluiceError(code, message, { retryAfter: clampRetryAfter(retryAfter) }),
  };
}

/** Clients over their share logged per backend before the queue drains (a bound on memory). */
const MAX_LOGGED_OVER_SHARE = 100;

/** A publish given up unsettled (the admission released first): not the broker's refusal. */
const ABANDONED = new Error("released before its publish settled");

/** One object per admitted message (no closures made per request). */
class QueueAdmission implements Admission {
  private open = true;
  private publishingNow = false;

  constructor(
    private readonly backpressure: Backpressure,
    readonly queue: string,
  ) {}

  publishing(): void {
    if (this.publishingNow || !this.open) return;
    this.publishingNow = true;
    this.backpressure.publishStarted();
  }

  settled(error: unknown): void {
    if (!this.publishingNow) return;
    this.publishingNow = false;
    this.backpressure.publishSettled(this, error);
  }

  release(): void {
    this.settled(ABANDONED);
    this.close();
  }

  /** Ends the admission once; true the first time. */
  close(): boolean {
    if (!this.open) return false;
    this.open = false;
    this.backpressure.ended(this.queue);
    return true;
  }
}

/** Whole seconds within 1..300, as the contract requires of every Retry-After. */
export function clampRetryAfter(seconds: number): number {
  if (!Number.isFinite(seconds)) return MAX_RETRY_AFTER;
  return Math.min(MAX_RETRY_AFTER, Math.max(MIN_RETRY_AFTER, Math.ceil(seconds)));
}
