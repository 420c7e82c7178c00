// The call of a claimed message's backend through its translator: the claim kept while the
// worker holds the message, the last look before the call (rate token, expiry, channel,
// shutdown, claim), and the outcome turned into an answer, a retry or a dead letter.

import { eitherSignal } from "../../shared/runtime/either-signal";
import type { ConsumeMessage } from "amqplib";
import type { RequestMessage } from "../../shared/protocol/envelope";
import {
  BackendRedirectError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
} from "../../shared/protocol/errors";
import { metrics } from "../../shared/observability/metrics";
import { shownCallbackTarget } from "../../shared/delivery/callback-target";
import type { StateNotices } from "../../shared/protocol/state-notice";
import type { State } from "../../shared/store/transaction-store";
import type { Clock } from "../../shared/runtime/clock";
import { isOrdered } from "../../shared/broker/ordering";
import { messageSizeLimit, messageSizeLimitName } from "../../shared/broker/message-size-limit";
import { DEFAULT_AMQP_MAX_MESSAGE_BYTES } from "../../shared/config/config";
import {
  contextWith,
  type Context,
  endSpan,
  headersOf,
  inSpan,
  messageAttributes,
  SpanKind,
  type Span,
  startSpan,
} from "../../shared/observability/tracing";
import type { Settlement } from "../../shared/broker/settling-consumer";
import { abortableSleep } from "../abortable-sleep";
import { CLAIM_SLACK_MS, keepClaim, type ClaimHold } from "./claim-hold";
import { callsMade, nextTry, type CallTry, type TryRecord } from "./call-try";
import { responsesOf, type AnswerRecorder } from "./answer-recorder";
import { decideCall, type CallDecision } from "./call-decision";
import { GateShutError, type CallPermit } from "../backend-guard";
import type { MessageLog } from "./message-log";
import type { MessageTraces } from "./message-traces";
import type { MessageWaits } from "./message-waits";
import type { ProcessorDeps } from "./processor-deps";
import { Deadline } from "../../shared/runtime/stall-aware-deadline";
import { callsBefore, type RetryParking } from "./retry-parking";
import type { MessageExpiry } from "./message-expiry";

/**
 * How long a translator may take to settle once its call's signal aborted (the timeout, or
 * shutdown), before the worker gives the call up as timed out: built-in translators settle at once.
 */
const TRANSLATOR_GRACE_MS = 1_000;

/** A delivery being looked at: what each step up to the call takes along. */
export interface MessageInHand {
  message: ConsumeMessage;
  request: RequestMessage;
  attempt: number;
  log: MessageLog;
  /** Aborted when the delivery's channel closed: the broker has the message again. */
  gone: AbortSignal;
  waits: MessageWaits;
}

/** A message this worker holds the in-flight slot and the claim of, ready for its call. */
export interface ClaimedMessage extends MessageInHand {
  /** Whether the client has hub listeners (a `processing` notice is sent). */
  listened: boolean;
  permit: CallPermit;
  /** The state the claim took the record from. */
  previous: State;
  hold: ClaimHold;
}

/**
 * A message that waited while its backend was paused or its window closed goes back to its
 * queue untouched, at once: its consumers are being cancelled, so the broker keeps it for
 * when the gate opens. Thrown on as a failure, it would be tried again for about a minute.
 */
export function gateShut(log: MessageLog, error: GateShutError): Settlement {
  log.info({ reason: error.message }, "handed back before the call (backend gate shut)");
  return "requeue";
}

/** The try's span, when the message's trace is recorded, and the context its call carries. */
interface CallTrace {
  span: Span | null;
  context: Context;
}

export class BackendCall {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly clock: Clock,
    private readonly traces: MessageTraces,
    private readonly notices: StateNotices,
    private readonly answers: AnswerRecorder,
    private readonly expiries: MessageExpiry,
    private readonly parking: RetryParking,
  ) {}

  /** Calls the backend for a message this worker holds the slot and the claim of. */
  async callClaimed(claimed: ClaimedMessage): Promise<Settlement> {
    const { message, request, listened, log, gone, waits, permit, previous, hold } = claimed;
    // A delivery handed back by a worker that could not park its retry copy carries that
    // attempt's counts: the record's, kept then, are the message's.
    const attempt = Math.max(claimed.attempt, hold.reached.attempt);
    const stopKeeping = keepClaim(hold, this.deps.backend.timeoutMs + CLAIM_SLACK_MS);
    try {
      if (listened) void this.notices.publish(request.id, "processing");
      // A claim taken over from a worker that died mid-call may have reached the backend:
      // such a message is not "never sent", so it cannot end `expired`.
      const mayExpire = previous === "accepted";
      const calls = Math.max(callsBefore(message), hold.reached.calls);
      // The record's own mark counts too (an earlier attempt handed back after a call carries
      // no count of it): a renewal that finds the record lost writes it again with the mark.
      hold.called = hold.called || calls > 0 || !mayExpire;
      return await this.call({
        request,
        message,
        log,
        hold,
        gone,
        expiry: mayExpire && waits,
        attempt,
        permit,
        calls,
      });
    } finally {
      stopKeeping();
      await permit.release();
    }
  }

  /** One try: the wait and the last look, the call, then what its outcome decides. */
  private async call(t: CallTry): Promise<Settlement> {
    const trace = this.traceOf(t);
    const record: TryRecord = {
      tokenAt: null,
      sentAt: null,
      started: null,
      answers: null,
      failure: null,
    };
    try {
      const settledBefore =
        (await this.waitForToken(t, trace, record)) ?? (await this.lastLook(t, record));
      if (settledBefore) return settledBefore;
      if (!record.failure) record.answers = await this.send(t, trace, record);
    } catch (error) {
      record.failure = error;
    }
    const decision = this.classify(t, trace, record);
    return await this.settle(t, decision, record);
  }

  private traceOf(t: CallTry): CallTrace {
    const trace = this.traces.traceOf(t.request.id);
    const span = trace.recording
      ? startSpan("sluice.backend_call", SpanKind.CLIENT, trace.context, {
          ...messageAttributes({ id: t.request.id, backend: this.deps.backend.name }),
          "sluice.attempt": t.attempt,
        })
      : null;
    return { span, context: span ? contextWith(trace.context, span) : trace.context };
  }

  /**
   * Waits for the call's rate token. Every wait comes before the last look: a rate token, then
   * expiry, the delivery's channel and shutdown are checked with nothing left between the check
   * and the call. Returns a settlement when the backend's gate shut meanwhile.
   */
  private async waitForToken(
    t: CallTry,
    trace: CallTrace,
    record: TryRecord,
  ): Promise<Settlement | undefined> {
    const { backend } = this.deps;
    const draining = this.deps.draining ?? this.deps.shutdown;
    const { request, permit, gone, expiry } = t;
    // Combined only when there is a wait (a rate limit): most calls have none. The backend's
    // timeout bounds the call alone: a token that came late must still leave the call all
    // of it, or the call is cut short after the backend got it and is then made again.
    const waits = () => (expiry ? expiry.signal() : eitherSignal(draining, gone));
    try {
      if (trace.span) {
        record.tokenAt = await inSpan(
          "sluice.rate_limit_wait",
          SpanKind.INTERNAL,
          trace.context,
          messageAttributes({ id: request.id, backend: backend.name }),
          () => permit.beforeCall(waits),
        );
      } else {
        record.tokenAt = await permit.beforeCall(waits);
      }
    } catch (error) {
      if (error instanceof GateShutError) {
        await this.handBack(t.hold, t.calls > 0);
        return gateShut(t.log, error);
      }
      // A wait cut short by the expiry is judged at the last look below; any other failure
      // to get a token means nothing reached the backend: a retry.
      if (!(expiry && expiry.expiryFired && this.expiries.expired(request))) {
        record.failure =
          error instanceof BackendUnavailableError
            ? error
            : new BackendUnavailableError("no rate-limit token in time", { cause: error });
      }
    }
    return undefined;
  }

  /**
   * The last look before the call: the claim, shutdown, the delivery's channel and the
   * expiry. Returns a settlement when the message is not to be called by this worker now.
   */
  private async lastLook(t: CallTry, record: TryRecord): Promise<Settlement | undefined> {
    // Draining: nothing more is called, and this message goes back for another worker.
    const draining = this.deps.draining ?? this.deps.shutdown;
    const { request, log, hold, gone, expiry } = t;
    // The claim may have lapsed while this worker waited or stood still (paused, starved,
    // Redis out of reach) and another worker taken the message over: then that one calls.
    // Asked before the look at the channel and shutdown below: it may wait for Redis, and the
    // channel may close meanwhile.
    const held = record.failure ? true : await hold.stillHeld().catch(() => null);
    if (draining.aborted || gone.aborted) {
      log.info(
        { channelClosed: gone.aborted },
        "handed back before the call (shutdown or delivery lost)",
      );
      return await this.handBack(hold, t.calls > 0);
    }
    if (record.failure) return undefined;
    if (held === false) {
      log.warn("claim taken over by another worker before the call; this copy is dropped");
      return "ack";
    }
    if (held === null) {
      // Whether it still holds the claim cannot be told: nothing was called, so hand back.
      log.warn("claim could not be confirmed before the call (Redis); handed back");
      return await this.handBack(hold, t.calls > 0);
    }
    record.sentAt = this.clock.now();
    if (expiry && request.expiresAt !== null && record.sentAt > request.expiresAt) {
      await this.expiries.expire(t, t.calls, t.permit);
      return "ack";
    }
    return undefined;
  }

  /** Makes the call through the translator, bounded by the backend's timeout. */
  private async send(t: CallTry, trace: CallTrace, record: TryRecord): Promise<BackendResponse[]> {
    const { backend, translator, shutdown } = this.deps;
    const { request } = t;
    record.started = process.hrtime.bigint();
    // From here the backend may have the message, whatever comes of the call.
    t.hold.called = true;
    // The backend's `timeout`, counted from the call's start: no wait before it eats into it.
    // The translator is handed this deadline and times the call with it, not with one more.
    const deadline = new Deadline(shutdown, backend.timeoutMs);
    try {
      return await deadline.within(
        // A translator module's `call` may answer without a promise.
        Promise.resolve(
          translator.call(request, {
            signal: deadline.signal,
            deadline,
            idempotencyKey: request.idempotencyKey ?? request.id,
            attempt: t.attempt,
            traceHeaders: trace.span
              ? headersOf(trace.context)
              : { ...this.traces.traceHeadersOf(request.id) },
            traceContext: trace.context,
          }),
        ),
        TRANSLATOR_GRACE_MS,
        () =>
          new BackendTimeoutError(
            `backend ${backend.name} did not answer: timed out after ${backend.timeoutMs} ms, and the translator did not give up the call`,
          ),
      );
    } finally {
      deadline.dispose();
    }
  }

  /** Decides what the try's outcome calls for, and ends its span and measures the call. */
  private classify(t: CallTry, trace: CallTrace, record: TryRecord): CallDecision {
    const { backend, shutdown } = this.deps;
    const { answers, failure, started } = record;
    // The smaller of the operator's bound and the broker's own, once the broker refused a larger
    // message: published, an answer above it would close the channel on every try.
    const configured = this.deps.maxMessageBytes ?? DEFAULT_AMQP_MAX_MESSAGE_BYTES;
    const learned = this.deps.broker.maxMessageBytes ?? null;
    const maxMessageBytes = messageSizeLimit(configured, learned);
    const decision = decideCall(answers ? { answers } : { failure }, {
      attempt: t.attempt,
      retry: backend.retry,
      ordered: isOrdered(backend.ordering),
      shuttingDown: shutdown.aborted,
      maxMessageBytes,
      maxMessageLimit:
        maxMessageBytes < configured ? messageSizeLimitName(configured, learned) : undefined,
    });
    const outcome = decision.outcome;
    const backendStatus =
      answers?.[0]?.status ??
      (failure as { response?: BackendResponse } | null)?.response?.status ??
      (failure as { backendStatus?: number } | null)?.backendStatus;
    if (trace.span) {
      endSpan(trace.span, outcome === "completed" || outcome === "rejected" ? undefined : failure, {
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
    return decision;
  }

  /**
   * Carries the decision out. From here on the backend has spoken: its answer is kept in the
   * record first, so no copy of the message calls the backend again, then published through
   * any outage.
   */
  private async settle(t: CallTry, decision: CallDecision, record: TryRecord): Promise<Settlement> {
    const { request, log, permit, attempt } = t;
    const { sentAt, tokenAt } = record;
    switch (decision.action) {
      case "complete":
        await this.answers.record(
          t,
          {
            responses: responsesOf(request, decision.answers, "completed", null),
            deadLetter: null,
          },
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
          t,
          {
            responses: responsesOf(request, [decision.response], "rejected", decision.error),
            deadLetter: null,
          },
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
        log.warn(
          { backend: this.deps.backend.name, attempt },
          "call cut off by shutdown; handed back, to be made again (window 2)",
        );
        return await this.handBack(t.hold, callsMade(t, record) > 0);
      case "retry":
        return await this.retry(t, decision, record);
      case "fail":
        return await this.deadLetter(t, decision, record);
    }
  }

  /** A failed call to be tried again: in place (an ordered backend), or parked. */
  private async retry(
    t: CallTry,
    decision: Extract<CallDecision, { action: "retry" }>,
    record: TryRecord,
  ): Promise<Settlement> {
    const { request, expiry } = t;
    const { failure } = record;
    const made = callsMade(t, record);
    if (
      expiry &&
      request.expiresAt !== null &&
      this.clock.now() + decision.delayMs > request.expiresAt
    ) {
      // The next try would come after the expiry, when the message may not be sent: it ends
      // now as it would then (parked, or holding an ordered queue, only to end so).
      this.noteFailure(t, failure, "no retry before its expireAfter");
      await this.expiries.expire(t, made, t.permit);
      return "ack";
    }
    this.noteFailure(
      t,
      failure,
      decision.inPlace
        ? `retrying in place in ${decision.delayMs} ms`
        : `retry in ${decision.delayMs} ms`,
    );
    if (decision.inPlace) {
      return await this.retryInPlace(t, decision, made);
    }
    return await this.parking.retryLater(t, decision, made);
  }

  /** A call that is not to be tried again: its failure recorded as the message's answer. */
  private async deadLetter(
    t: CallTry,
    decision: Extract<CallDecision, { action: "fail" }>,
    record: TryRecord,
  ): Promise<Settlement> {
    const { request, log, permit, attempt } = t;
    const { failure } = record;
    // What the operator reads in the log, the dead letter and the last failed calls (the
    // runbook sends them there): a redirect's says where the backend pointed, the url to fix,
    // shown as a callback target is (its query's values and any user information hidden: a
    // token), as the log is kept longer and read more widely than the backend's answer.
    let error = decision.cause;
    if (decision.reason === "backend_redirect") {
      const redirect = failure as BackendRedirectError;
      const location = redirect.location === null ? null : shownCallbackTarget(redirect.location);
      log.error(
        { status: redirect.backendStatus, location, err: redirect.message },
        "backend answered with a redirect, which is not followed; dead-lettered",
      );
      if (location) error = `${error} (Location: ${location})`;
      this.noteFailure(t, error, "dead-lettered (redirect, not followed)");
    } else if (decision.reason === "translator_error") {
      log.error({ err: decision.cause }, "translator failed on the message; dead-lettered");
      this.noteFailure(t, failure, "dead-lettered (translator error)");
    } else {
      log.error({ attempt, err: decision.cause }, "retries exhausted; dead-lettered");
      this.noteFailure(t, failure, "dead-lettered (retries exhausted)");
    }
    await this.answers.record(
      t,
      {
        responses: responsesOf(
          request,
          decision.response ? [decision.response] : [],
          "failed",
          decision.error,
        ),
        deadLetter: decision.reason,
        deadLetterDetail: { error, attempts: attempt },
      },
      callsMade(t, record) > 0,
      permit,
    );
    return "ack";
  }

  /**
   * Gives a claimed message back untouched: its claim is released so that the copy the
   * broker hands out next (here or on another worker) can be claimed at once. `called`: a
   * call of it (this one or an earlier attempt's) may have reached the backend.
   */
  private async handBack(hold: ClaimHold, called: boolean): Promise<Settlement> {
    await hold.release(called).catch(() => undefined);
    return "requeue";
  }

  /**
   * An ordered backend's message keeps its place: through a delay queue, later messages of the
   * same key would overtake it. It waits here, holding its queue (prefetch 1), then calls again.
   */
  private async retryInPlace(
    t: CallTry,
    decision: Extract<CallDecision, { action: "retry" }>,
    /** Calls of the message made so far. */
    calls: number,
  ): Promise<Settlement> {
    const { backend } = this.deps;
    const draining = this.deps.draining ?? this.deps.shutdown;
    const { request, log, hold, gone, expiry } = t;
    log.warn(
      { attempt: decision.nextAttempt - 1, delayMs: decision.delayMs, err: decision.cause },
      "backend unavailable; retrying in place",
    );
    try {
      // The claim must outlast the wait and the next call, or another worker could take it.
      const held = await hold.renew(decision.delayMs + backend.timeoutMs + CLAIM_SLACK_MS);
      // The slot bounds the calls open at the backend, and none is open while this one waits:
      // held, it would stop the other partitions (maxInFlight below partitions) as long.
      await t.permit.release();
      if (!held) {
        // Taken over by another worker while this call ran: that one goes on with it.
        log.warn("claim taken over by another worker; no retry here");
        return "ack";
      }
      await abortableSleep(decision.delayMs, eitherSignal(draining, gone));
    } catch {
      return await this.handBack(hold, calls > 0);
    }
    let next: CallPermit;
    try {
      next = await this.deps.guard(
        request,
        expiry ? expiry.signal() : eitherSignal(draining, gone),
      );
    } catch (error) {
      if (expiry && expiry.expiryFired && this.expiries.expired(request)) {
        // The slot was given up for the wait: none is freed with the record.
        await this.expiries.expire(t, calls);
        return "ack";
      }
      await this.handBack(hold, calls > 0);
      if (error instanceof GateShutError) return gateShut(log, error);
      // Shutdown, the delivery lost, or Redis out of reach: nothing was called for this try.
      return "requeue";
    }
    try {
      return await this.call(nextTry(t, decision.nextAttempt, next, calls));
    } finally {
      await next.release();
    }
  }

  private noteFailure(t: CallTry, failure: unknown, outcome: string): void {
    void this.deps.failures?.note(this.deps.backend.name, {
      id: t.request.id,
      at: this.clock.now(),
      attempt: t.attempt,
      error: (failure as Error)?.message ?? String(failure),
      outcome,
    });
  }
}
