// The RabbitMQ connection of a role: reconnects after broker restarts, fails over between the
// nodes of a cluster, re-runs every channel's setup (topology, consumers) on reconnect, and
// never buffers publishes while disconnected.

import { EventEmitter, setMaxListeners } from "node:events";
import type { Writable } from "node:stream";
import * as amqpManager from "amqp-connection-manager";
import type { AmqpConnectionManager, ChannelWrapper } from "amqp-connection-manager";
import type { Channel, ConfirmChannel, ConsumeMessage, Options } from "amqplib";
import type { Logger } from "pino";
import { CONNECTION_TLS_KEYS, type ConnectionTlsOptions } from "../config/connection-tls";
import { CLIENT_CIPHERS } from "../config/tls-files";
import { SluiceError } from "../protocol/errors";
import { UnroutedPublishError } from "./unrouted-publish";
import { metrics } from "../observability/metrics";
import { hideUrlPassword } from "../observability/url-passwords";
import {
  amqpStartupError,
  connectFailureReason,
  connectionLossReading,
  type ConnectionLossKind,
  reconnectCertificateRefusal,
} from "../runtime/startup-error";
import { corkPerTurn } from "../runtime/turn-corked-socket";
import { ChannelReopener } from "./channel-reopen";
import { lagTolerantConfirmDeadlines } from "./confirm-deadline";

export type ChannelSetup = (channel: ConfirmChannel) => Promise<void>;

export interface ConsumerOptions {
  queue: string;
  prefetch: number;
  /** Extra `basic.consume` arguments, e.g. priority. */
  arguments?: Record<string, unknown>;
  /** Declares what the consumer needs before consuming (called on every reconnect). */
  setup?: ChannelSetup;
  /**
   * Handles one delivery. The handler must settle it with `ack`/`nack` of the given channel:
   * acking on the channel the message came from is the only safe way after reconnects.
   * `gone` aborts when that channel closes: the broker then hands the message to another
   * consumer, so work not yet begun for it must not begin.
   */
  onMessage(message: ConsumeMessage, channel: ConfirmChannel, gone: AbortSignal): Promise<void>;
}

/** A running consumer: `cancel` stops deliveries (unacked ones stay with us until settled). */
export interface Consumer {
  waitForConnect(): Promise<void>;
  cancel(): Promise<void>;
  close(): Promise<void>;
}

/**
 * amqplib's socket options: `base` and what `tls` holds at each connect. amqp-connection-manager
 * keeps the object it was given and amqplib copies its keys at every (re)connect, so the TLS
 * keys read `tls` then: a certificate SIGHUP put there (connection-tls.ts) reaches the next
 * connection, not one copied at start.
 */
export function socketOptions(
  base: { timeout: number; noDelay: boolean },
  tls: ConnectionTlsOptions | null,
): Record<string, unknown> {
  // amqplib hands these to tls.connect for amqps:// (net.connect, for amqp://, ignores them).
  const result: Record<string, unknown> = { ...base, ciphers: CLIENT_CIPHERS };
  if (!tls) return result;
  for (const key of CONNECTION_TLS_KEYS) {
    Object.defineProperty(result, key, { enumerable: true, get: () => tls[key] });
  }
  return result;
}

/** RabbitMQ's PRECONDITION_FAILED for a message above `max_message_size`, capturing that size. */
const MESSAGE_SIZE_REFUSAL = /message size \d+ is larger than configured max size (\d+)/;

export class Broker extends EventEmitter {
  /** The nodes it may connect to, tried in turn. */
  readonly urls: readonly string[];
  private readonly connection: AmqpConnectionManager;
  private readonly log: Logger;
  private blockedReason: string | null = null;
  /** Each channel's confirm timeout, by channel name (a role's own settings, never shared). */
  private readonly publishTimeouts = new Map<string, number>();
  /**
   * The mandatory publishes awaiting their confirm, by message id: the broker returns an
   * unroutable one before confirming it. An entry lives exactly as long as its publish, however
   * that ends (confirm, nack, timeout, closed channel), so a return that comes late (after a
   * timeout) is dropped and the map never holds more than the publishes in flight.
   */
  private readonly pendingMandatory = new Map<string, Array<{ returned: boolean }>>();
  /**
   * Why each channel's last setup failed, by channel name, until one succeeds: a declaration
   * the broker refused (PRECONDITION_FAILED after a queue setting changed) leaves the role
   * waiting for that channel, and readiness says why instead of "not checked yet".
   */
  private readonly setupFailures = new Map<string, string>();
  /**
   * The largest message body the broker takes (RabbitMQ's `max_message_size`), once it closed a
   * channel over a larger one; AMQP has no way to ask for it beforehand.
   */
  private learnedMaxMessageBytes: number | null = null;
  /** Whether a connection was made: failures before it are the start's to report. */
  private connectedOnce = false;
  /** The URL (password hidden) of the node last connected to, named when the connection is lost. */
  private connectedBroker: string | undefined = undefined;

  private constructor(urls: readonly string[], connection: AmqpConnectionManager, log: Logger) {
    super();
    this.urls = urls;
    this.connection = connection;
    this.log = log;
    connection.on(
      "connect",
      ({ connection: model, url }: { connection: unknown; url: unknown }) => {
        const socket = (model as { connection?: { stream?: Writable } }).connection?.stream;
        if (socket) corkPerTurn(socket);
        const broker = typeof url === "string" ? hideUrlPassword(url) : undefined;
        this.connectedBroker = broker;
        this.connectedOnce = true;
        this.log.info({ broker }, "connected to RabbitMQ");
        this.emit("connect");
      },
    );
    // A failed reconnect is warned of once per reading (refused: not running there; closed;
    // silent: running, not answering), with the URL, as the start's line says; the rest are
    // debug. The disconnect line is the outage's first.
    let readingSaid: ConnectionLossKind | null = null;
    connection.on("disconnect", ({ err }) => {
      // Closed (a stop, a restart) or silent (a heartbeat missed); the reconnects that follow
      // say whether it is still there (refused: not running).
      const reading = connectionLossReading(err as Error | undefined, "RabbitMQ");
      this.log.warn(
        {
          err: err?.message,
          broker: this.connectedBroker,
          ...(reading ? { why: reading.why } : {}),
        },
        "disconnected from RabbitMQ; reconnecting",
      );
      readingSaid = reading?.kind ?? null;
      // A new connection starts unblocked; the broker repeats `blocked` if its alarm persists.
      this.blockedReason = null;
      this.emit("disconnect");
    });
    // A reconnect refused over a certificate (a list that revokes the node's, given on SIGHUP)
    // lasts until the files change: warned of, once per reason, not left at debug. A refusal
    // before the first connect is the start's own error (Broker.connect).
    let refusalSaid: string | null = null;
    connection.on("connect", () => {
      refusalSaid = null;
      readingSaid = null;
    });
    connection.on("connectFailed", ({ err, url }: { err: Error; url: unknown }) => {
      metrics.dependencyConnectFailures.inc({
        dependency: "rabbitmq",
        reason: connectFailureReason(err),
      });
      const refusal = this.connectedOnce ? reconnectCertificateRefusal(err, "amqpTls") : null;
      const reading =
        this.connectedOnce && !refusal ? connectionLossReading(err, "RabbitMQ") : null;
      const broker = typeof url === "string" ? hideUrlPassword(url) : undefined;
      if (refusal && refusal !== refusalSaid) {
        this.log.warn({ err: err.message, broker, why: refusal }, "RabbitMQ connect failed");
      } else if (reading && reading.kind !== readingSaid) {
        this.log.warn({ err: err.message, broker, why: reading.why }, "RabbitMQ connect failed");
      } else this.log.debug({ err: err?.message }, "RabbitMQ connect failed");
      refusalSaid = refusal ?? refusalSaid;
      readingSaid = reading?.kind ?? readingSaid;
    });
    // The broker blocks publishers under a memory or disk alarm; the adapter answers 503 meanwhile.
    connection.on("blocked", ({ reason }) => {
      this.blockedReason = reason ?? "blocked";
      this.log.warn({ reason }, "RabbitMQ blocked publishing");
    });
    connection.on("unblocked", () => {
      this.blockedReason = null;
      this.log.info("RabbitMQ unblocked publishing");
    });
  }

  /**
   * Connects to the first node that answers (each is tried in turn), or fails with one clear
   * line naming the URLs when none is reachable. Later reconnects go round the same list, so a
   * lost node is replaced by the next one that lives. `tls` (`amqpTls`): the CA and client
   * certificate of amqps:// connections, read at each connect (SIGHUP may change it in place);
   * amqplib names each URL's host for SNI and the host check.
   */
  static async connect(
    urls: string | readonly string[],
    log: Logger,
    timeoutMs = 10_000,
    tls: ConnectionTlsOptions | null = null,
  ): Promise<Broker> {
    const list = typeof urls === "string" ? [urls] : [...urls];
    const connection = amqpManager.connect(list, {
      heartbeatIntervalInSeconds: 10,
      reconnectTimeInSeconds: 1,
      // Nagle off: a publish waits for its confirm, so batching small frames only adds delay.
      connectionOptions: socketOptions({ timeout: 5_000, noDelay: true }, tls),
    });
    const broker = new Broker(list, connection, log);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => fail(new Error("timed out")), timeoutMs);
      const failures = new Set<unknown>();
      const fail = (err: Error | undefined) => {
        clearTimeout(timer);
        connection.removeListener("connect", ok);
        connection.removeListener("connectFailed", onFailed);
        void connection.close().catch(() => undefined);
        reject(amqpStartupError(list, err));
      };
      const ok = () => {
        clearTimeout(timer);
        connection.removeListener("connectFailed", onFailed);
        resolve();
      };
      // One refusal is not the end while another node may still answer.
      const onFailed = ({ err, url }: { err: Error; url: unknown }) => {
        failures.add(url);
        if (failures.size >= list.length) fail(err);
      };
      connection.once("connect", ok);
      connection.on("connectFailed", onFailed);
    });
    return broker;
  }

  isConnected(): boolean {
    return this.connection.isConnected();
  }

  /** The last failed setup of a channel that has not set up since (`<channel>: <error>`), or null. */
  setupFailure(): string | null {
    const [first] = this.setupFailures;
    return first ? `${first[0]}: ${first[1]}` : null;
  }

  /**
   * The largest message body the broker is known to take, or null while none was refused:
   * learned from the channel it closed over the first larger one.
   */
  get maxMessageBytes(): number | null {
    return this.learnedMaxMessageBytes;
  }

  /** Why the broker refuses publishes right now, or null. */
  get blocked(): string | null {
    return this.blockedReason;
  }

  /**
   * A confirm channel whose setup runs on every (re)connect. Each role opens its own, with its
   * own confirm timeout: in `sluice all` no role's settings depend on which started first.
   */
  channel(name: string, setup?: ChannelSetup, publishTimeoutMs = 5_000): ChannelWrapper {
    this.publishTimeouts.set(name, publishTimeoutMs);
    let reopener: ChannelReopener | null = null;
    const wrapper = this.connection.createChannel({
      name,
      json: false,
      confirm: true,
      // Not the library's publishTimeout: lagTolerantConfirmDeadlines below (a confirm read late
      // is no slow broker).
      setup: async (channel: ConfirmChannel) => {
        // A channel error (a failed passive declare, a refused redeclare, a delivery held past
        // consumer_timeout) must close only this channel, which is opened again (the wrapper
        // alone would wait for a reconnect); unheard, it would take the connection down.
        channel.on("error", (err: Error) => {
          this.log.warn({ err: err.message, channel: name }, "channel closed by the broker");
          // Heard before the closed channel fails its publishes, so each can tell whether it was
          // the one too large (maxMessageBytes) or only shared the channel with it.
          const max = MESSAGE_SIZE_REFUSAL.exec(err.message)?.[1];
          if (max !== undefined) this.learnedMaxMessageBytes = Number(max);
        });
        reopener?.watch(channel, this.connection.connection);
        // A mandatory message no queue took comes back before its confirm. Publishes of one id
        // in flight together cannot be told apart: each is counted as returned (a failed publish
        // is published again; a copy reported as persisted that the broker dropped is lost).
        channel.on("return", (message: { properties: { messageId?: string } }) => {
          const id = message.properties.messageId;
          for (const publish of (id && this.pendingMandatory.get(id)) || [])
            publish.returned = true;
        });
        try {
          if (setup) await setup(channel);
        } catch (error) {
          this.setupFailures.set(name, (error as Error).message);
          throw error;
        }
        this.setupFailures.delete(name);
        reopener?.settled();
      },
    });
    lagTolerantConfirmDeadlines(wrapper, publishTimeoutMs);
    reopener = new ChannelReopener(wrapper, () => this.connection.connection, this.log, name);
    wrapper.on("error", (err: Error) =>
      this.log.warn({ err: err.message, channel: name }, "channel error"),
    );
    return wrapper;
  }

  /**
   * A plain channel of the current connection for a check the broker may refuse by closing
   * the channel (e.g. a declaration that tells how an existing queue was declared). The caller
   * closes it; an error the broker closes it with is expected and only ends this channel.
   */
  async probeChannel(): Promise<Channel> {
    const model = this.connection.connection;
    if (!model) throw new Error("not connected to RabbitMQ");
    const channel = await model.createChannel();
    channel.on("error", () => undefined);
    return channel;
  }

  /**
   * Publishes a persistent message and resolves once the broker confirmed it. Fails at once
   * with `Unavailable` while disconnected, instead of buffering an unbounded backlog.
   */
  async publish(
    channel: ChannelWrapper,
    exchange: string,
    routingKey: string,
    content: Buffer,
    options: Options.Publish = {},
  ): Promise<void> {
    if (options.mandatory && !options.messageId) {
      // Its return could not be tied to it: an unroutable copy would be reported as persisted.
      throw new Error("a mandatory publish needs a message id");
    }
    if (!this.connection.isConnected()) {
      throw new SluiceError("Unavailable", "message broker unavailable", { retryAfter: 5 });
    }
    const tracked = options.mandatory ? this.track(options.messageId!) : null;
    try {
      // Persistent unless said otherwise; options that say so are passed without a copy.
      const sent = options.persistent === undefined ? { persistent: true, ...options } : options;
      await channel.publish(exchange, routingKey, content, sent);
      if (tracked?.returned) {
        // Confirmed, but routed to no queue: the broker dropped it. Never report it as persisted.
        throw new UnroutedPublishError();
      }
    } catch (error) {
      if (error instanceof SluiceError) throw error;
      const message = (error as Error)?.message ?? String(error);
      // A nack is the broker refusing the message (a full queue with `reject-publish`, or
      // the broker out of resources); no confirm in time means it is too slow (blocked or
      // overloaded): both are Busy. A closed channel or connection is Unavailable.
      const refused = /nack/i.test(message);
      const timedOut = /timeout/i.test(message);
      const busy = refused || timedOut;
      throw new SluiceError(
        busy ? "Busy" : "Unavailable",
        refused
          ? "message broker refused the message (queue full)"
          : `broker did not confirm the message: ${message}`,
        { retryAfter: timedOut ? 5 : 2, cause: error },
      );
    } finally {
      if (tracked) this.untrack(options.messageId!, tracked);
    }
  }

  /** Notes a mandatory publish of `id` as in flight; its return marks it returned. */
  private track(id: string): { returned: boolean } {
    const publish = { returned: false };
    const inFlight = this.pendingMandatory.get(id);
    // An array, not a Set: one per message, and it seldom holds more than one publish.
    if (inFlight) inFlight.push(publish);
    else this.pendingMandatory.set(id, [publish]);
    return publish;
  }

  private untrack(id: string, publish: { returned: boolean }): void {
    const inFlight = this.pendingMandatory.get(id);
    if (!inFlight) return;
    const at = inFlight.indexOf(publish);
    if (at !== -1) inFlight.splice(at, 1);
    if (inFlight.length === 0) this.pendingMandatory.delete(id);
  }

  /** The confirm timeout of each channel opened, by name (what `/readyz` and tests can check). */
  channelPublishTimeouts(): Record<string, number> {
    return Object.fromEntries(this.publishTimeouts);
  }

  /**
   * A consumer on its own channel. Setup, prefetch and `basic.consume` run again on every
   * reconnect; deliveries of a dead channel are simply redelivered by the broker.
   */
  consume(name: string, options: ConsumerOptions): Consumer {
    let current: { channel: ConfirmChannel; tag: string } | null = null;
    let cancelled = false;
    const wrapper = this.channel(name, async (channel) => {
      if (options.setup) await options.setup(channel);
      if (cancelled) return;
      const closed = new AbortController();
      // Every delivery in hand may wait on it: a worker's message that expires links a signal
      // of its own to it by a listener, and more than 10 waiting at once are no leak.
      setMaxListeners(0, closed.signal);
      channel.once("close", () => closed.abort(new Error("channel closed")));
      await channel.prefetch(options.prefetch);
      const { consumerTag } = await channel.consume(
        options.queue,
        (message) => {
          if (!message) {
            // Cancelled by the broker (its queue was deleted): a new channel runs the setup
            // again, declaring and consuming, instead of waiting for a reconnect that may never
            // come. Its unacknowledged deliveries go back to the broker as on any channel loss.
            void channel.close().catch(() => undefined);
            return;
          }
          options.onMessage(message, channel, closed.signal).catch((error: unknown) => {
            this.log.error(
              { err: (error as Error)?.message, queue: options.queue },
              "consumer failed",
            );
            safeNack(channel, message, true);
          });
        },
        { noAck: false, arguments: options.arguments },
      );
      // Cancelled while prefetch or basic.consume was on its way: `cancel` found no tag to
      // cancel, so it is done here. Left running, a gated consumer kept taking messages while
      // its backend was paused, each handed back at once until the delivery limit failed it.
      if (cancelled) {
        await channel.cancel(consumerTag).catch(() => undefined);
        return;
      }
      current = { channel, tag: consumerTag };
    });
    return {
      waitForConnect: () => wrapper.waitForConnect(),
      async cancel() {
        cancelled = true;
        const active = current;
        current = null;
        if (active) await active.channel.cancel(active.tag).catch(() => undefined);
      },
      close: () => wrapper.close(),
    };
  }

  async close(): Promise<void> {
    await this.connection.close();
  }
}

/** Acks unless the channel died meanwhile (then the broker redelivers the message anyway). */
export function safeAck(channel: ConfirmChannel, message: ConsumeMessage): void {
  try {
    channel.ack(message);
  } catch {
    /* channel closed: the broker requeues unacked messages */
  }
}

export function safeNack(channel: ConfirmChannel, message: ConsumeMessage, requeue: boolean): void {
  try {
    channel.nack(message, false, requeue);
  } catch {
    /* channel closed: the broker requeues unacked messages */
  }
}
