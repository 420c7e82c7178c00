// The marks that tell a callback attempt set apart from the broker's prefetch (a slow receiver)
// has ended: its copy, kept on the queues in case the response worker stopped meanwhile, is
// dropped when it comes back instead of being sent again.

import type Redis from "ioredis";
import { redisKeys, type RedisKeys } from "../protocol/redis-keys";
import type { CallbackJob } from "../protocol/callback-job";

export class ParkedAttempts {
  private readonly keys: RedisKeys;

  /** `ttlMs`: the longest a mark is kept (`retention`), should its copy never come back. */
  constructor(
    private readonly redis: Redis,
    prefix: string,
    private readonly ttlMs: number,
  ) {
    this.keys = redisKeys(prefix);
  }

  /** The attempt of `job` has ended and what follows it is on the queues or recorded. */
  async finished(job: Pick<CallbackJob, "webhookId" | "attempt">): Promise<void> {
    await this.redis.set(this.key(job), "1", "PX", this.ttlMs);
  }

  /**
   * Whether the attempt of `job` ended, removing the mark: one copy is kept per attempt set
   * apart, so the mark is read once.
   */
  async takeFinished(job: Pick<CallbackJob, "webhookId" | "attempt">): Promise<boolean> {
    return (await this.redis.del(this.key(job))) === 1;
  }

  private key(job: Pick<CallbackJob, "webhookId" | "attempt">): string {
    return this.keys.parkedAttemptDone(job.webhookId, job.attempt);
  }
}
