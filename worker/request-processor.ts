// Processing one request message of one backend: skip what was already processed, expire
// what waited too long, claim it, call the translator, and turn the result into responses,
// a delayed retry, or a dead letter. The backend's answer is kept in the transaction record
// before anything is published, and the ack is the last step, after every publish confirmed.
// Its steps live in processing/: the look and the claim (message-look.ts), the call
// (backend-call.ts), the answer's record (answer-recorder.ts), retries and parking
// (retry-parking.ts), expiry (message-expiry.ts) and dead letters (dead-letter-publisher.ts).

import { eitherSignal } from "../shared/runtime/either-signal";
import type { ConsumeMessage } from "amqplib";
import type { RequestMessage } from "../shared/protocol/envelope";
import { requestCodec } from "../shared/protocol/codec";
import { StateNotices } from "../shared/protocol/state-notice";
import { systemClock } from "../shared/runtime/clock";
import {
  contextFrom,
  contextWith,
  endSpan,
  ENQUEUED_AT_HEADER,
  messageAttributes,
  SpanKind,
  startSpan,
  tracingRecords,
} from "../shared/observability/tracing";
import type { Settlement } from "../shared/broker/settling-consumer";
import { abortableSleep } from "./abortable-sleep";
import { AnswerRecorder } from "./processing/answer-recorder";
import { DeadLetterPublisher } from "./processing/dead-letter-publisher";
import { MessageLog } from "./processing/message-log";
import { MessageTraces } from "./processing/message-traces";
import type { ProcessorDeps } from "./processing/processor-deps";
import { BackendCall } from "./processing/backend-call";
import { MessageExpiry } from "./processing/message-expiry";
import { MessageLook } from "./processing/message-look";
import { attemptOf, CLAIM_HELD, RetryParking } from "./processing/retry-parking";

export type { CallGuard, ProcessorDeps } from "./processing/processor-deps";

/** How often an ordered backend's message whose claim another worker holds looks again. */
const CLAIM_POLL_MS = 1_000;

/** A signal that never aborts: for a delivery whose channel the caller does not watch. */
const NEVER = new AbortController().signal;

export class RequestProcessor {
  private readonly traces: MessageTraces;
  private readonly deadLetter: DeadLetterPublisher;
  private readonly looks: MessageLook;

  constructor(private readonly deps: ProcessorDeps) {
    const clock = deps.clock ?? systemClock;
    this.traces = new MessageTraces(deps.backend.name);
    this.deadLetter = new DeadLetterPublisher(deps, clock);
    const answers = new AnswerRecorder(deps, this.traces, this.deadLetter);
    // Tells hub listeners of a state change without waiting for the broker: the notice goes out
    // on the same channel before any response of the message, so it keeps its place in line.
    const notices = new StateNotices(deps.broker, deps.publisher, deps.names, deps.log);
    const expiries = new MessageExpiry(deps, clock, answers);
    const parking = new RetryParking(deps, answers);
    const call = new BackendCall(deps, clock, this.traces, notices, answers, expiries, parking);
    this.looks = new MessageLook(
      deps,
      clock,
      this.traces,
      notices,
      this.deadLetter,
      answers,
      expiries,
      parking,
      call,
    );
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
    const attempt = attemptOf(message);
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
      const settlement = await this.looks.look(message, request, attempt, log, gone);
      if (settlement !== CLAIM_HELD) return settlement;
      // An ordered backend's message whose claim another worker holds keeps its place in line
      // (see `parkOrWait`): it is looked at again when that claim may have ended.
      try {
        await abortableSleep(
          CLAIM_POLL_MS,
          eitherSignal(this.deps.draining ?? this.deps.shutdown, gone),
        );
      } catch {
        return "requeue";
      }
    }
  }
}
