// The per-backend cap on concurrent calls shared by every worker instance: each call holds a
// lease in a Redis sorted set scored by its expiry, so a crashed holder's slot comes back by itself.

import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import { SluiceError } from "../shared/protocol/errors";
import { redisKeys } from "../shared/protocol/redis-keys";

export interface InflightOptions {
  /** Most calls in flight at the backend across all workers. */
  max: number;
  /** How long a slot survives without renewal: the time a crashed worker's slot stays taken. */
  leaseMs: number;
  /** Renewal period while a call runs; a third of the lease by default. */
  renewMs?: number;
  /** Longest wait between attempts when no release is announced. */
  pollMs?: number;
  /** Names the holder in each lease (e.g. the worker instance), so operators see who holds slots. */
  holder?: string;
}

/**
 * KEYS[1] the holders set; ARGV[1] token, ARGV[2] max, ARGV[3] lease ms.
 * Drops expired holders, then admits when fewer than max remain. A token already present keeps
 * its one slot, so a command resent after a reconnect cannot take two.
 * Returns {1, 0} when admitted, {0, ms until the earliest lease expires} otherwise.
 */
const ACQUIRE_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease + 1000)
  return {1, 0}
end
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {0, tonumber(first[2]) - now}
`;

/**
 * KEYS[1] the holders set; ARGV[1] token, ARGV[2] lease ms. Extends a lease still held (even if
 * just past expiry but not yet dropped: it was still counted, so no one took its place).
 * Returns 1 when renewed, 0 when the slot was lost.
 */
const RENEW_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[2])
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then return 0 end
redis.call('ZADD', KEYS[1], 'XX', now + lease, ARGV[1])
redis.call('PEXPIRE', KEYS[1], lease + 1000)
return 1
`;

/** KEYS[1] the holders set; ARGV[1] token, ARGV[2] channel. Announces the freed slot. */
const RELEASE_LUA = `
local removed = redis.call('ZREM', KEYS[1], ARGV[1])
if removed == 1 then redis.call('PUBLISH', ARGV[2], '1') end
return removed
`;

interface LeaseClient {
  sluiceLeaseAcquire(
    key: string,
    token: string,
    max: number,
    leaseMs: number,
  ): Promise<[number, number]>;
  sluiceLeaseRenew(key: string, token: string, leaseMs: number): Promise<number>;
  sluiceLeaseRelease(key: string, token: string, channel: string): Promise<number>;
}

function defineCommands(redis: Redis): LeaseClient {
  if (!("sluiceLeaseAcquire" in redis)) {
    redis.defineCommand("sluiceLeaseAcquire", { numberOfKeys: 1, lua: ACQUIRE_LUA });
    redis.defineCommand("sluiceLeaseRenew", { numberOfKeys: 1, lua: RENEW_LUA });
    redis.defineCommand("sluiceLeaseRelease", { numberOfKeys: 1, lua: RELEASE_LUA });
  }
  return redis as unknown as LeaseClient;
}

/** One held slot. Renewed automatically until released; `lost` turns true if it expired anyway. */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  lost = false;

  constructor(
    private readonly owner: InflightLeases,
    readonly token: string,
    /** Milliseconds spent waiting for the slot. */
    readonly waitedMs: number,
    renewMs: number,
    private readonly onLost?: () => void,
  ) {
    this.timer = setInterval(() => void this.renew(), renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    try {
      if ((await this.owner.renewToken(this.token)) === 1 || this.released) return;
      this.lost = true;
      this.stopRenewing();
      this.onLost?.();
    } catch {
      // Redis briefly unreachable: the next period tries again; the lease outlives a few misses.
    }
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Frees the slot and wakes waiting workers. Safe to call more than once. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    this.stopRenewing();
    await this.owner.releaseToken(this.token);
  }
}

export class InflightLeases {
  private readonly key: string;
  private readonly channel: string;
  private readonly client: LeaseClient;
  private readonly renewMs: number;
  private readonly pollMs: number;
  private subscriber: Redis | undefined;
  private wakeAll: Array<() => void> = [];
  private closed = false;

  /**
   * @param redis a command connection; a duplicate of it is opened to hear released slots.
   * @param prefix the deployment's prefix, isolating deployments and tests on one Redis.
   */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    readonly backend: string,
    readonly options: InflightOptions,
  ) {
    if (!Number.isInteger(options.max) || options.max < 1)
      throw new Error(`backends.${backend}.maxInFlight must be a whole number >= 1`);
    if (!(options.leaseMs > 0)) throw new Error("lease time must be positive");
    this.client = defineCommands(redis);
    this.key = redisKeys(prefix).inflight(backend);
    this.channel = redisKeys(prefix).inflightReleased(backend);
    this.renewMs = options.renewMs ?? Math.max(50, Math.floor(options.leaseMs / 3));
    this.pollMs = options.pollMs ?? 1000;
  }

  /**
   * Waits for a free slot and takes it. Rejects with the signal's reason when aborted, and with a
   * retryable `Unavailable` error when Redis fails. `onLost` runs if the lease expires while held.
   */
  async acquire(signal?: AbortSignal, onLost?: () => void): Promise<Lease> {
    const token = this.options.holder ? `${this.options.holder}/${randomUUID()}` : randomUUID();
    const started = Date.now();
    this.listenForReleases();
    for (;;) {
      signal?.throwIfAborted();
      // Registered before asking, so a release between the answer and the wait is not missed.
      const woken = this.nextRelease();
      let admitted: number;
      let expiresInMs: number;
      try {
        [admitted, expiresInMs] = await this.client.sluiceLeaseAcquire(
          this.key,
          token,
          this.options.max,
          this.options.leaseMs,
        );
      } catch (error) {
        woken.cancel();
        // The script may have run even though the answer was lost: give the slot back.
        this.releaseToken(token).catch(() => undefined);
        throw new SluiceError("Unavailable", "in-flight leases in Redis are unreachable", {
          cause: error,
        });
      }
      if (admitted === 1) {
        woken.cancel();
        return new Lease(this, token, Date.now() - started, this.renewMs, onLost);
      }
      await woken.wait(Math.min(Math.max(1, Number(expiresInMs)), this.pollMs), signal);
    }
  }

  /** @internal used by Lease */
  renewToken(token: string): Promise<number> {
    return this.client.sluiceLeaseRenew(this.key, token, this.options.leaseMs);
  }

  /** @internal used by Lease */
  async releaseToken(token: string): Promise<void> {
    await this.client.sluiceLeaseRelease(this.key, token, this.channel);
  }

  /** Stops listening for releases. Held leases stay valid until released or expired. */
  async close(): Promise<void> {
    this.closed = true;
    const subscriber = this.subscriber;
    this.subscriber = undefined;
    this.wake();
    if (subscriber) subscriber.disconnect();
  }

  /**
   * Subscribes once, in the background: waiters never wait for the subscription, they poll
   * until it is up. The subscriber queues its SUBSCRIBE until connected and renews it after
   * every reconnect (ioredis does both), whatever the command connection's settings are.
   */
  private listenForReleases(): void {
    if (this.closed) throw new SluiceError("Unavailable", "in-flight leases are closed");
    if (this.subscriber) return;
    const subscriber = this.redis.duplicate({
      enableOfflineQueue: true,
      autoResubscribe: true,
      maxRetriesPerRequest: null,
    });
    this.subscriber = subscriber;
    // A lost subscription only slows waiters down to polling; the command path reports errors.
    subscriber.on("error", () => undefined);
    subscriber.on("message", () => this.wake());
    subscriber.subscribe(this.channel).catch(() => undefined);
  }

  private wake(): void {
    const waiters = this.wakeAll;
    this.wakeAll = [];
    for (const resolve of waiters) resolve();
  }

  private nextRelease(): { wait(ms: number, signal?: AbortSignal): Promise<void>; cancel(): void } {
    let resolveWake!: () => void;
    const woken = new Promise<void>((resolve) => (resolveWake = resolve));
    this.wakeAll.push(resolveWake);
    return {
      cancel: () => {
        this.wakeAll = this.wakeAll.filter((w) => w !== resolveWake);
      },
      wait: (ms, signal) =>
        new Promise<void>((resolve, reject) => {
          const done = (): void => {
            clearTimeout(timer);
            signal?.removeEventListener("abort", onAbort);
            this.wakeAll = this.wakeAll.filter((w) => w !== resolveWake);
            resolve();
          };
          const onAbort = (): void => {
            clearTimeout(timer);
            this.wakeAll = this.wakeAll.filter((w) => w !== resolveWake);
            reject(signal?.reason);
          };
          const timer = setTimeout(done, ms);
          if (signal?.aborted) return onAbort();
          signal?.addEventListener("abort", onAbort, { once: true });
          void woken.then(done);
        }),
    };
  }
}
