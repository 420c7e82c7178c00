// The per-backend rate limit shared by every worker instance: GCRA (the generic cell rate
// algorithm) kept in one Redis key and evaluated atomically in Lua against Redis's own clock.

import type Redis from "ioredis";
import { SluiceError } from "../shared/protocol/errors";
import { abortableSleep } from "./abortable-sleep";
import { WaitLine } from "./wait-line";
import { redisKeys } from "../shared/protocol/redis-keys";
import { gcraParameters, JITTER_GUARD_MS, type RateLimit } from "../shared/config/rate-spacing";

export { gcraParameters, type RateLimit };

/** A token taken by `acquire`. */
export interface RateToken {
  /** Milliseconds spent waiting for it. */
  waitedMs: number;
  /**
   * When it was granted, on the limiter's own clock (Redis time, microseconds since the epoch):
   * the instant the rate is kept by, whatever the way to the backend adds after it.
   */
  grantedAtUs: number;
}

/**
 * A decision, with the Redis time it was taken at (`atUs`, microseconds since the epoch): the
 * limiter's own clock, the one the rate is kept by.
 */
export type RateDecision =
  { granted: true; atUs: number } | { granted: false; retryInMs: number; atUs: number };

/**
 * GCRA keeps one number per backend: the theoretical arrival time (TAT) of the next call, in
 * microseconds of Redis time. A call is granted when TAT - tolerance <= now, and then moves TAT
 * on by one emission interval, so this rate never leaves TAT more than its bound (tolerance +
 * interval) ahead of now. The state is one key, so the limit is smooth (no window edges), costs
 * one round trip and needs no agreement between worker clocks.
 *
 * A TAT further ahead than this rate's bound was left by another rate: a slower one before the
 * configuration changed, or one still running beside this one while workers are restarted with
 * a new rate. The first would hold this rate's calls back until then, so TAT is brought back to
 * this rate's bound. The second must not be: each pull-back handed both rates their bursts again,
 * and two rates side by side granted 442 calls in a second where each promised 60 or 15. So each
 * ask notes its rate's bound and the time in a second key, and TAT is pulled back only when no
 * rate that allows it so far ahead has asked within `live`: a worker waiting for a token asks at
 * least once a second (MAX_SLEEP_MS), so such a rate is in use. Side by side, the rates then
 * share one TAT, each granting against its own tolerance, which keeps the calls within about the
 * faster rate plus the larger burst (docs/worker-limits.md).
 *
 * KEYS[1] the TAT key, KEYS[2] the asking rates (bound µs -> last ask µs); ARGV[1] emission
 * interval (µs); ARGV[2] burst tolerance (µs); ARGV[3] `live` (µs).
 * Returns {1, 0, now} when granted, {0, µs until a call would be granted, now} otherwise.
 */
const GCRA_LUA = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local interval = tonumber(ARGV[1])
local tolerance = tonumber(ARGV[2])
local live = tonumber(ARGV[3])
local bound = tolerance + interval
redis.call('HSET', KEYS[2], string.format('%d', bound), string.format('%d', now))
redis.call('PEXPIRE', KEYS[2], math.floor(live / 1000) + 1000)
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
if tat > now + bound then
  local held = false
  local asking = redis.call('HGETALL', KEYS[2])
  for i = 1, #asking, 2 do
    local other, at = tonumber(asking[i]), tonumber(asking[i + 1])
    if at < now - live then
      redis.call('HDEL', KEYS[2], asking[i])
    elseif other > bound and tat <= now + other then
      held = true
    end
  end
  -- Kept so, or every ask would be told to wait one interval more.
  if not held then
    tat = now + bound
    redis.call('SET', KEYS[1], string.format('%d', tat), 'PX', math.floor((tat - now) / 1000) + 1000)
  end
end
local allowAt = tat - tolerance
if now < allowAt then
  return {0, allowAt - now, now}
end
local nextTat = tat + interval
local ttlMs = math.floor((nextTat - now) / 1000) + 1000
redis.call('SET', KEYS[1], string.format('%d', nextTat), 'PX', ttlMs)
return {1, 0, now}
`;

/**
 * How long after its last ask another rate counts as still in use: three times the longest
 * sleep of a waiting worker, so a busy machine's late ask does not make it look gone.
 */
const RATE_LIVE_US = 3_000_000;

const COMMAND = "sluiceGcraAcquire";

interface GcraClient {
  [COMMAND](
    key: string,
    asking: string,
    intervalUs: number,
    toleranceUs: number,
    liveUs: number,
  ): Promise<[number, number, number]>;
}

/**
 * A grant whose answer took longer than this to reach the worker is not used. The worker was
 * stalled (a busy event loop, a start-up compile) and several grants received late would
 * reach the backend together; a wasted token costs a little throughput, never the backend's limit.
 */
export function staleGrantMs(rate: RateLimit): number {
  return Math.max(rate.guardMs ?? JITTER_GUARD_MS, rate.perMs / rate.limit / 2);
}

/**
 * Whether a grant reached the worker too late to use. What bunches calls at the backend is a
 * grant later than the others (a stall of the process), not a delay every grant has alike (a
 * Redis some way off, a process always a little behind): that one shifts every call and keeps
 * their spacing. So a grant is late by its round trip beyond the shortest of the recent ones,
 * which never counts a grant's delay short (the way out to Redis is part of the round trip
 * too). Until a few round trips are known there is no usual one, and the whole round trip counts.
 */
export class LateGrants {
  private readonly recent: number[] = [];

  constructor(
    private readonly staleMs: number,
    private readonly window = 32,
    private readonly known = 4,
  ) {}

  /** Notes one ask's round trip (granted or not); true when a grant that took it is late. */
  late(roundTripMs: number): boolean {
    const usual = this.recent.length >= this.known ? Math.min(...this.recent) : 0;
    this.recent.push(roundTripMs);
    if (this.recent.length > this.window) this.recent.shift();
    return roundTripMs - usual > this.staleMs;
  }
}

/** Longest single sleep between attempts, so a changed limit or an abort is noticed soon. */
const MAX_SLEEP_MS = 1000;

/** Checks a rate for the configuration; returns the problems found (empty when valid). */
export function rateProblems(rate: RateLimit, path: string): string[] {
  const problems: string[] = [];
  if (!Number.isFinite(rate.limit) || rate.limit <= 0)
    problems.push(`${path}.limit must be a positive number`);
  if (!Number.isFinite(rate.perMs) || rate.perMs <= 0)
    problems.push(`${path}.per must be a positive duration`);
  if (!Number.isInteger(rate.burst) || rate.burst < 0)
    problems.push(`${path}.burst must be a whole number >= 0`);
  return problems;
}

export class RateLimiter {
  private readonly key: string;
  private readonly asking: string;
  private readonly client: GcraClient;
  private readonly intervalUs: number;
  private readonly toleranceUs: number;
  private readonly lateGrants: LateGrants;
  /** This process's waits for a token (`acquire`), in the order they began. */
  private readonly line = new WaitLine();

  /**
   * @param redis a command connection (not a subscriber); the Lua script is defined on it.
   * @param prefix the deployment's prefix, isolating deployments and tests on one Redis.
   */
  constructor(
    redis: Redis,
    prefix: string,
    readonly backend: string,
    readonly rate: RateLimit,
  ) {
    const problems = rateProblems(rate, `backends.${backend}.rate`);
    if (problems.length > 0) throw new Error(problems.join("; "));
    if (!(COMMAND in redis)) redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: GCRA_LUA });
    this.client = redis as unknown as GcraClient;
    this.key = redisKeys(prefix).rate(backend);
    this.asking = redisKeys(prefix).rateAsking(backend);
    ({ intervalUs: this.intervalUs, toleranceUs: this.toleranceUs } = gcraParameters(rate));
    this.lateGrants = new LateGrants(staleGrantMs(rate));
  }

  /** One atomic attempt: granted now, or how long until a token is due. */
  async tryAcquire(): Promise<RateDecision> {
    const [granted, waitUs, nowUs] = await this.client[COMMAND](
      this.key,
      this.asking,
      this.intervalUs,
      this.toleranceUs,
      RATE_LIVE_US,
    );
    const atUs = Number(nowUs);
    if (granted === 1) return { granted: true, atUs };
    return { granted: false, retryInMs: Math.max(1, Math.ceil(Number(waitUs) / 1000)), atUs };
  }

  /**
   * Waits for a token and takes it. Rejects with the signal's reason when aborted, and with a
   * retryable `Unavailable` error when Redis fails.
   *
   * This process's waits take their tokens in the order they came: only the first in line asks
   * Redis again, the others wait for it. Raced, a token went to whichever wait asked first after
   * its due time, and a message came in after its turn again and again (with four held, one
   * waited 33 intervals): a hold the unacknowledged-hold check counts as one interval per held
   * message, and with a slow rate hours past the broker's consumer_timeout. Nobody in line, a
   * wait asks at once, so tokens that are due are taken side by side.
   */
  async acquire(signal?: AbortSignal): Promise<RateToken> {
    // Monotonic: a wall clock stepped meanwhile must not make the wait negative or huge.
    const started = performance.now();
    const grant = await this.line.take(
      () => this.ask(signal),
      (decision): decision is RateDecision & { granted: true } => decision.granted,
      (refusal, waitSignal) =>
        refusal.retryInMs > 0
          ? abortableSleep(Math.min(refusal.retryInMs, MAX_SLEEP_MS), waitSignal)
          : Promise.resolve(),
      () => signal,
    );
    return { waitedMs: performance.now() - started, grantedAtUs: grant.atUs };
  }

  /** One ask; a grant that came too late to use (`LateGrants`) is asked again at once. */
  private async ask(signal?: AbortSignal): Promise<RateDecision> {
    signal?.throwIfAborted();
    const asked = performance.now();
    let decision: RateDecision;
    try {
      decision = await this.tryAcquire();
    } catch (error) {
      throw new SluiceError("Unavailable", "rate limiter state in Redis is unreachable", {
        cause: error,
      });
    }
    const late = this.lateGrants.late(performance.now() - asked);
    if (decision.granted && late) return { granted: false, retryInMs: 0, atUs: decision.atUs };
    return decision;
  }
}
