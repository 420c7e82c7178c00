// Operator pause and resume of a backend at run time, kept in Redis so that every worker
// instance obeys it (the admin endpoints that set it are in operator-routes.ts).

import type Redis from "ioredis";
import { redisKeys } from "../protocol/redis-keys";

export interface PauseState {
  paused: boolean;
  /** Epoch ms when the backend was paused; null when running. */
  since: number | null;
}

/** A pause or resume asked for: the state it left, and whether that was the state already. */
export interface PauseChange extends PauseState {
  /** Paused again while paused (the first time kept), or resumed while running: nothing changed. */
  already: boolean;
}

export class BackendPauses {
  private readonly key: string;

  /** @param prefix the deployment's prefix, isolating deployments and tests on one Redis. */
  constructor(
    private readonly redis: Redis,
    prefix: string,
  ) {
    // One hash for all backends: a worker learns every backend's state in one round trip.
    this.key = redisKeys(prefix).pausedBackends;
  }

  async pause(backend: string): Promise<PauseChange> {
    const since = Date.now();
    const set = await this.redis.hsetnx(this.key, backend, String(since));
    return { ...(await this.state(backend)), already: set === 0 };
  }

  async resume(backend: string): Promise<PauseChange> {
    const removed = await this.redis.hdel(this.key, backend);
    return { paused: false, since: null, already: removed === 0 };
  }

  async state(backend: string): Promise<PauseState> {
    const since = await this.redis.hget(this.key, backend);
    return since === null ? { paused: false, since: null } : { paused: true, since: Number(since) };
  }

  /** Names of every paused backend. */
  async pausedBackends(): Promise<Set<string>> {
    return new Set(await this.redis.hkeys(this.key));
  }
}
