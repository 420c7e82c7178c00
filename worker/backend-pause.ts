// Operator pause and resume of a backend at run time, kept in Redis so that every worker
// instance obeys it, and the admin endpoints that set it.

import type Redis from "ioredis";
import type { AdminServer } from "../shared/observability/admin-server";

export interface PauseState {
  paused: boolean;
  /** Epoch ms when the backend was paused; null when running. */
  since: number | null;
}

export class BackendPauses {
  private readonly key: string;

  /** @param keyPrefix isolates deployments and tests sharing one Redis, e.g. "sluice:". */
  constructor(
    private readonly redis: Redis,
    keyPrefix: string,
  ) {
    // One hash for all backends: a worker learns every backend's state in one round trip.
    this.key = `${keyPrefix}paused-backends`;
  }

  async pause(backend: string): Promise<PauseState> {
    const since = Date.now();
    await this.redis.hsetnx(this.key, backend, String(since));
    return this.state(backend);
  }

  async resume(backend: string): Promise<PauseState> {
    await this.redis.hdel(this.key, backend);
    return { paused: false, since: null };
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

/**
 * `POST /admin/backends/<name>/pause`, `POST /admin/backends/<name>/resume` and
 * `GET /admin/backends/<name>` on the admin port. Unknown backends get 404.
 */
export function addPauseRoutes(
  admin: AdminServer,
  pauses: BackendPauses,
  backends: readonly string[],
  /** Runs after a change, so this process obeys at once; the others within their poll. */
  afterChange: () => Promise<void> = async () => undefined,
): void {
  const known = new Set(backends);
  const unknown = (name: string) => ({
    status: 404,
    body: { type: "NotFound", message: `no backend named ${name}` },
  });
  const answer = (name: string, state: PauseState) => ({
    status: 200,
    body: {
      backend: name,
      paused: state.paused,
      since: state.since && new Date(state.since).toISOString(),
    },
  });
  admin.addRoute("POST", /^\/admin\/backends\/([^/]+)\/(pause|resume)$/, async (match) => {
    const name = match[1];
    if (!known.has(name)) return unknown(name);
    const state = match[2] === "pause" ? await pauses.pause(name) : await pauses.resume(name);
    await afterChange();
    return answer(name, state);
  });
  admin.addRoute("GET", /^\/admin\/backends\/([^/]+)$/, async (match) => {
    // Backend names are plain words (the configuration checks them), so no decoding is needed.
    const name = match[1];
    if (!known.has(name)) return unknown(name);
    return answer(name, await pauses.state(name));
  });
}
