// Tells a Redis that stopped answering from one that is merely idle: the connection of a silent
// Redis (a partition without resets, a frozen server) still says "ready", so a PING goes out
// every second and readiness and the adapter's intake follow whether it was answered in time.

import type Redis from "ioredis";
import { isCommandTimeout } from "./redis";

export class RedisHeartbeat {
  private timer: NodeJS.Timeout | undefined;
  private pinging = false;
  private silent = false;

  constructor(
    private readonly redis: Redis,
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

  /** Why Redis cannot be used now (its connection state, or silence), or null when it can. */
  problem(): string | null {
    if (this.redis.status !== "ready") return this.redis.status;
    return this.silent ? "not answering" : null;
  }

  /**
   * One PING at a time. A PING that times out marks Redis silent; the next one answered (Redis
   * answers in order, so after everything sent before it) marks it answering again.
   */
  private async beat(): Promise<void> {
    if (this.pinging || this.redis.status !== "ready") return;
    this.pinging = true;
    try {
      await this.redis.ping();
      this.silent = false;
    } catch (error) {
      if (isCommandTimeout(error)) this.silent = true;
    } finally {
      this.pinging = false;
    }
  }
}
