// Processing one request message of one backend: skip what was already processed, expire
// what waited too long, claim it, call the translator, and turn the result into responses,
// a delayed retry, or a dead letter. The ack is the last step, after every publish confirmed.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../shared/amqp";
import type { BackendConfig } from "../shared/config";
import {
  decodeMessage,
  encodeMessage,
  type RequestMessage,
  type ResponseMessage,
} from "../shared/envelope";
import {
  BackendRejectedError,
  BackendUnavailableError,
  SluiceError,
  type BackendResponse,
} from "../shared/errors";
import { messageLogger } from "../shared/logger";
import { metrics } from "../shared/metrics";
import { StateNotices, type NoticeState } from "../shared/state-notice";
import type { TopologyNames } from "../shared/topology";
import { isTerminal, type TransactionStore } from "../shared/transaction-store";
import { isOrdered } from "../shared/ordering";
import { abortableSleep } from "./abortable-sleep";
import { planRetry } from "./retry-schedule";
import { Deadline } from "./translators/call-deadline";
import type { Translator } from "./translators/translator";

export const ATTEMPT_HEADER = "x-sluice-attempt";
export const REASON_HEADER = "x-sluice-reason";

/**
 * How long one worker holds the `processing` claim beyond the backend timeout: long enough to
 * publish the answer, short enough that a crashed worker's message is taken over soon.
 */
const CLAIM_SLACK_MS = 5_000;

export type Settlement = "ack" | "requeue";

/** Waits for whatever the backend's limits demand before a call; returns a release function. */
export type CallGuard = (
  request: RequestMessage,
  signal: AbortSignal,
) => Promise<() => Promise<void>>;

export interface ProcessorDeps {
  backend: BackendConfig;
  translator: Translator;
  broker: Broker;
  publisher: ChannelWrapper;
  store: TransactionStore;
  names: TopologyNames;
  log: Logger;
  guard: CallGuard;
  /** Aborted on shutdown: a call in progress is given up and the message handed back. */
  shutdown: AbortSignal;
  /**
   * Whether a client has hub listeners: only then is `processing` worth a notice (and its
   * handling by the response worker, which queues the message's answer behind it).
   */
  listened?: (client: string) => Promise<boolean>;
}

/**
 * What a backend call came to. The decision reads the error's `retryable` flag: a business
 * refusal (BackendRejected) is final, a retryable error is tried again, anything else is a
 * message the translator cannot handle (poison).
 */
function outcomeOf(
  answers: BackendResponse[] | null,
  failure: unknown,
  shuttingDown: boolean,
): string {
  if (answers) return "completed";
  if (shuttingDown) return "interrupted";
  if (failure instanceof SluiceError) {
    if (failure.retryable)
      return failure instanceof BackendUnavailableError ? "retryable_error" : "poison";
    if (failure instanceof BackendRejectedError) return "rejected";
  }
  return "poison";
}

export class RequestProcessor {
  constructor(private readonly deps: ProcessorDeps) {}

  async process(message: ConsumeMessage): Promise<Settlement> {
    const { store, log: rootLog, backend } = this.deps;
    let request: RequestMessage;
    try {
      request = decodeMessage<RequestMessage>(message.content);
      if (typeof request.id !== "string") throw new Error("no message id");
    } catch (error) {
      rootLog.error({ err: (error as Error).message }, "unreadable request message; dead-lettered");
      await this.deadLetter(message.content, "unreadable", null);
      return "ack";
    }
    const log = messageLogger(rootLog, request);
    const attempt = Number(message.properties.headers?.[ATTEMPT_HEADER] ?? 1);

    // Asked together: auto-pipelining sends both in one round trip.
    const [current, listened] = await Promise.all([
      store.peek(request.id),
      this.deps.listened ? this.deps.listened(request.client) : Promise.resolve(true),
    ]);
    if (!current) {
      // The adapter records before it publishes and discards on a failed publish, so a request
      // without a record was refused to its caller (or outlived retention): never process it.
      log.warn("no transaction record; dead-lettered");
      await this.deadLetter(message.content, "no_transaction", request.id);
      return "ack";
    }
    if (isTerminal(current.state) || current.processedAt !== null) {
      // A cancel's own notice may have been lost between Redis and the broker: repeat it.
      if (current.state === "cancelled") this.notice(request.id, "cancelled");
      log.info({ state: current.state }, "already processed; skipped");
      return "ack";
    }
    // Only a message nobody claimed yet expires: one whose worker died mid-call may have
    // reached the backend, so it is not "never sent" and takes the normal path.
    if (
      request.expiresAt !== null &&
      Date.now() > request.expiresAt &&
      current.state === "accepted"
    ) {
      const claimed = await store.transition(request.id, ["accepted"], "processing", {
        claimUntilMs: Date.now() + CLAIM_SLACK_MS,
      });
      if (claimed.result === "ok") {
        if (listened) this.notice(request.id, "processing");
        await this.publishResponses(request, [], "expired", {
          code: "Expired",
          message: "the message expired before it was sent to the backend",
        });
      }
      log.info("expired before it reached the backend");
      return "ack";
    }

    const release = await this.deps.guard(request, this.deps.shutdown);
    try {
      const claim = await store.transition(request.id, ["accepted"], "processing", {
        claimUntilMs: Date.now() + backend.timeoutMs + CLAIM_SLACK_MS,
      });
      if (claim.result === "claimed") {
        // Another worker holds the claim: a duplicate copy, or the redelivery of a message
        // whose worker died mid-call. Park it until that claim is finished or has lapsed.
        await this.park(request, attempt, message);
        log.info("claimed by another worker; parked until its claim ends");
        return "ack";
      }
      if (claim.result !== "ok") {
        // Cancelled meanwhile, or already finished.
        if (claim.previous === "cancelled") this.notice(request.id, "cancelled");
        log.info({ state: claim.previous, result: claim.result }, "not claimed; skipped");
        return "ack";
      }
      if (listened) this.notice(request.id, "processing");
      return await this.call(request, attempt, message, log);
    } finally {
      await release();
    }
  }

  private async call(
    request: RequestMessage,
    attempt: number,
    message: ConsumeMessage,
    log: Logger,
  ): Promise<Settlement> {
    const { backend, translator } = this.deps;
    const deadline = new Deadline(this.deps.shutdown, backend.timeoutMs);
    const started = process.hrtime.bigint();
    let answers: BackendResponse[] | null = null;
    let failure: unknown = null;
    try {
      answers = await translator.call(request, {
        signal: deadline.signal,
        idempotencyKey: request.id,
        attempt,
      });
    } catch (error) {
      failure = error;
    } finally {
      deadline.dispose();
    }
    const outcome = outcomeOf(answers, failure, this.deps.shutdown.aborted);
    metrics.backendCalls.inc({ backend: backend.name, outcome });
    metrics.backendCallDuration.observe(
      { backend: backend.name },
      Number(process.hrtime.bigint() - started) / 1e9,
    );

    // From here on the backend has spoken: recording its answer must not fail the message.
    // Broker or Redis trouble is waited out in place, so the backend is not called again.
    switch (outcome) {
      case "completed":
        await this.untilRecorded(log, async () => {
          await this.publishResponses(request, answers!, "completed", null);
          await this.deps.store.markProcessed(request.id);
        });
        log.info({ responses: answers!.length, attempt }, "backend answered");
        return "ack";
      case "rejected": {
        const rejection = failure as BackendRejectedError;
        await this.untilRecorded(log, async () => {
          await this.publishResponses(request, [rejection.response], "rejected", {
            code: "BackendRejected",
            message: rejection.message,
          });
          await this.deps.store.markProcessed(request.id);
        });
        log.info({ status: rejection.response.status }, "backend rejected the message");
        return "ack";
      }
      case "interrupted":
        await this.deps.store
          .transition(request.id, ["processing"], "accepted")
          .catch(() => undefined);
        return "requeue";
      case "retryable_error":
        return await this.retryOrFail(
          request,
          attempt,
          failure as BackendUnavailableError,
          message,
          log,
        );
      default:
        log.error(
          { err: (failure as Error)?.message ?? String(failure) },
          "translator failed on the message; dead-lettered",
        );
        await this.untilRecorded(log, async () => {
          await this.deadLetter(message.content, "translator_error", request.id);
          await this.publishResponses(request, [], "failed", {
            code: "BackendFailed",
            message: "the message could not be translated for the backend",
          });
        });
        return "ack";
    }
  }

  /** Repeats `record` through broker or Redis outages until it succeeds or the worker stops. */
  private async untilRecorded(log: Logger, record: () => Promise<void>): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await record();
      } catch (error) {
        if (this.deps.shutdown.aborted) throw error;
        const delayMs = Math.min(500 * 2 ** attempt, 10_000);
        log.warn(
          { err: (error as Error).message, delayMs },
          "could not record the backend's answer; retrying",
        );
        await abortableSleep(delayMs, this.deps.shutdown).catch(() => undefined);
      }
    }
  }

  private async retryOrFail(
    request: RequestMessage,
    attempt: number,
    error: BackendUnavailableError,
    message: ConsumeMessage,
    log: Logger,
  ): Promise<Settlement> {
    const { backend, broker, publisher, names, store } = this.deps;
    const plan = planRetry(backend.retry, attempt, error.retryAfterMs);
    if (plan.retry && isOrdered(backend.ordering)) {
      // An ordered backend's message keeps its place: through a delay queue, later messages
      // of the same key would overtake it. It waits here, holding its queue (prefetch 1).
      log.warn(
        { attempt, delayMs: plan.delayMs, err: error.message },
        "backend unavailable; retrying in place",
      );
      try {
        // The claim must outlast the wait and the next call, or another worker could take it.
        await store.renewClaim(
          request.id,
          Date.now() + plan.delayMs + backend.timeoutMs + CLAIM_SLACK_MS,
        );
        await abortableSleep(plan.delayMs, this.deps.shutdown);
      } catch {
        await store.transition(request.id, ["processing"], "accepted").catch(() => undefined);
        return "requeue";
      }
      return this.call(request, plan.nextAttempt, message, log);
    }
    if (plan.retry) {
      // Release the claim first: the delayed copy must be claimable when it comes back.
      await store.transition(request.id, ["processing"], "accepted");
      await broker.publish(
        publisher,
        "",
        names.retryQueue(backend.name, plan.delayMs),
        message.content,
        {
          messageId: request.id,
          headers: { [ATTEMPT_HEADER]: plan.nextAttempt },
        },
      );
      log.warn(
        { attempt, delayMs: plan.delayMs, err: error.message },
        "backend unavailable; retry scheduled",
      );
      return "ack";
    }
    log.error({ attempt, err: error.message }, "retries exhausted; dead-lettered");
    await this.deadLetter(message.content, "retries_exhausted", request.id);
    const answer = error.response ? [error.response] : [];
    await this.publishResponses(request, answer, "failed", {
      code: "BackendFailed",
      message: `the backend failed ${attempt} times: ${error.message}`,
    });
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

  /** Puts a message back through the shortest retry delay queue, keeping its attempt count. */
  private async park(
    request: RequestMessage,
    attempt: number,
    message: ConsumeMessage,
  ): Promise<void> {
    const { backend, broker, publisher, names } = this.deps;
    await broker.publish(
      publisher,
      "",
      names.retryQueue(backend.name, Math.min(...backend.retry.backoffMs)),
      message.content,
      {
        messageId: request.id,
        headers: { [ATTEMPT_HEADER]: attempt },
      },
    );
  }

  /** Publishes the responses in order (the last final); an outcome without one gets a stub. */
  private async publishResponses(
    request: RequestMessage,
    answers: BackendResponse[],
    outcome: ResponseMessage["outcome"],
    error: ResponseMessage["error"],
  ): Promise<void> {
    const list: BackendResponse[] = answers.length
      ? answers
      : [
          {
            status: outcome === "completed" ? 204 : 502,
            contentType: "application/json",
            body: "",
          },
        ];
    for (let i = 0; i < list.length; i++) {
      const response: ResponseMessage = {
        ...list[i],
        bodyEncoding: list[i].bodyEncoding ?? "utf8",
        id: request.id,
        seq: i + 1,
        final: i === list.length - 1,
        outcome,
        error,
        producedAt: Date.now(),
      };
      await this.deps.broker.publish(
        this.deps.publisher,
        this.deps.names.responsesExchange,
        "responses",
        encodeMessage(response),
        { messageId: `${request.id}.${response.seq}`, contentType: "application/json" },
      );
    }
  }

  private async deadLetter(content: Buffer, reason: string, id: string | null): Promise<void> {
    const { broker, publisher, names, backend } = this.deps;
    await broker.publish(publisher, names.deadLetterExchange, backend.name, content, {
      messageId: id ?? undefined,
      headers: { [REASON_HEADER]: reason, "x-sluice-backend": backend.name },
    });
    metrics.deadLetters.inc({ backend: backend.name, reason });
  }
}
