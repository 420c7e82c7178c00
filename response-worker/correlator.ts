// Correlating one response to its transaction by message id: store it once, wake the adapter
// instance holding a sync caller, and hand it to delivery (callbacks, hub events). A response
// without a transaction is retried briefly (it may have overtaken the record), then dead-lettered.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../shared/amqp";
import { decodeMessage, type ResponseMessage } from "../shared/envelope";
import { messageLogger } from "../shared/logger";
import { metrics } from "../shared/metrics";
import type { TopologyNames } from "../shared/topology";
import type { State, Transaction, TransactionStore } from "../shared/transaction-store";
import type { WakeMessage } from "../shared/wake-message";

/** Called after a response is stored, with the transaction as it is now. */
export type ResponseListener = (
  tx: Transaction,
  response: ResponseMessage,
  previous: State | null,
) => Promise<void>;

const MISSING_RETRIES = 8;
const MISSING_DELAY_MS = 250;

export interface CorrelatorDeps {
  broker: Broker;
  publisher: ChannelWrapper;
  store: TransactionStore;
  names: TopologyNames;
  log: Logger;
  listeners: ResponseListener[];
}

export class Correlator {
  constructor(private readonly deps: CorrelatorDeps) {}

  async handle(message: ConsumeMessage): Promise<void> {
    const { store, log: rootLog } = this.deps;
    let response: ResponseMessage;
    try {
      response = decodeMessage<ResponseMessage>(message.content);
      if (typeof response.id !== "string" || typeof response.seq !== "number")
        throw new Error("no id or seq");
    } catch (error) {
      rootLog.error({ err: (error as Error).message }, "unreadable response; dead-lettered");
      await this.deadLetter(message.content, "unreadable", null);
      return;
    }
    const log = messageLogger(rootLog, { id: response.id });

    let stored = await store.addResponse(response);
    for (let i = 0; stored.result === "missing" && i < MISSING_RETRIES; i++) {
      await new Promise((resolve) => setTimeout(resolve, MISSING_DELAY_MS));
      stored = await store.addResponse(response);
    }
    if (stored.result === "missing") {
      log.warn("response for an unknown transaction; dead-lettered");
      await this.deadLetter(message.content, "unknown_transaction", response.id);
      return;
    }
    if (stored.result === "duplicate") {
      // Stored before, but delivery may not have been handed over (a listener failed and the
      // response was requeued): hand it over again; webhook ids make the repeat harmless.
      const tx = await store.get(response.id);
      if (tx)
        for (const listener of this.deps.listeners) await listener(tx, response, stored.previous);
      log.debug({ seq: response.seq }, "duplicate response; delivery handed over again");
      return;
    }
    if (stored.result === "late") {
      log.warn({ state: stored.previous }, "response for a finished transaction; dead-lettered");
      await this.deadLetter(message.content, `transaction_${stored.previous}`, response.id);
      return;
    }

    const tx = await store.get(response.id);
    if (!tx) return;
    if (response.final) {
      metrics.endToEnd.observe({ service: tx.service }, (Date.now() - tx.createdAt) / 1000);
    }
    if (tx.replyMode === "sync" && tx.owner) await this.wake(tx, response);
    for (const listener of this.deps.listeners) await listener(tx, response, stored.previous);
    messageLogger(rootLog, tx).info(
      { seq: response.seq, final: response.final, state: tx.state },
      "response stored",
    );
  }

  /** Wakes the adapter instance holding the caller; transient, since the record has it all. */
  private async wake(tx: Transaction, response: ResponseMessage): Promise<void> {
    const wake: WakeMessage = {
      id: tx.id,
      state: tx.state,
      response: tx.responses.find((r) => r.seq === response.seq) ?? null,
      error: tx.error,
    };
    await this.deps.broker
      .publish(
        this.deps.publisher,
        this.deps.names.repliesExchange,
        tx.owner!,
        Buffer.from(JSON.stringify(wake)),
        {
          persistent: false,
          expiration: 300_000,
        },
      )
      .catch((error: Error) =>
        this.deps.log.warn({ err: error.message, id: tx.id }, "wake failed"),
      );
  }

  private async deadLetter(content: Buffer, reason: string, id: string | null): Promise<void> {
    await this.deps.broker.publish(
      this.deps.publisher,
      this.deps.names.deadLetterExchange,
      "responses",
      content,
      {
        messageId: id ?? undefined,
        headers: { "x-sluice-reason": reason, "x-sluice-backend": "responses" },
      },
    );
    metrics.deadLetters.inc({ backend: "responses", reason });
  }
}
