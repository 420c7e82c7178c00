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
  tracingRecords,
  type Context,
  type Span,
} from "../shared/observability/tracing";
import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";
import type { Broker } from "../shared/broker/amqp";
import type { BackendConfig, ServiceConfig } from "../shared/config/config";
import type { Protocol, ReplyMode, RequestMessage } from "../shared/protocol/envelope";
import { encodeRequest, requestCodec } from "../shared/protocol/codec";
import { messageId } from "../shared/protocol/message-id";
import { SluiceError, type ErrorInfo } from "../shared/protocol/errors";
import { logUnlessOutage } from "../shared/runtime/outage";
import { messageLogger } from "../shared/observability/logger";
import { isPartitioned, routingKeyFor } from "../shared/broker/ordering";
import { messageSizeLimit, messageSizeLimitName } from "../shared/broker/message-size-limit";
import type { TopologyNames } from "../shared/protocol/names";
import {
  isTerminal,
  type StoredResponse,
  type Transaction,
  type TransactionMeta,
  type TransactionStore,
} from "../shared/store/transaction-store";
import type { WakeMessage } from "../shared/protocol/wake-message";
import type { Admission, Backpressure, Refusal } from "./backpressure";
import type { CallerGone } from "./connection-gone";
import { countedWaitRefusal, type SyncWaiters, type Wait, type WaitRefusal } from "./sync-waiters";
import { UnansweredCreates } from "./unanswered-creates";

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
    | "owner"
    | "callback"
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
  /** `amqpMaxMessageSize`: a request whose message is larger is refused before it is kept. */
  maxMessageBytes: number;
  /** The broker's confirm deadline (config `adapter.publishTimeout`). */
  publishTimeoutMs: number;
  log: Logger;
}

/**
 * A submission of this instance with an X-Road id whose publish is not settled, or was refused
 * less than `unconfirmedMs` ago: whether the broker took it (null while its confirm is pending)
 * and the duplicates waiting to know. A confirmed one is let go at once (its record says so).
 */
interface RecentSubmission {
  id: string;
  /** When it was refused (a refusal is kept for `unconfirmedMs`); 0 until then. */
  at: number;
  published: boolean | null;
  /** Made only when a duplicate arrives before the confirm (rare): no promise per message. */
  waiting: Array<(published: boolean) => void> | null;
}

/** Whether a caller waits for its message's answer: sync mode, or `Prefer: wait`. */
export function waitsForAnswer(replyMode: ReplyMode, waitMs: number): boolean {
  return replyMode === "sync" || waitMs > 0;
}

export class Intake {
  /** How long a new record may still be waiting for its publish to be confirmed (or refused). */
  private readonly unconfirmedMs: number;
  /**
   * This instance's messages with an X-Road id still waiting for their confirm, and those
   * refused lately, by id (see RecentSubmission). Nothing per accepted message outlives its
   * confirm here: a map entry kept for seconds is promoted out of the young generation, and at
   * a thousand messages a second that copying and old-generation sweeping was work per message.
   */
  private readonly recent = new Map<string, RecentSubmission>();
  /** The refused entries of `recent` in the order refused; `head` is the oldest not yet pruned. */
  private readonly refusals: RecentSubmission[] = [];
  private head = 0;

  /**
   * A Redis command of a submission failed: its 503 (counted) when Redis is out of reach or
   * silent, else the error as it is, a bug answered 500. Thrown, so a read keeps its type.
   */
  private readonly storeFailed = (error: unknown): never => {
    throw this.deps.backpressure.storeFailed(error);
  };

  /** Creates Redis did not answer, undone behind them. */
  private readonly unanswered: UnansweredCreates;

  constructor(private readonly deps: IntakeDeps) {
    this.unconfirmedMs = deps.publishTimeoutMs + 1_000;
    this.unanswered = new UnansweredCreates(deps.store, deps.log, this.unconfirmedMs);
  }

  submit(submission: Submission): Promise<IntakeResult> {
    const backend = this.deps.backends[submission.service.backend];
    const { backpressure } = this.deps;
    // Admitted messages count toward the queue's depth until confirmed, so a burst stops at
    // the high-water mark even before the next depth sample.
    const admission = backpressure.tryAdmit(backend, submission.client);
    if ("reason" in admission) {
      // Not while Redis is out of reach or silent: the look-up would wait for it, and the
      // refusal is due at once. Counted only when it is the answer: a persisted message's
      // resubmission is answered as its duplicate.
      if (submission.xroadId !== null && backpressure.storeAvailable()) {
        return this.resubmittedWhileRefusing(submission, backend, admission);
      }
      return Promise.reject(backpressure.counted(admission));
    }
    // Not an async function: its promise would only wrap persist's, two more turns of the
    // microtask queue per message; and a sync caller's wait must not keep a frame here, and
    // with it the whole submission (body, headers), alive until the answer comes.
    return this.persist(submission, backend, admission);
  }

  /**
   * The 503 a message would meet now, judged from its request's head alone (the service's
   * backend, the client, whether it waits: sync or `Prefer: wait`), so a route can answer it
   * before it reads, parses and validates the body: a full backlog is refused without taking
   * in what it refuses. Null when nothing refuses it (no promise: the accepting path pays the
   * check's few look-ups, nothing more); the 503, counted, is thrown. A request with an X-Road
   * id while Redis answers may resubmit a persisted message, which no such cause refuses
   * (docs/backpressure.md): its record is looked for, and the promise rejects with the 503
   * when there is none, or resolves for the request to be read and submitted, when `submit`
   * judges it again and answers it as its duplicate. `submit` judges every message again after
   * its body: the backlog may fill while a body arrives.
   */
  refuseBeforeBody(
    service: ServiceConfig,
    client: string,
    xroadId: string | null,
    waits: boolean,
  ): Promise<void> | null {
    const { backpressure, waiters } = this.deps;
    const refused = backpressure.refusal(this.deps.backends[service.backend], client);
    let waitRefused: WaitRefusal | null = null;
    if (refused === null) {
      if (!waits) return null;
      waitRefused = waiters.refusal(client);
      if (waitRefused === null) return null;
    }
    const refusal = (): SluiceError =>
      refused !== null ? backpressure.counted(refused) : countedWaitRefusal(waitRefused!);
    if (xroadId === null || !backpressure.storeAvailable()) throw refusal();
    return this.deps.store
      .findByXroadId(client, service.code, xroadId)
      .catch(() => null)
      .then((first) => {
        // A wait's refusal spares any resubmission (`duplicate` answers it 202 with no slot).
        if (first === null) throw refusal();
        if (refused !== null && !this.persistedFirst(first)) throw refusal();
      });
  }

  private async persist(
    submission: Submission,
    backend: BackendConfig,
    admission: Admission,
  ): Promise<IntakeResult> {
    const { store, backpressure, names, broker, publisher } = this.deps;
    const now = Date.now();
    const id = messageId();
    const waits = waitsForAnswer(submission.replyMode, submission.waitMs);
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
    let recent: RecentSubmission | null = null;
    let waiter: Wait | null = null;
    try {
      // Serialised once: the record keeps it, and the message carries the same fields.
      const metaJson = JSON.stringify(meta);
      // Encoded before anything is kept: a message the broker would refuse (its body escaped
      // in JSON can be larger than the body limit let through) is refused here, not after.
      const content = encodeRequest(metaJson, submission.request);
      if (content.length > messageSizeLimit(this.deps.maxMessageBytes, broker.maxMessageBytes)) {
        throw this.tooLarge(content.length);
      }
      let created: Awaited<ReturnType<TransactionStore["create"]>>;
      try {
        created = await store.create(meta, metaJson);
      } catch (error) {
        // Unanswered is not undone: the create may still run. Its undo follows it, so the
        // caller's retry (told 503) is a new message, not a duplicate of an unpublished one.
        void this.unanswered.undo(meta);
        throw backpressure.storeFailed(error);
      }
      // Returned, not awaited: the admission ends now (finally), not after a sync duplicate's wait.
      if (!created.created) return this.duplicate(created.existingId, submission, backend);

      if (waits) waiter = this.registerWaiter(id, submission.waitMs, meta);
      // Duplicates of this message that arrive before its confirm wait for it (see duplicate()).
      if (meta.xroadId) recent = this.remember(id);
      // Only a partitioned backend reads the message for its routing key.
      const routingKey = isPartitioned(backend.ordering)
        ? routingKeyFor(backend.name, backend.ordering, requestMessage(submission.request, meta))
        : backend.name;
      const publish = publishTrace(submission.trace, meta, now);
      admission.publishing();
      try {
        await broker.publish(publisher, names.requestsExchange, routingKey, content, {
          messageId: id,
          contentType: "application/json",
          timestamp: Math.floor(now / 1000),
          mandatory: true,
          persistent: true,
          headers: publish.headers,
        });
        admission.settled(null);
        if (publish.span) endSpan(publish.span);
      } catch (error) {
        admission.settled(error);
        if (publish.span) endSpan(publish.span, error);
        // The caller is told 503 and will resubmit; its X-Road id must not find this record.
        const log = messageLogger(this.deps.log, meta);
        // Redis answered the create: a record gone now was lost with its data, perhaps
        // after a worker claimed the message, and is kept for the resubmission to find.
        const discarded = await store.discard(meta, true).catch((err: Error) => {
          log.warn({ err: err.message }, "could not discard record");
          return null;
        });
        if (discarded !== "taken") {
          waiter?.cancel();
          log.warn({ err: (error as Error).message }, "publish failed; message refused");
          if (recent) this.settle(recent, false);
          // Kept: the resubmission (here too) is this message's duplicate, and adopts it.
          if (recent && discarded === "kept") this.recent.delete(id);
          // The broker closed the channel over this message (it is above the limit the broker
          // just taught the client): a resubmission would be refused again, so it is a 413.
          const learned = broker.maxMessageBytes;
          if (learned !== null && content.length > learned) throw this.tooLarge(content.length);
          throw backpressure.publishRefused(error, backend.name);
        }
        // Only the confirm was lost (the channel closed, or it came too late): a worker has
        // claimed the message, so the broker had it. Refusing it now would have the caller
        // submit it again while this copy is processed: it is accepted like any other.
        log.warn({ err: (error as Error).message }, "publish unconfirmed, but a worker took it");
      }
      if (recent) {
        this.settle(recent, true);
        // Duplicates arriving from now on (at any instance) read this; until it lands they
        // wait a moment longer, so the first caller's answer does not wait for it.
        store.notePublished(id);
      }
      if (this.deps.log.isLevelEnabled("debug")) {
        messageLogger(this.deps.log, meta).debug(
          { service: meta.service, mode: meta.replyMode },
          "message accepted",
        );
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
    } finally {
      // Never left pending: a duplicate waiting for this publish's outcome would wait for ever.
      if (recent?.published === null) this.settle(recent, false);
      admission.release();
    }
  }

  private async waitForAnswer(
    id: string,
    waiter: Wait,
    gone: CallerGone | undefined,
    replyMode: ReplyMode,
    backend: BackendConfig,
  ): Promise<IntakeResult> {
    // A caller that hangs up frees its waiter slot at once instead of holding it to the deadline.
    gone?.onAbort(waiter);
    const wake = await waiter.promise;
    gone?.onAbort(null);
    if (gone?.aborted) return { kind: "accepted", id, duplicate: false, retryAfter: 1 };
    const result = wake ? answered(wake) : await this.afterWait(id, backend);
    this.noteDelivered(result, replyMode);
    return result;
  }

  /**
   * A sync caller that gets the final answer has it delivered (callbacks settle their own).
   * The mark is sent at the end of this turn, after the answer is written: nobody waits for
   * it, and issuing a Redis command took the caller's answer that much longer. A caller's next
   * request (a status read) comes in a later turn, behind the mark on the same connection.
   */
  private noteDelivered(result: IntakeResult, replyMode: ReplyMode): void {
    if (result.kind !== "answered" || replyMode === "callback") return;
    // An outcome without a final response (cancelled, expired) is told to the caller too.
    if (result.response?.final || isTerminal(result.state)) {
      const { id } = result;
      setImmediate(() => {
        void this.deps.store.setDelivery(id, "delivered", ["pending"]).catch(() => undefined);
      });
    }
  }

  /** The refusal of a request whose message the broker would not take (413, PayloadTooLarge). */
  private tooLarge(bytes: number): SluiceError {
    const limit = messageSizeLimitName(this.deps.maxMessageBytes, this.deps.broker.maxMessageBytes);
    return new SluiceError(
      "PayloadTooLarge",
      `the request is ${bytes} bytes as a message, larger than ${limit}`,
    );
  }

  private remember(id: string): RecentSubmission {
    this.forgetOldRefusals();
    const entry: RecentSubmission = { id, at: 0, published: null, waiting: null };
    this.recent.set(id, entry);
    return entry;
  }

  /**
   * Refusals older than `unconfirmedMs` go: from then on the record tells. Done before every
   * new submission and every resubmission: a caller retrying on an adapter nobody else submits
   * to would otherwise be told its refusal for ever.
   */
  private forgetOldRefusals(): void {
    // Refusals are pruned from a FIFO beside the Map: walking a Map from its oldest entry also
    // walks every entry deleted since its last rehash.
    if (this.head < this.refusals.length) {
      const now = Date.now();
      while (
        this.head < this.refusals.length &&
        now - this.refusals[this.head].at >= this.unconfirmedMs
      ) {
        const refused = this.refusals[this.head++];
        if (this.recent.get(refused.id) === refused) this.recent.delete(refused.id);
      }
      if (this.head > 1024 && this.head * 2 > this.refusals.length) {
        this.refusals.splice(0, this.head);
        this.head = 0;
      }
    }
  }

  /**
   * The broker's confirm (or refusal) is known: duplicates waiting for it go on. A confirmed
   * entry goes now: from here on its record tells duplicates (`notePublished`); a refusal is
   * kept for `unconfirmedMs`, as its record may not have been undone.
   */
  private settle(entry: RecentSubmission, published: boolean): void {
    entry.published = published;
    if (published) {
      this.recent.delete(entry.id);
    } else {
      entry.at = Date.now();
      this.refusals.push(entry);
    }
    const waiting = entry.waiting;
    entry.waiting = null;
    if (waiting) for (const resume of waiting) resume(published);
  }

  private registerWaiter(id: string, waitMs: number, meta: TransactionMeta) {
    const wait = this.deps.waiters.tryRegister(id, waitMs, meta.client);
    if (typeof wait !== "string") return wait;
    void this.deps.store.discard(meta).catch(() => undefined);
    throw countedWaitRefusal(wait);
  }

  /**
   * A 503 says "not accepted": a resubmission of a message already persisted (its caller lost
   * the first answer) must not get one because the backlog is full now or the broker is out of
   * reach, or its caller takes the message for refused while it is processed. It is answered as
   * the duplicate it is, from its record; only one not yet confirmed by the broker (which this
   * resubmission would have to publish) is refused as before, and so is every one while Redis,
   * which holds the records, does not answer.
   */
  private async resubmittedWhileRefusing(
    submission: Submission,
    backend: BackendConfig,
    refusal: Refusal,
  ): Promise<IntakeResult> {
    const first = await this.deps.store
      .findByXroadId(submission.client, submission.service.code, submission.xroadId!)
      .catch(() => null);
    if (first === null || !this.persistedFirst(first)) {
      throw this.deps.backpressure.counted(refusal);
    }
    return this.duplicate(first.id, submission, backend);
  }

  /**
   * Whether a resubmission's first submission is persisted, or will be without it: confirmed by
   * the broker, or this instance's own publish still settling. Else the resubmission would have
   * to publish it, which a refusal of the backlog or the broker forbids.
   */
  private persistedFirst(first: { id: string; published: boolean }): boolean {
    return first.published || this.recent.has(first.id);
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
   * this caller's reply mode (docs/semantics.md): ack and callback get the same 202 whatever state
   * the first one reached; sync waits for its outcome as the first caller would, never longer.
   */
  private async duplicate(
    id: string,
    submission: Submission,
    backend: BackendConfig,
  ): Promise<IntakeResult> {
    const tx = await this.firstPersisted(id);
    if (!tx || tx.client !== submission.client) throw this.deps.backpressure.justRefused();
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
    // A persisted message is refused by nothing but Redis (docs/backpressure.md): with every
    // waiter slot taken (or its client over its share of them) its resubmission gets its 202,
    // as in ack mode, never a 503 that would tell the caller it was not accepted.
    const waiter = this.deps.waiters.tryRegister(id, submission.waitMs, submission.client);
    if (typeof waiter === "string") return accepted;
    submission.gone?.onAbort(waiter);
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
    } catch (error) {
      // Redis failed mid-wait; the message is persisted all the same, so this is its 202.
      logUnlessOutage(this.deps.log, error, "sync wait failed; the caller gets its 202");
      waiter.cancel();
      return accepted;
    } finally {
      submission.gone?.onAbort(null);
    }
  }

  /** Publishes an orphaned submission's request from its record and this resubmission. */
  private async adopt(tx: Transaction, submission: Submission, backend: BackendConfig) {
    const { store, broker, publisher, names, instanceId } = this.deps;
    for (let delayMs = 10; ; delayMs = Math.min(delayMs * 2, 200)) {
      if (await store.adopt(tx.id, instanceId, this.unconfirmedMs).catch(this.storeFailed)) break;
      // Another adapter is publishing it, and its publish may yet fail (its caller told 503):
      // this caller gets its 202 only once the broker has the message, or this adapter takes
      // the publish over when that adoption is stale.
      const current = await store.get(tx.id).catch(this.storeFailed);
      // Discarded meanwhile (its publish failed, or its create went unanswered): its caller
      // was told 503, and a 202 here would acknowledge a message nobody will publish.
      if (!current) throw this.deps.backpressure.justRefused();
      if (current.published || current.state !== "accepted") return;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
    const message: RequestMessage = {
      ...submission.request,
      ...metaOfTransaction(tx),
    };
    await broker
      .publish(
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
      )
      // The resubmission is answered the 503, as a first submission's refused publish is.
      .catch((error: unknown) => {
        throw this.deps.backpressure.publishRefused(error, backend.name);
      });
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
    this.forgetOldRefusals();
    const local = this.recent.get(id);
    if (local) {
      const published =
        local.published ??
        (await new Promise<boolean>((resolve) => (local.waiting ??= []).push(resolve)));
      if (!published) return null;
      const tx = await this.deps.store.get(id).catch(this.storeFailed);
      // Confirmed here: its record may not say so yet (the note travels with a later command).
      if (tx) tx.published = true;
      return tx;
    }
    let tx = await this.deps.store.get(id).catch(this.storeFailed);
    // Accepted by another adapter instance moments ago and not yet confirmed: wait for its
    // confirm, at most until its confirm deadline (then it was refused, or its note was lost).
    // The record's age is Redis's to tell: the other adapter's clock may run ahead or behind.
    for (let delayMs = 10; tx && !tx.published; delayMs = Math.min(delayMs * 2, 200)) {
      const made = tx;
      if ((await this.deps.store.ageMs(made).catch(this.storeFailed)) >= this.unconfirmedMs) {
        break;
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      tx = await this.deps.store.get(id).catch(this.storeFailed);
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

/**
 * Every field a route hands over, listed so that one added to the request type later cannot be
 * left out of `requestMessage` unnoticed (this stops compiling until it is added there too).
 */
const ROUTE_FIELDS = {
  method: true,
  path: true,
  query: true,
  xroadHeaders: true,
  headers: true,
  contentType: true,
  body: true,
  bodyEncoding: true,
  soap: true,
  attachments: true,
  idempotencyKey: true,
} as const satisfies Record<keyof Submission["request"], true>;
void ROUTE_FIELDS;

/**
 * The request message: what the route read and what the record fixed. Written out field by
 * field, not spread: a spread object is slower to make and to serialise, once per message.
 */
function requestMessage(request: Submission["request"], meta: TransactionMeta): RequestMessage {
  const message: RequestMessage = {
    id: meta.id,
    xroadId: meta.xroadId,
    service: meta.service,
    backend: meta.backend,
    protocol: meta.protocol,
    client: meta.client,
    replyMode: meta.replyMode,
    method: request.method,
    path: request.path,
    query: request.query,
    xroadHeaders: request.xroadHeaders,
    headers: request.headers,
    contentType: request.contentType,
    body: request.body,
    bodyEncoding: request.bodyEncoding,
    createdAt: meta.createdAt,
    expiresAt: meta.expiresAt,
    owner: meta.owner,
    callback: meta.callback,
  };
  if (request.soap !== undefined) message.soap = request.soap;
  if (request.attachments !== undefined) message.attachments = request.attachments;
  if (request.idempotencyKey !== undefined) message.idempotencyKey = request.idempotencyKey;
  return message;
}

/** A publish with no span and no trace to carry (shared: never written to). */
const NO_TRACE: { span: null; headers: undefined } = Object.freeze({
  span: null,
  headers: undefined,
});

/**
 * The publish's span and the AMQP headers that carry the trace on. When this process records
 * no spans and the caller sent no trace context, there is nothing to carry: no span, and no
 * header table for amqplib to encode per message (the worker takes the queue wait's start
 * from the request's `createdAt` then).
 */
function publishTrace(
  trace: Context | undefined,
  meta: TransactionMeta,
  now: number,
): { span: Span | null; headers: Record<string, unknown> | undefined } {
  if (tracingRecords()) {
    const parent = trace ?? ROOT_CONTEXT;
    const span = startSpan("sluice.publish", SpanKind.PRODUCER, parent, messageAttributes(meta));
    // The worker's spans descend from this publish; the queue wait starts now.
    return { span, headers: withEnqueuedAt(headersOf(contextWith(parent, span)), now) };
  }
  if (!trace) return NO_TRACE;
  return { span: null, headers: withEnqueuedAt(headersOf(trace), now) };
}

/** The trace headers with the queue wait's start added in place (no spread: V8's slow path). */
function withEnqueuedAt(headers: Record<string, unknown>, now: number): Record<string, unknown> {
  headers[ENQUEUED_AT_HEADER] = now;
  return headers;
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
