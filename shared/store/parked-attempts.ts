// Marks that a callback attempt set apart from the broker's prefetch has ended, by its copy's
// token: the copy, kept in case the response worker stopped meanwhile, is then dropped.

import type Redis from "ioredis";
import { redisKeys, type RedisKeys } from "../protocol/redis-keys";

/** A mark outlives the copy's wait (seconds, or behind a backlog of jobs) by far. */
const MIN_MARK_TTL_MS = 24 * 60 * 60 * 1000;

export class ParkedAttempts {
  private readonly keys: RedisKeys;
  private readonly ttlMs: number;

  /** `retentionMs`: a mark is kept that long (at least a day), should its copy never come back. */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    retentionMs: number,
  ) {
    this.keys = redisKeys(prefix);
    this.ttlMs = Math.max(retentionMs, MIN_MARK_TTL_MS);
  }

  /** The attempt whose copy carries `token` has ended; what follows it is queued or recorded. */
  async finished(token: string): Promise<void> {
    await this.redis.set(this.keys.parkedAttemptDone(token), "1", "PX", this.ttlMs);
  }

  /** Whether that attempt ended, removing the mark: its one copy reads it once. */
  async takeFinished(token: string): Promise<boolean> {
    return (await this.redis.del(this.keys.parkedAttemptDone(token))) === 1;
  }
}
