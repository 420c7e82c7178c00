// The per-backend cap on concurrent calls shared by every worker instance: each call holds a
// lease in a Redis sorted set scored by its expiry, so a crashed holder's slot comes back by itself.

import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import { SluiceError } from "../shared/protocol/errors";
import { untilAnswered } from "../shared/runtime/until-answered";
import { redisKeys } from "../shared/protocol/redis-keys";
import { WaitLine } from "./wait-line";
import { SLOT_LUA, type SlotAsk, type SlotRef } from "../shared/store/inflight-slot";

export interface InflightOptions {
  /** Most calls in flight at the backend across all workers. */
  max: number;
  /** How long a slot survives without renewal: the time a crashed worker's slot stays taken. */
  leaseMs: number;
  /** Renewal period while a call runs; a third of the lease by default. */
  renewMs?: number;
  /** Longest wait between attempts when no release is announced (the safety net). */
  pollMs?: number;
  /** Names the holder in each lease (e.g. the worker instance), so operators see who holds slots. */
  holder?: string;
}

// KEYS[1] the holders set, KEYS[2] the waiting set; ARGV[1] token, ARGV[2] max, ARGV[3] lease
// ms, ARGV[4] how long a refused try waits in the waiting set (ms).
// Returns {1, 0} when admitted, {0, ms until the earliest lease expires} otherwise.
const ACQUIRE_LUA = `${SLOT_LUA}
local admitted, wait = acquire_slot(KEYS[1], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  KEYS[2], tonumber(ARGV[4]))
return {admitted, wait}`;

// KEYS[1] the holders set; ARGV[1] token, ARGV[2] lease ms, ARGV[3] "1" while the holder's call
// is open. Extends a lease still held (even if just past expiry but not yet dropped: it was
// still counted, so no one took its place). Returns 1 when renewed, 2 when a lost one was put
// back for an open call, 0 when the slot was lost.
const RENEW_LUA = `${SLOT_LUA}
return renew_slot(KEYS[1], ARGV[1], tonumber(ARGV[2]), ARGV[3] == "1")`;

// KEYS[1] the holders set, KEYS[2] the waiting set; ARGV[1] token, ARGV[2] channel. Announces
// the freed slot when a try waits for one.
const RELEASE_LUA = `${SLOT_LUA}
return release_slot(KEYS[1], ARGV[1], ARGV[2], KEYS[2])`;

interface LeaseClient {
  sluiceLeaseAcquire(
    key: string,
    waiting: string,
    token: string,
    max: number,
    leaseMs: number,
    waitMs: number,
  ): Promise<[number, number]>;
  sluiceLeaseRenew(
    key: string,
    token: string,
    leaseMs: number,
    calling: "0" | "1",
  ): Promise<number>;
  sluiceLeaseRelease(key: string, waiting: string, token: string, channel: string): Promise<number>;
}

function defineCommands(redis: Redis): LeaseClient {
  if (!("sluiceLeaseAcquire" in redis)) {
    redis.defineCommand("sluiceLeaseAcquire", { numberOfKeys: 2, lua: ACQUIRE_LUA });
    redis.defineCommand("sluiceLeaseRenew", { numberOfKeys: 1, lua: RENEW_LUA });
    redis.defineCommand("sluiceLeaseRelease", { numberOfKeys: 2, lua: RELEASE_LUA });
  }
  return redis as unknown as LeaseClient;
}

/**
 * How a lease's slot was found taken away (its holder stood still, or was cut off from Redis,
 * past the lease): "put back" while its call was open at the backend, which newcomers must
 * then wait for; "taken" before its call, which then waits for a slot again (`confirm`).
 */
export type LeaseLoss = "put back" | "taken";

/** One held slot. Renewed automatically until released; `lost` turns true if it expired anyway. */
export class Lease {
  private timer: NodeJS.Timeout | undefined;
  private released = false;
  /** A script freeing the slot is on its way (`freeing`): renewals have nothing left to keep. */
  private finishing = false;
  lost = false;
  /**
   * Whether a call under this slot has started: a renewal that finds the slot taken away then
   * puts it back, since that call is open at the backend whatever Redis says.
   */
  private calling = false;

  constructor(
    private readonly owner: InflightLeases,
    /** Where the slot is in Redis: a script may free it together with other work (`freed`). */
    readonly slot: SlotRef,
    /** Milliseconds spent waiting for the slot. */
    readonly waitedMs: number,
    private readonly renewMs: number,
    /**
     * When Redis last said the slot is this lease's (monotonic ms): when that question was
     * sent, not when its answer was read, since a worker that stood still in between (its
     * answer waiting in the socket) reads a lease that may have run out meanwhile.
     */
    private confirmedAt: number,
    /** Told once each time the slot is found taken away. */
    private readonly onLost?: (loss: LeaseLoss) => void,
  ) {
    this.startRenewing();
  }

  get token(): string {
    return this.slot.token;
  }

  /**
   * Makes sure the slot is still this lease's right before a call, and takes it again (waiting
   * as any newcomer would) when it is not: a worker stalled past its lease (stopped, starved of
   * CPU, Redis out of reach) found other workers in its slots, and its waiting calls went out
   * beside theirs, up to twice `maxInFlight`. Redis is asked only when the last confirmation is
   * older than half a lease, so a call soon after its slot was taken or renewed costs nothing.
   * Resolves true when the slot had to be taken again after a wait (the caller's rate token is
   * stale by then), false when it was held all along or free at once.
   */
  async confirm(signal: () => AbortSignal): Promise<boolean> {
    if (this.released) return false;
    if (!this.lost) {
      const askedAt = performance.now();
      if (askedAt - this.confirmedAt < this.owner.options.leaseMs / 2) return false;
      if ((await this.owner.renewToken(this.token, false)) === 1) {
        this.confirmedAt = askedAt;
        return false;
      }
      this.noteLost();
    }
    const { waited, askedAt } = await this.owner.regain(this.slot.token, signal);
    this.lost = false;
    this.confirmedAt = askedAt;
    this.startRenewing();
    return waited;
  }

  /** Notes that the call under this slot started: see `calling`. */
  callStarted(): void {
    this.calling = true;
  }

  /**
   * Notes that a script freeing the slot (`slot`) is about to be sent: the backend is done with
   * the call. A renewal sent after it would find the slot gone and, the call counting as open,
   * put it back for a whole lease with no call under it; nor is the slot lost then.
   */
  freeing(): void {
    this.finishing = true;
    this.calling = false;
    this.stopRenewing();
  }

  /** The slot is no longer this lease's: renewals stop until `confirm` takes one again. */
  private noteLost(): void {
    if (this.lost) return;
    this.lost = true;
    this.stopRenewing();
    this.onLost?.("taken");
  }

  private startRenewing(): void {
    this.timer = setInterval(() => void this.renew(), this.renewMs);
    this.timer.unref();
  }

  private async renew(): Promise<void> {
    const askedAt = performance.now();
    try {
      const renewed = await this.owner.renewToken(this.token, this.calling);
      if (this.released || this.finishing) return;
      if (renewed === 0) return this.noteLost();
      this.confirmedAt = askedAt;
      if (renewed === 2) this.onLost?.("put back");
    } catch {
      // Redis briefly unreachable: the next period tries again; the lease outlives a few misses.
    }
  }

  private stopRenewing(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Notes that a script freed the slot (see `slot`): nothing is left for `release` to do. */
  freed(): void {
    this.released = true;
    this.stopRenewing();
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
  private readonly waiting: string;
  private readonly client: LeaseClient;
  private readonly renewMs: number;
  private readonly pollMs: number;
  private readonly waitMs: number;
  private subscriber: Redis | undefined;
  /** Callers waiting for the next release. */
  private readonly waiters = new Set<() => void>();
  /** This process's waits for a slot, in the order they began: only the first asks again. */
  private readonly line = new WaitLine();
  /** Releases heard so far: a try that saw a release meanwhile asks again at once. */
  private releases = 0;
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
    this.waiting = redisKeys(prefix).inflightWaiting(backend);
    this.renewMs = options.renewMs ?? Math.max(50, Math.floor(options.leaseMs / 3));
    this.pollMs = options.pollMs ?? 1000;
    // A waiter tries again within a poll: its entry outlives that by a poll and a second, so a
    // busy event loop does not let it lapse while the waiter still waits.
    this.waitMs = 2 * this.pollMs + 1000;
  }

  /**
   * Waits for a free slot and takes it. Rejects with the signal's reason when aborted, and with a
   * retryable `Unavailable` error when Redis fails. `onLost` is told each time the slot is found
   * taken away while held (see `LeaseLoss`).
   */
  async acquire(signal?: AbortSignal, onLost?: (loss: LeaseLoss) => void): Promise<Lease> {
    signal?.throwIfAborted();
    const { lease } = await this.acquireWith<undefined>(
      (slot) => this.trySlot(slot),
      () => signal,
      onLost,
    );
    return lease!;
  }

  /**
   * Waits for a free slot like `acquire`, but each try is `attempt`: a script that takes the
   * slot and may do more in the same round trip (the worker claims its message with it), or
   * finds there is nothing to take a slot for (`settled`: no lease, no wait). `signal` is asked
   * for only when a wait begins, so a slot free at once costs no signal. The caller checks for
   * an abort before the first try.
   *
   * This process's waits take their slots in the order they came (`WaitLine`): only the first
   * in line tries again, at a release or its poll; the others wait behind it, and a try that
   * finds someone in line joins it without asking (a copy with nothing to take a slot for finds
   * that out at its turn). Raced, a freed slot went to whichever asked first after the notice,
   * and the holder that had just freed it, asking for its next message, asked first: with four
   * waiting for one slot, one was overtaken 42 times in a row.
   */
  async acquireWith<T>(
    attempt: (slot: SlotAsk) => Promise<SlotTry<T>>,
    signal: () => AbortSignal | undefined,
    onLost?: (loss: LeaseLoss) => void,
    /** A lost lease's own token, taken again (`regain`). */
    given?: string,
  ): Promise<{ lease: Lease | null; value: T }> {
    const token =
      given ?? (this.options.holder ? `${this.options.holder}/${randomUUID()}` : randomUUID());
    const slot: SlotAsk = {
      key: this.key,
      token,
      channel: this.channel,
      waiting: this.waiting,
      max: this.options.max,
      leaseMs: this.options.leaseMs,
      waitMs: this.waitMs,
    };
    // Monotonic: a wall clock stepped meanwhile must not make the wait negative or huge.
    const started = performance.now();
    this.listenForReleases();
    // A refused try is entered in the waiting set by its script (taken out when admitted), so
    // from its answer on every release is announced; a try that gives up takes it out itself.
    let waiting = false;
    // Noted before each try, so a release between its answer and the wait is not missed.
    let releasesSeen = this.releases;
    let askedAt = performance.now();
    const tryOnce = async (): Promise<SlotTry<T>> => {
      releasesSeen = this.releases;
      askedAt = performance.now();
      try {
        const found = await attempt(slot);
        if (found.outcome === "busy") waiting = true;
        if (found.outcome === "admitted") waiting = false;
        return found;
      } catch (error) {
        // The script may have run even though the answer was lost: give the slot back (or,
        // had it been refused, its waiting entry), once Redis can be reached again. Not a lost
        // lease's own token (`regain`): its Lease tries again with that token before the call
        // and releases it itself, and a give-back still being sent then would free the slot
        // under the call it was regained for.
        if (given === undefined)
          untilAnswered(() => this.releaseToken(token), this.options.leaseMs);
        waiting = true;
        throw new SluiceError("Unavailable", "in-flight leases in Redis are unreachable", {
          cause: error,
        });
      }
    };
    const taken = (found: SlotTry<T> & { outcome: "admitted" | "settled" }) => {
      if (found.outcome === "settled") return { lease: null, value: found.value };
      // A lost slot taken again stays with the Lease that lost it (`regain`).
      if (given !== undefined) return { lease: null, value: found.value };
      const waitedMs = performance.now() - started;
      const lease = new Lease(this, slot, waitedMs, this.renewMs, askedAt, onLost);
      return { lease, value: found.value };
    };
    try {
      // Nobody of this process in line, a slot may be taken at once. Otherwise the try waits its
      // turn behind them, or it would take the slot freed for the first in line; a refused try
      // waits for a release, or for the earliest lease's end as it said (at most the poll).
      const found = await this.line.take(
        tryOnce,
        (answer): answer is SlotTry<T> & { outcome: "admitted" | "settled" } =>
          answer.outcome !== "busy",
        async (refusal, waitSignal) => {
          if (this.releases === releasesSeen) {
            const dueMs = Math.min(Math.max(1, refusal.retryInMs), this.pollMs);
            await this.nextRelease(dueMs, waitSignal);
          }
          waitSignal?.throwIfAborted();
        },
        signal,
      );
      return taken(found);
    } finally {
      if (waiting) this.stopWaiting(token);
    }
  }

  /** @internal used by Lease */
  renewToken(token: string, calling: boolean): Promise<number> {
    return this.client.sluiceLeaseRenew(this.key, token, this.options.leaseMs, calling ? "1" : "0");
  }

  /**
   * @internal used by Lease: takes the slot of `token` again after it was lost, waiting for a
   * free one as `acquire` does. Resolves whether it had to wait, and when the try that took the
   * slot was sent.
   */
  async regain(
    token: string,
    signal: () => AbortSignal,
  ): Promise<{ waited: boolean; askedAt: number }> {
    let waited = false;
    let askedAt = performance.now();
    await this.acquireWith<undefined>(
      async (slot) => {
        askedAt = performance.now();
        const found = await this.trySlot(slot);
        if (found.outcome === "busy") waited = true;
        return found;
      },
      signal,
      undefined,
      token,
    );
    return { waited, askedAt };
  }

  /** One try at `slot` on its own (no claim with it). */
  private async trySlot(slot: SlotAsk): Promise<SlotTry<undefined>> {
    const [admitted, expiresInMs] = await this.client.sluiceLeaseAcquire(
      slot.key,
      slot.waiting,
      slot.token,
      slot.max,
      slot.leaseMs,
      slot.waitMs,
    );
    return admitted === 1
      ? { outcome: "admitted", value: undefined }
      : { outcome: "busy", retryInMs: Number(expiresInMs) };
  }

  /** @internal used by Lease */
  async releaseToken(token: string): Promise<void> {
    await this.client.sluiceLeaseRelease(this.key, this.waiting, token, this.channel);
  }

  /** A try that waited gives up: its entry goes, so releases are not announced for it. */
  private stopWaiting(token: string): void {
    this.redis.zrem(this.waiting, token).catch(() => undefined);
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
    this.releases++;
    const waiters = [...this.waiters];
    this.waiters.clear();
    for (const resolve of waiters) resolve();
  }

  /** Resolves at the next release or after `ms`; rejects with the signal's reason on abort. */
  private nextRelease(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const done = (): void => {
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        this.waiters.delete(done);
        resolve();
      };
      const onAbort = (): void => {
        clearTimeout(timer);
        this.waiters.delete(done);
        reject(signal?.reason);
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}

/**
 * One try at a slot: taken (with the try's own result), none free yet (the earliest lease
 * ends in `retryInMs`), or nothing to take one for (the try's result, and no wait).
 */
export type SlotTry<T> =
  | { outcome: "admitted"; value: T }
  | { outcome: "busy"; retryInMs: number }
  | { outcome: "settled"; value: T };
