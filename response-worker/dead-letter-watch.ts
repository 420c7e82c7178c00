// Watches dead letters for messages the broker dead-lettered on its own (redelivered past the
// delivery limit, e.g. one whose every attempt crashed its consumer): a request's caller still
// needs an outcome, so it gets a final `failed` response like any other failure; a response
// (or state notice) still carries the outcome the backend gave, so it is stored after all.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../shared/broker/amqp";
import type { ResponseMessage } from "../shared/protocol/envelope";
import { requestCodec, responseCodec } from "../shared/protocol/codec";
import { HEADERS, RESPONSES_ROUTING_KEY } from "../shared/protocol/names";
import { metrics } from "../shared/observability/metrics";
import type { DeadLetters } from "../shared/operator/dead-letters";
import type { TopologyNames } from "../shared/protocol/names";
import {
  isTerminal,
  metaOfRequest,
  type TransactionStore,
} from "../shared/store/transaction-store";

interface Death {
  queue?: string;
  reason?: string;
  count?: number;
}

export class DeadLetterWatch {
  constructor(
    private readonly broker: Broker,
    private readonly publisher: ChannelWrapper,
    private readonly names: TopologyNames,
    private readonly log: Logger,
    private readonly deadLetters?: DeadLetters,
    /** The records: a request the broker gave up on may still be answered by its worker. */
    private readonly store?: TransactionStore,
    /**
     * Handles a response or state notice as the responses queue's consumer does. A response
     * is published once the worker has acknowledged its request: dropped here, the message
     * would stay `processing` for good with its answer known.
     */
    private readonly responses?: (message: ConsumeMessage) => Promise<void>,
  ) {}

  async handle(message: ConsumeMessage): Promise<void> {
    const headers = message.properties.headers ?? {};
    // Set by Sluice's own dead-lettering, which publishes the outcome itself.
    if (headers[HEADERS.reason] !== undefined) return;
    const death = (headers["x-death"] as Death[] | undefined)?.[0];
    if (death?.queue === this.names.responsesQueue && this.responses) {
      this.log.warn(
        { id: message.properties.messageId, reason: death.reason },
        "broker dead-lettered a response; storing it",
      );
      // Stored once per seq, so a copy handled before changes nothing; one the correlator
      // cannot place it dead-letters itself, with its own reason (skipped above).
      await this.responses(message);
      return;
    }
    const requestQueue = this.names.requestsQueue("");
    if (!death?.queue?.startsWith(requestQueue)) return;
    const decoded = requestCodec.decode(message.content);
    // Unreadable: it stays in the dead-letter queue for the operator.
    if (!decoded.ok) return;
    const request = decoded.message;
    if (await this.answeredElsewhere(request.id)) return;
    const reason =
      death.reason === "delivery_limit" ? "delivery_limit" : `broker_${death.reason ?? "unknown"}`;
    // Recorded for the operator before the outcome is published: a replay needs the request.
    await this.deadLetters?.record(
      {
        id: request.id,
        reason,
        backend: request.backend,
        service: request.service,
        client: request.client,
        xroadId: request.xroadId ?? null,
        at: Date.now(),
        error: `the broker dead-lettered it (${death.reason ?? "unknown reason"}): each delivery ended without an answer, e.g. a worker crashed on it`,
        // Every delivery reached a worker, which may have called the backend before it failed.
        attempts: Math.max(1, Number(death.count ?? 1)),
      },
      message.content,
    );
    const response: ResponseMessage = {
      id: request.id,
      seq: 1,
      final: true,
      outcome: "failed",
      status: 502,
      contentType: "application/json",
      body: "",
      bodyEncoding: "utf8",
      error: {
        code: "BackendFailed",
        message: `the message was dead-lettered by the broker (${death.reason ?? "unknown reason"})`,
      },
      producedAt: Date.now(),
      // The record's fixed part, as a worker's responses carry it: should Redis have lost the
      // record, the response writes it again instead of being dropped as unknown.
      meta: metaOfRequest(request),
    };
    await this.broker.publish(
      this.publisher,
      this.names.responsesExchange,
      RESPONSES_ROUTING_KEY,
      responseCodec.encode(response),
      {
        // Unroutable (the responses queue deleted) is a failed publish, not a lost outcome.
        mandatory: true,
        messageId: `${request.id}.dead`,
        contentType: "application/json",
      },
    );
    metrics.deadLetters.inc({
      backend: request.backend,
      reason: death.reason ?? "broker",
    });
    this.log.warn(
      { id: request.id, reason: death.reason, queue: death.queue },
      "broker dead-lettered a request; marked failed",
    );
  }

  /**
   * Whether the message's outcome comes from elsewhere: the broker dead-letters a request past
   * its delivery limit while a worker that lost its channel may still be calling the backend
   * (its claim lasts while it lives), or has the backend's answer recorded. `failed` stored
   * first would drop that answer as late and tell the caller the backend did nothing. Throws
   * while the claim lasts: the copy is handed back and looked at again.
   */
  private async answeredElsewhere(id: string): Promise<boolean> {
    if (!this.store) return false;
    const view = await this.store.peek(id);
    if (view === null || view === "refused") return false;
    if (view.answer) {
      // The backend's answer, as its worker publishes it (stored once per seq). Its outcome
      // may be stored already (a sync caller's, stored with the answer by the worker): the
      // answer is kept until the response worker has stored the final response, and published
      // here it still is, or that response's handling (hub events, metrics) would never come.
      for (const response of view.answer.responses) {
        await this.broker.publish(
          this.publisher,
          this.names.responsesExchange,
          RESPONSES_ROUTING_KEY,
          responseCodec.encode(response),
          { mandatory: true, messageId: `${id}.${response.seq}`, contentType: "application/json" },
        );
      }
      this.log.warn(
        { id },
        "broker dead-lettered a request its worker had answered; answer published",
      );
      return true;
    }
    if (isTerminal(view.state)) return true;
    if (view.state === "processing" && (await this.store.claimHeld(id))) {
      throw new Error("dead-lettered by the broker while a worker still holds its claim");
    }
    return false;
  }
}
