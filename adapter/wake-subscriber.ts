// Wake messages for the sync callers this adapter instance holds, on its Redis pub/sub channel
// (the response worker publishes there in the script that stores the outcome). A wake lost
// while the subscription was down is made good by reading the waiters' records once it is back.

import type Redis from "ioredis";
import type { Logger } from "pino";
import { wakeCodec } from "../shared/protocol/codec";
import type { WakeMessage } from "../shared/protocol/wake-message";
import { isTerminal, type TransactionStore } from "../shared/store/transaction-store";
import type { SyncWaiters } from "./sync-waiters";

/** Records read at once when waiters are checked again after a reconnect. */
const RECHECK_BATCH = 100;
/** A check whose reads failed is made again after this, doubling up to the maximum. */
const RECHECK_RETRY_MS = 500;
const RECHECK_RETRY_MAX_MS = 5_000;
/**
 * The subscription is pinged this often; a ping still unanswered at the next one, while the
 * command connection is answered, finds the connection silent (a partition without resets, a
 * NAT or firewall that forgot it): Redis still counts such a subscriber, so its wakes go
 * nowhere and none goes by the broker instead.
 */
const PING_INTERVAL_MS = 2_000;

export interface WakeSubscriberDeps {
  redis: Redis;
  /** This instance's wake channel (`RedisKeys.wake`). */
  channel: string;
  /** The connection's name in Redis (CLIENT LIST), for the operator. */
  connectionName: string;
  waiters: SyncWaiters;
  store: TransactionStore;
  log: Logger;
}

export class WakeSubscriber {
  private readonly subscriber: Redis;
  private subscribed = false;
  private rechecking: Promise<void> | null = null;
  private recheckAgain = false;
  private retryTimer: NodeJS.Timeout | undefined;
  private retryMs = RECHECK_RETRY_MS;
  private closed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private pinging = false;
  /** The command connection is being asked whether Redis answers (see `ping`). */
  private askingRedis = false;

  private constructor(private readonly deps: WakeSubscriberDeps) {
    // Its own connection: one in subscriber mode takes no other commands. It queues commands
    // while disconnected and keeps reconnecting, whatever the command connection does.
    this.subscriber = deps.redis.duplicate({
      connectionName: deps.connectionName,
      enableOfflineQueue: true,
      maxRetriesPerRequest: null,
      // Subscribed again by hand on every ready, so that the records are read after it.
      autoResubscribe: false,
      lazyConnect: true,
    });
    // Connection errors are the command connection's to report; this one reconnects.
    this.subscriber.on("error", () => undefined);
    this.subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) =>
      this.deliver(message),
    );
    this.subscriber.on("ready", () => void this.subscribe());
  }

  /** Subscribes before the adapter takes its first caller. */
  static async start(deps: WakeSubscriberDeps): Promise<WakeSubscriber> {
    const wakes = new WakeSubscriber(deps);
    await wakes.subscriber.connect();
    await wakes.subscriber.subscribe(deps.channel);
    wakes.subscribed = true;
    wakes.pingTimer = setInterval(() => wakes.ping(), PING_INTERVAL_MS);
    wakes.pingTimer.unref();
    return wakes;
  }

  /**
   * Answers every waiter whose outcome is stored: a wake may have been lost (the subscription
   * or the reply queue was down when it was sent). The caller's wait otherwise ends only at
   * its deadline, in the same read.
   */
  recheck(): Promise<void> {
    if (this.rechecking) {
      this.recheckAgain = true;
      return this.rechecking;
    }
    this.rechecking = (async () => {
      let unread: boolean;
      do {
        this.recheckAgain = false;
        unread = await this.readWaiters();
      } while (this.recheckAgain);
      // The subscription often comes back before the command connection does, and the wakes
      // lost meanwhile are only in the records: read them again until the reads succeed.
      if (unread) this.retryLater();
      else this.retryMs = RECHECK_RETRY_MS;
    })().finally(() => (this.rechecking = null));
    return this.rechecking;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.retryTimer);
    clearInterval(this.pingTimer);
    this.subscriber.disconnect();
  }

  /**
   * Pings the subscription; one whose last ping is still unanswered is made again (subscribed
   * and the waiters' records read on its ready), once the command connection shows that Redis
   * itself answers: a Redis slow for everyone (a fork, a long script, a loaded host) is no
   * silence of the subscription, and making it again would only add a read of every waiting
   * caller's record to its load. Decided after the loop's poll phase: a reply that came in
   * while the process stood still is read first, and is no silence either.
   */
  private ping(): void {
    if (this.subscriber.status !== "ready") {
      this.pinging = false;
      return;
    }
    if (!this.pinging) {
      this.pinging = true;
      this.subscriber.ping().then(
        () => (this.pinging = false),
        () => undefined,
      );
      return;
    }
    if (this.askingRedis) return;
    this.askingRedis = true;
    // The command connection's deadline ends the ask; unanswered, it is asked at the next ping.
    this.deps.redis
      .ping()
      .then(
        () =>
          new Promise<void>((resolve) =>
            setImmediate(() => {
              resolve();
              if (!this.pinging || this.closed || this.subscriber.status !== "ready") return;
              this.pinging = false;
              this.deps.log.warn("wake subscription silent while Redis answers; connecting again");
              this.subscriber.disconnect(true);
            }),
          ),
        () => undefined,
      )
      .finally(() => (this.askingRedis = false));
  }

  private retryLater(): void {
    if (this.closed || this.retryTimer) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      void this.recheck();
    }, this.retryMs);
    this.retryTimer.unref();
    this.retryMs = Math.min(this.retryMs * 2, RECHECK_RETRY_MAX_MS);
  }

  /**
   * Wakes the caller a wake message names, whichever way it came (this subscription, or the
   * reply queue a response worker of an earlier release sends to). A wake it cannot read is
   * dropped: the caller's wait then ends in a read of the record.
   */
  deliver(message: Buffer): void {
    // A wake it cannot read is dropped: the caller's wait then ends in a read of the record.
    const decoded = wakeCodec.decode(message);
    if (decoded.ok) this.deps.waiters.wake(decoded.message);
    else
      this.deps.log.warn(
        { err: decoded.error, reason: decoded.reason },
        "wake message not readable",
      );
  }

  /** On every ready after the first: subscribe again, then read what was missed meanwhile. */
  private async subscribe(): Promise<void> {
    if (!this.subscribed) return;
    try {
      await this.subscriber.subscribe(this.deps.channel);
    } catch {
      return; // Down again: the next ready tries again.
    }
    this.deps.log.info("wake subscription restored; checking waiting callers");
    await this.recheck();
  }

  /** Wakes the waiters whose outcome is stored; true when some record could not be read. */
  private async readWaiters(): Promise<boolean> {
    const { waiters, store } = this.deps;
    const ids = waiters.ids();
    let unread = false;
    for (let i = 0; i < ids.length; i += RECHECK_BATCH) {
      await Promise.all(
        ids.slice(i, i + RECHECK_BATCH).map(async (id) => {
          const tx = await store.get(id).catch(() => {
            unread = true;
            return null;
          });
          if (!tx || !isTerminal(tx.state)) return;
          const wake: WakeMessage = {
            id,
            state: tx.state,
            response: tx.responses.find((r) => r.final) ?? tx.responses[0] ?? null,
            error: tx.error,
          };
          waiters.wake(wake);
        }),
      );
    }
    return unread;
  }
}
