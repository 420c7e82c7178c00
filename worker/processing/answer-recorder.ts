// The outcome of a message, kept in its transaction record before it is published: a copy
// redelivered after a crash or an outage publishes the kept answer instead of calling the
// backend again. Redis and broker trouble is waited out in place.

import type { RequestMessage, ResponseMessage } from "../../shared/protocol/envelope";
import { responseCodec } from "../../shared/protocol/codec";
import { RESPONSES_ROUTING_KEY } from "../../shared/protocol/names";
import type { BackendResponse } from "../../shared/protocol/errors";
import { metrics } from "../../shared/observability/metrics";
import {
  metaOfRequest,
  type AnswerFinish,
  type RecordedAnswer,
} from "../../shared/store/transaction-store";
import { wakeUnheard } from "../../shared/broker/reply-wake";
import { messageSizeLimitName } from "../../shared/broker/message-size-limit";
import { abortableSleep } from "../abortable-sleep";
import { TRANSLATOR_FAILED } from "./call-decision";
import { DEFAULT_AMQP_MAX_MESSAGE_BYTES } from "../../shared/config/config";
import type { CallPermit } from "../backend-guard";
import type { DeadLetterPublisher } from "./dead-letter-publisher";
import type { HeldMessage } from "./held-message";
import type { MessageLog } from "./message-log";
import type { MessageTraces } from "./message-traces";
import type { ProcessorDeps } from "./processor-deps";

/** The response messages of an outcome, in order (the last final); none gets a stub. */
export function responsesOf(
  request: RequestMessage,
  answers: BackendResponse[],
  outcome: ResponseMessage["outcome"],
  error: ResponseMessage["error"],
): ResponseMessage[] {
  const list: BackendResponse[] = answers.length
    ? answers
    : [
        {
          status: outcome === "completed" ? 204 : 502,
          contentType: "application/json",
          body: "",
        },
      ];
  const producedAt = Date.now();
  const meta = metaOfRequest(request);
  return list.map((answer, i) => {
    // Written field by field: V8 builds an object spread and then given more fields on a slow
    // path, several microseconds per message, and the JSON of such an object is slower too.
    const response: ResponseMessage = {
      status: answer.status,
      contentType: answer.contentType,
      body: answer.body,
      bodyEncoding: answer.bodyEncoding ?? "utf8",
      id: request.id,
      seq: i + 1,
      final: i === list.length - 1,
      outcome,
      error,
      producedAt,
      meta,
    };
    if (answer.headers !== undefined) response.headers = answer.headers;
    // Fields a translator module added travel on, as they did when the answer was spread in.
    for (const name in answer) {
      if (!(name in response))
        (response as unknown as Record<string, unknown>)[name] =
          answer[name as keyof BackendResponse];
    }
    return response;
  });
}

export class AnswerRecorder {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly traces: MessageTraces,
    private readonly deadLetter: DeadLetterPublisher,
  ) {}

  /**
   * Records an outcome in the transaction record, then publishes it. Redis or broker trouble
   * is waited out in place, so the backend is not called again for it. False when nothing was
   * recorded or published: the message had ended, or another worker took its claim over.
   */
  async record(
    /** The message, under the claim the answer was made under: kept only while it is this one. */
    held: HeldMessage,
    answer: RecordedAnswer,
    /** Whether the answer comes of a call that may have reached the backend. */
    called: boolean,
    /** The call's slot: the backend is done with it, so the record's round trip frees it. */
    permit?: CallPermit,
  ): Promise<boolean> {
    const { message, request, log, hold } = held;
    const { store } = this.deps;
    const slot = permit?.slot;
    const claim = { token: hold.token, called };
    // A sync caller waits: the outcome is stored and the caller woken in the same round trip.
    // With no callback target and (as the script finds) no hub listener, nobody else is to
    // hear of it, and its responses go nowhere. Without a way to ask for hub listeners (tests),
    // they are always published.
    const finish: AnswerFinish | null = request.owner
      ? {
          client: !request.callback && this.deps.listened ? request.client : null,
          // Through their reply queue, as the response worker and cancels do; transient, since
          // the record has it all.
          unreached: (instances, wake) => void wakeUnheard(this.deps, instances, wake, request.id),
        }
      : null;
    const recorded = await this.untilRecorded(log, async () => {
      if (slot) permit?.freeing?.();
      const result = await store.recordAnswer(request.id, answer, slot, claim, finish);
      if (slot) permit?.freed?.();
      if (result !== "missing") return result;
      // Redis lost the record while the backend worked: write it again, then the answer. When
      // the answer comes of a call, under this worker's claim and marked called (the claim's
      // renewal writes it so): a copy handed out meanwhile finds it claimed instead of calling
      // the backend again, and a cancel is refused instead of ending `cancelled` ("never
      // sent") a message the backend answered. An expiry's claim never called: written again
      // as any copy writes it, so a worker taking it over still judges the expiry.
      if (!(called && (await hold.writeAgain()))) {
        await store.rebuild(metaOfRequest(request), called);
      }
      log.warn("transaction record was missing; rebuilt from the request");
      return store.recordAnswer(request.id, answer, undefined, claim, finish);
    });
    hold.recorded = true;
    if (recorded === "terminal") return false;
    if (recorded === "answered") {
      metrics.endToEnd.observe(
        { service: request.service },
        (Date.now() - request.createdAt) / 1000,
      );
      return true;
    }
    if (recorded === "lost") {
      // This worker's claim lapsed and another took the message over: that one's call decides
      // the outcome. Publishing this answer would make a second one.
      log.warn("claim taken over by another worker; this answer is not recorded");
      return false;
    }
    // An answer recorded before (by a copy of this message) wins: publish that one.
    const kept =
      recorded === "recorded" ? await this.untilRecorded(log, () => store.peek(request.id)) : null;
    if (kept && kept !== "refused" && kept.answer) {
      await this.publishKept(
        message.content,
        request,
        kept.answer,
        kept.deadLettered,
        log,
        hold.token,
      );
      return true;
    }
    await this.publishKept(message.content, request, answer, false, log, hold.token);
    return true;
  }

  /**
   * Publishes the answer kept in the record through any outage, as `publish`. One the broker
   * refuses as too large (a response over its own max_message_size, which it names only when it
   * refuses one: before that the worker held answers to amqpMaxMessageSize alone) would be
   * refused on every try, the message never ending: it fails instead, as an answer over the
   * known limit fails at once (call-decision.ts), and that failure is kept and published.
   */
  async publishKept(
    content: Buffer,
    request: RequestMessage,
    answer: RecordedAnswer,
    deadLettered: boolean,
    log: MessageLog,
    /** The claim the answer was kept under, or "" for a copy holding none. */
    token: string,
  ): Promise<void> {
    let current = answer;
    for (;;) {
      const published = await this.untilRecorded(log, async () => {
        try {
          await this.publish(content, request.id, current, deadLettered);
          return true;
        } catch (error) {
          if (this.firstTooLarge(current) < 0) throw error;
          return false;
        }
      });
      if (published) return;
      const failure = this.oversizedFailure(request, current, this.firstTooLarge(current));
      const replaced = await this.untilRecorded(log, () =>
        this.deps.store.replaceAnswer(request.id, failure, token),
      );
      log.error(
        { err: failure.deadLetterDetail!.error, record: replaced },
        replaced === "ok"
          ? "the backend's answer is larger than the broker takes; failed instead"
          : "the backend's answer is larger than the broker takes; its responses are not published",
      );
      // "terminal": the outcome went to its sync callers with the answer and stays readable;
      // its callbacks and events, which the responses would have carried, are not sent.
      if (replaced !== "ok") return;
      current = failure;
    }
  }

  /** The first response of `answer` over the broker's own limit, once it refused one, or -1. */
  private firstTooLarge(answer: RecordedAnswer): number {
    const learned = this.deps.broker.maxMessageBytes;
    if (learned == null) return -1;
    return answer.responses.findIndex(
      (response) => responseCodec.encode(response).length > learned,
    );
  }

  /**
   * The failure an answer over the broker's limit ends in, the one call-decision.ts gives: its
   * response takes the place of the first one too large, the ones before it published already
   * (in order, each confirmed before the next), so the response worker stores it as the final.
   */
  private oversizedFailure(
    request: RequestMessage,
    answer: RecordedAnswer,
    tooLarge: number,
  ): RecordedAnswer {
    const configured = this.deps.maxMessageBytes ?? DEFAULT_AMQP_MAX_MESSAGE_BYTES;
    const limit = messageSizeLimitName(configured, this.deps.broker.maxMessageBytes);
    const error = { code: "BackendFailed" as const, message: TRANSLATOR_FAILED };
    const [response] = responsesOf(request, [], "failed", error);
    response.seq = tooLarge + 1;
    return {
      responses: [response],
      deadLetter: "translator_error",
      deadLetterDetail: {
        error: `the backend's answer is more than a response message carries under ${limit}`,
        attempts: answer.deadLetterDetail?.attempts ?? 1,
      },
    };
  }

  /** Repeats `record` through broker or Redis outages until it succeeds or the worker stops. */
  async untilRecorded<T>(
    log: MessageLog,
    record: () => Promise<T>,
    retrying = "could not record the backend's answer; retrying",
  ): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await record();
      } catch (error) {
        if (this.deps.shutdown.aborted) throw error;
        const delayMs = Math.min(500 * 2 ** attempt, 10_000);
        log.warn({ err: (error as Error).message, delayMs }, retrying);
        await abortableSleep(delayMs, this.deps.shutdown).catch(() => undefined);
      }
    }
  }

  /** Publishes a recorded answer: its dead-letter copy (unless confirmed before), then responses. */
  async publish(
    content: Buffer,
    id: string,
    answer: RecordedAnswer,
    deadLettered: boolean,
  ): Promise<void> {
    if (answer.deadLetter && !deadLettered) {
      await this.deadLetter.publish(content, answer.deadLetter, id, answer.deadLetterDetail);
      await this.deps.store.noteDeadLettered(id);
    }
    for (const response of answer.responses) {
      await this.deps.broker.publish(
        this.deps.publisher,
        this.deps.names.responsesExchange,
        RESPONSES_ROUTING_KEY,
        responseCodec.encode(response),
        {
          // Unroutable (the responses queue deleted) is a failed publish, retried, not lost.
          mandatory: true,
          messageId: `${id}.${response.seq}`,
          contentType: "application/json",
          // The response worker's spans descend from this message's processing.
          headers: this.traces.traceHeadersOf(id),
        },
      );
    }
  }
}
