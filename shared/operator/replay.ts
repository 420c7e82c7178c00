// Replaying a dead letter: a new message under a new id, linked both ways to the original
// (`replayOf` / `replayedAs`), published onto its backend's request queue so it is processed
// with all the backend's limits like any other. The link is claimed atomically first, so the
// same dead letter is replayed once however often (or from however many places) it is asked.
// A replay whose publisher stopped between the claim and the broker's confirm (a crash, a
// Ctrl-C of the CLI) is sent again under the same id by the next request to replay it.

import type { ChannelWrapper } from "amqp-connection-manager";
import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import type { Broker } from "../broker/amqp";
import type { SluiceConfig } from "../config/config";
import type { RequestMessage } from "../protocol/envelope";
import { requestCodec } from "../protocol/codec";
import { SluiceError, type ErrorCode } from "../protocol/errors";
import { routingKeyFor } from "../broker/ordering";
import type { TopologyNames } from "../protocol/names";
import { redisKeys } from "../protocol/redis-keys";
import { BackendPauses } from "./backend-pauses";
import { TALLY_LUA } from "./pending-tally";
import { REDIS_NOW_LUA } from "../store/inflight-slot";
import type { TransactionMeta, TransactionStore } from "../store/transaction-store";
import {
  COUNT_WAITING_LUA,
  DISCARDED,
  isSettled,
  mayHaveReachedBackend,
  type DeadLetter,
  type DeadLetters,
} from "./dead-letters";
import {
  failedAt,
  skipped as skip,
  stoppedBy,
  withErrorShape,
  type Skipped,
} from "./operator-answers";

/** How long past its publish timeout a replay's publisher may still be undoing its claim. */
const PUBLISHING_GRACE_MS = 5_000;

// Whether the dead letter's link `done` names the replay its caller found cancelled (`id`,
// whose record is `key`), still cancelled: a replay is cancelled only while no worker took it
// (an operator's or its client's cancel), so none of it reached the backend. A discard reads a
// link by the same test (discard.ts).
export const CANCELLED_LINK_LUA = `
local function cancelled_link(done, id, key)
  return id ~= "" and done == id and redis.call("HGET", key, "state") == "cancelled"
end`;

// Whether the replay whose record is `key` was taken by a worker (it left `accepted`, or came
// back to it: its history has a second entry), so the broker had it whatever its publish said;
// whether it is claimed and unsettled: neither confirmed nor taken; and whether it is being
// published now: so, with its publishing mark set. They read only what CLAIM, RESUME and
// CONFIRMED wrote before they did (a claim in flight across an upgrade is read as any other); a
// claim with no mark (its publisher gone, or a release before the mark) is not being published.
export const REPLAY_PUBLISHING_LUA = `
local function replay_taken(key)
  local state = redis.call("HGET", key, "state")
  return state and (state ~= "accepted" or
    string.find(redis.call("HGET", key, "history") or "", "},{", 1, true)) and true or false
end
local function replay_unsettled(key)
  local f = redis.call("HMGET", key, "state", "published")
  return f[1] == "accepted" and f[2] ~= "1" and not replay_taken(key)
end
local function replay_publishing(key, mark)
  return redis.call("EXISTS", mark) == 1 and replay_unsettled(key)
end`;

// Why the original's record forbids a replay now, or nil (redis_now_ms must come before it):
// the one test CLAIM makes, and a dry run's PROBE repeats without claiming.
const ORIGINAL_REFUSAL_LUA = `
local function original_refusal(key)
  local original = redis.call("HMGET", key, "state", "answer", "claimUntil")
  local state = original[1]
  if state == "completed" or state == "rejected" or state == "cancelled" then return state end
  if state == "accepted" or state == "processing" then
    if original[2] then
      local ok, answer = pcall(cjson.decode, original[2])
      if ok and type(answer) == "table" and type(answer.deadLetter) ~= "string" then
        return "answered"
      end
    elseif tonumber(original[3] or "0") > redis_now_ms() then
      return "processing"
    end
  end
  return nil
end`;

// KEYS: dead-letter entry, original tx, replay tx, publishing mark, then the dead letters'
// tally's members, groups, counts, then the record of the replay it was linked to and found
// cancelled (else any key); ARGV: replay id, meta json, now, ttl, original id, publishing mark
// ttl, that cancelled replay's id (else "").
// The same claim run again (ioredis resends a command whose reply a reconnect lost) finds its
// own replay id: still "ok", or its caller would report "already" and send nothing.
// A dead letter is not proof that its original failed: the broker dead-letters a message past
// its delivery limit while a worker whose channel it lost may still be calling the backend,
// and that call's answer then completes the original. So the original's record decides
// ("original", why) when it has another outcome, holds a backend answer that is not a dead
// letter's, or is still claimed by a worker; a record gone with its retention does not.
// A link to a replay cancelled before any worker took it (CANCELLED_LINK_LUA) is replaced:
// nothing of it was sent, and the operator asks for this dead letter by its id.
// TALLY_LUA brings redis_now_ms too.
const CLAIM = `${TALLY_LUA}${ORIGINAL_REFUSAL_LUA}${CANCELLED_LINK_LUA}
local t = {KEYS[5], KEYS[6], KEYS[7]}
if redis.call("EXISTS", KEYS[1]) == 0 then
  tally_remove(t, ARGV[5])
  return {"missing", ""}
end
local done = redis.call("HGET", KEYS[1], "replayedAs")
if done == ARGV[1] then return {"ok", done} end
if done and not cancelled_link(done, ARGV[7], KEYS[8]) then return {"replayed", done} end
local refusal = original_refusal(KEYS[2])
if refusal then return {"original", refusal} end
redis.call("HSET", KEYS[1], "replayedAs", ARGV[1])
tally_remove(t, ARGV[5])
redis.call("HSET", KEYS[3], "meta", ARGV[2], "state", "accepted", "delivery", "pending",
  "updatedAt", ARGV[3], "history", '{"state":"accepted","at":' .. ARGV[3] .. '}', "replayOf", ARGV[5])
redis.call("PEXPIRE", KEYS[3], ARGV[4])
redis.call("SET", KEYS[4], "1", "PX", ARGV[6])
if redis.call("EXISTS", KEYS[2]) == 1 then redis.call("HSET", KEYS[2], "replayedAs", ARGV[1]) end
return {"ok", ARGV[1]}`;

// KEYS: dead-letter entry, original tx, and as CLAIM's last key; ARGV: as CLAIM's last. What
// CLAIM would answer, changing nothing: "missing", "replayed" (with the replay's id),
// "original" (with why), or "ok".
const PROBE = `${REDIS_NOW_LUA}${ORIGINAL_REFUSAL_LUA}${CANCELLED_LINK_LUA}
if redis.call("EXISTS", KEYS[1]) == 0 then return {"missing", ""} end
local done = redis.call("HGET", KEYS[1], "replayedAs")
if done and not cancelled_link(done, ARGV[1], KEYS[3]) then return {"replayed", done} end
local refusal = original_refusal(KEYS[2])
if refusal then return {"original", refusal} end
return {"ok", ""}`;

// KEYS: as CLAIM's first seven; ARGV: replay id, ttl, original id, the cancelled replay the
// claim replaced (else "").
// Undoes CLAIM after a refused publish (1), the link to a cancelled replay it replaced put
// back. A publish whose confirm did not come in time may still have reached the broker (the
// confirm was lost, or came late from a blocked broker): the replay's record becomes the marker of a refused submission, as an adapter's discard leaves,
// so a worker that gets the message dead-letters it instead of processing it beside the replay
// asked next. A replay a worker already took is in the broker whatever the publish said: it
// stays claimed (2).
const UNCLAIM = `${COUNT_WAITING_LUA}${REPLAY_PUBLISHING_LUA}
if replay_taken(KEYS[3]) then return 2 end
if redis.call("HGET", KEYS[1], "replayedAs") == ARGV[1] then
  if ARGV[4] ~= "" then
    redis.call("HSET", KEYS[1], "replayedAs", ARGV[4])
  else
    redis.call("HDEL", KEYS[1], "replayedAs")
    count_waiting({KEYS[5], KEYS[6], KEYS[7]}, KEYS[1], ARGV[3])
  end
end
if redis.call("HGET", KEYS[2], "replayedAs") == ARGV[1] then
  if ARGV[4] ~= "" then redis.call("HSET", KEYS[2], "replayedAs", ARGV[4])
  else redis.call("HDEL", KEYS[2], "replayedAs") end
end
-- A discard that replaced this replay meanwhile said why it is refused: a copy is its.
local by = redis.call("HGET", KEYS[3], "refusedBy")
redis.call("DEL", KEYS[3], KEYS[4])
redis.call("HSET", KEYS[3], "refused", "1")
if by then redis.call("HSET", KEYS[3], "refusedBy", by) end
redis.call("PEXPIRE", KEYS[3], ARGV[2])
return 1`;

// KEYS: replay tx, publishing mark. The broker confirmed the replay: it is never sent again.
// A record that is a refused submission's marker was left by a discard that replaced this
// replay once its publishing mark had expired (its publisher slower than the mark, not gone):
// it stays the marker, so the worker that meets the copy dead-letters it, and 2 says so.
const CONFIRMED = `
redis.call("DEL", KEYS[2])
if redis.call("HGET", KEYS[1], "refused") == "1" then return 2 end
if redis.call("EXISTS", KEYS[1]) == 1 then redis.call("HSET", KEYS[1], "published", "1") end
return 1`;

// KEYS: replay tx, publishing mark; ARGV: publishing mark ttl, resume token. A replay still
// \`accepted\`, never confirmed and with nobody publishing it (the mark expired) is taken over:
// its meta. The mark holds the taker's token, so the same take-over run again by ioredis after
// a reconnect is still its own (told nothing, its caller would send nothing).
const RESUME = `
local fields = redis.call("HMGET", KEYS[1], "state", "published", "meta")
if fields[1] ~= "accepted" or fields[2] == "1" or not fields[3] then return false end
if redis.call("SET", KEYS[2], ARGV[2], "PX", ARGV[1], "NX") == false and
    redis.call("GET", KEYS[2]) ~= ARGV[2] then
  return false
end
return fields[3]`;

type ClaimKeys = readonly [
  entry: string,
  original: string,
  replay: string,
  publishing: string,
  ...tally: [members: string, groups: string, counts: string],
];

/** The replay a dead letter was linked to and that was found cancelled: its id and record. */
interface CancelledReplay {
  id: string;
  key: string;
}

interface ScriptedRedis extends Redis {
  sluiceReplayClaim(...keysAndArgs: string[]): Promise<[string, string]>;
  sluiceReplayUnclaim(...keysAndArgs: string[]): Promise<number>;
  sluiceReplayProbe(
    entry: string,
    original: string,
    cancelledKey: string,
    cancelledId: string,
  ): Promise<[string, string]>;
  sluiceReplayConfirmed(replay: string, publishing: string): Promise<number>;
  sluiceReplayResume(
    replay: string,
    publishing: string,
    ttl: string,
    token: string,
  ): Promise<string | null>;
}

/** A replay's refusal of an id with no dead letter (answered NotFound). */
export const NO_SUCH_DEAD_LETTER = "no such dead letter";

export interface ReplayResult {
  id: string;
  /** The replay's gateway id (also when it was replayed before). */
  replayedAs: string | null;
  /** replayed now; already = an earlier replay exists (nothing new was sent); refused = see error. */
  result: "replayed" | "already" | "refused";
  /**
   * The replay had been claimed earlier but its publisher stopped before the broker confirmed
   * it; it was sent now, under the id it was claimed with.
   */
  resumed?: boolean;
  /**
   * `already` because an operator discarded the dead letter (when, if known): nothing is sent,
   * and a replay never undoes a discard. With `discardReplaced`, the discard came while that
   * replay's publish awaited the broker, its publishing mark expired: the copy the broker took is
   * dead-lettered by the worker that meets it (`note` says so).
   */
  discarded?: true;
  discardedAt?: string;
  /**
   * With `discarded`: the replay this request published, which the discard replaced while its
   * publish awaited the broker (the dead letter's own `discardReplaced`); it is no replay of it.
   */
  discardReplaced?: string;
  /** The earlier replay, cancelled before any worker took it, that this one replaces. */
  previousReplay?: string;
  mayHaveReachedBackend?: boolean;
  warning?: string;
  /** Its backend, paused: the replay waits in its queue until the backend is resumed. */
  pausedBackend?: string;
  note?: string;
  error?: string;
  /** A refusal in a bulk run's list: the error shape's code and message (`withErrorShape`). */
  type?: ErrorCode;
  message?: string;
  /**
   * Refused because the broker was out of reach or did not confirm in time: nothing was
   * queued that a repeat would double (the claim was undone, or lapses), so ask again after
   * this many seconds. The admin port answers it as 503 Unavailable with Retry-After.
   */
  retryAfter?: number;
}

/**
 * What a dry run says of a dead letter a real run would send now: nothing was claimed or sent.
 * A refusal known without sending is listed as a real run lists it (a `ReplayResult`).
 */
export interface ReplayPreview {
  id: string;
  result: "would replay";
  backend: string;
  /** As a replay's: the backend may have seen the original (see ReplayResult's warning). */
  mayHaveReachedBackend: boolean;
  /** As a replay's: the backend, paused, so the replay would wait for its resume. */
  pausedBackend?: string;
  note?: string;
}

/** A bulk run's answer: each entry tried (or, in a dry run, judged), and those skipped. */
export interface ReplayRun<R = ReplayResult> {
  replayed: R[];
  skipped: Skipped[];
  /** What ended the run early (Redis not answering): the rest are skipped, not thrown away. */
  failure?: string;
  /**
   * More entries matched than the run's limit let it take (it took the oldest): asking again
   * takes the next ones. Absent when the run took every match.
   */
  more?: true;
}

export interface ReplayDeps {
  config: SluiceConfig;
  redis: Redis;
  store: TransactionStore;
  deadLetters: DeadLetters;
  broker: Broker;
  publisher: ChannelWrapper;
  names: TopologyNames;
  /** The publisher channel's confirm timeout (`adapter.publishTimeout`). */
  publishTimeoutMs: number;
}

export class Replayer {
  private readonly redis: ScriptedRedis;
  /**
   * How long a claim keeps others from sending its replay: longer than its publisher can still
   * be waiting for the confirm or undoing the claim after a refusal.
   */
  private readonly publishingMs: number;
  private readonly pauses: BackendPauses;

  constructor(private readonly deps: ReplayDeps) {
    this.redis = deps.redis as ScriptedRedis;
    this.pauses = new BackendPauses(deps.redis, deps.config.prefix);
    this.publishingMs = deps.publishTimeoutMs + PUBLISHING_GRACE_MS;
    if (!("sluiceReplayClaim" in deps.redis)) {
      deps.redis.defineCommand("sluiceReplayClaim", { numberOfKeys: 8, lua: CLAIM });
      deps.redis.defineCommand("sluiceReplayUnclaim", { numberOfKeys: 7, lua: UNCLAIM });
      deps.redis.defineCommand("sluiceReplayProbe", { numberOfKeys: 3, lua: PROBE });
      deps.redis.defineCommand("sluiceReplayConfirmed", { numberOfKeys: 2, lua: CONFIRMED });
      deps.redis.defineCommand("sluiceReplayResume", { numberOfKeys: 2, lua: RESUME });
    }
  }

  private claimKeys(id: string, replayId: string): ClaimKeys {
    const { store, deadLetters, config } = this.deps;
    return [
      deadLetters.key(id),
      store.key(id),
      store.key(replayId),
      redisKeys(config.prefix).replayPublishing(replayId),
      ...deadLetters.tally.scriptKeys,
    ];
  }

  /**
   * The replay `entry` is linked to, when that replay was cancelled (by the operator or its
   * client) and `replaceCancelled`: a cancel is made only while no worker has taken the message,
   * so nothing of it was sent, and the dead letter asked for by its id is replayed anew rather
   * than left with no way back. Its state alone is read; the claim checks it again atomically.
   */
  private async cancelledLink(
    entry: DeadLetter,
    replaceCancelled: boolean,
  ): Promise<CancelledReplay | null> {
    if (!entry.replayedAs || !replaceCancelled) return null;
    const key = this.deps.store.key(entry.replayedAs);
    const state = await this.deps.redis.hget(key, "state");
    return state === "cancelled" ? { id: entry.replayedAs, key } : null;
  }

  /**
   * Replays the dead letter `id` once. Its earlier replay, if any, is `already` (resumed when
   * its publisher stopped before the confirm), unless that replay was cancelled and
   * `replaceCancelled` (the dead letter asked for by its id): then a new one is sent, linked in
   * its place (`previousReplay` names the cancelled one). Bulk runs (`replayMany`) never replace
   * one: someone decided that replay should not be processed, and a run that read the entry
   * before the cancel (or after) must not undo that.
   */
  async replay(id: string, replaceCancelled = true): Promise<ReplayResult> {
    const { config, store, deadLetters } = this.deps;
    const entry = await deadLetters.get(id);
    if (!entry) return { id, replayedAs: null, result: "refused", error: NO_SUCH_DEAD_LETTER };
    if (entry.discardedAt !== null) return discardedBefore(id, entry.discardedAt);
    const cancelled = await this.cancelledLink(entry, replaceCancelled);
    if (entry.replayedAs && !cancelled) return this.resume(entry, entry.replayedAs);
    const readable = this.replayable(entry);
    if ("result" in readable) return readable;
    const { backend, original } = readable;
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
      // The request carries its callback target (the record may be gone with its retention
      // while the later dead letter is kept); requests of earlier releases only had the record.
      callback:
        replyMode === "callback"
          ? (original.callback ?? (await store.get(id))?.callback ?? null)
          : null,
      createdAt: now,
      expiresAt,
    };
    const keys = this.claimKeys(id, replayId);
    const [claim, existing] = await this.redis.sluiceReplayClaim(
      ...keys,
      cancelled?.key ?? keys[2],
      replayId,
      JSON.stringify(meta),
      String(now),
      String(store.retentionMs),
      id,
      String(this.publishingMs),
      cancelled?.id ?? "",
    );
    if (claim === "missing") return refused(id, NO_SUCH_DEAD_LETTER);
    if (claim === "original") return refused(id, ORIGINAL_REFUSALS[existing] ?? existing);
    // A discard that came between the read and the claim: it won.
    if (claim === "replayed" && existing === DISCARDED) return discardedBefore(id, null);
    if (claim === "replayed") return this.resume(entry, existing);
    const result = await this.publish(entry, original, meta, keys, false, cancelled?.id ?? null);
    return cancelled && result.result === "replayed"
      ? { ...result, previousReplay: cancelled.id }
      : result;
  }

  /**
   * What a replay of `entry` is refused for before Redis is asked (its caller resubmits it, its
   * backend is gone from the configuration, its request cannot be read), or what it replays.
   */
  private replayable(
    entry: DeadLetter & { request: string },
  ): ReplayResult | { backend: SluiceConfig["backends"][string]; original: RequestMessage } {
    const { id } = entry;
    if (entry.reason === "no_transaction") {
      // Its caller was answered 503 and submits it again: a replay would process it twice.
      return refused(id, "its caller was told it was not accepted and resubmits it; not replayed");
    }
    const backend = this.deps.config.backends[entry.backend];
    if (!backend) {
      return refused(id, `backend "${entry.backend}" is not configured any more`);
    }
    const decoded = requestCodec.decode(Buffer.from(entry.request, "utf8"));
    if (!decoded.ok) {
      return refused(id, "the dead letter's request cannot be read, so it cannot be replayed");
    }
    return { backend, original: decoded.message };
  }

  /**
   * What `replay(id)` would answer now, short of the broker's part, claiming and sending
   * nothing: every refusal it makes before publishing, else `would replay`. A replay claimed
   * earlier is `already` (whether it would be resumed is not judged).
   */
  async preview(id: string, replaceCancelled = true): Promise<ReplayResult | ReplayPreview> {
    const { store, deadLetters } = this.deps;
    const entry = await deadLetters.get(id);
    if (!entry) return { id, replayedAs: null, result: "refused", error: NO_SUCH_DEAD_LETTER };
    if (entry.discardedAt !== null) return discardedBefore(id, entry.discardedAt);
    const cancelled = await this.cancelledLink(entry, replaceCancelled);
    if (entry.replayedAs && !cancelled) {
      return { id, replayedAs: entry.replayedAs, result: "already" };
    }
    const readable = this.replayable(entry);
    if ("result" in readable) return readable;
    const [probe, existing] = await this.redis.sluiceReplayProbe(
      deadLetters.key(id),
      store.key(id),
      cancelled?.key ?? store.key(id),
      cancelled?.id ?? "",
    );
    if (probe === "missing") return refused(id, NO_SUCH_DEAD_LETTER);
    if (probe === "original") return refused(id, ORIGINAL_REFUSALS[existing] ?? existing);
    if (probe === "replayed" && existing === DISCARDED) return discardedBefore(id, null);
    if (probe === "replayed") return { id, replayedAs: existing, result: "already" };
    return {
      id,
      result: "would replay",
      backend: readable.backend.name,
      mayHaveReachedBackend: mayHaveReachedBackend(entry),
      ...(await this.pauseNote(readable.backend.name)),
    };
  }

  /**
   * Says so when `backend` is paused: the replay is queued, and an operator who replays to see
   * it processed would otherwise wait without a word. Nothing when the pause cannot be read.
   */
  private async pauseNote(backend: string): Promise<{ pausedBackend?: string; note?: string }> {
    const state = await this.pauses.state(backend).catch(() => null);
    if (!state?.paused) return {};
    const since = state.since === null ? "" : ` since ${new Date(state.since).toISOString()}`;
    return {
      pausedBackend: backend,
      note: `backend ${backend} is paused${since}: the replay waits in its queue until it is resumed (sluice backends resume ${backend} --config FILE)`,
    };
  }

  /**
   * Sends the claimed replay `meta` of the dead letter and marks it confirmed; a refusal
   * undoes a new claim (the replay can be asked again; a cancelled replay it `replaced` is
   * linked again) and leaves a resumed one as it was.
   */
  private async publish(
    entry: DeadLetter,
    original: RequestMessage,
    meta: TransactionMeta,
    keys: ClaimKeys,
    resumed: boolean,
    replaced: string | null = null,
  ): Promise<ReplayResult> {
    const { id } = entry;
    const { broker, publisher, names, config } = this.deps;
    const backend = config.backends[meta.backend];
    const message: RequestMessage = {
      ...original,
      id: meta.id,
      backend: meta.backend,
      replyMode: meta.replyMode,
      owner: null,
      callback: meta.callback,
      createdAt: meta.createdAt,
      expiresAt: meta.expiresAt,
      idempotencyKey: original.idempotencyKey ?? original.id,
    };
    try {
      await broker.publish(
        publisher,
        names.requestsExchange,
        routingKeyFor(backend.name, backend.ordering, message),
        requestCodec.encode(message),
        {
          messageId: meta.id,
          contentType: "application/json",
          timestamp: Math.floor(meta.createdAt / 1000),
          mandatory: true,
        },
      );
    } catch (error) {
      // A resumed replay stays claimed: its mark expires and the next request tries again.
      const undone = resumed
        ? 0
        : await this.redis
            .sluiceReplayUnclaim(
              ...keys,
              meta.id,
              String(this.deps.store.retentionMs),
              id,
              replaced ?? "",
            )
            .catch(() => 0);
      if (undone !== 2) {
        const retryAfter = error instanceof SluiceError ? error.retryAfter : undefined;
        return {
          ...refused(id, `the broker did not take the replay: ${(error as Error).message}`),
          ...(retryAfter !== undefined ? { retryAfter } : {}),
        };
      }
      // A worker already took it: the broker had it after all.
    }
    // Lost, this mark only lets a later request send the replay again (the worker processes an
    // id once, so a second copy changes nothing).
    const confirmed = await this.redis
      .sluiceReplayConfirmed(keys[2], keys[3])
      .catch(() => undefined);
    if (confirmed === 2) return discardedWhilePublishing(id, meta.id);
    const reached = mayHaveReachedBackend(entry);
    return {
      id,
      replayedAs: meta.id,
      result: "replayed",
      ...(resumed ? { resumed: true } : {}),
      mayHaveReachedBackend: reached,
      ...(await this.pauseNote(backend.name)),
      ...(reached
        ? {
            warning: `the backend may already have seen the original (${entry.attempts} call(s), ${entry.reason}); the replay carries the original's Idempotency-Key ${message.idempotencyKey}, so an idempotent backend absorbs it`,
          }
        : {}),
    };
  }

  /**
   * The dead letter was claimed for replay `replayId` before. Normally that replay was sent
   * (`already`); one still `accepted`, never confirmed and no longer being published (its
   * publisher stopped between the claim and the confirm) is sent now under the same id.
   */
  private async resume(
    entry: DeadLetter & { request: string },
    replayId: string,
  ): Promise<ReplayResult> {
    const { id } = entry;
    const already: ReplayResult = { id, replayedAs: replayId, result: "already" };
    const keys = this.claimKeys(id, replayId);
    const metaJson = await this.redis.sluiceReplayResume(
      keys[2],
      keys[3],
      String(this.publishingMs),
      randomUUID(),
    );
    if (!metaJson) {
      // A discard that replaced this replay (abandoned: its publisher gone) after the entry was
      // read left its record the refused marker: the dead letter is discarded, not replayed.
      const [link, at] = await this.redis.hmget(
        this.deps.deadLetters.key(id),
        "replayedAs",
        "discardedAt",
      );
      return link === DISCARDED ? discardedBefore(id, at ? Number(at) : null) : already;
    }
    const decoded = requestCodec.decode(Buffer.from(entry.request, "utf8"));
    const meta = JSON.parse(metaJson) as TransactionMeta;
    if (!decoded.ok || !this.deps.config.backends[meta.backend]) {
      // It was readable and configured when claimed; a configuration change since is the
      // operator's to see, not a reason to drop the claim.
      return refused(id, `replay ${replayId} was claimed but never sent, and cannot be sent now`);
    }
    return this.publish(entry, decoded.message, meta, keys, true);
  }

  /**
   * Replays every dead letter matching `filter` that was not replayed yet, oldest first, but
   * never more than its backend's queue can take below the high-water mark: the rest are
   * reported as skipped and can be replayed once the queue drained. A backend whose replay the
   * broker did not take (out of reach, refused, no confirm in time) gets no more in this run:
   * each would wait out the publish timeout again and leave another refused copy in flight.
   *
   * The depth is read again before each replay. With `noteReplayed`, `depthOf` is the depth
   * now counting every replay noted so far (the admin port's queue monitor: its sample plus
   * what this process published since), so runs that overlap or follow each other within one
   * sample share the room; without it, `depthOf` is a sample taken before the run, and the
   * run adds its own replays to it.
   */
  async replayMany(
    entries: DeadLetter[],
    depthOf: (backend: string) => number | undefined,
    /** True once the process shuts down: the rest are skipped, to be asked for again. */
    stopping: () => boolean = () => false,
    noteReplayed?: (backend: string) => void,
  ): Promise<ReplayRun> {
    return this.run(entries, depthOf, stopping, (id) => this.replay(id, false), noteReplayed);
  }

  /**
   * A dry run of `replayMany`: the same entries in the same order, the same skips and the
   * refusals known without sending, each replay it would send counted against its backend's
   * room as a sent one is; nothing is claimed, sent or noted.
   */
  async previewMany(
    entries: DeadLetter[],
    depthOf: (backend: string) => number | undefined,
    stopping: () => boolean = () => false,
  ): Promise<ReplayRun<ReplayResult | ReplayPreview>> {
    return this.run(entries, depthOf, stopping, (id) => this.preview(id, false));
  }

  private async run<R extends ReplayResult | ReplayPreview>(
    entries: DeadLetter[],
    depthOf: (backend: string) => number | undefined,
    stopping: () => boolean,
    replayOne: (id: string) => Promise<R>,
    noteReplayed?: (backend: string) => void,
  ): Promise<ReplayRun<R>> {
    const replayed: R[] = [];
    const skipped: Skipped[] = [];
    let failure: string | undefined;
    /** This run's replays per backend, for a `depthOf` that does not count them. */
    const own = new Map<string, number>();
    const depth = (backend: string) =>
      (depthOf(backend) ?? 0) + (noteReplayed ? 0 : (own.get(backend) ?? 0));
    /** Backends the broker took no replay of in this run, with the reason their rest skip. */
    const refusedBy = new Map<string, string>();
    for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
      if (isSettled(entry)) continue;
      if (failure !== undefined) {
        skipped.push(skip(entry.id, "Unavailable", stoppedBy(failure)));
        continue;
      }
      if (stopping()) {
        skipped.push(skip(entry.id, "Unavailable", "the process is shutting down; ask again"));
        continue;
      }
      const brokerRefused = refusedBy.get(entry.backend);
      if (brokerRefused !== undefined) {
        skipped.push(skip(entry.id, "Unavailable", brokerRefused));
        continue;
      }
      const backend = this.deps.config.backends[entry.backend];
      if (backend && depth(backend.name) >= backend.queue.highWater) {
        skipped.push(
          skip(entry.id, "Busy", `the queue of backend ${backend.name} is at its high-water mark`),
        );
        continue;
      }
      let result: R;
      try {
        result = await replayOne(entry.id);
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
        skipped.push(skip(entry.id, "Unavailable", failedAt(failure)));
        continue;
      }
      if ((result.result === "replayed" || result.result === "would replay") && backend) {
        own.set(backend.name, (own.get(backend.name) ?? 0) + 1);
        noteReplayed?.(backend.name);
      }
      if (result.result === "refused" && result.retryAfter !== undefined) {
        refusedBy.set(
          entry.backend,
          `the broker did not take a replay of backend ${entry.backend}; ask again after ${result.retryAfter} s`,
        );
      }
      replayed.push(withErrorShape(result, NO_SUCH_DEAD_LETTER));
    }
    return failure === undefined ? { replayed, skipped } : { replayed, skipped, failure };
  }
}

/** Why the original's record forbids a replay now (CLAIM's "original" answers). */
const ORIGINAL_REFUSALS: Record<string, string> = {
  completed:
    "the original completed after it was dead-lettered (its backend answered); a replay would call the backend again",
  rejected:
    "the original was rejected by its backend after it was dead-lettered; a replay would call the backend again",
  cancelled: "the original was cancelled; not replayed",
  answered:
    "the original's backend answer is being recorded; a replay would call the backend again",
  processing: "the original is still being processed by a worker; replay it once it has failed",
};

/** A replay of a dead letter an operator discarded: `already`, as a replay made before is. */
function discardedBefore(id: string, at: number | null): ReplayResult {
  const when = at === null ? "" : ` at ${new Date(at).toISOString()}`;
  return {
    id,
    replayedAs: null,
    result: "already",
    discarded: true,
    ...(at === null ? {} : { discardedAt: new Date(at).toISOString() }),
    note: `an operator discarded this dead letter${when}: it is never replayed (the journal says who)`,
  };
}

/**
 * A replay the broker confirmed after an operator discarded its dead letter in its place (its
 * publishing mark had expired): the copy is dead-lettered by the worker that meets it.
 */
function discardedWhilePublishing(id: string, replayId: string): ReplayResult {
  return {
    id,
    replayedAs: null,
    discardReplaced: replayId,
    result: "already",
    discarded: true,
    note: `an operator discarded this dead letter while replay ${replayId} waited for the broker's confirm (its publishing mark had expired): the broker took that copy, and the worker that meets it dead-letters it (no_transaction) instead of calling the backend`,
  };
}

function refused(id: string, error: string): ReplayResult {
  return { id, replayedAs: null, result: "refused", error };
}
