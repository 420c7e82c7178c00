// Processing one request message of one backend: skip what was already processed, expire
// what waited too long, claim it, call the translator, and turn the result into responses,
// a delayed retry, or a dead letter. The backend's answer is kept in the transaction record
// before anything is published, and the ack is the last step, after every publish confirmed.

import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { ConsumeMessage } from "amqplib";
import type { SlotAsk } from "../shared/store/inflight-slot";
import type { RequestMessage } from "../shared/protocol/envelope";
import { requestCodec } from "../shared/protocol/codec";
import { HEADERS } from "../shared/protocol/names";
import {
  BackendRedirectError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
} from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";
import { StateNotices, type NoticeState } from "../shared/protocol/state-notice";
import {
  EXPIRY_CLAIM,
  isTerminal,
  metaOfRequest,
  type RequestView,
  type State,
  type SlotClaim,
  type TransactionStore,
} from "../shared/store/transaction-store";
import { systemClock, type Clock } from "../shared/runtime/clock";
import { isOrdered } from "../shared/broker/ordering";
import {
  contextFrom,
  contextWith,
  endSpan,
  ENQUEUED_AT_HEADER,
  headersOf,
  inSpan,
  messageAttributes,
  SpanKind,
  startSpan,
  traceHeadersIn,
  tracingRecords,
} from "../shared/observability/tracing";
import type { Settlement } from "../shared/broker/settling-consumer";
import { abortableSleep } from "./abortable-sleep";
import { CLAIM_SLACK_MS, ClaimHold } from "./claim-hold";
import { AnswerRecorder, responsesOf } from "./answer-recorder";
import { decideCall, type CallDecision } from "./call-decision";
import { DeadLetterPublisher } from "./dead-letter-publisher";
import { GateShutError, type CallPermit } from "./backend-guard";
import type { SlotTry } from "./inflight-leases";
import { MessageLog } from "./message-log";
import { MessageTraces } from "./message-traces";
import { MessageWaits } from "./message-waits";
import type { CallGuard, ProcessorDeps } from "./processor-deps";
import { Deadline } from "./translators/call-deadline";

export type { CallGuard, ProcessorDeps } from "./processor-deps";

/** How many calls of the message earlier attempts made, by the header its retry copy carries. */
function callsBefore(message: ConsumeMessage): number {
  const calls = Number(message.properties.headers?.[HEADERS.calls] ?? 0);
  return Number.isInteger(calls) && calls > 0 ? calls : 0;
}

/**
 * How long a translator may take to settle once its call's signal aborted (the timeout, or
 * shutdown), before the worker gives the call up as timed out: built-in translators settle at once.
 */
const TRANSLATOR_GRACE_MS = 1_000;

/** How often an ordered backend's message whose claim another worker holds looks again. */
const CLAIM_POLL_MS = 1_000;

/** A look that found the claim held by another worker, for an ordered backend: look again. */
const CLAIM_HELD = "claim-held";
type Look = Settlement | typeof CLAIM_HELD;

/** A signal that never aborts: for a delivery whose channel the caller does not watch. */
const NEVER = new AbortController().signal;

/** A delivery being looked at: what each step up to the call takes along. */
interface MessageInHand {
  message: ConsumeMessage;
  request: RequestMessage;
  attempt: number;
  log: MessageLog;
  /** Aborted when the delivery's channel closed: the broker has the message again. */
  gone: AbortSignal;
  waits: MessageWaits;
}

/** A message this worker holds the in-flight slot and the claim of, ready for its call. */
interface ClaimedMessage extends MessageInHand {
  /** Whether the client has hub listeners (a `processing` notice is sent). */
  listened: boolean;
  permit: CallPermit;
  /** The state the claim took the record from. */
  previous: State;
  hold: ClaimHold;
}

export class RequestProcessor {
  private readonly clock: Clock;
  private readonly traces: MessageTraces;
  private readonly deadLetter: DeadLetterPublisher;
  private readonly answers: AnswerRecorder;

  constructor(private readonly deps: ProcessorDeps) {
    this.clock = deps.clock ?? systemClock;
    this.traces = new MessageTraces(deps.backend.name);
    this.deadLetter = new DeadLetterPublisher(deps, this.clock);
    this.answers = new AnswerRecorder(deps, this.traces, this.deadLetter);
  }

  /**
   * Processes one delivery. `gone` aborts when the channel the message came on closed: the
   * broker then hands the message to another consumer, so no call may start for it here.
   */
  async process(message: ConsumeMessage, gone: AbortSignal = NEVER): Promise<Settlement> {
    const { log: rootLog } = this.deps;
    const decoded = requestCodec.decode(message.content);
    if (!decoded.ok) {
      // A message this release cannot read is kept for the operator, never retried or thrown.
      rootLog.error(
        { err: decoded.error, reason: decoded.reason },
        "request not readable; dead-lettered",
      );
      await this.deadLetter.publish(message.content, decoded.reason, null, {
        error: decoded.error,
        attempts: 0,
      });
      return "ack";
    }
    const request = decoded.message;
    const log = new MessageLog(rootLog, request);
    const attempt = Number(message.properties.headers?.[HEADERS.attempt] ?? 1);
    const headers = message.properties.headers;
    const parent = contextFrom(headers);
    // Nothing recorded in this process (no exporter): no span is made, and the caller's trace
    // context is passed on as it came. A span the SDK does not sample has no children either.
    const span = tracingRecords() ? startSpan("sluice.process", SpanKind.CONSUMER, parent) : null;
    const recording = span?.isRecording() ?? false;
    if (span && recording) {
      const attributes = {
        ...messageAttributes({ ...request, backend: this.deps.backend.name }),
        "sluice.attempt": attempt,
      };
      span.setAttributes(attributes);
      // An adapter that carries no trace sends no headers: its publish is the request's creation.
      const enqueuedAt = Number(headers?.[ENQUEUED_AT_HEADER]) || request.createdAt;
      if (enqueuedAt > 0) {
        endSpan(startSpan("sluice.queue_wait", SpanKind.INTERNAL, parent, attributes, enqueuedAt));
      }
    }
    this.traces.set(request.id, { context: span ? contextWith(parent, span) : parent, recording });
    try {
      const settlement = await this.processRequest(message, request, attempt, log, gone);
      if (span) endSpan(span, undefined, { "sluice.settlement": settlement });
      return settlement;
    } catch (error) {
      if (span) endSpan(span, error);
      throw error;
    } finally {
      this.traces.delete(request.id);
    }
  }

  private async processRequest(
    message: ConsumeMessage,
    request: RequestMessage,
    attempt: number,
    log: MessageLog,
    gone: AbortSignal,
  ): Promise<Settlement> {
    for (;;) {
      const settlement = await this.look(message, request, attempt, log, gone);
      if (settlement !== CLAIM_HELD) return settlement;
      // An ordered backend's message whose claim another worker holds keeps its place in line
      // (see `parkOrWait`): it is looked at again when that claim may have ended.
      try {
        await abortableSleep(CLAIM_POLL_MS, AbortSignal.any([this.deps.shutdown, gone]));
      } catch {
        return "requeue";
      }
    }
  }

  /** One look at a message, up to its settlement, or `CLAIM_HELD` to look again. */
  private async look(
    message: ConsumeMessage,
    request: RequestMessage,
    attempt: number,
    log: MessageLog,
    gone: AbortSignal,
  ): Promise<Look> {
    // Waits end at the message's expiry: a message past it gives up its place in line.
    const waits = new MessageWaits(this.deps.shutdown, gone, request.expiresAt, this.clock);
    const inHand: MessageInHand = { message, request, attempt, log, gone, waits };
    try {
      const { claiming } = this.deps.guard;
      // A message past its expiry, or one not to be called by this worker now, takes the
      // long way: a first look, then the decisions below one by one.
      if (claiming && !this.expired(request) && !gone.aborted && !this.deps.shutdown.aborted) {
        return await this.claimAtOnce(claiming, inHand);
      }
      // Asked together: both go out in one write, one round trip.
      const [peeked, listened] = await Promise.all([
        this.deps.store.peek(request.id),
        this.deps.listened ? this.deps.listened(request.client) : Promise.resolve(true),
      ]);
      return await this.decide(inHand, peeked, listened);
    } finally {
      waits.dispose();
    }
  }

  /**
   * The common case in one round trip: the first look at the record, an in-flight slot and the
   * claim (the guard waits for the gate and, if none is free, for a slot). A message the look
   * finds not to be claimed (processed, terminal, refused, missing) is decided as the long way
   * would; nothing was taken for it.
   */
  private async claimAtOnce(
    claiming: NonNullable<CallGuard["claiming"]>,
    inHand: MessageInHand,
  ): Promise<Look> {
    const { message, request, attempt, log, gone, waits } = inHand;
    const { store } = this.deps;
    const claimMs = this.deps.backend.timeoutMs + CLAIM_SLACK_MS;
    // The claim's token is its slot's: the hold fences every later change by it.
    let hold: ClaimHold | null = null;
    const tryClaim = async (slot: SlotAsk): Promise<SlotTry<SlotClaim>> => {
      const sentAt = performance.now();
      const claim = await store.claimWithSlot(request.id, claimMs, slot, attempt);
      if (claim.result === "ok") {
        hold = new ClaimHold(store, metaOfRequest(request), slot.token, claimMs, sentAt);
        return { outcome: "admitted", value: claim };
      }
      if (claim.result === "busy") return { outcome: "busy", retryInMs: claim.retryInMs };
      return { outcome: "settled", value: claim };
    };
    // Asked in the same turn as the claim: both go out in one write, one round trip. It only
    // decides whether a `processing` notice is sent, so a look-up that failed sends one: read
    // after the claim, its failure would otherwise fail a message whose slot and claim are
    // taken, and the slot's lease would be renewed for as long as the worker lives.
    const listening = (
      this.deps.listened ? this.deps.listened(request.client) : Promise.resolve(true)
    ).catch(() => true);
    let taken: { permit: CallPermit | null; value: SlotClaim };
    try {
      taken = await this.traces.step(request.id, "sluice.limit_wait", () =>
        claiming(request, tryClaim, () => waits.signal()),
      );
    } catch (error) {
      // The delivery's channel closed while it waited for a slot: the broker has it again.
      if (gone.aborted) return "requeue";
      if (waits.expiryFired && this.expired(request)) {
        return await this.expireUnclaimed(inHand, await listening);
      }
      if (error instanceof GateShutError) return this.gateShut(log, error);
      throw error;
    }
    const listened = await listening;
    const { permit, value: claim } = taken;
    if (permit && claim.result === "ok" && hold) {
      return this.callClaimed({ ...inHand, listened, permit, previous: claim.previous, hold });
    }
    await permit?.release();
    if (claim.result === "claimed") return this.parkOrWait(request, attempt, message, log);
    if (claim.result === "stale") return this.dropStale(attempt, log);
    if (claim.result !== "view") throw new Error(`unexpected claim result ${claim.result}`);
    return this.decide(inHand, claim.view, listened);
  }

  /** What the long way decides from the first look at the record, up to the claim. */
  private async decide(
    inHand: MessageInHand,
    peeked: RequestView | "refused" | null,
    listened: boolean,
  ): Promise<Look> {
    const { message, request, log } = inHand;
    const { store } = this.deps;
    let current = peeked;
    if (current === "refused") {
      // The adapter could not get the broker's confirm in time and told its caller 503: the
      // broker took the message after all, but the caller will resubmit. Never process it.
      log.warn("submission refused to its caller; dead-lettered");
      await this.deadLetter.publish(message.content, "no_transaction", request.id, {
        error: "the submission was refused to its caller (no broker confirm in time)",
        attempts: 0,
      });
      return "ack";
    }
    if (!current) {
      // An accepted request whose record is gone (Redis lost its data, or retention passed
      // while it waited): the request carries what the record needs, so write it again.
      await store.rebuild(metaOfRequest(request));
      current = await store.peek(request.id);
      if (!current || current === "refused") throw new Error("transaction record not rebuilt");
      log.warn("transaction record was missing; rebuilt from the request");
    }
    if (current.answer) {
      // The backend already answered an earlier copy, whose worker could not finish publishing
      // (broker lost, channel closed, crash): publish that answer, never call again. Its
      // outcome may be stored already (a sync caller's, stored with the answer): the answer
      // stays beside it until the response worker has stored the final response.
      await this.answers.publish(message.content, request.id, current.answer, current.deadLettered);
      log.info("answer recorded by an earlier attempt; published again");
      return "ack";
    }
    if (isTerminal(current.state) || current.processedAt !== null) {
      // A cancel's own notice may have been lost between Redis and the broker: repeat it.
      if (current.state === "cancelled") this.notice(request.id, "cancelled");
      log.info({ state: current.state }, "already processed; skipped");
      return "ack";
    }
    // Checked here too, so a message that expired in the queue does not wait for a slot; the
    // check that counts is the one right before the call. Only a message nobody claimed yet
    // expires here: one whose worker died mid-call may have reached the backend.
    if (this.expired(request) && current.state === "accepted") {
      return this.expireUnclaimed(inHand, listened);
    }
    return this.claimAndCall(inHand, listened, current.state === "accepted");
  }

  /**
   * Waits for the gate and a slot, then claims the message (taking over a lapsed claim) and
   * calls. `expiring`: the message was never claimed, so its expiry ends the wait; a message
   * another worker claimed may have reached the backend and is called once that claim lapses,
   * expired or not (its wait ended by the expiry, it would be ended `expired`: never sent).
   */
  private async claimAndCall(
    inHand: MessageInHand,
    listened: boolean,
    expiring: boolean,
  ): Promise<Look> {
    const { message, request, attempt, log, gone, waits } = inHand;
    const { store } = this.deps;
    let permit: CallPermit;
    try {
      // The gate (windows, pause) and an in-flight slot; the rate token comes right before the call.
      const ends = expiring ? waits.signal() : AbortSignal.any([this.deps.shutdown, gone]);
      permit = await this.traces.step(request.id, "sluice.limit_wait", () =>
        this.deps.guard(request, ends),
      );
    } catch (error) {
      // The delivery's channel closed while it waited for a slot: the broker has it again.
      if (gone.aborted) return "requeue";
      if (waits.expiryFired && this.expired(request)) {
        return this.expireUnclaimed(inHand, listened);
      }
      if (error instanceof GateShutError) return this.gateShut(log, error);
      throw error;
    }
    let claim: Awaited<ReturnType<TransactionStore["transition"]>>;
    const claimMs = this.deps.backend.timeoutMs + CLAIM_SLACK_MS;
    const hold = new ClaimHold(
      store,
      metaOfRequest(request),
      randomUUID(),
      claimMs,
      performance.now(),
    );
    try {
      // A claim that lapsed (its worker died) is taken over: that worker's copy is this one.
      claim = await store.transition(request.id, ["accepted", "processing"], "processing", {
        claimMs,
        token: hold.token,
        attempt,
      });
    } catch (error) {
      await permit.release();
      throw error;
    }
    if (claim.result === "claimed") {
      await permit.release();
      return this.parkOrWait(request, attempt, message, log);
    }
    if (claim.result === "stale") {
      await permit.release();
      return this.dropStale(attempt, log);
    }
    if (claim.result === "processed") {
      // The lapsed claim's worker recorded the backend's answer after this copy's look (and
      // died before its ack, or its answer still waits for the response worker): that answer
      // is published, as for any copy that finds it, and the backend is not called again.
      await permit.release();
      return this.decide(inHand, await store.peek(request.id), listened);
    }
    if (claim.result !== "ok") {
      await permit.release();
      // Cancelled meanwhile, or already finished.
      if (claim.previous === "cancelled") this.notice(request.id, "cancelled");
      log.info({ state: claim.previous, result: claim.result }, "not claimed; skipped");
      return "ack";
    }
    const previous = claim.previous ?? "accepted";
    return this.callClaimed({ ...inHand, listened, permit, previous, hold });
  }

  /** Calls the backend for a message this worker holds the slot and the claim of. */
  private async callClaimed(claimed: ClaimedMessage): Promise<Settlement> {
    const { message, request, attempt, listened, log, gone, waits, permit, previous, hold } =
      claimed;
    const claimMs = this.deps.backend.timeoutMs + CLAIM_SLACK_MS;
    // The claim lasts as long as this worker holds the message, however long recording the
    // answer takes through an outage: another copy may take it over only if this worker died
    // (or stopped long enough for it to lapse: then the renewal finds it lost and stops).
    const keeper = setInterval(
      () =>
        void hold.renew(claimMs).then(
          (held) => held || clearInterval(keeper),
          () => undefined,
        ),
      Math.max(1_000, Math.floor(CLAIM_SLACK_MS / 2)),
    );
    keeper.unref();
    try {
      if (listened) this.notice(request.id, "processing");
      // A claim taken over from a worker that died mid-call may have reached the backend:
      // such a message is not "never sent", so it cannot end `expired`.
      const mayExpire = previous === "accepted";
      const calls = callsBefore(message);
      hold.called = calls > 0 || !mayExpire;
      return await this.call(
        request,
        attempt,
        message,
        log,
        permit,
        gone,
        mayExpire && waits,
        calls,
        hold,
      );
    } finally {
      clearInterval(keeper);
      await permit.release();
    }
  }

  /**
   * A message that waited while its backend was paused or its window closed goes back to its
   * queue untouched, at once: its consumers are being cancelled, so the broker keeps it for
   * when the gate opens. Thrown on as a failure, it would be tried again for about a minute.
   */
  private gateShut(log: MessageLog, error: GateShutError): Settlement {
    log.info({ reason: error.message }, "handed back before the call (backend gate shut)");
    return "requeue";
  }

  /**
   * A delivery older than the retry copy parked since (see `retryLater`): the original, back
   * because its channel closed before its ack, or a copy parked beside another worker's claim.
   * The parked copy carries the message on, after its backoff; called here, this one would
   * skip the backoff and count no attempt.
   */
  private dropStale(attempt: number, log: MessageLog): Settlement {
    log.info({ attempt }, "a later attempt of the message is parked; this copy is dropped");
    return "ack";
  }

  /**
   * Ends `expired` a message nobody claimed yet. A message another worker claimed is not
   * expired: that worker may have reached the backend. Its copy here may be the only one left
   * (the broker hands a dead worker's delivery out again while that worker's claim still
   * lasts), so it waits for that claim like any copy: parked (or, ordered, in line) until the
   * claim ends, then taken over and called should the claim have lapsed.
   *
   * The claim lasts `CLAIM_SLACK_MS` and is not renewed: from it to the answer's record there
   * are only Redis commands (on the connection a renewal would take), the record is fenced by
   * the claim's token (a worker whose claim was taken over keeps nothing), and this claim never
   * calls the backend (marked so, a taker judges the expiry itself). Once the answer is
   * recorded no copy calls the backend, claim or not.
   */
  private async expireUnclaimed(inHand: MessageInHand, listened: boolean): Promise<Look> {
    const { message, request, attempt, log } = inHand;
    const { store } = this.deps;
    const hold = new ClaimHold(
      store,
      metaOfRequest(request),
      randomUUID(),
      CLAIM_SLACK_MS,
      performance.now(),
    );
    const claimed = await store.transition(request.id, ["accepted"], "processing", {
      claimMs: CLAIM_SLACK_MS,
      token: hold.token,
      // Taken over should this worker stand still past the claim, the message is known never
      // to have been sent: the taker judges its expiry, instead of calling it as one that
      // may have reached the backend.
      by: EXPIRY_CLAIM,
    });
    if (claimed.result === "claimed") return this.parkOrWait(request, attempt, message, log);
    if (claimed.result !== "ok") {
      // Ended meanwhile, or its record gone or refused: decided from the record as it is now.
      return this.decide(inHand, await store.peek(request.id), listened);
    }
    if (listened) this.notice(request.id, "processing");
    await this.expire(message, request, log, hold);
    return "ack";
  }

  /** Whether the request is past its service's `expireAfter` by the worker's clock. */
  private expired(request: RequestMessage): boolean {
    return request.expiresAt !== null && this.clock.now() > request.expiresAt;
  }

  /**
   * Ends a claimed request past its expiry: `expired` when it never reached the backend. One
   * whose earlier call failed transiently (`calls` made) may have reached it, a timed-out call
   * above all: `expired` would tell its caller the backend never saw it, so the expiry ends its
   * retries instead, as `failed`.
   */
  private async expire(
    message: ConsumeMessage,
    request: RequestMessage,
    log: MessageLog,
    /** This worker's claim on the message: the outcome is recorded only under it. */
    hold: ClaimHold,
    permit?: CallPermit,
    calls = callsBefore(message),
  ) {
    // A delivery handed back as it came (a shutdown during a call or an in-place retry) carries
    // no count of the calls made: the record's mark says so instead.
    if (calls === 0 && (await this.deps.store.wasCalled(request.id))) calls = 1;
    if (calls > 0) {
      const error = `the message's expireAfter passed before it could be tried again, after ${calls} failed call${calls === 1 ? "" : "s"} that may have reached the backend`;
      const ended = await this.answers.record(
        message,
        request,
        log,
        {
          responses: responsesOf(request, [], "failed", {
            code: "BackendFailed",
            message: error,
          }),
          deadLetter: "retries_exhausted",
          deadLetterDetail: { error, attempts: calls },
        },
        hold,
        true,
        permit,
      );
      if (ended) {
        log.error(
          { expiresAt: request.expiresAt, calls },
          "expired between retries; dead-lettered",
        );
      }
      return;
    }
    const ended = await this.answers.record(
      message,
      request,
      log,
      {
        responses: responsesOf(request, [], "expired", {
          code: "Expired",
          message: "the message expired before it was sent to the backend",
        }),
        deadLetter: null,
      },
      hold,
      false,
      permit,
    );
    // Taken over by another worker, or ended meanwhile: not this worker's outcome to count.
    if (!ended) return;
    // Not a dead letter, so nothing else counts it: the operator's only sign of requests that
    // waited too long to be sent (SluiceMessagesExpired).
    metrics.messagesExpired.inc({ backend: this.deps.backend.name });
    log.info({ expiresAt: request.expiresAt }, "expired before it reached the backend");
  }

  /**
   * Gives a claimed message back untouched: its claim is released so that the copy the
   * broker hands out next (here or on another worker) can be claimed at once. `called`: a
   * call of it (this one or an earlier attempt's) may have reached the backend.
   */
  private async handBack(
    request: RequestMessage,
    hold: ClaimHold,
    called = false,
  ): Promise<Settlement> {
    await hold.release(called).catch(() => undefined);
    return "requeue";
  }

  private async call(
    request: RequestMessage,
    attempt: number,
    message: ConsumeMessage,
    log: MessageLog,
    permit: CallPermit,
    gone: AbortSignal,
    /** The message's expiry, unless it may have reached the backend before (then `false`). */
    expiry: MessageWaits | false,
    /** Calls of this message made before this one (by earlier attempts). */
    calls: number,
    hold: ClaimHold,
  ): Promise<Settlement> {
    const { backend, translator, shutdown } = this.deps;
    /** The backend's `timeout`, counted from the call's start: no wait before it eats into it. */
    let deadline: Deadline | null = null;
    let answers: BackendResponse[] | null = null;
    let failure: unknown = null;
    let started: bigint | null = null;
    /** The worker's clock at the last look: when the call was sent (logged with its outcome). */
    let sentAt: number | null = null;
    /** The call's rate token's grant time on the limiter's clock (logged with its outcome). */
    let tokenAt: number | null = null;
    const trace = this.traces.traceOf(request.id);
    const span = trace.recording
      ? startSpan("sluice.backend_call", SpanKind.CLIENT, trace.context, {
          ...messageAttributes({ id: request.id, backend: backend.name }),
          "sluice.attempt": attempt,
        })
      : null;
    const callTrace = span ? contextWith(trace.context, span) : trace.context;
    try {
      // Every wait comes before the last look: a rate token, then expiry, the delivery's
      // channel and shutdown are checked with nothing left between the check and the call.
      // Combined only when there is a wait (a rate limit): most calls have none. The backend's
      // timeout bounds the call alone: a token that came late must still leave the call all
      // of it, or the call is cut short after the backend got it and is then made again.
      const waits = () =>
        AbortSignal.any(expiry ? [shutdown, gone, expiry.expiry()] : [shutdown, gone]);
      try {
        if (span) {
          tokenAt = await inSpan(
            "sluice.rate_limit_wait",
            SpanKind.INTERNAL,
            callTrace,
            messageAttributes({ id: request.id, backend: backend.name }),
            () => permit.beforeCall(waits),
          );
        } else {
          tokenAt = await permit.beforeCall(waits);
        }
      } catch (error) {
        if (error instanceof GateShutError) {
          await this.handBack(request, hold, calls > 0);
          return this.gateShut(log, error);
        }
        // A wait cut short by the expiry is judged at the last look below; any other failure
        // to get a token means nothing reached the backend: a retry.
        if (!(expiry && expiry.expiryFired && this.expired(request))) {
          failure =
            error instanceof BackendUnavailableError
              ? error
              : new BackendUnavailableError("no rate-limit token in time", { cause: error });
        }
      }
      // The claim may have lapsed while this worker waited or stood still (paused, starved,
      // Redis out of reach) and another worker taken the message over: then that one calls.
      // Asked before the look at the channel and shutdown below: it may wait for Redis, and the
      // channel may close meanwhile.
      const held = failure ? true : await hold.stillHeld().catch(() => null);
      if (shutdown.aborted || gone.aborted) {
        log.info(
          { channelClosed: gone.aborted },
          "handed back before the call (shutdown or delivery lost)",
        );
        return await this.handBack(request, hold, calls > 0);
      }
      if (!failure) {
        if (held === false) {
          log.warn("claim taken over by another worker before the call; this copy is dropped");
          return "ack";
        }
        if (held === null) {
          // Whether it still holds the claim cannot be told: nothing was called, so hand back.
          log.warn("claim could not be confirmed before the call (Redis); handed back");
          return await this.handBack(request, hold, calls > 0);
        }
        sentAt = this.clock.now();
        if (expiry && request.expiresAt !== null && sentAt > request.expiresAt) {
          await this.expire(message, request, log, hold, permit, calls);
          return "ack";
        }
        started = process.hrtime.bigint();
        // From here the backend may have the message, whatever comes of the call.
        hold.called = true;
        const callDeadline = new Deadline(shutdown, backend.timeoutMs);
        deadline = callDeadline;
        answers = await callDeadline.within(
          // A translator module's `call` may answer without a promise.
          Promise.resolve(
            translator.call(request, {
              signal: callDeadline.signal,
              idempotencyKey: request.idempotencyKey ?? request.id,
              attempt,
              traceHeaders: span
                ? headersOf(callTrace)
                : { ...this.traces.traceHeadersOf(request.id) },
              traceContext: callTrace,
            }),
          ),
          TRANSLATOR_GRACE_MS,
          () =>
            new BackendTimeoutError(
              `backend ${backend.name} did not answer: timed out after ${backend.timeoutMs} ms, and the translator did not give up the call`,
            ),
        );
      }
    } catch (error) {
      failure = error;
    } finally {
      deadline?.dispose();
    }
    const decision = decideCall(answers ? { answers } : { failure }, {
      attempt,
      retry: backend.retry,
      ordered: isOrdered(backend.ordering),
      shuttingDown: shutdown.aborted,
    });
    const outcome = decision.outcome;
    const backendStatus =
      answers?.[0]?.status ??
      (failure as { response?: BackendResponse } | null)?.response?.status ??
      (failure as { backendStatus?: number } | null)?.backendStatus;
    if (span) {
      endSpan(span, outcome === "completed" || outcome === "rejected" ? undefined : failure, {
        "sluice.outcome": outcome,
        ...(backendStatus ? { "http.response.status_code": backendStatus } : {}),
      });
    }
    if (started !== null) {
      metrics.backendCalls.inc({ backend: backend.name, outcome });
      metrics.backendCallDuration.observe(
        { backend: backend.name },
        Number(process.hrtime.bigint() - started) / 1e9,
      );
    }

    // From here on the backend has spoken: its answer is kept in the record first, so no copy
    // of the message calls the backend again, then published through any outage.
    switch (decision.action) {
      case "complete":
        await this.answers.record(
          message,
          request,
          log,
          {
            responses: responsesOf(request, decision.answers, "completed", null),
            deadLetter: null,
          },
          hold,
          true,
          permit,
        );
        log.info(
          {
            responses: decision.answers.length,
            attempt,
            sentAt,
            tokenAt,
            expiresAt: request.expiresAt,
          },
          "backend answered",
        );
        return "ack";
      case "reject":
        await this.answers.record(
          message,
          request,
          log,
          {
            responses: responsesOf(request, [decision.response], "rejected", decision.error),
            deadLetter: null,
          },
          hold,
          true,
          permit,
        );
        log.info(
          {
            status: decision.response.status,
            attempt,
            sentAt,
            tokenAt,
            expiresAt: request.expiresAt,
          },
          "backend rejected the message",
        );
        return "ack";
      case "hand-back":
        // Shutdown cut the call short: the backend may have it (window 2).
        return await this.handBack(request, hold, calls > 0 || started !== null);
      case "retry": {
        const made = calls + (started === null ? 0 : 1);
        if (
          expiry &&
          request.expiresAt !== null &&
          this.clock.now() + decision.delayMs > request.expiresAt
        ) {
          // The next try would come after the expiry, when the message may not be sent: it ends
          // now as it would then (parked, or holding an ordered queue, only to end so).
          this.noteFailure(request, attempt, failure, "no retry before its expireAfter");
          await this.expire(message, request, log, hold, permit, made);
          return "ack";
        }
        this.noteFailure(
          request,
          attempt,
          failure,
          decision.inPlace
            ? `retrying in place in ${decision.delayMs} ms`
            : `retry in ${decision.delayMs} ms`,
        );
        if (decision.inPlace) {
          return await this.retryInPlace(
            request,
            decision,
            message,
            log,
            permit,
            gone,
            expiry,
            made,
            hold,
          );
        }
        return await this.retryLater(request, attempt, decision, message, log, made, hold);
      }
      case "fail":
        if (decision.reason === "backend_redirect") {
          const redirect = failure as BackendRedirectError;
          log.error(
            { status: redirect.backendStatus, location: redirect.location, err: redirect.message },
            "backend answered with a redirect, which is not followed; dead-lettered",
          );
        } else if (decision.reason === "translator_error") {
          log.error({ err: decision.cause }, "translator failed on the message; dead-lettered");
          this.noteFailure(request, attempt, failure, "dead-lettered (translator error)");
        } else {
          log.error({ attempt, err: decision.cause }, "retries exhausted; dead-lettered");
          this.noteFailure(request, attempt, failure, "dead-lettered (retries exhausted)");
        }
        await this.answers.record(
          message,
          request,
          log,
          {
            responses: responsesOf(
              request,
              decision.response ? [decision.response] : [],
              "failed",
              decision.error,
            ),
            deadLetter: decision.reason,
            ...(decision.reason === "backend_redirect"
              ? {}
              : { deadLetterDetail: { error: decision.cause, attempts: attempt } }),
          },
          hold,
          calls > 0 || started !== null,
          permit,
        );
        return "ack";
    }
  }

  /**
   * An ordered backend's message keeps its place: through a delay queue, later messages of the
   * same key would overtake it. It waits here, holding its queue (prefetch 1), then calls again.
   */
  private async retryInPlace(
    request: RequestMessage,
    decision: Extract<CallDecision, { action: "retry" }>,
    message: ConsumeMessage,
    log: MessageLog,
    permit: CallPermit,
    gone: AbortSignal,
    expiry: MessageWaits | false,
    /** Calls of the message made so far. */
    calls: number,
    hold: ClaimHold,
  ): Promise<Settlement> {
    const { backend } = this.deps;
    log.warn(
      { attempt: decision.nextAttempt - 1, delayMs: decision.delayMs, err: decision.cause },
      "backend unavailable; retrying in place",
    );
    const { shutdown } = this.deps;
    try {
      // The claim must outlast the wait and the next call, or another worker could take it.
      const held = await hold.renew(decision.delayMs + backend.timeoutMs + CLAIM_SLACK_MS);
      // The slot bounds the calls open at the backend, and none is open while this one waits:
      // held, it would stop the other partitions (maxInFlight below partitions) as long.
      await permit.release();
      if (!held) {
        // Taken over by another worker while this call ran: that one goes on with it.
        log.warn("claim taken over by another worker; no retry here");
        return "ack";
      }
      await abortableSleep(decision.delayMs, AbortSignal.any([shutdown, gone]));
    } catch {
      return await this.handBack(request, hold, calls > 0);
    }
    let next: CallPermit;
    try {
      next = await this.deps.guard(
        request,
        AbortSignal.any(expiry ? [shutdown, gone, expiry.expiry()] : [shutdown, gone]),
      );
    } catch (error) {
      if (expiry && expiry.expiryFired && this.expired(request)) {
        await this.expire(message, request, log, hold, undefined, calls);
        return "ack";
      }
      await this.handBack(request, hold, calls > 0);
      if (error instanceof GateShutError) return this.gateShut(log, error);
      // Shutdown, the delivery lost, or Redis out of reach: nothing was called for this try.
      return "requeue";
    }
    try {
      return await this.call(
        request,
        decision.nextAttempt,
        message,
        log,
        next,
        gone,
        expiry,
        calls,
        hold,
      );
    } finally {
      await next.release();
    }
  }

  /** Parks the message in the delay queue of its tier; it comes back as attempt `nextAttempt`. */
  private async retryLater(
    request: RequestMessage,
    attempt: number,
    decision: Extract<CallDecision, { action: "retry" }>,
    message: ConsumeMessage,
    log: MessageLog,
    /** Calls of the message made so far. */
    calls: number,
    hold: ClaimHold,
  ): Promise<Settlement> {
    // The claim is released under its token: one another worker took over is left alone. With
    // it, the parked copy's attempt: the broker confirmed that copy, so a delivery of this
    // attempt or an earlier one (this delivery, back if its channel closes before the ack, or a
    // copy parked meanwhile beside the claim) is dropped, not called before the backoff.
    const release = () => hold.release(calls > 0, decision.nextAttempt);
    // A claim taken over while this call ran is the other worker's to go on with: a retry copy
    // parked from here would be called beside it. Redis out of reach: parked as before.
    const held = await hold.renew(this.deps.backend.timeoutMs + CLAIM_SLACK_MS).catch(() => true);
    if (!held) {
      // Still notes the call this worker made (the fenced release does, and changes nothing else).
      await release().catch(() => undefined);
      log.warn({ attempt, err: decision.cause }, "claim taken over by another worker; no retry");
      return "ack";
    }
    // The copy is parked while this worker still holds the claim and the delivery. A publish
    // the broker did not confirm (a confirm timeout, a refused publish) is sent again here:
    // thrown, the delivery would be handled again from the start and the backend called at
    // once, before the delay and without this call counted against `retry.attempts`.
    try {
      await this.answers.untilRecorded(
        log,
        () =>
          this.publishRetryCopy(request, message, decision.delayMs, decision.nextAttempt, calls),
        "could not park the message for its retry; retrying the publish",
      );
    } catch {
      // Shutdown before the broker took the copy: the delivery goes back with the claim held
      // for the delay, so the copy redelivered meanwhile is parked until then, not called.
      await hold.renew(decision.delayMs + CLAIM_SLACK_MS).catch(() => undefined);
      return "requeue";
    }
    // Then the claim is released, so the copy is claimable when it comes back (one back before
    // that is parked once more). A call made so far may have reached the backend, so the
    // message is no longer cancellable. Should this never succeed (shutdown), the claim lapses.
    await this.answers
      .untilRecorded(
        log,
        release,
        "could not release the claim after parking the message; retrying",
      )
      .catch(() => undefined);
    log.warn(
      { attempt, delayMs: decision.delayMs, err: decision.cause },
      "backend unavailable; retry scheduled",
    );
    return "ack";
  }

  /**
   * Tells hub listeners of a state change without waiting for the broker: the notice goes out
   * on the same channel before any response of the message, so it keeps its place in line.
   */
  private notice(id: string, state: NoticeState): void {
    const { broker, publisher, names, log } = this.deps;
    void new StateNotices(broker, publisher, names, log).publish(id, state);
  }

  /**
   * Another worker holds the claim: a duplicate copy, or the redelivery of a message whose
   * worker died mid-call. It is parked until that claim is finished or has lapsed. An ordered
   * backend's message waits here instead, holding its queue: a delay queue returns it to the
   * backend's plain queue, behind the messages of its key accepted after it (the standby that
   * takes over an ordered queue from a dead worker gets that worker's message first).
   */
  private async parkOrWait(
    request: RequestMessage,
    attempt: number,
    message: ConsumeMessage,
    log: MessageLog,
  ): Promise<Look> {
    if (isOrdered(this.deps.backend.ordering)) {
      log.info("claimed by another worker; waiting in line until its claim ends");
      return CLAIM_HELD;
    }
    await this.park(request, attempt, message);
    log.info("claimed by another worker; parked until its claim ends");
    return "ack";
  }

  /** Puts a message back through the shortest retry delay queue, keeping its attempt count. */
  private async park(
    request: RequestMessage,
    attempt: number,
    message: ConsumeMessage,
  ): Promise<void> {
    const shortest = Math.min(...this.deps.backend.retry.backoffMs);
    await this.publishRetryCopy(request, message, shortest, attempt, callsBefore(message));
  }

  /**
   * A copy of the delivery into the delay queue of `delayMs`, coming back as `attempt` with
   * `calls` made so far. Mandatory: routed to no queue (the delay queue deleted), the copy would
   * be dropped yet confirmed and the message lost once acked, so unroutable is a failed publish.
   */
  private publishRetryCopy(
    request: RequestMessage,
    message: ConsumeMessage,
    delayMs: number,
    attempt: number,
    calls: number,
  ): Promise<void> {
    const { backend, broker, publisher, names } = this.deps;
    return broker.publish(publisher, "", names.retryQueue(backend.name, delayMs), message.content, {
      mandatory: true,
      messageId: request.id,
      headers: {
        ...traceHeadersIn(message.properties.headers),
        [ENQUEUED_AT_HEADER]: Date.now(),
        [HEADERS.attempt]: attempt,
        [HEADERS.calls]: calls,
      },
    });
  }

  private noteFailure(
    request: RequestMessage,
    attempt: number,
    failure: unknown,
    outcome: string,
  ): void {
    void this.deps.failures?.note(this.deps.backend.name, {
      id: request.id,
      at: this.clock.now(),
      attempt,
      error: (failure as Error)?.message ?? String(failure),
      outcome,
    });
  }
}
