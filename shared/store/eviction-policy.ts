// Sluice's records (each accepted message's transaction, the dead letters, the waiting lists and
// their counts) live in Redis and nowhere else. A Redis with a memory limit and an eviction
// policy other than `noeviction` drops keys when full, silently: a message whose record is gone
// is answered 404 and its reply cannot be correlated. With `noeviction` a full Redis refuses
// writes instead, which Sluice answers 503 (nothing accepted is lost). Each role says so rather
// than refusing to run (a managed Redis may not let the operator change it), and not only at its
// start: a Sentinel failover hands the role another server, whose policy may be another, and
// `CONFIG SET` changes it on a running one. So the policy is read again at every reconnection
// and every minute, logged when it turns to evicting (or back), and exported as
// `sluice_redis_evicting` for an alert.

import type Redis from "ioredis";
import type { Logger } from "pino";

/** What `INFO memory` says of the eviction this Redis would do, or null when it evicts nothing. */
export function evictionRisk(info: string): { maxmemory: number; policy: string } | null {
  const field = (name: string) => new RegExp(`^${name}:(.*)$`, "m").exec(info)?.[1]?.trim();
  const maxmemory = Number(field("maxmemory") ?? "0");
  const policy = field("maxmemory_policy") ?? "noeviction";
  // Without a limit (0) Redis never evicts; `volatile-*` policies take keys with an expiry,
  // and every record Sluice keeps has one (its retention), so they count as evicting too.
  if (!(maxmemory > 0) || policy === "noeviction") return null;
  return { maxmemory, policy };
}

const EVICTING =
  "records of accepted messages could be lost; set maxmemory-policy noeviction (docs/reliability.md)";

/**
 * Reads the eviction policy of the Redis `redis` is connected to, at `check()`, at every
 * reconnection and every `intervalMs` once started, and logs each change: a warning when it
 * turns to evicting, an info line when it turns back.
 */
export class EvictionWatch {
  /** True while the last reading found an evicting policy; null before any reading. */
  private last: boolean | null = null;
  private timer: NodeJS.Timeout | undefined;
  private readonly onReady = () => void this.check();

  constructor(
    private readonly redis: Redis,
    private readonly log: Logger,
    private readonly intervalMs = 60_000,
  ) {}

  /** Whether Redis evicts when full, as last read; null when it could not be read yet. */
  get evicting(): boolean | null {
    return this.last;
  }

  start(): void {
    this.redis.on("ready", this.onReady);
    this.timer ??= setInterval(this.onReady, this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    this.redis.off("ready", this.onReady);
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** One reading; one that fails (Redis away, INFO refused) changes nothing. */
  async check(): Promise<void> {
    let info: string;
    try {
      info = await this.redis.info("memory");
    } catch (error) {
      // INFO may be renamed or refused (a managed Redis): nothing to tell, nothing to stop for.
      this.log.debug({ err: error }, "Redis eviction policy not readable (INFO memory refused)");
      return;
    }
    const risk = evictionRisk(info);
    const evicting = risk !== null;
    const was = this.last;
    this.last = evicting;
    if (evicting === was) return;
    if (risk) {
      this.log.warn(
        { maxmemory: risk.maxmemory, maxmemoryPolicy: risk.policy },
        `Redis evicts keys when full (maxmemory-policy ${risk.policy}): ${EVICTING}`,
      );
    } else if (was) {
      this.log.info(
        "Redis no longer evicts keys when full (maxmemory-policy noeviction or no limit)",
      );
    }
  }
}
