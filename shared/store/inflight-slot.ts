// A backend's in-flight slots in Redis, as Lua functions: the worker's lease scripts use them
// alone, and the transaction store's claim and answer scripts use them together with the
// message's record, so taking a slot and claiming, or recording an answer and freeing the slot,
// is one round trip. One definition, so every script keeps the set's shape the same.

/**
 * The sorted set `inflight(backend)` holds one member per held slot (a token), scored by the
 * lease's expiry in Redis time (ms). A try that found no slot free waits in
 * `inflightWaiting(backend)`, scored by when its wait lapses; freeing a slot is announced on
 * `inflightReleased(backend)` only while that set has a live member, so a backend nobody waits
 * for costs no publish and wakes no worker per call.
 */
export interface SlotRef {
  /** The backend's in-flight set. */
  key: string;
  /** This holder's member. */
  token: string;
  /** Pub/sub channel announcing a freed slot. */
  channel: string;
  /** The backend's set of waiting tries (`inflightWaiting`). */
  waiting: string;
}

/** A slot to take: at most `max` live members, each leased for `leaseMs`. */
export interface SlotAsk extends SlotRef {
  max: number;
  leaseMs: number;
  /**
   * How long a try that finds no slot free stays in the waiting set: longer than the waiter
   * takes to try again, so a release meanwhile is announced; a crashed waiter's entry lapses.
   */
  waitMs: number;
}

/**
 * `redis_now_ms()`: Redis's clock in epoch ms. Leases, slots and claims are set and read
 * against it, the same for every worker, so a worker machine whose clock runs ahead cannot
 * take over what another still holds.
 */
export const REDIS_NOW_LUA = `
local function redis_now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end`;

/**
 * `acquire_slot(key, token, max, lease, waiting, wait)` drops expired holders, then admits when
 * fewer than `max` remain (a token already present keeps its one slot, so a command resent after
 * a reconnect cannot take two): returns 1, 0 when admitted (and the token no longer waits), else
 * 0 and the ms until the earliest lease expires, with the token entered in `waiting` for `wait`
 * ms: a release from then on is announced, so the waiter cannot miss it between this answer and
 * its wait. `renew_slot(key, token, lease, calling)` extends a lease still held (1); one lost
 * is put back when its holder is calling the backend (2: that call is open, and counting it
 * makes newcomers wait), else reported lost (0). `release_slot(key, token, channel, waiting)`
 * frees the slot and announces it when a try waits. Times are Redis's own clock, the same for
 * every worker.
 *
 * A set lives until its last member's lease ends (`keep_until_last`): set from each caller's own
 * lease, the shortest of several (workers with another `leaseTime`, a rolling change of it)
 * made the whole set expire under the others' open calls, and every slot came free at once.
 */
export const SLOT_LUA = `${REDIS_NOW_LUA}
local function keep_until_last(key)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, tonumber(last[2]) + 1000) end
end
local function acquire_slot(key, token, max, lease, waiting, wait)
  local now = redis_now_ms()
  redis.call('ZREMRANGEBYSCORE', key, '-inf', now)
  if redis.call('ZSCORE', key, token) or redis.call('ZCARD', key) < max then
    redis.call('ZADD', key, now + lease, token)
    keep_until_last(key)
    redis.call('ZREM', waiting, token)
    return 1, 0
  end
  redis.call('ZREMRANGEBYSCORE', waiting, '-inf', now)
  redis.call('ZADD', waiting, now + wait, token)
  keep_until_last(waiting)
  local first = redis.call('ZRANGE', key, 0, 0, 'WITHSCORES')
  return 0, tonumber(first[2]) - now
end
local function renew_slot(key, token, lease, calling)
  local held = redis.call('ZSCORE', key, token)
  if not held and not calling then return 0 end
  redis.call('ZADD', key, redis_now_ms() + lease, token)
  keep_until_last(key)
  if held then return 1 end
  return 2
end
local function release_slot(key, token, channel, waiting)
  local removed = redis.call('ZREM', key, token)
  if removed == 1 and redis.call('ZCOUNT', waiting, redis_now_ms(), '+inf') > 0 then
    redis.call('PUBLISH', channel, '1')
  end
  return removed
end
`;
