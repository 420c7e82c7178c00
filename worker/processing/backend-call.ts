// The call of a claimed message's backend through its translator: the claim kept while the
// worker holds the message, the last look before the call (rate token, expiry, channel,
// shutdown, claim), and the outcome turned into an answer, a retry or a dead letter.

import type { ConsumeMessage } from "amqplib";
import type { RequestMessage } from "../../shared/protocol/envelope";
import {
  BackendRedirectError,
  BackendTimeoutError,
  BackendUnavailableError,
  type BackendResponse,
} from "../../shared/protocol/errors";
import { metrics } from "../../shared/observability/metrics";
import type { StateNotices } from "../../shared/protocol/state-notice";
import type { State } from "../../shared/store/transaction-store";
import type { Clock } from "../../shared/runtime/clock";
import { isOrdered } from "../../shared/broker/ordering";
import {
  contextWith,
  endSpan,
  headersOf,
  inSpan,
  messageAttributes,
  SpanKind,
  startSpan,
} from "../../shared/observability/tracing";
import type { Settlement } from "../../shared/broker/settling-consumer";
import { abortableSleep } from "../abortable-sleep";
import { CLAIM_SLACK_MS, type ClaimHold } from "./claim-hold";
import { responsesOf, type AnswerRecorder } from "./answer-recorder";
import { decideCall, type CallDecision } from "./call-decision";
import { GateShutError, type CallPermit } from "../backend-guard";
import type { MessageLog } from "./message-log";
import type { MessageTraces } from "./message-traces";
import type { MessageWaits } from "./message-waits";
import type { ProcessorDeps } from "./processor-deps";
import { Deadline } from "../translators/call-deadline";
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
      if (listened) void this.notices.publish(request.id, "processing");
      // A claim taken over from a worker that died mid-call may have reached the backend:
      // such a message is not "never sent", so it cannot end `expired`.
      const mayExpire = previous === "accepted";
      const calls = callsBefore(message);
      // The record's own mark counts too (an earlier attempt handed back after a call carries
      // no count of it): a renewal that finds the record lost writes it again with the mark.
      hold.called = hold.called || calls > 0 || !mayExpire;
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
          return gateShut(log, error);
        }
        // A wait cut short by the expiry is judged at the last look below; any other failure
        // to get a token means nothing reached the backend: a retry.
        if (!(expiry && expiry.expiryFired && this.expiries.expired(request))) {
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
          await this.expiries.expire(message, request, log, hold, permit, calls);
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
          await this.expiries.expire(message, request, log, hold, permit, made);
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
        return await this.parking.retryLater(request, attempt, decision, message, log, made, hold);
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
      if (expiry && expiry.expiryFired && this.expiries.expired(request)) {
        await this.expiries.expire(message, request, log, hold, undefined, calls);
        return "ack";
      }
      await this.handBack(request, hold, calls > 0);
      if (error instanceof GateShutError) return gateShut(log, error);
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
