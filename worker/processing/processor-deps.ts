// What a worker gives the processor of one backend's requests: the backend, its translator, the
// broker and the store, its guard (gate, slot, rate), shared by every step of a message.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";
import type { Broker } from "../../shared/broker/amqp";
import type { BackendConfig } from "../../shared/config/config";
import type { TopologyNames } from "../../shared/protocol/names";
import type { TransactionStore } from "../../shared/store/transaction-store";
import type { Clock } from "../../shared/runtime/clock";
import type { DeadLetters } from "../../shared/operator/dead-letters";
import type { RecentFailures } from "../../shared/operator/recent-failures";
import type { BackendGuard } from "../backend-guard";
import type { Translator } from "../translators/translator";

/**
 * Waits for an open gate and an in-flight slot; the permit gives the rate token per call. A
 * guard with `claiming` takes the slot and the message's claim in one round trip.
 */
export type CallGuard = BackendGuard;

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
   * Aborted when the drain begins, before `shutdown`: every wait (a slot, a rate token, a
   * claim, a retry in place) ends and nothing more is called, so the messages not yet at the
   * backend go back to the broker at once instead of at the grace time's end; calls in progress
   * go on. The shutdown signal when not given.
   */
  draining?: AbortSignal;
  /**
   * Whether a client has hub listeners: only then is `processing` worth a notice (and its
   * handling by the response worker, which queues the message's answer behind it).
   */
  listened?: (client: string) => Promise<boolean>;
  /** Decides expiry (`expireAfter`); the system clock unless a test sets one. */
  clock?: Clock;
  /** The operator's record of dead letters (listing, replay). */
  deadLetters?: DeadLetters;
  /** The status page's list of recent failed calls. */
  failures?: RecentFailures;
  /** The broker's `max_message_size` (`amqpMaxMessageSize`); RabbitMQ 4's default unless set. */
  maxMessageBytes?: number;
}
