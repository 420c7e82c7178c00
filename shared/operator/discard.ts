// Discarding a dead letter: the operator's word that it must never be replayed (its backend did
// the work after all, or it is poison). Marked in its record by the same field a replay claims,
// atomically, so of a discard and a replay of one dead letter exactly one wins.

import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import { DISCARDED, type DeadLetter, type DeadLetters } from "./dead-letters";
import {
  failedAt,
  skipped as skip,
  stoppedBy,
  withErrorShape,
  type Skipped,
} from "./operator-answers";
import { TALLY_LUA } from "./pending-tally";
import { redisKeys } from "../protocol/redis-keys";
import { REFUSED_BY_DISCARD } from "../store/transaction-store";
import { CANCELLED_LINK_LUA, NO_SUCH_DEAD_LETTER, REPLAY_PUBLISHING_LUA } from "./replay";

// KEYS: dead-letter entry, then the dead letters' tally's members, groups, counts, then the
// record and the publishing mark of the replay its caller expects the link to name (else any
// keys), then the original message's record; ARGV: id, now, token, that replay's id (else
// ""), "1" when a link to it, cancelled, may be replaced (else ""), the operator's note of why
// (else ""), kept in the record's discardNote beside discardedAt (the journal keeps it too).
// A link other than the one expected is answered ("relinked", the link) for its caller to ask
// again with that replay's keys: a script reads only the keys it is given.
// The same discard run again (ioredis resends a command whose reply a reconnect lost) finds its
// own token: still "discarded", not "already", with the cancelled replay it replaced (kept in
// the record's discardReplaced for that), as the first run answered.
// A replay's link (a replay id) is left as it is: that replay was sent, and its own record is
// the one to cancel. While that replay is being published ("publishing": claimed, its
// publisher waiting for the broker's confirm) it is neither: a refused publish removes the
// link again, and the dead letter waits with nothing sent. A link to a replay cancelled before
// any worker took it is replaced, as a replay's CLAIM replaces it: nothing of it was sent, so
// the dead letter is waiting again, and a cancelled replay has no record left to cancel.
// A link to a replay claimed and never confirmed, whose publisher is gone (its publishing mark
// expired, or a claim of a release that set none: REPLAY_ABANDONED_LUA) is replaced too, the
// fourth value "abandoned": that publish may still have reached the broker, so the replay's
// record becomes the marker of a refused submission, as UNCLAIM leaves after a refused publish,
// and a worker that gets the copy dead-letters it instead of calling the backend. A worker that
// took it first made it "replayed" (taken), and a resume that set the mark again "publishing".
// The original message's record stops naming that replay (as UNCLAIM leaves it after a refused
// publish): its id is no message any more, only the marker; the dead letter keeps the link in
// discardReplaced. A cancelled replay replaced stays named there: its own record says cancelled.
const DISCARD = `${TALLY_LUA}${CANCELLED_LINK_LUA}${REPLAY_PUBLISHING_LUA}
local function replay_abandoned(key, mark)
  return redis.call("EXISTS", mark) == 0 and replay_unsettled(key)
end
local t = {KEYS[2], KEYS[3], KEYS[4]}
if redis.call("EXISTS", KEYS[1]) == 0 then
  tally_remove(t, ARGV[1])
  return {"missing", "", "", ""}
end
local f = redis.call("HMGET", KEYS[1], "replayedAs", "discardedAt", "discardToken",
  "discardReplaced", "discardAbandoned")
if f[1] == "${DISCARDED}" then
  if f[3] == ARGV[3] then return {"discarded", f[2] or "", f[4] or "", f[5] or ""} end
  return {"already", f[2] or "", "", ""}
end
local abandoned = ""
if f[1] then
  if f[1] ~= ARGV[4] then return {"relinked", f[1], "", ""} end
  if not (ARGV[5] == "1" and cancelled_link(f[1], ARGV[4], KEYS[5])) then
    if replay_publishing(KEYS[5], KEYS[6]) then return {"publishing", f[1], "", ""} end
    if not (ARGV[5] == "1" and replay_abandoned(KEYS[5], KEYS[6])) then
      return {"replayed", f[1], "", ""}
    end
    local ttl = redis.call("PTTL", KEYS[5])
    if ttl <= 0 then ttl = redis.call("PTTL", KEYS[1]) end
    redis.call("DEL", KEYS[5])
    redis.call("HSET", KEYS[5], "refused", "1", "refusedBy", "${REFUSED_BY_DISCARD}")
    if ttl > 0 then redis.call("PEXPIRE", KEYS[5], ttl) end
    if redis.call("HGET", KEYS[7], "replayedAs") == f[1] then
      redis.call("HDEL", KEYS[7], "replayedAs")
    end
    abandoned = "abandoned"
  end
end
redis.call("HSET", KEYS[1], "replayedAs", "${DISCARDED}", "discardedAt", ARGV[2],
  "discardToken", ARGV[3], "discardReplaced", f[1] or "", "discardAbandoned", abandoned)
if (ARGV[6] or "") ~= "" then redis.call("HSET", KEYS[1], "discardNote", ARGV[6]) end
tally_remove(t, ARGV[1])
return {"discarded", ARGV[2], f[1] or "", abandoned}`;

/** How often a discard asks again after finding the link changed since it last read it. */
const RELINKED_TRIES = 3;

/**
 * A discard's refusal while a replay of the dead letter is being published (answered 409
 * Conflict): that replay may yet be refused by the broker, and the dead letter waits again.
 */
export const REPLAY_IN_PROGRESS =
  "a replay of it is in progress (its publish is not confirmed yet); try again";

interface ScriptedRedis extends Redis {
  sluiceDeadLetterDiscard(...keysAndArgs: string[]): Promise<[string, string, string, string]>;
}

export interface DiscardResult {
  id: string;
  /**
   * discarded now; already = discarded before, or replayed before (`replayedAs`): nothing
   * changed; refused = no such dead letter, or a replay of it (`replayedAs`) is being
   * published (`REPLAY_IN_PROGRESS`): nothing changed, ask again.
   */
  result: "discarded" | "already" | "refused";
  /** When it was discarded (now or before). */
  discardedAt?: string;
  /** The replay it became before it could be discarded (or that is being published). */
  replayedAs: string | null;
  /**
   * The replay it was linked to, cancelled before any worker took it (or abandoned, below), that
   * the discard replaced.
   */
  previousReplay?: string;
  /**
   * `previousReplay` was not cancelled but claimed and never confirmed, its publisher gone (its
   * publishing mark expired): its record now marks it refused, so a copy that reached the
   * broker is dead-lettered by the worker, not sent to the backend.
   */
  previousReplayAbandoned?: true;
  error?: string;
}

/** What a dry run of a bulk discard says of an entry it would discard. */
export interface DiscardPreview {
  id: string;
  result: "would discard";
  backend: string;
  /** The cancelled (or abandoned, below) replay its link names, that the discard would replace. */
  previousReplay?: string;
  /** As a discard's: `previousReplay` was claimed and never confirmed, its publisher gone. */
  previousReplayAbandoned?: true;
}

/** A bulk discard's answer: each entry tried (or, in a dry run, judged), and those skipped. */
export interface DiscardRun<R = DiscardResult> {
  discarded: R[];
  skipped: Skipped[];
  /** What ended the run early (Redis not answering): the rest are skipped, not thrown away. */
  failure?: string;
  /** More matched than the run's limit let it take (it took the oldest). */
  more?: true;
}

export class Discarder {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly deadLetters: DeadLetters,
  ) {
    this.redis = redis as ScriptedRedis;
    if (!("sluiceDeadLetterDiscard" in redis)) {
      redis.defineCommand("sluiceDeadLetterDiscard", { numberOfKeys: 7, lua: DISCARD });
    }
  }

  /**
   * Discards the dead letter `id`: no replay is sent for it from now on, by id or in bulk, and
   * it no longer counts as waiting. One whose replay is being published (claimed, the broker's
   * confirm not in yet) is refused with `REPLAY_IN_PROGRESS`: that publish may yet be refused
   * and the claim released. One already replayed stays so (`already`), unless
   * that replay was cancelled before any worker took it and `replaceCancelled` (the dead letter
   * asked for by its id, as a replay by id replaces such a link): then it is discarded, and
   * `previousReplay` names the cancelled replay. A bulk run (`discardMany`) does the same. `note`, the operator's words of why, is
   * kept on the record (`discardNote`) when this discard is the one that marks it.
   */
  async discard(id: string, replaceCancelled = true, note = ""): Promise<DiscardResult> {
    const keys = redisKeys(this.deadLetters.prefix);
    const token = randomUUID();
    // The link expected: none at first (most have none), then the one the script found.
    let linked = "";
    for (let tries = 1; ; tries++) {
      const [result, value, previous, abandoned] = await this.redis.sluiceDeadLetterDiscard(
        this.deadLetters.key(id),
        ...this.deadLetters.tally.scriptKeys,
        keys.tx(linked || id),
        keys.replayPublishing(linked || id),
        keys.tx(id),
        id,
        String(Date.now()),
        token,
        linked,
        replaceCancelled ? "1" : "",
        note,
      );
      if (result === "relinked" && tries < RELINKED_TRIES) {
        linked = value;
        continue;
      }
      if (result === "missing") {
        return { id, result: "refused", replayedAs: null, error: NO_SUCH_DEAD_LETTER };
      }
      // A link still changing under the discard is replays being claimed and released.
      if (result === "publishing" || result === "relinked") {
        return { id, result: "refused", replayedAs: value, error: REPLAY_IN_PROGRESS };
      }
      if (result === "replayed") return { id, result: "already", replayedAs: value };
      return {
        id,
        result: result === "discarded" ? "discarded" : "already",
        replayedAs: null,
        ...(value ? { discardedAt: new Date(Number(value)).toISOString() } : {}),
        ...(previous ? { previousReplay: previous } : {}),
        ...(abandoned ? { previousReplayAbandoned: true as const } : {}),
      };
    }
  }

  /**
   * Discards each of `entries`, oldest first, one at a time through the same script as a
   * discard by id: a replay of the same dead letter running meanwhile (a bulk replay on another
   * process) wins or loses each one whole, and the loser answers `already`. A link to a replay
   * cancelled before any worker took it is replaced, as a discard by id replaces it
   * (`previousReplay`): a bulk replay leaves such a link, since replaying would undo the cancel,
   * but a discard agrees with it (neither sends anything).
   */
  async discardMany(
    entries: DeadLetter[],
    stopping: () => boolean,
    note = "",
  ): Promise<DiscardRun> {
    return this.run(entries, stopping, (id) => this.discard(id, true, note));
  }

  /** A dry run of `discardMany`: the same entries in the same order, nothing changed. */
  async previewMany(
    entries: DeadLetter[],
    stopping: () => boolean,
  ): Promise<DiscardRun<DiscardResult | DiscardPreview>> {
    const byId = new Map(entries.map((entry) => [entry.id, entry]));
    const keys = redisKeys(this.deadLetters.prefix);
    return this.run(entries, stopping, async (id) => {
      const entry = byId.get(id);
      // Selected linked to a replay either cancelled or abandoned (oldestDiscardable): its
      // state tells which, as the discard's answer would.
      const abandoned =
        entry?.replayedAs !== undefined &&
        entry.replayedAs !== null &&
        (await this.redis.hget(keys.tx(entry.replayedAs), "state")) !== "cancelled";
      return {
        id,
        result: "would discard" as const,
        backend: entry?.backend ?? "",
        ...(entry?.replayedAs ? { previousReplay: entry.replayedAs } : {}),
        ...(abandoned ? { previousReplayAbandoned: true as const } : {}),
      };
    });
  }

  private async run<R extends DiscardResult | DiscardPreview>(
    entries: DeadLetter[],
    stopping: () => boolean,
    discardOne: (id: string) => Promise<R>,
  ): Promise<DiscardRun<R>> {
    const discarded: R[] = [];
    const skipped: Skipped[] = [];
    let failure: string | undefined;
    for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
      // Selected waiting or linked to a cancelled replay; the script judges the link again.
      if (entry.discardedAt !== null) continue;
      if (failure !== undefined) {
        skipped.push(skip(entry.id, "Unavailable", stoppedBy(failure)));
        continue;
      }
      if (stopping()) {
        skipped.push(skip(entry.id, "Unavailable", "the process is shutting down; ask again"));
        continue;
      }
      try {
        discarded.push(withErrorShape(await discardOne(entry.id), NO_SUCH_DEAD_LETTER));
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
        skipped.push(skip(entry.id, "Unavailable", failedAt(failure)));
      }
    }
    return failure === undefined ? { discarded, skipped } : { discarded, skipped, failure };
  }
}
