// The operator's record of dead letters, in Redis beside the transaction records: why each
// request was dead-lettered, enough to list and filter them, the request itself so it can be
// replayed, and which replay it became. The broker's dead-letter queue keeps its own copy.

import type Redis from "ioredis";
import { operatorIdOf } from "../protocol/message-id";
import { redisKeys } from "../protocol/redis-keys";
import { scanIndex } from "./index-scan";
import { adoptIndex, PendingTally, TALLY_LUA } from "./pending-tally";

export interface DeadLetter {
  /** Gateway id of the dead-lettered request. */
  id: string;
  reason: string;
  backend: string;
  service: string;
  client: string;
  xroadId: string | null;
  /** Epoch ms when it was dead-lettered. */
  at: number;
  /** What went wrong, in words (the last error). */
  error: string | null;
  /** Backend calls made for it before it was given up. */
  attempts: number;
  /** Gateway id of its replay, once replayed. */
  replayedAs: string | null;
  /**
   * Epoch ms when an operator discarded it (never to be replayed), else null. A discarded one
   * has no replay: `replayedAs` stays null.
   */
  discardedAt: number | null;
  /** The note its discard was given (why, in the operator's words), else null. */
  discardNote: string | null;
  /**
   * The replay its discard replaced (one cancelled before any worker took it, or abandoned,
   * below); absent when the discard replaced none, so entries without it compare as before.
   */
  discardReplaced?: string;
  /**
   * `discardReplaced` was claimed and never confirmed, its publisher gone: its id is now the
   * marker of a refused submission, whose copy a worker dead-letters. Absent otherwise.
   */
  discardAbandoned?: true;
}

/**
 * What the record's `replayedAs` holds once the dead letter was discarded: no replay id (a
 * UUID) is ever this, and every script that reads the link (a replay's claim, a re-recording,
 * the tally's count) then takes it for done, so a discard and a replay exclude each other.
 */
export const DISCARDED = "discarded";

export interface DeadLetterFilter {
  reason?: string;
  service?: string;
  backend?: string;
  client?: string;
  id?: string;
  /**
   * false: only those waiting for their replay (neither replayed nor discarded); true: only
   * replayed ones. Applied while scanning, before
   * the limit: replayed entries stay in the index for their retention, and filtered out after
   * the limit they hid every older one still waiting for its replay.
   */
  replayed?: boolean;
  /** Only those dead-lettered at or before this instant (ms): a bulk run's `until`. */
  until?: number;
}

export const DEAD_LETTER_FILTER_KEYS = ["reason", "service", "backend", "client", "id"] as const;

/** The dead-letter filter of a query, a request body or the CLI's options (`replayed` aside). */
export function deadLetterFilter(get: (key: string) => unknown): DeadLetterFilter {
  const filter: DeadLetterFilter = {};
  for (const key of DEAD_LETTER_FILTER_KEYS) {
    const value = get(key);
    if (typeof value === "string" && value) filter[key] = value;
  }
  if (filter.id) filter.id = operatorIdOf(filter.id);
  return filter;
}

/** A filter's backend or service that the configuration does not have. */
export interface UnknownFilterName {
  key: "backend" | "service";
  value: string;
  /** The names the configuration has. */
  names: string[];
}

/**
 * A filter naming a backend or service the configuration does not have: most likely a typo,
 * which would otherwise show "no dead letters" (or replay none) at the worst moment. Only for a
 * warning: dead letters of a backend or service since removed still carry its name.
 */
export function unknownFilterNames(
  filter: DeadLetterFilter,
  config: { backends: object; services: object },
): UnknownFilterName[] {
  const known = { backend: Object.keys(config.backends), service: Object.keys(config.services) };
  return (["backend", "service"] as const).flatMap((key) => {
    const value = filter[key];
    if (value === undefined || known[key].includes(value)) return [];
    return [{ key, value, names: known[key] }];
  });
}

/** The warning for one unknown name; `named` is how the asker wrote the filter (`--backend x`). */
export function unknownFilterWarning({ key, names }: UnknownFilterName, named: string): string {
  return `${named} names no ${key} of this configuration (${names.join(", ")}); only dead letters of one since removed can match it`;
}

/** Reasons whose message was never handed to the backend: a replay cannot make a second call. */
const NEVER_CALLED = new Set(["no_transaction", "unreadable", "expired"]);

export function mayHaveReachedBackend(entry: Pick<DeadLetter, "reason" | "attempts">): boolean {
  return !NEVER_CALLED.has(entry.reason) && entry.attempts !== 0;
}

/**
 * Lua for every script that makes a dead letter wait for its replay again: `count_waiting(t,
 * entry, id)` counts it in the tally `t` under its backend and reason (joined by a line break,
 * which no backend name has), for as long as its record has left.
 */
export const COUNT_WAITING_LUA = `${TALLY_LUA}
local function count_waiting(t, entry, id)
  local f = redis.call("HMGET", entry, "backend", "reason")
  tally_add(t, id, (f[1] or "") .. "\\n" .. (f[2] or ""), redis.call("PTTL", entry))
end`;

// KEYS: entry, index, then the tally's members, groups, counts; ARGV: id, now, ttl ms,
// oldest-kept score, then field/value pairs.
// Writing twice (a retried dead-lettering) keeps the first replay link.
const RECORD = `${COUNT_WAITING_LUA}
local replayed = redis.call("HGET", KEYS[1], "replayedAs")
redis.call("HSET", KEYS[1], unpack(ARGV, 5))
if replayed then redis.call("HSET", KEYS[1], "replayedAs", replayed) end
redis.call("PEXPIRE", KEYS[1], ARGV[3])
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("ZREMRANGEBYSCORE", KEYS[2], "-inf", ARGV[4])
local t = {KEYS[3], KEYS[4], KEYS[5]}
if replayed then tally_remove(t, ARGV[1]) else count_waiting(t, KEYS[1], ARGV[1]) end
return 1`;

// KEYS: entry, then the tally's members, groups, counts; ARGV: id. Counts an entry of the
// index as it is now, checked atomically with any replay's claim: one still there and not
// replayed is counted, any other is not (whatever changed it without keeping the counts).
const ADOPT = `${COUNT_WAITING_LUA}
local t = {KEYS[2], KEYS[3], KEYS[4]}
local f = redis.call("HMGET", KEYS[1], "id", "replayedAs")
if not f[1] or f[2] then
  tally_remove(t, ARGV[1])
  return 0
end
count_waiting(t, KEYS[1], ARGV[1])
return 1`;

/** The fields a listing reads (all but the request, which can be large). */
const LISTED = [
  "id",
  "reason",
  "backend",
  "service",
  "client",
  "xroadId",
  "at",
  "error",
  "attempts",
  "replayedAs",
  "discardedAt",
  "discardNote",
  "discardReplaced",
  "discardAbandoned",
] as const;

interface ScriptedRedis extends Redis {
  sluiceDeadLetterRecord(...keysAndArgs: string[]): Promise<number>;
  sluiceDeadLetterAdopt(...keysAndArgs: string[]): Promise<number>;
}

export class DeadLetters {
  private readonly redis: ScriptedRedis;
  /** The dead letters not replayed yet, by backend and reason. */
  readonly tally: PendingTally;

  constructor(
    redis: Redis,
    /** Its deployment's key prefix: a discard reads the record of the replay one is linked to. */
    readonly prefix: string,
    private readonly retentionMs: number,
  ) {
    this.redis = redis as ScriptedRedis;
    if (!("sluiceDeadLetterRecord" in redis)) {
      redis.defineCommand("sluiceDeadLetterRecord", { numberOfKeys: 5, lua: RECORD });
      redis.defineCommand("sluiceDeadLetterAdopt", { numberOfKeys: 4, lua: ADOPT });
    }
    this.tally = new PendingTally(redis, redisKeys(prefix).deadLetterTally, () => this.adoptAll());
  }

  /** Key of one entry; the replay script claims it atomically. */
  key(id: string): string {
    return redisKeys(this.prefix).deadLetter(id);
  }

  private get index(): string {
    return redisKeys(this.prefix).deadLetterIndex;
  }

  /** Records a dead letter with the request (its broker message body) kept for a replay. */
  async record(
    entry: Omit<
      DeadLetter,
      "replayedAs" | "discardedAt" | "discardNote" | "discardReplaced" | "discardAbandoned"
    >,
    request: Buffer,
  ): Promise<void> {
    const fields: Record<string, string> = {
      id: entry.id,
      reason: entry.reason,
      backend: entry.backend,
      service: entry.service,
      client: entry.client,
      xroadId: entry.xroadId ?? "",
      at: String(entry.at),
      error: entry.error ?? "",
      attempts: String(entry.attempts),
      request: request.toString("utf8"),
    };
    await this.redis.sluiceDeadLetterRecord(
      this.key(entry.id),
      this.index,
      ...this.tally.scriptKeys,
      entry.id,
      String(entry.at),
      String(this.retentionMs),
      String(entry.at - this.retentionMs),
      ...Object.entries(fields).flat(),
    );
  }

  /**
   * How many dead letters wait for their replay, per backend and reason: counts kept as they
   * are recorded and replayed, not a read of the records (the status page asks every second).
   */
  async waitingCounts(): Promise<Array<{ backend: string; reason: string; count: number }>> {
    const counts = await this.tally.counts();
    return [...counts].map(([group, count]) => {
      // COUNT_WAITING_LUA's group: backend and reason joined by a line break.
      const split = group.indexOf("\n");
      return { backend: group.slice(0, split), reason: group.slice(split + 1), count };
    });
  }

  /** Counts every dead letter of the index as it is now (PendingTally's build). */
  private adoptAll(): Promise<void> {
    return adoptIndex(this.redis, this.index, (pipeline, id) =>
      (pipeline as unknown as ScriptedRedis).sluiceDeadLetterAdopt(
        this.key(id),
        ...this.tally.scriptKeys,
        id,
      ),
    );
  }

  async get(id: string): Promise<(DeadLetter & { request: string }) | null> {
    const fields = await this.redis.hgetall(this.key(id));
    if (!fields.id) return null;
    return { ...fromFields(fields), request: fields.request ?? "" };
  }

  /**
   * Dead letters matching `filter`, newest first, at most `limit`, among the `scan` newest of
   * the index (with `replayed: false`, of those not replayed yet). Entries whose record has outlived retention are dropped from the index as they
   * are met.
   */
  async list(filter: DeadLetterFilter = {}, limit = 100, scan = 10_000): Promise<DeadLetter[]> {
    if (filter.id) {
      const one = await this.get(filter.id);
      return one && matches(one, filter) ? [strip(one)] : [];
    }
    // Those not replayed yet are the tally's members (once it is built): the status page's list
    // of them reads as many records as it shows, not every replayed one newer than they are.
    const waiting = filter.replayed === false && (await this.tally.built());
    const ids = await this.redis.zrevrange(
      waiting ? this.tally.keys.members : this.index,
      0,
      scan - 1,
    );
    const { found, gone } = await scanIndex(this.redis, ids, limit, {
      read: (pipeline, id) => pipeline.hmget(this.key(id), ...LISTED),
      decode: ([values]) => {
        const fields = values as Array<string | null>;
        if (!fields[0]) return null;
        return fromFields(Object.fromEntries(LISTED.map((name, i) => [name, fields[i] ?? ""])));
      },
      keep: (entry) => matches(entry, filter),
    });
    if (gone.length) await this.redis.zrem(this.index, ...gone).catch(() => undefined);
    return found;
  }

  /**
   * What a bulk replay takes: those matching `filter` not replayed yet, the oldest first, at
   * most `limit`. They are picked among the `scan` newest of those not replayed yet, as `list`
   * picks them.
   */
  async oldestPending(
    filter: DeadLetterFilter,
    limit: number,
    scan = 10_000,
  ): Promise<DeadLetter[]> {
    const pending = await this.list({ ...filter, replayed: false }, scan, scan);
    return pending.sort((a, b) => a.at - b.at).slice(0, limit);
  }

  /**
   * What a bulk discard takes: those `oldestPending` takes, and those linked to a replay that
   * was cancelled before any worker took it (a discard by id replaces such a link: nothing of
   * that replay was sent) or claimed and never confirmed with nobody publishing it (its
   * publishing mark expired), the oldest first, at most `limit`. The linked ones are picked among
   * the `scan` newest of the index.
   */
  async oldestDiscardable(
    filter: DeadLetterFilter,
    limit: number,
    scan = 10_000,
  ): Promise<DeadLetter[]> {
    const pending = await this.list({ ...filter, replayed: false }, scan, scan);
    const linked = await this.list({ ...filter, replayed: true }, scan, scan);
    const keys = redisKeys(this.prefix);
    const pipeline = this.redis.pipeline();
    for (const entry of linked) {
      pipeline.hmget(keys.tx(entry.replayedAs!), "state", "published", "history");
      pipeline.exists(keys.replayPublishing(entry.replayedAs!));
    }
    const read = linked.length ? ((await pipeline.exec()) ?? []) : [];
    const replaced = linked.filter((_entry, i) => {
      const [state, published, history] = (read[2 * i]?.[1] ?? []) as Array<string | null>;
      if (state === "cancelled") return true;
      // Claimed, never confirmed nor taken, nobody publishing it: the discard's script judges
      // it again (REPLAY_ABANDONED) and replaces it.
      return (
        state === "accepted" &&
        published !== "1" &&
        !(history ?? "").includes("},{") &&
        read[2 * i + 1]?.[1] === 0
      );
    });
    return [...pending, ...replaced].sort((a, b) => a.at - b.at).slice(0, limit);
  }
}

function fromFields(fields: Record<string, string>): DeadLetter {
  const discarded = fields.replayedAs === DISCARDED;
  return {
    id: fields.id,
    reason: fields.reason ?? "",
    backend: fields.backend ?? "",
    service: fields.service ?? "",
    client: fields.client ?? "",
    xroadId: fields.xroadId || null,
    at: Number(fields.at ?? 0),
    error: fields.error || null,
    attempts: Number(fields.attempts ?? 0),
    replayedAs: discarded ? null : fields.replayedAs || null,
    discardedAt: discarded && fields.discardedAt ? Number(fields.discardedAt) : null,
    discardNote: (discarded && fields.discardNote) || null,
    ...(discarded && fields.discardReplaced ? { discardReplaced: fields.discardReplaced } : {}),
    ...(discarded && fields.discardReplaced && fields.discardAbandoned
      ? { discardAbandoned: true as const }
      : {}),
  };
}

/** The entry without its request (large, and holding the caller's credentials). */
export function strip(entry: DeadLetter & { request?: string }): DeadLetter {
  const { request: _request, ...rest } = entry;
  return rest;
}

function matches(entry: DeadLetter, filter: DeadLetterFilter): boolean {
  return (
    (!filter.reason || entry.reason === filter.reason) &&
    (!filter.service || entry.service === filter.service) &&
    (!filter.backend || entry.backend === filter.backend) &&
    (!filter.client || entry.client === filter.client) &&
    (!filter.id || entry.id === filter.id) &&
    (filter.until === undefined || entry.at <= filter.until) &&
    (filter.replayed === undefined ||
      (filter.replayed ? entry.replayedAs !== null : !isSettled(entry)))
  );
}

/** Replayed or discarded: no bulk replay takes it, and it is not counted as waiting. */
export function isSettled(entry: Pick<DeadLetter, "replayedAs" | "discardedAt">): boolean {
  return entry.replayedAs !== null || entry.discardedAt !== null;
}
