// Replaying a dead letter: a new message under a new id, linked both ways to the original
// (`replayOf` / `replayedAs`), published onto its backend's request queue so it is processed
// with all the backend's limits like any other. The link is claimed atomically first, so the
// same dead letter is replayed once however often (or from however many places) it is asked.

import type { ChannelWrapper } from "amqp-connection-manager";
import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import type { Broker } from "../broker/amqp";
import type { SluiceConfig } from "../config/config";
import type { RequestMessage } from "../protocol/envelope";
import { requestCodec } from "../protocol/codec";
import { routingKeyFor } from "../broker/ordering";
import type { TopologyNames } from "../protocol/names";
import type { TransactionMeta, TransactionStore } from "../store/transaction-store";
import { mayHaveReachedBackend, type DeadLetter, type DeadLetters } from "./dead-letters";

// KEYS: dead-letter entry, original tx, replay tx; ARGV: replay id, meta json, now, ttl, original id
const CLAIM = `
if redis.call("EXISTS", KEYS[1]) == 0 then return {"missing", ""} end
local done = redis.call("HGET", KEYS[1], "replayedAs")
if done then return {"replayed", done} end
redis.call("HSET", KEYS[1], "replayedAs", ARGV[1])
redis.call("HSET", KEYS[3], "meta", ARGV[2], "state", "accepted", "delivery", "pending",
  "updatedAt", ARGV[3], "history", '{"state":"accepted","at":' .. ARGV[3] .. '}', "replayOf", ARGV[5])
redis.call("PEXPIRE", KEYS[3], ARGV[4])
if redis.call("EXISTS", KEYS[2]) == 1 then redis.call("HSET", KEYS[2], "replayedAs", ARGV[1]) end
return {"ok", ARGV[1]}`;

// KEYS: dead-letter entry, original tx, replay tx; ARGV: replay id. Undoes CLAIM after a refused publish.
const UNCLAIM = `
if redis.call("HGET", KEYS[1], "replayedAs") == ARGV[1] then redis.call("HDEL", KEYS[1], "replayedAs") end
if redis.call("HGET", KEYS[2], "replayedAs") == ARGV[1] then redis.call("HDEL", KEYS[2], "replayedAs") end
redis.call("DEL", KEYS[3])
return 1`;

interface ScriptedRedis extends Redis {
  sluiceReplayClaim(a: string, b: string, c: string, ...args: string[]): Promise<[string, string]>;
  sluiceReplayUnclaim(a: string, b: string, c: string, id: string): Promise<number>;
}

export interface ReplayResult {
  id: string;
  /** The replay's gateway id (also when it was replayed before). */
  replayedAs: string | null;
  /** replayed now; already = an earlier replay exists (nothing new was sent); refused = see error. */
  result: "replayed" | "already" | "refused";
  mayHaveReachedBackend?: boolean;
  warning?: string;
  error?: string;
}

export interface ReplayDeps {
  config: SluiceConfig;
  redis: Redis;
  store: TransactionStore;
  deadLetters: DeadLetters;
  broker: Broker;
  publisher: ChannelWrapper;
  names: TopologyNames;
}

export class Replayer {
  private readonly redis: ScriptedRedis;

  constructor(private readonly deps: ReplayDeps) {
    this.redis = deps.redis as ScriptedRedis;
    if (!("sluiceReplayClaim" in deps.redis)) {
      deps.redis.defineCommand("sluiceReplayClaim", { numberOfKeys: 3, lua: CLAIM });
      deps.redis.defineCommand("sluiceReplayUnclaim", { numberOfKeys: 3, lua: UNCLAIM });
    }
  }

  async replay(id: string): Promise<ReplayResult> {
    const { config, store, deadLetters, broker, publisher, names } = this.deps;
    const entry = await deadLetters.get(id);
    if (!entry) return { id, replayedAs: null, result: "refused", error: "no such dead letter" };
    if (entry.replayedAs) return { id, replayedAs: entry.replayedAs, result: "already" };
    if (entry.reason === "no_transaction") {
      // Its caller was answered 503 and submits it again: a replay would process it twice.
      return refused(id, "its caller was told it was not accepted and resubmits it; not replayed");
    }
    const backend = config.backends[entry.backend];
    if (!backend) {
      return refused(id, `backend "${entry.backend}" is not configured any more`);
    }
    const decoded = requestCodec.decode(Buffer.from(entry.request, "utf8"));
    if (!decoded.ok) {
      return refused(id, "the dead letter's request cannot be read, so it cannot be replayed");
    }
    const original = decoded.message;
    const now = Date.now();
    const replayId = randomUUID();
    const service = config.services[original.service];
    const expiresAt =
      service?.expireAfterMs !== null && service?.expireAfterMs !== undefined
        ? now + service.expireAfterMs
        : null;
    // Nobody waits for a replay: a sync original's caller is long gone, so it is recorded as
    // ack; a callback original's receiver hears the replay's outcome.
    const replyMode = original.replyMode === "sync" ? "ack" : original.replyMode;
    const meta: TransactionMeta = {
      id: replayId,
      xroadId: original.xroadId,
      service: original.service,
      backend: backend.name,
      client: original.client,
      protocol: original.protocol,
      replyMode,
      owner: null,
      callback: replyMode === "callback" ? ((await store.get(id))?.callback ?? null) : null,
      createdAt: now,
      expiresAt,
    };
    const keys = [deadLetters.key(id), store.key(id), store.key(replayId)] as const;
    const [claim, existing] = await this.redis.sluiceReplayClaim(
      ...keys,
      replayId,
      JSON.stringify(meta),
      String(now),
      String(store.retentionMs),
      id,
    );
    if (claim === "missing") return refused(id, "no such dead letter");
    if (claim === "replayed") return { id, replayedAs: existing, result: "already" };

    const message: RequestMessage = {
      ...original,
      id: replayId,
      backend: backend.name,
      replyMode,
      owner: null,
      callback: meta.callback,
      createdAt: now,
      expiresAt,
      idempotencyKey: original.idempotencyKey ?? original.id,
    };
    try {
      await broker.publish(
        publisher,
        names.requestsExchange,
        routingKeyFor(backend.name, backend.ordering, message),
        requestCodec.encode(message),
        {
          messageId: replayId,
          contentType: "application/json",
          timestamp: Math.floor(now / 1000),
          mandatory: true,
        },
      );
    } catch (error) {
      await this.redis.sluiceReplayUnclaim(...keys, replayId).catch(() => undefined);
      return refused(id, `the broker did not take the replay: ${(error as Error).message}`);
    }
    const reached = mayHaveReachedBackend(entry);
    return {
      id,
      replayedAs: replayId,
      result: "replayed",
      mayHaveReachedBackend: reached,
      ...(reached
        ? {
            warning: `the backend may already have seen the original (${entry.attempts} call(s), ${entry.reason}); the replay carries the original's Idempotency-Key ${message.idempotencyKey}, so an idempotent backend absorbs it`,
          }
        : {}),
    };
  }

  /**
   * Replays every dead letter matching `filter` that was not replayed yet, oldest first, but
   * never more than its backend's queue can take below the high-water mark: the rest are
   * reported as skipped and can be replayed once the queue drained.
   */
  async replayMany(
    entries: DeadLetter[],
    depthOf: (backend: string) => number | undefined,
  ): Promise<{ replayed: ReplayResult[]; skipped: Array<{ id: string; reason: string }> }> {
    const replayed: ReplayResult[] = [];
    const skipped: Array<{ id: string; reason: string }> = [];
    const room = new Map<string, number>();
    for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
      if (entry.replayedAs) continue;
      const backend = this.deps.config.backends[entry.backend];
      if (backend && !room.has(backend.name)) {
        room.set(backend.name, backend.queue.highWater - (depthOf(backend.name) ?? 0));
      }
      if (backend && (room.get(backend.name) ?? 0) <= 0) {
        skipped.push({
          id: entry.id,
          reason: `the queue of backend ${backend.name} is at its high-water mark`,
        });
        continue;
      }
      const result = await this.replay(entry.id);
      if (result.result === "replayed" && backend)
        room.set(backend.name, (room.get(backend.name) ?? 0) - 1);
      replayed.push(result);
    }
    return { replayed, skipped };
  }
}

function refused(id: string, error: string): ReplayResult {
  return { id, replayedAs: null, result: "refused", error };
}
