// Tells a Redis that stopped answering, or stopped taking writes, from one that is merely idle:
// the connection of a silent Redis (a partition without resets, a frozen server) still says
// "ready", and so does one that refuses every write (maxmemory reached with noeviction, a failed
// snapshot under stop-writes-on-bgsave-error, a master turned replica) while it answers PING.
// So a small write goes out every second, and readiness and the adapter's intake follow
// whether it was taken in time.

import type Redis from "ioredis";
import { isCommandTimeout } from "./redis";

export class RedisHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private beating = false;
  private silent = false;
  /** The error class of Redis's refusal of the last write (`OOM`, `MISCONF`, `READONLY`), or "". */
  private refusal = "";

  /**
   * `key` is this process's own (an instance id in it), written with an expiry of a few
   * intervals, so it never outlives the process by long.
   */
  constructor(
    private readonly redis: Redis,
    private readonly key: string,
    private readonly intervalMs = 1_000,
  ) {}

  start(): void {
    this.timer ??= setInterval(() => void this.beat(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Why Redis cannot be used now (its connection state, silence, refused writes), or null. */
  problem(): string | null {
    return this.unreachable() ?? (this.refusal ? `refusing writes (${this.refusal})` : null);
  }

  /** Why Redis cannot be read now (its connection state, silence), or null. */
  unreachable(): string | null {
    if (this.redis.status !== "ready") return this.redis.status;
    return this.silent ? "not answering" : null;
  }

  /**
   * One write at a time. One that times out marks Redis silent, one refused marks it refusing;
   * the next one taken (Redis answers in order, so after everything sent before it) clears both.
   */
  private async beat(): Promise<void> {
    if (this.beating || this.redis.status !== "ready") return;
    this.beating = true;
    try {
      await this.redis.set(this.key, "1", "PX", Math.max(5 * this.intervalMs, 5_000));
      this.silent = false;
      this.refusal = "";
    } catch (error) {
      if (isCommandTimeout(error)) {
        this.silent = true;
      } else if ((error as Error).name === "ReplyError") {
        // Redis's reply starts with its error class; the rest may be long, and is logged
        // where a command fails, not repeated on /readyz.
        this.silent = false;
        this.refusal = /^[A-Z]+/.exec((error as Error).message)?.[0] ?? "ERR";
      }
    } finally {
      this.beating = false;
    }
  }
}
