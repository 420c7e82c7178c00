// The last few failed backend calls of each backend (retried or not), with their errors, for
// the status page: what is failing right now, without a log search.

import type Redis from "ioredis";
import { redisKeys } from "../protocol/redis-keys";

export interface RecentFailure {
  id: string;
  at: number;
  attempt: number;
  error: string;
  /** What became of the message: retry scheduled, retried in place, dead-lettered. */
  outcome: string;
}

/** How many failures are kept per backend. */
const KEPT = 20;

export class RecentFailures {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
  ) {}

  private key(backend: string): string {
    return redisKeys(this.prefix).recentFailures(backend);
  }

  /** Best effort: a failure to note a failure must not change what happens to the message. */
  async note(backend: string, failure: RecentFailure): Promise<void> {
    const key = this.key(backend);
    await this.redis
      .multi()
      .lpush(key, JSON.stringify(failure))
      .ltrim(key, 0, KEPT - 1)
      .pexpire(key, 7 * 86_400_000)
      .exec()
      .catch(() => undefined);
  }

  async list(backend: string, count = KEPT): Promise<RecentFailure[]> {
    const items = await this.redis.lrange(this.key(backend), 0, count - 1);
    return items.flatMap((item) => {
      try {
        return [JSON.parse(item) as RecentFailure];
      } catch {
        return [];
      }
    });
  }
}
