// Correlating one response to its transaction by message id: store it once, wake the adapter
// instance holding a sync caller, and hand it to delivery (callbacks, hub events). A response
// whose record Redis lost writes the record again from the fixed part it carries.
// State notices (claimed, cancelled) become state changes for delivery, in order per message.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../shared/broker/amqp";
import { wakeUnheard } from "../shared/broker/reply-wake";
import type { ResponseMessage, StateNotice } from "../shared/protocol/envelope";
import { responseCodec, stateNoticeCodec, wakeCodec, wakeHead } from "../shared/protocol/codec";
import {
  deadLetterHeaders,
  deadLetterIdentity,
  RESPONSES_DEAD_LETTER_SOURCE,
  RESPONSES_ROUTING_KEY,
} from "../shared/protocol/names";
import { metrics } from "../shared/observability/metrics";
import type { TopologyNames } from "../shared/protocol/names";
import { isStateNotice } from "../shared/protocol/state-notice";
import {
  isTerminal,
  type State,
  type Transaction,
  type TransactionStore,
} from "../shared/store/transaction-store";
import {
  contextFrom,
  inSpan,
  messageAttributes,
  SpanKind,
  type Context,
} from "../shared/observability/tracing";
import type { WakeMessage } from "../shared/protocol/wake-message";

/**
 * Called after a response is stored, with the transaction as it is now; `trace` is the
 * response's handling, which deliveries of it descend from.
 */
export type ResponseListener = (
  tx: Transaction,
  response: ResponseMessage,
  previous: State | null,
  trace: Context,
) => Promise<void>;

/**
 * Called for a state change that came without a response, with the transaction as it was
 * right after that change; `eventKey` names the change and is the same whenever it is repeated.
 */
export type StateChangeListener = (tx: Transaction, eventKey: string) => Promise<void>;

const MISSING_RETRIES = 8;
const MISSING_DELAY_MS = 250;

export interface CorrelatorDeps {
  broker: Broker;
  publisher: ChannelWrapper;
  store: TransactionStore;
  names: TopologyNames;
  log: Logger;
  listeners: ResponseListener[];
  stateListeners?: StateChangeListener[];
  /**
   * Whether to remember that a cancel was told: the adapter and, as a fallback, the worker that
   * skips the message both send a notice, and listeners should hear of it once.
   */
  tellOnce?: boolean;
}

export class Correlator {
  /** The work on each message id in hand, so that one message's changes go out in order. */
  private readonly chains = new Map<string, Promise<void>>();

  constructor(private readonly deps: CorrelatorDeps) {}

  async handle(message: ConsumeMessage): Promise<void> {
    if (isStateNotice(message.properties)) {
      const decoded = stateNoticeCodec.decode(message.content);
      if (!decoded.ok) {
        this.deps.log.error({ err: decoded.error }, "state notice not readable; dead-lettered");
        await this.deadLetter(message.content, decoded.reason, null, decoded.error);
        return;
      }
      const notice = decoded.message;
      await this.inOrder(notice.id, () => this.handleNotice(notice));
      return;
    }
    const decoded = responseCodec.decode(message.content);
    if (!decoded.ok) {
      // A message this release cannot read is kept for the operator, never retried or thrown.
      this.deps.log.error({ err: decoded.error }, "response not readable; dead-lettered");
      await this.deadLetter(message.content, decoded.reason, null, decoded.error);
      return;
    }
    const response = decoded.message;
    const parent = contextFrom(message.properties.headers);
    // Added to the fresh attributes, not after a spread of them: V8 builds a spread followed
    // by a field it did not bring on a slow path, microseconds per response.
    const attributes = messageAttributes({ id: response.id });
    attributes["sluice.response.seq"] = response.seq;
    await this.inOrder(response.id, () =>
      inSpan("sluice.response", SpanKind.CONSUMER, parent, attributes, (trace) =>
        this.handleResponse(message.content, response, trace),
      ),
    );
  }

  /**
   * Runs `work` after the work in hand on the same message id. The worker publishes a
   * message's notices and responses in order, and this keeps them in order up to delivery.
   */
  private inOrder(id: string, work: () => Promise<void>): Promise<void> {
    const previous = this.chains.get(id);
    const current = previous ? previous.catch(() => undefined).then(work) : work();
    this.chains.set(id, current);
    const forget = () => {
      if (this.chains.get(id) === current) this.chains.delete(id);
    };
    current.then(forget, forget);
    return current;
  }

  private async handleResponse(
    content: Buffer,
    response: ResponseMessage,
    trace: Context,
  ): Promise<void> {
    const { store, log } = this.deps;
    // No child logger per message: pino builds (and redacts) a child's bindings when it is
    // made, whatever the level. Each line names the message in its own fields instead.
    const ref = { id: response.id };
    // A sync caller gets the final response, the outcome: all of a call's responses are
    // published together, and an earlier one could only tell it "processing". The store wakes
    // it in the round trip that stores the outcome.
    const head = response.final
      ? wakeHead({ id: response.id, state: response.outcome, error: response.error ?? null })
      : "";
    let stored = await store.addResponse(response, head);
    if (stored.result === "missing" && response.meta) {
      // The worker wrote the record (or wrote it again) before it published: Redis has lost it
      // since. The response carries the record's fixed part: write it again, then store. Marked
      // called unless the outcome says the backend never had it (expired): until the final is
      // stored (one of several responses comes first) a cancel would end it as never sent.
      if (await store.rebuild(response.meta, response.outcome !== "expired")) {
        log.warn(ref, "transaction record was missing; rebuilt from the response");
      }
      stored = await store.addResponse(response, head);
    }
    for (let i = 0; stored.result === "missing" && i < MISSING_RETRIES; i++) {
      await new Promise((resolve) => setTimeout(resolve, MISSING_DELAY_MS));
      stored = await store.addResponse(response, head);
    }
    if (stored.result === "missing") {
      // A response of an earlier version without the record's fixed part, or one for a
      // submission refused to its caller: kept in the dead-letter queue for the operator.
      log.warn(ref, "response for an unknown transaction; dead-lettered");
      await this.deadLetter(content, "unknown_transaction", response.id);
      return;
    }
    if (stored.result === "late") {
      log.warn(
        { id: response.id, state: stored.previous },
        "response for a finished transaction; dead-lettered",
      );
      await this.deadLetter(content, `transaction_${stored.previous}`, response.id);
      return;
    }
    const tx = stored.tx;
    // Instances no pub/sub subscriber heard (an adapter of an earlier release, or one whose
    // subscription is down) are woken through their reply queue, as before.
    if (stored.unreached.length > 0 && tx) {
      const wake: WakeMessage = {
        id: response.id,
        state: tx.state,
        response: tx.responses.find((r) => r.seq === response.seq) ?? stored.stored,
        error: tx.error,
      };
      void wakeUnheard(this.deps, stored.unreached, wakeCodec.encode(wake), response.id);
    }
    if (!tx) return;
    if (stored.result === "duplicate") {
      // Stored before, but delivery may not have been handed over (a listener failed and the
      // response was requeued): hand it over again; webhook ids make the repeat harmless.
      for (const listener of this.deps.listeners)
        await listener(tx, response, stored.previous, trace);
      if (log.isLevelEnabled("debug")) {
        log.debug(
          { id: response.id, seq: response.seq },
          "duplicate response; delivery handed over again",
        );
      }
      return;
    }
    if (response.final) {
      metrics.endToEnd.observe({ service: tx.service }, (Date.now() - tx.createdAt) / 1000);
    }
    for (const listener of this.deps.listeners)
      await listener(tx, response, stored.previous, trace);
    if (log.isLevelEnabled("info")) {
      log.info(
        {
          id: tx.id,
          xroadId: tx.xroadId ?? null,
          client: tx.client ?? null,
          seq: response.seq,
          final: response.final,
          state: tx.state,
        },
        "response stored",
      );
    }
  }

  /** Hands the changes a notice stands for to the state listeners, oldest first. */
  private async handleNotice(notice: StateNotice): Promise<void> {
    const listeners = this.deps.stateListeners ?? [];
    if (listeners.length === 0) return;
    const tx = await this.deps.store.get(notice.id);
    if (!tx) {
      this.deps.log.debug({ id: notice.id }, "state notice for an unknown transaction; dropped");
      return;
    }
    const { store } = this.deps;
    const mark = this.deps.tellOnce === true && isTerminal(notice.state);
    if (mark && (await store.wasTold(tx.id))) return;
    for (const change of stateChanges(tx, notice)) {
      for (const listener of listeners) await listener(change.tx, change.eventKey);
    }
    // Marked only after the hand-over: a crash in between repeats it rather than losing it.
    if (mark) await store.markTold(tx.id, notice.state);
  }

  private async deadLetter(
    content: Buffer,
    reason: string,
    id: string | null,
    error?: string,
  ): Promise<void> {
    await this.deps.broker.publish(
      this.deps.publisher,
      this.deps.names.deadLetterExchange,
      RESPONSES_ROUTING_KEY,
      content,
      {
        // A dead letter no queue takes is a failed publish: the delivery is not acked.
        mandatory: true,
        ...deadLetterIdentity(id, deadLetterHeaders(reason, RESPONSES_DEAD_LETTER_SOURCE, error)),
      },
    );
    metrics.deadLetters.inc({ backend: RESPONSES_DEAD_LETTER_SOURCE, reason });
  }
}

/**
 * The state changes a notice stands for: its own entry in the history (the latest of its state
 * at or before the notice's time), preceded by the `accepted` entry right before it. Adapters
 * send no notice when they accept a message, so its `accepted` is told together with what
 * came next; the same holds for a message a failed attempt handed back to `accepted`.
 * Each change comes with the transaction as it was right after it.
 */
export function stateChanges(
  tx: Transaction,
  notice: Pick<StateNotice, "state" | "at">,
): Array<{ tx: Transaction; eventKey: string }> {
  let index = -1;
  // The time picks one claim of several; a terminal change happens once, and its notice may
  // come from another host (the worker re-sending a cancel) whose clock is behind the writer's.
  const once = isTerminal(notice.state as State);
  tx.history.forEach((entry, i) => {
    if (entry.state === notice.state && (once || entry.at <= notice.at)) index = i;
  });
  if (index < 0) return [];
  const changes: Array<{ tx: Transaction; eventKey: string }> = [];
  if (index > 0 && tx.history[index - 1].state === "accepted") {
    changes.push(asOf(tx, index - 1));
  }
  changes.push(asOf(tx, index));
  return changes;
}

/**
 * The transaction as it stood right after history entry `index`. A terminal state is the last
 * word, so it is told as the record is now; an earlier one has no error or responses yet.
 */
function asOf(tx: Transaction, index: number): { tx: Transaction; eventKey: string } {
  const entry = tx.history[index];
  const state = entry.state as State;
  const occurrence = tx.history.slice(0, index + 1).filter((e) => e.state === state).length;
  if (isTerminal(state)) return { tx, eventKey: state };
  return {
    // A spread: every field given after it is one `tx` has, and V8 copies such an object on its
    // fast path (it is a field the spread did not bring that takes the slow one).
    tx: {
      ...tx,
      state,
      delivery: "pending",
      updatedAt: entry.at,
      history: tx.history.slice(0, index + 1),
      responses: [],
      error: null,
    },
    eventKey: `${state}.${occurrence}`,
  };
}
