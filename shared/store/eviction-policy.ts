// Sluice's records (each accepted message's transaction, the dead letters, the waiting lists and
// their counts) live in Redis and nowhere else. A Redis with a memory limit and an eviction
// policy other than `noeviction` drops keys when full, silently: a message whose record is gone
// is answered 404 and its reply cannot be correlated. With `noeviction` a full Redis refuses
// writes instead, which Sluice answers 503 (nothing accepted is lost). Each role says so once, at
// its start, rather than refusing to run: a managed Redis may not let the operator change it.

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

/** Logs a warning when `redis` would evict Sluice's records when full. */
export async function warnIfEvicting(redis: Redis, log: Logger): Promise<void> {
  let info: string;
  try {
    info = await redis.info("memory");
  } catch (error) {
    // INFO may be renamed or refused (a managed Redis): nothing to tell, nothing to stop for.
    log.debug({ err: error }, "Redis eviction policy not readable (INFO memory refused)");
    return;
  }
  const risk = evictionRisk(info);
  if (!risk) return;
  log.warn(
    { maxmemory: risk.maxmemory, maxmemoryPolicy: risk.policy },
    `Redis evicts keys when full (maxmemory-policy ${risk.policy}): records of accepted ` +
      "messages could be lost; set maxmemory-policy noeviction (docs/reliability.md)",
  );
}
