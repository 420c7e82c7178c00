// Accepting one message, the same for REST and SOAP: refuse early under backpressure, record
// the transaction, publish with a broker confirm, then wait (sync) or acknowledge. Nothing is
// acknowledged that is not both recorded in Redis and confirmed by RabbitMQ.

import {
  contextWith,
  endSpan,
  ENQUEUED_AT_HEADER,
  headersOf,
  messageAttributes,
  ROOT_CONTEXT,
  SpanKind,
  startSpan,
  type Context,
} from "../shared/observability/tracing";
import { randomUUID } from "node:crypto";
import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";
import type { Broker } from "../shared/broker/amqp";
import type { BackendConfig, ServiceConfig } from "../shared/config/config";
import type { Protocol, ReplyMode, RequestMessage } from "../shared/protocol/envelope";
import { requestCodec } from "../shared/protocol/codec";
import { SluiceError, type ErrorInfo } from "../shared/protocol/errors";
import { messageLogger } from "../shared/observability/logger";
import { routingKeyFor } from "../shared/broker/ordering";
import { metrics } from "../shared/observability/metrics";
import type { TopologyNames } from "../shared/protocol/names";
import {
  isTerminal,
  type StoredResponse,
  type Transaction,
  type TransactionMeta,
  type TransactionStore,
} from "../shared/store/transaction-store";
import type { WakeMessage } from "../shared/protocol/wake-message";
import type { Admission, Backpressure } from "./backpressure";
import type { CallerGone } from "./connection-gone";
import type { SyncWaiters } from "./sync-waiters";

/** What a protocol route hands over after parsing and validating the request. */
export interface Submission {
  service: ServiceConfig;
  protocol: Protocol;
  client: string;
  xroadId: string | null;
  replyMode: ReplyMode;
  /**
   * How long this caller waits for the outcome before getting a 202: sync mode, or callback
   * mode with `Prefer: wait` (the callback still follows); 0 = no wait.
   */
  waitMs: number;
  callback: string | null;
  /** Says when the caller's connection closes before its answer (sync waits end then). */
  gone?: CallerGone;
  /** The request's trace context: the message's spans on every role descend from it. */
  trace?: Context;
  request: Omit<
    RequestMessage,
    | "id"
    | "xroadId"
    | "service"
    | "backend"
    | "protocol"
    | "client"
    | "replyMode"
    | "createdAt"
    | "expiresAt"
  >;
}

export type IntakeResult =
  /** Persisted; the answer is not (yet) known. `duplicate`: an earlier submission's id. */
  | { kind: "accepted"; id: string; duplicate: boolean; retryAfter: number }
  /** Sync mode (or a duplicate of a finished message): the outcome and its final response (the first, if none is final yet). */
  | {
      kind: "answered";
      id: string;
      state: Transaction["state"];
      response: StoredResponse | null;
      error: ErrorInfo | null;
    };

export interface IntakeDeps {
  broker: Broker;
  publisher: ChannelWrapper;
  store: TransactionStore;
  waiters: SyncWaiters;
  backpressure: Backpressure;
  names: TopologyNames;
  backends: Record<string, BackendConfig>;
  instanceId: string;
  /** The broker's confirm deadline (config `adapter.publishTimeout`). */
  publishTimeoutMs: number;
  log: Logger;
}

export class Intake {
  /** How long a new record may still be waiting for its publish to be confirmed (or refused). */
  private readonly unconfirmedMs: number;
  /**
   * This instance's recent messages with an X-Road id: id → whether the broker took it (a
   * promise while the confirm is pending). Kept for `unconfirmedMs`, in insertion order.
   */
  private readonly recent = new Map<string, { at: number; published: Promise<boolean> }>();
  /** `recent`'s ids in insertion order; `head` is the oldest not yet pruned. */
  private readonly order: Array<{ id: string; at: number }> = [];
  private head = 0;

  constructor(private readonly deps: IntakeDeps) {
    this.unconfirmedMs = deps.publishTimeoutMs + 1_000;
  }

  async submit(submission: Submission): Promise<IntakeResult> {
    const backend = this.deps.backends[submission.service.backend];
    // Admitted messages count toward the queue's depth until confirmed, so a burst stops at
    // the high-water mark even before the next depth sample.
    const admission = this.deps.backpressure.admit(backend);
    // Not awaited here: a sync caller's wait must not keep this frame, and with it the whole
    // submission (body, headers), alive until the answer comes.
    return this.persist(submission, backend, admission).finally(admission.release);
  }

  private async persist(
    submission: Submission,
    backend: BackendConfig,
    admission: Admission,
  ): Promise<IntakeResult> {
    const { store, backpressure, names, broker, publisher } = this.deps;
    const now = Date.now();
    const id = randomUUID();
    const waits = submission.replyMode === "sync" || submission.waitMs > 0;
    const meta: TransactionMeta = {
      id,
      xroadId: submission.xroadId,
      service: submission.service.code,
      backend: backend.name,
      client: submission.client,
      protocol: submission.protocol,
      replyMode: submission.replyMode,
      owner: waits ? this.deps.instanceId : null,
      callback: submission.callback,
      createdAt: now,
      expiresAt:
        submission.service.expireAfterMs === null ? null : now + submission.service.expireAfterMs,
    };
    // Child loggers cost (bindings are redacted when made): only made when a line is written.
    const log = () => messageLogger(this.deps.log, meta);

    const created = await unavailableOnError(() => store.create(meta));
    if (!created.created) return this.duplicate(created.existingId, submission, backend);

    const waiter = waits ? this.registerWaiter(id, submission.waitMs, meta) : null;
    const message: RequestMessage = {
      ...submission.request,
      id,
      xroadId: meta.xroadId,
      service: meta.service,
      backend: backend.name,
      protocol: meta.protocol,
      client: meta.client,
      replyMode: meta.replyMode,
      createdAt: now,
      expiresAt: meta.expiresAt,
      owner: meta.owner,
      callback: meta.callback,
    };
    // Duplicates of this message that arrive before its confirm wait for it (see duplicate()).
    let settle: ((published: boolean) => void) | undefined;
    if (meta.xroadId) this.remember(id, new Promise<boolean>((resolve) => (settle = resolve)));
    const parent = submission.trace ?? ROOT_CONTEXT;
    const span = startSpan("sluice.publish", SpanKind.PRODUCER, parent, messageAttributes(meta));
    try {
      await admission.publish(() =>
        broker.publish(
          publisher,
          names.requestsExchange,
          routingKeyFor(backend.name, backend.ordering, message),
          requestCodec.encode(message),
          {
            messageId: id,
            contentType: "application/json",
            timestamp: Math.floor(now / 1000),
            mandatory: true,
            // The worker's spans descend from this publish; the queue wait starts now.
            headers: { ...headersOf(contextWith(parent, span)), [ENQUEUED_AT_HEADER]: now },
          },
        ),
      );
      endSpan(span);
    } catch (error) {
      endSpan(span, error);
      waiter?.cancel();
      // The caller is told 503 and will resubmit; its X-Road id must not find this record.
      await store
        .discard(meta)
        .catch((err: Error) => log().warn({ err: err.message }, "could not discard record"));
      log().warn({ err: (error as Error).message }, "publish failed; message refused");
      settle?.(false);
      throw error;
    }
    settle?.(true);
    if (meta.xroadId) {
      // Only duplicates arriving at other instances read this; until it lands they wait a
      // moment longer, so the first caller's answer does not wait for it.
      void store.markPublished(id).catch(() => undefined);
    }
    if (this.deps.log.isLevelEnabled("debug")) {
      log().debug({ service: meta.service, mode: meta.replyMode }, "message accepted");
    }

    if (!waiter)
      return {
        kind: "accepted",
        id,
        duplicate: false,
        retryAfter: backpressure.retryAfter(backend),
      };
    // Returned, not awaited: this frame (the message, its body and headers) ends here, and
    // the wait holds only what the answer needs.
    return this.waitForAnswer(id, waiter, submission.gone, meta.replyMode, backend);
  }

  private async waitForAnswer(
    id: string,
    waiter: { promise: Promise<WakeMessage | null>; cancel(): void },
    gone: CallerGone | undefined,
    replyMode: ReplyMode,
    backend: BackendConfig,
  ): Promise<IntakeResult> {
    // A caller that hangs up frees its waiter slot at once instead of holding it to the deadline.
    gone?.onAbort(waiter.cancel);
    const wake = await waiter.promise;
    gone?.onAbort(null);
    if (gone?.aborted) return { kind: "accepted", id, duplicate: false, retryAfter: 1 };
    const result = wake ? answered(wake) : await this.afterWait(id, backend);
    this.noteDelivered(result, replyMode);
    return result;
  }

  /** A sync caller that gets the final answer has it delivered (callbacks settle their own). */
  private noteDelivered(result: IntakeResult, replyMode: ReplyMode): void {
    if (result.kind === "answered" && result.response?.final && replyMode !== "callback") {
      void this.deps.store.setDelivery(result.id, "delivered", ["pending"]).catch(() => undefined);
    }
  }

  private remember(id: string, published: Promise<boolean>): void {
    // Pruned from a FIFO beside the Map: walking a Map from its oldest entry also walks
    // every entry deleted since its last rehash, thousands per call at high rates.
    const now = Date.now();
    while (this.head < this.order.length && now - this.order[this.head].at >= this.unconfirmedMs) {
      this.recent.delete(this.order[this.head++].id);
    }
    if (this.head > 1024 && this.head * 2 > this.order.length) {
      this.order.splice(0, this.head);
      this.head = 0;
    }
    this.recent.set(id, { at: now, published });
    this.order.push({ id, at: now });
  }

  private registerWaiter(id: string, waitMs: number, meta: TransactionMeta) {
    try {
      return this.deps.waiters.register(id, waitMs);
    } catch (error) {
      metrics.backpressureRejections.inc({ reason: "waiters_full" });
      void this.deps.store.discard(meta).catch(() => undefined);
      throw error;
    }
  }

  /** The wait ended without a wake: one last look, since the answer may have just landed. */
  private async afterWait(id: string, backend: BackendConfig): Promise<IntakeResult> {
    const tx = await this.deps.store.get(id).catch(() => null);
    if (tx && (isTerminal(tx.state) || tx.responses.length > 0)) return fromTransaction(tx);
    return {
      kind: "accepted",
      id,
      duplicate: false,
      retryAfter: this.deps.backpressure.retryAfter(backend),
    };
  }

  /**
   * A resubmission of a persisted message (same client, service and X-Road id), answered in
   * this caller's reply mode (CONTRACT §2): ack and callback get the same 202 whatever state the
   * first one reached; sync waits for its outcome as the first caller would, never longer.
   */
  private async duplicate(
    id: string,
    submission: Submission,
    backend: BackendConfig,
  ): Promise<IntakeResult> {
    const tx = await this.firstPersisted(id);
    if (!tx || tx.client !== submission.client) {
      throw new SluiceError("Busy", "the same message was just refused; retry shortly", {
        retryAfter: 1,
      });
    }
    // Never confirmed by its deadline: the first adapter died between the record and the
    // broker's confirm, and the broker may not have the message. This resubmission publishes
    // it under the same id (a second copy, if the broker had it after all, is never processed
    // twice: the worker skips a claimed or processed id).
    if (!tx.published && !this.recent.has(id)) await this.adopt(tx, submission, backend);
    const accepted: IntakeResult = {
      kind: "accepted",
      id,
      duplicate: true,
      retryAfter: this.deps.backpressure.retryAfter(backend),
    };
    if (submission.replyMode !== "sync") return accepted;
    if (isTerminal(tx.state)) {
      const result = fromTransaction(tx);
      this.noteDelivered(result, tx.replyMode);
      return result;
    }
    const waiter = this.deps.waiters.register(id, submission.waitMs);
    submission.gone?.onAbort(waiter.cancel);
    try {
      // Registered before the state is read: a final response stored after this read wakes us.
      const state = await this.deps.store.watch(id, this.deps.instanceId);
      if (state === null || isTerminal(state)) waiter.cancel();
      const wake = await waiter.promise;
      if (submission.gone?.aborted) return accepted;
      const result = wake ? answered(wake) : await this.afterWait(id, backend);
      if (result.kind === "accepted") return accepted;
      this.noteDelivered(result, tx.replyMode);
      return result;
    } catch {
      // Redis failed mid-wait; the message is persisted all the same, so this is its 202.
      waiter.cancel();
      return accepted;
    } finally {
      submission.gone?.onAbort(null);
    }
  }

  /** Publishes an orphaned submission's request from its record and this resubmission. */
  private async adopt(tx: Transaction, submission: Submission, backend: BackendConfig) {
    const { store, broker, publisher, names, instanceId } = this.deps;
    if (!(await unavailableOnError(() => store.adopt(tx.id, instanceId, this.unconfirmedMs)))) {
      return;
    }
    const message: RequestMessage = {
      ...submission.request,
      ...metaOfTransaction(tx),
    };
    await broker.publish(
      publisher,
      names.requestsExchange,
      routingKeyFor(backend.name, backend.ordering, message),
      requestCodec.encode(message),
      {
        messageId: tx.id,
        contentType: "application/json",
        timestamp: Math.floor(tx.createdAt / 1000),
        mandatory: true,
        headers: { [ENQUEUED_AT_HEADER]: Date.now() },
      },
    );
    await store.markPublished(tx.id).catch(() => undefined);
    messageLogger(this.deps.log, tx).warn(
      "a resubmission found its first submission never confirmed (its adapter stopped); published it",
    );
  }

  /**
   * The first submission's record once its publish is settled; null when it was refused. It
   * may still wait for its broker confirm (and may yet be refused and discarded): this caller
   * is told "persisted" only once the first one is.
   */
  private async firstPersisted(id: string): Promise<Transaction | null> {
    const local = this.recent.get(id)?.published;
    if (local) {
      const published = await local;
      return published ? unavailableOnError(() => this.deps.store.get(id)) : null;
    }
    let tx = await unavailableOnError(() => this.deps.store.get(id));
    // Accepted by another adapter instance moments ago and not yet confirmed: wait for its
    // confirm, at most until its confirm deadline (then it was refused, or its note was lost).
    for (let delayMs = 10; tx && !tx.published; delayMs = Math.min(delayMs * 2, 200)) {
      if (Date.now() - tx.createdAt >= this.unconfirmedMs) break;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      tx = await unavailableOnError(() => this.deps.store.get(id));
    }
    return tx;
  }
}

function answered(wake: WakeMessage): IntakeResult {
  return {
    kind: "answered",
    id: wake.id,
    state: wake.state,
    response: wake.response,
    error: wake.error,
  };
}

function fromTransaction(tx: Transaction): IntakeResult {
  const response = tx.responses.find((r) => r.final) ?? tx.responses[0] ?? null;
  return { kind: "answered", id: tx.id, state: tx.state, response, error: tx.error };
}

/** Redis being unreachable means no transaction record can be written: 503, never a 202. */
async function unavailableOnError<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (error) {
    if (error instanceof SluiceError) throw error;
    throw new SluiceError("Unavailable", "transaction store unavailable", {
      retryAfter: 5,
      cause: error,
    });
  }
}

/** The request fields a record keeps, as the first submission published them. */
function metaOfTransaction(tx: Transaction): TransactionMeta {
  return {
    id: tx.id,
    xroadId: tx.xroadId,
    service: tx.service,
    backend: tx.backend,
    client: tx.client,
    protocol: tx.protocol,
    replyMode: tx.replyMode,
    owner: tx.owner,
    callback: tx.callback,
    createdAt: tx.createdAt,
    expiresAt: tx.expiresAt,
  };
}
