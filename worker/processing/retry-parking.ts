// Parks a message in a retry delay queue, to come back after a delay: a retry after its
// backoff, or a copy whose claim another worker holds, until that claim ends (an ordered
// backend's message waits in line instead, holding its queue).

import type { ConsumeMessage } from "amqplib";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { HEADERS } from "../../shared/protocol/names";
import { isOrdered } from "../../shared/broker/ordering";
import { ENQUEUED_AT_HEADER, traceHeadersIn } from "../../shared/observability/tracing";
import type { Settlement } from "../../shared/broker/settling-consumer";
import { CLAIM_SLACK_MS } from "./claim-hold";
import type { AnswerRecorder } from "./answer-recorder";
import type { CallDecision } from "./call-decision";
import type { CallTry } from "./call-try";
import type { MessageLog } from "./message-log";
import type { ProcessorDeps } from "./processor-deps";

/**
 * Which attempt a delivery is: its header's whole number from 1 up, else 1. A header that is
 * not one (a message put back by hand, another tool's) counts as a first attempt, so its
 * retries are still counted against `retry.attempts` and never go on for ever.
 */
export function attemptOf(message: ConsumeMessage): number {
  const attempt = Number(message.properties.headers?.[HEADERS.attempt] ?? 1);
  return Number.isInteger(attempt) && attempt >= 1 ? attempt : 1;
}

/**
 * How many calls of the message earlier attempts made, by the header its retry copy carries. A
 * copy without it (Sluice 0.1.0 parked its retries with the attempt alone, after a failed call)
 * made one call per earlier attempt: counted as none, it would end `expired`, "never sent".
 */
export function callsBefore(message: ConsumeMessage): number {
  const header = message.properties.headers?.[HEADERS.calls];
  const calls = Number(header ?? attemptOf(message) - 1);
  return Number.isInteger(calls) && calls > 0 ? calls : 0;
}

/** A look that found the claim held by another worker, for an ordered backend: look again. */
export const CLAIM_HELD = "claim-held";
export type Look = Settlement | typeof CLAIM_HELD;

export class RetryParking {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly answers: AnswerRecorder,
  ) {}

  /** Parks the message in the delay queue of its tier; it comes back as attempt `nextAttempt`. */
  async retryLater(
    t: CallTry,
    decision: Extract<CallDecision, { action: "retry" }>,
    /** Calls of the message made so far (this try's included). */
    calls: number,
  ): Promise<Settlement> {
    const { request, message, log, hold, attempt } = t;
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
      // for the delay, so the copy redelivered meanwhile is parked until then, not called. It
      // carries this attempt's counts: the record keeps those of the copy, for the worker that
      // takes the claim over to go on from, or this call would not count against the attempts.
      await hold
        .renew(decision.delayMs + CLAIM_SLACK_MS, { attempt: decision.nextAttempt, calls })
        .catch(() => undefined);
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
   * Another worker holds the claim: a duplicate copy, or the redelivery of a message whose
   * worker died mid-call. It is parked until that claim is finished or has lapsed. An ordered
   * backend's message waits here instead, holding its queue: a delay queue returns it to the
   * backend's plain queue, behind the messages of its key accepted after it (the standby that
   * takes over an ordered queue from a dead worker gets that worker's message first).
   */
  async parkOrWait(
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
}
