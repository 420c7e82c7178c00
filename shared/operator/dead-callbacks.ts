// The operator's record of callbacks that died: a message whose final callback ended without
// success (retries used up, 410, an X-Road refusal, a target no longer allowed), kept in Redis
// beside its transaction record so it can be listed and sent again (callback-redelivery.ts).

import type Redis from "ioredis";
import type { ChainableCommander } from "ioredis";
import { receiverOf, shownCallbackTarget } from "../delivery/callback-target";
import { operatorIdOf } from "../protocol/message-id";
import { redisKeys } from "../protocol/redis-keys";
import { pipelineReplies } from "../store/pipeline-replies";
import type { Delivery } from "../store/transaction-store";
import { scanIndex } from "./index-scan";
import { adoptIndex, PendingTally, TALLY_LUA } from "./pending-tally";

export interface DeadCallback {
  /** Gateway id of the message. */
  id: string;
  /** The delivery's `webhook-id`; a redelivery sends the same one. */
  webhookId: string;
  /**
   * The callback target as sent (its query may hold the caller's tokens): operator views show
   * it through `deadCallbackDocument` (shownCallbackTarget).
   */
  target: string;
  /** The target's receiver: a URL origin, or an X-Road service (`receiverOf`). */
  receiver: string;
  /** How the delivery ended: exhausted, gone, rejected, refused, too_large or lost. */
  reason: string;
  /** Attempts made by the delivery that died. */
  attempts: number;
  /** What the last attempt came to, in words. */
  failure: string | null;
  /** HTTP status of the last attempt, when there was an answer. */
  status: number | null;
  /** Epoch ms when the delivery died. */
  at: number;
  /** Redeliveries an operator asked for so far. */
  redeliveries: number;
  /** The message's delivery state now: delivery_failed, or pending while redelivered. */
  delivery: string;
}

export interface DeadCallbackFilter {
  id?: string;
  reason?: string;
  /** A URL origin or an X-Road service, as `receiverOf` gives it. */
  receiver?: string;
  /** The full target, or the target as operator views show it. */
  target?: string;
  /** Only entries whose message's delivery is this (e.g. delivery_failed, to redeliver). */
  delivery?: string;
  /** Only those that died at or before this instant (ms): a bulk run's `until`. */
  until?: number;
}

// The delivery-state change every script below makes, with its history entry; and the tally of
// the dead callbacks whose delivery is delivery_failed (the status page's counts), which every
// script keeps with it: `t` is the tally's keys, counted until the record or its message's
// record expires, whichever is first.
const SET_DELIVERY_LUA = `${TALLY_LUA}
local function set_delivery(tx, delivery, now)
  redis.call("HSET", tx, "delivery", delivery, "updatedAt", now, "history",
    redis.call("HGET", tx, "history") .. ',{"state":"' .. delivery .. '","at":' .. now .. '}')
end
local function tally_failed(t, tx, entry, id)
  local ttl = redis.call("PTTL", entry)
  local tx_ttl = redis.call("PTTL", tx)
  if tx_ttl >= 0 and (ttl < 0 or tx_ttl < ttl) then ttl = tx_ttl end
  tally_add(t, id, redis.call("HGET", entry, "reason") or "", ttl)
end`;

// KEYS: tx, entry, index, tally (3); ARGV: now, ttl ms, oldest-kept score, id, then
// field/value pairs.
// The final callback died: delivery pending → delivery_failed, and the record, in one step, so
// every delivery_failed of a callback has its record. A delivery no longer pending (another
// copy got through, or this settlement ran before, resent after a reconnect) changes nothing.
const RECORD = `${SET_DELIVERY_LUA}
if redis.call("HGET", KEYS[1], "delivery") ~= "pending" then return 0 end
set_delivery(KEYS[1], "delivery_failed", ARGV[1])
redis.call("HDEL", KEYS[2], "claim", "published")
redis.call("HSET", KEYS[2], unpack(ARGV, 5))
redis.call("PEXPIRE", KEYS[2], ARGV[2])
redis.call("ZADD", KEYS[3], ARGV[1], ARGV[4])
redis.call("ZREMRANGEBYSCORE", KEYS[3], "-inf", ARGV[3])
tally_failed({KEYS[4], KEYS[5], KEYS[6]}, KEYS[1], KEYS[2], ARGV[4])
return 1`;

// KEYS: tx, entry, publishing mark, tally (3); ARGV: now, token, mark ttl ms, id.
// The one place a redelivery is decided: delivery_failed → pending, so of two operators (or
// one bulk run and one single) asking at once exactly one gets "ok". A redelivery claimed but
// never confirmed by the broker (its publisher stopped) is taken over once its mark expired
// ("resumed"); the same claim resent by ioredis after a reconnect finds its own token.
// Whatever it answers, the delivery is not delivery_failed after it (or the record is gone):
// the id leaves the tally.
const CLAIM = `${SET_DELIVERY_LUA}
tally_remove({KEYS[4], KEYS[5], KEYS[6]}, ARGV[4])
if redis.call("EXISTS", KEYS[2]) == 0 then return {"missing", ""} end
local delivery = redis.call("HGET", KEYS[1], "delivery")
if not delivery then return {"gone", ""} end
if delivery == "delivery_failed" then
  set_delivery(KEYS[1], "pending", ARGV[1])
  redis.call("HSET", KEYS[2], "claim", ARGV[2], "published", "0", "redeliveredAt", ARGV[1])
  redis.call("HINCRBY", KEYS[2], "redeliveries", 1)
  redis.call("SET", KEYS[3], ARGV[2], "PX", ARGV[3])
  return {"ok", delivery}
end
if delivery == "pending" and redis.call("HGET", KEYS[2], "published") == "0" then
  if redis.call("SET", KEYS[3], ARGV[2], "PX", ARGV[3], "NX") or
      redis.call("GET", KEYS[3]) == ARGV[2] then
    redis.call("HSET", KEYS[2], "claim", ARGV[2])
    return {"resumed", delivery}
  end
end
return {"already", delivery}`;

// KEYS: entry, publishing mark; ARGV: token. The broker confirmed the redelivery.
const CONFIRMED = `
if redis.call("HGET", KEYS[1], "claim") == ARGV[1] then
  redis.call("HSET", KEYS[1], "published", "1")
end
if redis.call("GET", KEYS[2]) == ARGV[1] then redis.call("DEL", KEYS[2]) end
return 1`;

// KEYS: tx, entry, publishing mark, tally (3); ARGV: now, token, id. The broker did not take
// the redelivery: back to delivery_failed, so it can be asked again.
const UNCLAIM = `${SET_DELIVERY_LUA}
if redis.call("HGET", KEYS[2], "claim") ~= ARGV[2] then return 0 end
if redis.call("HGET", KEYS[2], "published") ~= "0" then return 0 end
if redis.call("HGET", KEYS[1], "delivery") == "pending" then
  set_delivery(KEYS[1], "delivery_failed", ARGV[1])
  tally_failed({KEYS[4], KEYS[5], KEYS[6]}, KEYS[1], KEYS[2], ARGV[3])
end
redis.call("HDEL", KEYS[2], "claim", "published")
redis.call("HINCRBY", KEYS[2], "redeliveries", -1)
if redis.call("GET", KEYS[3]) == ARGV[2] then redis.call("DEL", KEYS[3]) end
return 1`;

// KEYS: tx, tally (3); ARGV: id, now. A copy of the delivery got through: pending or
// delivery_failed → delivered (a copy that got through settles it even after another gave up),
// and out of the tally, in one step: the count cannot keep a message whose delivery is settled,
// whatever happens to the connection after. Answers the state it changed from, or 0.
const DELIVERED = `${SET_DELIVERY_LUA}
local cur = redis.call("HGET", KEYS[1], "delivery")
if cur ~= "pending" and cur ~= "delivery_failed" then return 0 end
set_delivery(KEYS[1], "delivered", ARGV[2])
tally_remove({KEYS[2], KEYS[3], KEYS[4]}, ARGV[1])
return cur`;

// KEYS: tx, entry, tally (3); ARGV: id. Counts a dead callback of the index as it is now: one
// whose record is there and whose delivery is delivery_failed is counted, any other is not.
const ADOPT = `${SET_DELIVERY_LUA}
if redis.call("HGET", KEYS[1], "delivery") ~= "delivery_failed" or
    redis.call("HEXISTS", KEYS[2], "id") == 0 then
  tally_remove({KEYS[3], KEYS[4], KEYS[5]}, ARGV[1])
  return 0
end
tally_failed({KEYS[3], KEYS[4], KEYS[5]}, KEYS[1], KEYS[2], ARGV[1])
return 1`;

interface ScriptedRedis extends Redis {
  sluiceDeadCallbackRecord(...keysAndArgs: string[]): Promise<number>;
  sluiceDeadCallbackClaim(...keysAndArgs: string[]): Promise<[string, string]>;
  sluiceDeadCallbackConfirmed(...keysAndArgs: string[]): Promise<number>;
  sluiceDeadCallbackUnclaim(...keysAndArgs: string[]): Promise<number>;
  sluiceDeadCallbackDelivered(...keysAndArgs: string[]): Promise<Delivery | 0>;
  sluiceDeadCallbackAdopt(...keysAndArgs: string[]): Promise<number>;
}

export type ClaimResult = "ok" | "resumed" | "already" | "missing" | "gone";

const FIELDS = [
  "id",
  "webhookId",
  "target",
  "receiver",
  "reason",
  "attempts",
  "failure",
  "status",
  "at",
  "redeliveries",
] as const;

export class DeadCallbacks {
  private readonly redis: ScriptedRedis;
  private readonly keys: ReturnType<typeof redisKeys>;
  /** The dead callbacks whose delivery is delivery_failed, by reason. */
  readonly tally: PendingTally;

  constructor(
    redis: Redis,
    prefix: string,
    private readonly retentionMs: number,
  ) {
    this.redis = redis as ScriptedRedis;
    this.keys = redisKeys(prefix);
    if (!("sluiceDeadCallbackRecord" in redis)) {
      redis.defineCommand("sluiceDeadCallbackRecord", { numberOfKeys: 6, lua: RECORD });
      redis.defineCommand("sluiceDeadCallbackClaim", { numberOfKeys: 6, lua: CLAIM });
      redis.defineCommand("sluiceDeadCallbackConfirmed", { numberOfKeys: 2, lua: CONFIRMED });
      redis.defineCommand("sluiceDeadCallbackUnclaim", { numberOfKeys: 6, lua: UNCLAIM });
      redis.defineCommand("sluiceDeadCallbackDelivered", { numberOfKeys: 4, lua: DELIVERED });
      redis.defineCommand("sluiceDeadCallbackAdopt", { numberOfKeys: 5, lua: ADOPT });
    }
    this.tally = new PendingTally(redis, this.keys.deadCallbackTally, () => this.adoptAll());
  }

  /**
   * The message's final callback died: its delivery becomes delivery_failed and the record is
   * kept for the retention. False when the delivery was no longer pending (nothing changed).
   */
  async record(
    entry: Omit<DeadCallback, "redeliveries" | "delivery">,
    now = entry.at,
  ): Promise<boolean> {
    const fields: Record<string, string> = {
      id: entry.id,
      webhookId: entry.webhookId,
      target: entry.target,
      receiver: entry.receiver,
      reason: entry.reason,
      attempts: String(entry.attempts),
      failure: entry.failure ?? "",
      status: entry.status === null ? "" : String(entry.status),
      at: String(entry.at),
    };
    const changed = await this.redis.sluiceDeadCallbackRecord(
      this.keys.tx(entry.id),
      this.keys.deadCallback(entry.id),
      this.keys.deadCallbackIndex,
      ...this.tally.scriptKeys,
      String(now),
      String(this.retentionMs),
      String(now - this.retentionMs),
      entry.id,
      ...Object.entries(fields).flat(),
    );
    return changed === 1;
  }

  async get(id: string): Promise<DeadCallback | null> {
    return entryOf(await pipelineReplies(this.read(this.redis.pipeline(), id)));
  }

  /**
   * Dead callbacks matching `filter`, newest first (or `oldest` first, as a bulk redelivery
   * takes them), at most `limit`, among the `scan` newest (or oldest) of the index. One whose
   * callback got through since (another copy of it, or a redelivery) is left out; one whose
   * record outlived the retention is dropped from the index as it is met.
   */
  async list(
    filter: DeadCallbackFilter = {},
    limit = 100,
    order: "newest" | "oldest" = "newest",
    scan = 10_000,
  ): Promise<DeadCallback[]> {
    const index = this.keys.deadCallbackIndex;
    const ids = filter.id
      ? [filter.id]
      : order === "oldest"
        ? await this.redis.zrange(index, 0, scan - 1)
        : await this.redis.zrevrange(index, 0, scan - 1);
    const { found, gone } = await scanIndex(this.redis, ids, limit, {
      read: (pipeline, id) => this.read(pipeline, id),
      decode: (replies) => {
        const entry = entryOf(replies);
        // Delivered since (another copy got through, or a redelivery): nothing is dead.
        return entry?.delivery === "delivered" ? null : entry;
      },
      keep: (entry) => matches(entry, filter),
    });
    if (gone.length && !filter.id) await this.redis.zrem(index, ...gone).catch(() => undefined);
    return found;
  }

  /** Queues the reads of one entry: its record and its message's delivery state. */
  private read(pipeline: ChainableCommander, id: string): ChainableCommander {
    return pipeline.hmget(this.keys.deadCallback(id), ...FIELDS).hget(this.keys.tx(id), "delivery");
  }

  /** Claims the redelivery of `id` (see CLAIM): `token` names this claim. */
  async claim(id: string, token: string, markMs: number, now = Date.now()): Promise<ClaimResult> {
    const [result] = await this.redis.sluiceDeadCallbackClaim(
      this.keys.tx(id),
      this.keys.deadCallback(id),
      this.keys.redeliveryPublishing(id),
      ...this.tally.scriptKeys,
      String(now),
      token,
      String(markMs),
      id,
    );
    return result as ClaimResult;
  }

  async confirmed(id: string, token: string): Promise<void> {
    await this.redis.sluiceDeadCallbackConfirmed(
      this.keys.deadCallback(id),
      this.keys.redeliveryPublishing(id),
      token,
    );
  }

  async unclaim(id: string, token: string, now = Date.now()): Promise<void> {
    await this.redis.sluiceDeadCallbackUnclaim(
      this.keys.tx(id),
      this.keys.deadCallback(id),
      this.keys.redeliveryPublishing(id),
      ...this.tally.scriptKeys,
      String(now),
      token,
      id,
    );
  }

  /**
   * The message's delivery was settled delivered (a copy got through): from pending or
   * delivery_failed, and out of the dead-callback count in the same step. Answers the delivery
   * state it changed from, or null when nothing changed (no record, or delivered already).
   */
  async delivered(id: string, now = Date.now()): Promise<Delivery | null> {
    const from = await this.redis.sluiceDeadCallbackDelivered(
      this.keys.tx(id),
      ...this.tally.scriptKeys,
      id,
      String(now),
    );
    return from === 0 ? null : from;
  }

  /**
   * How many dead callbacks wait for a redelivery (delivery_failed), by reason: counts kept as
   * they die and are redelivered, not a read of the records (the status page asks every second).
   */
  async failedCounts(): Promise<Record<string, number>> {
    return Object.fromEntries(await this.tally.counts());
  }

  /** Counts every dead callback of the index as it is now (PendingTally's build). */
  private adoptAll(): Promise<void> {
    return adoptIndex(this.redis, this.keys.deadCallbackIndex, (pipeline, id) =>
      (pipeline as unknown as ScriptedRedis).sluiceDeadCallbackAdopt(
        this.keys.tx(id),
        this.keys.deadCallback(id),
        ...this.tally.scriptKeys,
        id,
      ),
    );
  }
}

/**
 * The entry from the replies of `read`: its record's fields and its message's delivery state;
 * null when either is gone.
 */
function entryOf([values, state]: unknown[]): DeadCallback | null {
  const delivery = state as string | null;
  const [id, webhookId, target, receiver, reason, attempts, failure, status, at, redeliveries] =
    values as Array<string | null>;
  if (!id || !webhookId || !target || !delivery) return null;
  return {
    id,
    webhookId,
    target,
    receiver: receiver ?? "",
    reason: reason ?? "",
    attempts: Number(attempts ?? 0),
    failure: failure || null,
    status: status ? Number(status) : null,
    at: Number(at ?? 0),
    redeliveries: Number(redeliveries ?? 0),
    delivery,
  };
}

function matches(entry: DeadCallback, filter: DeadCallbackFilter): boolean {
  return (
    (!filter.id || entry.id === filter.id) &&
    (!filter.reason || entry.reason === filter.reason) &&
    (!filter.receiver || entry.receiver === filter.receiver) &&
    // The full target, or the target as operators are shown it (which names no query value).
    (!filter.target ||
      entry.target === filter.target ||
      shownCallbackTarget(entry.target) === filter.target) &&
    (!filter.delivery || entry.delivery === filter.delivery) &&
    (filter.until === undefined || entry.at <= filter.until)
  );
}

export const CALLBACK_FILTER_KEYS = ["reason", "receiver", "target", "id"] as const;

/**
 * The dead-callback filter of a query or a request body. `receiver` may be given as any URL
 * of the receiver (or an X-Road target): it is compared as the receiver it names.
 */
export function deadCallbackFilter(get: (key: string) => unknown): DeadCallbackFilter {
  const filter: DeadCallbackFilter = {};
  for (const key of CALLBACK_FILTER_KEYS) {
    const value = get(key);
    if (typeof value === "string" && value) filter[key] = value;
  }
  if (filter.receiver) filter.receiver = receiverOf(filter.receiver) ?? filter.receiver;
  if (filter.id) filter.id = operatorIdOf(filter.id);
  return filter;
}
