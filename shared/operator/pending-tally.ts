// Counts by group (a dead letter's backend and reason, a dead callback's reason) of the operator
// entries still waiting for the operator, kept by the same scripts that change their state, so
// the status page reads a few counts instead of every record at each poll.

import type Redis from "ioredis";
import type { ChainableCommander } from "ioredis";
import type { TallyKeys } from "../protocol/redis-keys";
import { REDIS_NOW_LUA } from "../store/inflight-slot";
import { pipelineReplies } from "../store/pipeline-replies";

/**
 * The Lua every script that changes an entry's state includes: `t` is the three tally keys
 * (members, groups, counts). An id is added with the time its record has left (PTTL; one
 * without expiry is counted until removed), reckoned on Redis's clock as the expiry is. Adding
 * an id already counted only moves its expiry (or its group); removing one not counted does
 * nothing, so a script run again (resent by ioredis after a reconnect) counts nothing twice.
 */
export const TALLY_LUA = `${REDIS_NOW_LUA}
local function tally_remove(t, id)
  if not redis.call("ZSCORE", t[1], id) then return end
  local group = redis.call("HGET", t[2], id)
  redis.call("ZREM", t[1], id)
  redis.call("HDEL", t[2], id)
  if group and redis.call("HINCRBY", t[3], group, -1) <= 0 then redis.call("HDEL", t[3], group) end
end
local function tally_add(t, id, group, ttl)
  if redis.call("HGET", t[2], id) ~= group then
    tally_remove(t, id)
    redis.call("HSET", t[2], id, group)
    redis.call("HINCRBY", t[3], group, 1)
  end
  redis.call("ZADD", t[1], ttl < 0 and "+inf" or redis_now_ms() + ttl, id)
end`;

// KEYS: members, groups, counts, built; ARGV: the most expired members one call takes out.
// Records expire unseen (their retention): those past their expiry are taken out first, so the
// counts are of records that still exist. Past, not at: Redis keeps a key through the millisecond
// it expires in (it is gone once the clock is later), and a member's score is never earlier than
// its record's expiry, so a member taken out is of a record already gone. At most ARGV[1] of them
// per call, so one call never holds Redis for long after a mass expiry (a flood of dead letters a
// retention ago): {1} while more are left to take out (the caller calls again), else
// {0, counts}. False while the tally was never built.
const COUNTS = `${TALLY_LUA}
if redis.call("EXISTS", KEYS[4]) == 0 then return false end
local t = {KEYS[1], KEYS[2], KEYS[3]}
local limit = tonumber(ARGV[1])
local expired = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", "(" .. redis_now_ms(), "LIMIT", 0, limit)
for _, id in ipairs(expired) do tally_remove(t, id) end
if #expired >= limit then return {1} end
return {0, redis.call("HGETALL", KEYS[3])}`;

/** How many expired members one counts call takes out at most. */
const EXPIRED_BATCH = 1000;

/** How many adopt scripts go in one pipeline while a tally is built. */
const ADOPT_BATCH = 200;

/**
 * Queues `adopt` (a script counting one entry as it is now) for every id of the sorted set
 * `index`, a pipeline at a time: the build of a tally, shared by the dead letters and the dead
 * callbacks.
 */
export async function adoptIndex(
  redis: Redis,
  index: string,
  adopt: (pipeline: ChainableCommander, id: string) => unknown,
): Promise<void> {
  const ids = await redis.zrange(index, 0, -1);
  for (let start = 0; start < ids.length; start += ADOPT_BATCH) {
    const pipeline = redis.pipeline();
    for (const id of ids.slice(start, start + ADOPT_BATCH)) adopt(pipeline, id);
    await pipelineReplies(pipeline);
  }
}

interface ScriptedRedis extends Redis {
  sluiceTallyCounts(...keysAndArgs: string[]): Promise<[1] | [0, string[]] | null>;
}

export class PendingTally {
  private readonly redis: ScriptedRedis;
  private building: Promise<void> | null = null;

  /**
   * `build` counts every entry of the index as it is now, waiting or not (each checked by a
   * script, so one whose state changes meanwhile is counted right): run by the first reader
   * that finds the tally not built (a new deployment, one upgraded from a release that kept no
   * counts, or one whose `built` key an operator deleted to have them counted again).
   */
  constructor(
    redis: Redis,
    readonly keys: TallyKeys,
    private readonly build: () => Promise<void>,
    /** The most expired members one Redis call takes out (smaller in tests). */
    private readonly expiredBatch = EXPIRED_BATCH,
  ) {
    this.redis = redis as ScriptedRedis;
    if (!("sluiceTallyCounts" in redis)) {
      redis.defineCommand("sluiceTallyCounts", { numberOfKeys: 4, lua: COUNTS });
    }
  }

  /** The three keys the state-changing scripts pass for TALLY_LUA's `t`, in its order. */
  get scriptKeys(): [string, string, string] {
    return [this.keys.members, this.keys.groups, this.keys.counts];
  }

  /** Whether the tally was built: from then on its members are exactly the entries waiting. */
  async built(): Promise<boolean> {
    return (await this.redis.exists(this.keys.built)) === 1;
  }

  /** Count per group of the entries waiting; groups with none are left out. */
  async counts(): Promise<Map<string, number>> {
    let reply = await this.read();
    if (reply === null) {
      this.building ??= this.build()
        .then(() => this.redis.set(this.keys.built, "1"))
        .then(() => undefined)
        .finally(() => (this.building = null));
      await this.building;
      reply = (await this.read()) ?? [];
    }
    const counts = new Map<string, number>();
    for (let i = 0; i + 1 < reply.length; i += 2) {
      const count = Number(reply[i + 1]);
      if (count > 0) counts.set(reply[i], count);
    }
    return counts;
  }

  /** The counts as HGETALL gives them, once every expired member is out; null unbuilt. */
  private async read(): Promise<string[] | null> {
    const { members, groups, counts, built } = this.keys;
    for (;;) {
      const reply = await this.redis.sluiceTallyCounts(
        members,
        groups,
        counts,
        built,
        String(this.expiredBatch),
      );
      if (reply === null) return null;
      if (reply[0] === 0) return reply[1];
    }
  }
}
