// The transaction record of every accepted message, in Redis: state, delivery, responses and
// history. State changes are Lua scripts, so concurrent roles never make two terminal outcomes.

import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import type {
  RequestMessage,
  ResponseMessage,
  State,
  StoredResponse,
  TransactionMetaFields,
} from "../protocol/envelope";
import type { ErrorInfo } from "../protocol/errors";
import { wakeHead } from "../protocol/codec";
import { redisKeys, type RedisKeys } from "../protocol/redis-keys";
import { REDIS_NOW_LUA, SLOT_LUA, type SlotAsk, type SlotRef } from "./inflight-slot";
import { TurnBatch } from "./turn-batch";

// The record's state and stored response are protocol shapes (a wake message carries them).
export type { State, StoredResponse };

export type Delivery = "pending" | "delivered" | "delivery_failed";
export const TERMINAL_STATES: readonly State[] = [
  "completed",
  "rejected",
  "failed",
  "expired",
  "cancelled",
];

/**
 * Who makes a claim taken only to end a message `expired` (`transition`'s `by`): such a claim
 * never calls the backend, so one that lapsed is taken over as the message was before it
 * (`accepted`, never sent), not as a worker's that may have reached the backend.
 */
export const EXPIRY_CLAIM = "expiry";

/** Every state a message can be in, in lifecycle order (status documents, hub filters). */
export const MESSAGE_STATES: readonly State[] = ["accepted", "processing", ...TERMINAL_STATES];

export function isTerminal(state: State): boolean {
  return TERMINAL_STATES.includes(state);
}

/** What is fixed when a message is accepted. */
export type TransactionMeta = TransactionMetaFields;

/** The record's fixed part as a request message carries it (to rebuild a lost record). */
export function metaOfRequest(request: RequestMessage): TransactionMeta {
  return {
    id: request.id,
    xroadId: request.xroadId,
    service: request.service,
    backend: request.backend,
    client: request.client,
    protocol: request.protocol,
    replyMode: request.replyMode,
    owner: request.owner ?? null,
    callback: request.callback ?? null,
    createdAt: request.createdAt,
    expiresAt: request.expiresAt,
  };
}

export interface Transaction extends TransactionMeta {
  state: State;
  delivery: Delivery;
  updatedAt: number;
  history: Array<{ state: State | Delivery; at: number }>;
  responses: StoredResponse[];
  error: ErrorInfo | null;
  processedAt: number | null;
  /** The broker confirmed the request (a later state proves it too). */
  published: boolean;
  /** Gateway id of the dead letter this message replays. */
  replayOf?: string | null;
  /** Gateway id of this message's replay, once an operator replayed it. */
  replayedAs?: string | null;
}

/**
 * Lua that sets the confirm mark on each record key from KEYS[first] to the last one. It
 * never recreates a record that was discarded meanwhile.
 */
function markPublishedLua(first: string): string {
  return `for j = ${first}, #KEYS do
  if redis.call("EXISTS", KEYS[j]) == 1 then redis.call("HSET", KEYS[j], "published", "1") end
end`;
}

/**
 * The `refusedBy` of a refusal marker a dead letter's discard left in place of its abandoned
 * replay (discard.ts): that copy was withdrawn by an operator, not refused to a caller.
 */
export const REFUSED_BY_DISCARD = "discard";

/** What CREATE_MANY answers for a message whose submission was refused before it ran. */
const REFUSED_CREATE = "refused";

// KEYS: tx, dedup, dedup v1 (both "" without an X-Road id) of each message, then the tx of
// each confirm mark; ARGV: ttl ms, number of messages, then meta json, now, id of each.
// Creates the messages of one event-loop turn in order (a duplicate later in the same batch
// finds the earlier one) and sets the confirm marks noted meanwhile (as MARK_PUBLISHED_MANY);
// returns, per message, the existing gateway id or "". Each record keeps when it was made by
// Redis's clock (createdMs): how long its confirm has been awaited is never the adapters' clocks'
// to tell. A create that runs after its own
// discard (it was sent again after a reconnect, behind the discard its adapter sent when the
// create went unanswered) finds the refused marker and writes nothing.
// Sluice 0.1.0 keyed duplicates by (client, X-Road id): a message it accepted shortly before an
// upgrade is still found by that key, read only when the current one is missing. Such a key
// names this message's duplicate only if its record was sent by the same client to the same
// service under the same X-Road id (the record says so; two key formats can spell the same
// string). A match is copied to the current key, with the old key's remaining lifetime.
const CREATE_MANY = `${REDIS_NOW_LUA}
local function same_message(tx_prefix, old_id, meta)
  local old = redis.call("HGET", tx_prefix .. old_id, "meta")
  if not old then return false end
  local ok_old, a = pcall(cjson.decode, old)
  local ok_new, b = pcall(cjson.decode, meta)
  return ok_old and ok_new and type(a) == "table" and type(b) == "table" and
    a.client == b.client and a.service == b.service and a.xroadId == b.xroadId
end
local out = {}
local n = tonumber(ARGV[2])
local created_ms = redis_now_ms()
for i = 1, n do
  local tx, dedup, dedup_v1 = KEYS[3 * i - 2], KEYS[3 * i - 1], KEYS[3 * i]
  local meta, now, id = ARGV[3 * i], ARGV[3 * i + 1], ARGV[3 * i + 2]
  local existing = false
  if redis.call("HGET", tx, "refused") == "1" then
    existing = "${REFUSED_CREATE}"
  elseif dedup ~= "" then
    existing = redis.call("GET", dedup)
    if not existing and dedup_v1 ~= "" then
      local old_id = redis.call("GET", dedup_v1)
      if old_id and same_message(string.sub(tx, 1, #tx - #id), old_id, meta) then
        existing = old_id
        local left = redis.call("PTTL", dedup_v1)
        redis.call("SET", dedup, old_id, "PX", left > 0 and left or ARGV[1])
      end
    end
    if not existing then redis.call("SET", dedup, id, "PX", ARGV[1]) end
  end
  if existing then
    out[i] = existing
  else
    redis.call("HSET", tx, "meta", meta, "state", "accepted", "delivery", "pending",
      "updatedAt", now, "history", '{"state":"accepted","at":' .. now .. '}',
      "createdMs", created_ms)
    redis.call("PEXPIRE", tx, ARGV[1])
    out[i] = ""
  end
end
${markPublishedLua("3 * n + 1")}
return out`;

// `terminal[state]`: whether a message in `state` has ended (TERMINAL_STATES), and
// `mark_called(key, state)`: notes on the record that a call of its message may have reached
// the backend, unless the message has ended (then nothing can end it as never sent).
const TERMINAL_LUA = `
local terminal = {${TERMINAL_STATES.map((state) => `${state}=true`).join(", ")}}
local function mark_called(key, state)
  if state and not terminal[state] then redis.call("HSET", key, "called", "1") end
end`;

// Writes the record `tx` again, `accepted`, from what a message carries (meta json), with its
// de-duplication key unless another submission took it meanwhile; `rebuiltAt` says so. It is
// marked published: only a role that got the message (or its response) from the broker writes
// it, and unmarked a resubmission of its X-Road id would adopt it and publish a second copy.
// The adapter's discard writes one unconfirmed (see DISCARD).
const WRITE_AGAIN_LUA = `
local function write_again(tx, dedup, meta, now, ttl, id, history, unconfirmed)
  if dedup ~= "" then redis.call("SET", dedup, id, "PX", ttl, "NX") end
  redis.call("HSET", tx, "meta", meta, "state", "accepted", "delivery", "pending",
    "updatedAt", now, "history", history, "rebuiltAt", now)
  if not unconfirmed then redis.call("HSET", tx, "published", "1") end
  redis.call("PEXPIRE", tx, ttl)
end`;

// KEYS: tx, dedup (or ""); ARGV: meta json, now, ttl ms, id, history json, "1" when a call of
// the message may have reached the backend (or ""), the attempt of the retry copy its worker
// parked (or "")
// Writes a record again from what a request or response message carries, when it is gone
// (Redis lost its data, or retention passed while the request waited). Never overwrites a
// record, nor the marker of a submission that was refused to its caller. A worker whose call
// may have reached the backend writes it marked `called` (so no cancel or expiry ends it as
// never sent), and marks a record another copy wrote again first, unless it has ended. A
// worker that released its claim after parking a retry copy notes the copy's attempt, as the
// release would have (see TRANSITION): a delivery of an earlier attempt stays stale.
const REBUILD = `${TERMINAL_LUA}${WRITE_AGAIN_LUA}
local function note_parked()
  if ARGV[7] and ARGV[7] ~= "" and
      tonumber(ARGV[7]) > tonumber(redis.call("HGET", KEYS[1], "parkedAttempt") or "0") then
    redis.call("HSET", KEYS[1], "parkedAttempt", ARGV[7])
  end
end
if redis.call("EXISTS", KEYS[1]) == 1 then
  if ARGV[6] == "1" then mark_called(KEYS[1], redis.call("HGET", KEYS[1], "state")) end
  if redis.call("HEXISTS", KEYS[1], "state") == 1 then note_parked() end
  return 0
end
write_again(KEYS[1], KEYS[2], ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5])
if ARGV[6] == "1" then redis.call("HSET", KEYS[1], "called", "1") end
note_parked()
return 1`;

// KEYS: tx, dedup (or ""); ARGV: ttl ms, id, then (when the create was answered, so it ran)
// meta json, now and history json to write a record Redis lost again.
// Undoes a create whose publish failed, or which Redis did not answer in time (it may have
// run, and ioredis may send it, and this, again after a reconnect: CREATE_MANY respects the
// marker this leaves): the record gives way to a marker saying the message was refused, so a
// copy the broker took after all is told apart from a record Redis lost.
// Returns 1 when discarded, 0 when adopted (another adapter publishes it), 2 when a worker
// has already claimed it: the broker had the message although its confirm was lost, and
// discarding then would leave the processed copy without a record while the caller, told 503,
// submits it again. A record written again (REBUILD) is kept too (2): only a role that got
// the message (or its response) from the broker writes one, and the backend's answer may be
// kept beside it while it is still `accepted`. A run again by ioredis after a reconnect finds its own marker (1) and
// leaves alone the de-duplication key a new submission may have taken meanwhile.
// A record gone although its create ran was lost with Redis's data, and with it any claim a
// worker made: the broker may have the message and a worker may be calling the backend. A
// marker would have the caller's resubmission accepted as a new message (a second call, under
// another Idempotency-Key) while that worker's record is refused. So the record is written
// again unconfirmed instead (3, "kept"; the caller is still told 503), made now by Redis's
// clock: the claiming worker's next renewal takes it back, and a resubmission finds it,
// waits out the confirm deadline and then adopts it, publishing under the same id a copy that
// no worker calls twice. The same run again finds it (3).
const DISCARD = `${REDIS_NOW_LUA}${WRITE_AGAIN_LUA}
if redis.call("HGET", KEYS[1], "refused") == "1" then return 1 end
if redis.call("HEXISTS", KEYS[1], "adoptedBy") == 1 then return 0 end
if redis.call("HGET", KEYS[1], "keptUnconfirmed") == ARGV[2] then return 3 end
local state = redis.call("HGET", KEYS[1], "state")
if state and (state ~= "accepted" or redis.call("HEXISTS", KEYS[1], "rebuiltAt") == 1 or
    string.find(redis.call("HGET", KEYS[1], "history") or "", "},{", 1, true)) then
  return 2
end
if not state and ARGV[3] and ARGV[3] ~= "" then
  write_again(KEYS[1], KEYS[2], ARGV[3], ARGV[4], ARGV[1], ARGV[2], ARGV[5], true)
  redis.call("HSET", KEYS[1], "createdMs", redis_now_ms(), "keptUnconfirmed", ARGV[2])
  return 3
end
redis.call("DEL", KEYS[1])
if KEYS[2] ~= "" and redis.call("GET", KEYS[2]) == ARGV[2] then redis.call("DEL", KEYS[2]) end
redis.call("HSET", KEYS[1], "refused", "1")
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 1`;

// The record's history with a change to `state` at `at` (ms) appended: the entries are kept as
// JSON objects joined by commas (read back as one array), one per state or delivery change.
const HISTORY_LUA = `
local function history_with(key, state, at)
  return redis.call("HGET", key, "history") .. ',{"state":"' .. state .. '","at":' .. at .. '}'
end
`;

// The adapter instances holding a message's sync callers: its owner, then its watchers (sync
// duplicates waiting on other instances), each once. `meta` is the record's meta JSON. Every
// script that wakes those callers publishes through publish_wakes, so all wake them alike.
const WAKE_LUA = `
local function wake_targets(meta_json, watchers)
  local targets, seen = {}, {}
  local ok, meta = pcall(cjson.decode, meta_json or "")
  if ok and type(meta) == "table" and type(meta.owner) == "string" and meta.owner ~= "" then
    targets[1] = meta.owner
    seen[meta.owner] = true
  end
  for watcher in string.gmatch(watchers or "", "[^,]+") do
    if not seen[watcher] then
      targets[#targets + 1] = watcher
      seen[watcher] = true
    end
  end
  return targets
end
-- Publishes the message wake on root .. instance to each of those instances (only to those
-- named in the comma list only, when given); returns the instances no subscriber heard, to
-- be woken through the broker.
local function publish_wakes(meta_json, watchers, root, wake, only)
  local unheard = {}
  for _, instance in ipairs(wake_targets(meta_json, watchers)) do
    if (not only or string.find("," .. only .. ",", "," .. instance .. ",", 1, true)) and
        redis.call("PUBLISH", root .. instance, wake) == 0 then
      unheard[#unheard + 1] = instance
    end
  end
  return unheard
end
-- publish_wakes for the record at key: its owner and watchers as it holds them now.
local function wake_callers(key, root, wake)
  local f = redis.call("HMGET", key, "meta", "watchers")
  return publish_wakes(f[1], f[2], root, wake)
end
-- wake_callers, keeping the instances no subscriber heard in the record (unwoken), so that a
-- repeat of the same change names them again (its first caller may have stopped before it
-- woke them through the broker).
local function wake_and_keep(key, root, wake)
  local unheard = wake_callers(key, root, wake)
  if #unheard > 0 then redis.call("HSET", key, "unwoken", table.concat(unheard, ",")) end
  return unheard
end
-- The instances wake_and_keep kept at key.
local function unwoken_of(key)
  local instances = {}
  for instance in string.gmatch(redis.call("HGET", key, "unwoken") or "", "[^,]+") do
    instances[#instances + 1] = instance
  end
  return instances
end`;

// The attempt and the call count a message has reached, kept by the worker that holds its claim
// when it could not park the retry copy that would carry them (it stopped, its channel closed):
// the delivery it hands back carries the earlier attempt's counts, and called as that attempt
// the message would get one call more than `retry.attempts`. A claim tells them (or "" and ""),
// and its worker goes on from the higher of them and the delivery's.
const REACHED_LUA = `
local function reached_of(tx)
  return {redis.call("HGET", tx, "reachedAttempt") or "",
    redis.call("HGET", tx, "reachedCalls") or ""}
end`;

// KEYS: tx; ARGV: to, now, allowed-from (comma list), error json or "", claim ms or "",
// change token, who changes it (or ""), "1" when a worker gives the message back after a call
// that may have reached the backend (or ""), the claim token the change is fenced by (or ""),
// a wake message (or ""), the wake channel root, the attempt of the delivery a claim is made
// for (or ""), the attempt of the retry copy parked before this release (or ""). Returns
// {result, previous state, who made the state as it is, the instances its wake reached no
// subscriber of, and (a change made) 1 when the record is marked called and the attempt and
// call count it keeps (REACHED_LUA)}. "processing" may be re-entered once the claim lapsed
// (by Redis's clock), and only by a caller whose allowed-from names "processing": a worker that takes a dead worker's claim over to call the backend. Any other claim (one
// made only to end the message `expired`) finds the lapsed claim "claimed": that worker may have
// reached the backend, so its message is no longer one that was never sent. A lapsed claim whose
// worker recorded the backend's answer (the answer kept, or the message marked processed) is
// never taken over ("processed"): the taker would call the backend again; it publishes that
// answer instead (a worker that died after its record and before its ack). Nor is a record
// written again (Redis lost it mid-call) with the answer beside it, in `accepted`: a copy that
// looked before that answer was kept would call the backend again, or end `expired` a message
// the backend answered. A lapsed claim made
// only to end the message expired (by EXPIRY_CLAIM) never called the backend: taken over, the
// previous state told is the one before it (accepted), so the taker still judges the expiry.
// Any other lapsed claim taken over is marked called: its worker may have reached the backend,
// and the taker may give the message back before a call of its own (its channel closed, the
// backend paused), after which a cancel or an expiry would end it as never sent.
// A message marked called is never cancelled: `cancelled` says the backend never saw it; nor is
// one marked processed (a record Redis lost mid-call, written again as `accepted` with the
// answer recorded beside it until the response worker stores the outcome). A change
// keeps its token and the state it came from: the same change run again (ioredis resends a
// command whose reply a reconnect lost) is still its caller's, not "claimed" (a claim) or
// "conflict" (a cancel). A conflict names who made the current state, so the same party's
// repeat of a change it made before (a client retrying a cancel) can be told apart.
// A worker's release of its claim is fenced by the claim's token: a worker whose claim lapsed
// and was taken over (it was paused, or cut off from Redis) is told "lost" and changes nothing,
// or it would end the other worker's claim and let a third copy be called beside that one's
// call. A call of its that may have reached the backend is still noted (`called`): that is a
// fact about the message, whoever holds it now.
// A terminal change with no response (a cancel) wakes the sync callers waiting on the message,
// as the response worker's storing of an outcome does (owner and watchers, over pub/sub), in the
// same script: nothing else would, and they would wait out their whole wait for an answer
// that is already there. The instances no subscriber heard (an adapter of an earlier release,
// or one whose subscription is down) are returned, for the caller to wake through their reply
// queues, and kept (unwoken): the same change run again (a resend, or the same party's repeat
// of its cancel, told "conflict") returns them again, since the first run's caller may have
// stopped before it woke them.
// A worker that parked a retry copy records the copy's attempt (parkedAttempt) with the release
// of its claim: a delivery of an earlier attempt (the original, back because the channel closed
// before its ack, or a copy parked beside a claim) is "stale" and never claimed again, or it
// would be called at once, before the backoff and past `retry.attempts`.
const TRANSITION = `${REDIS_NOW_LUA}${TERMINAL_LUA}${WAKE_LUA}${HISTORY_LUA}${REACHED_LUA}
-- A repeat of a change that woke the callers names those its wake reached no subscriber of.
local function unheard_before()
  if ARGV[10] == "" then return {} end
  return unwoken_of(KEYS[1])
end
local cur = redis.call("HGET", KEYS[1], "state")
if not cur then return {"missing", "", ""} end
local token = redis.call("HGET", KEYS[1], "changeToken")
if cur == ARGV[1] and ARGV[6] ~= "" and token == ARGV[6] then
  return {"ok", redis.call("HGET", KEYS[1], "changeFrom") or cur, ARGV[7], unheard_before(),
    redis.call("HEXISTS", KEYS[1], "called"), reached_of(KEYS[1])}
end
if ARGV[9] ~= "" and token ~= ARGV[9] then
  if ARGV[8] == "1" then mark_called(KEYS[1], cur) end
  return {"lost", cur, redis.call("HGET", KEYS[1], "changedBy") or ""}
end
if ARGV[1] == "processing" and ARGV[12] ~= "" and (cur == "accepted" or cur == "processing") and
    tonumber(ARGV[12]) < tonumber(redis.call("HGET", KEYS[1], "parkedAttempt") or "0") then
  return {"stale", cur, ""}
end
if ARGV[1] == "processing" and cur == "accepted" and
    (redis.call("HEXISTS", KEYS[1], "answer") == 1 or
      redis.call("HEXISTS", KEYS[1], "processedAt") == 1) then
  return {"processed", cur, ""}
end
if ARGV[1] == "cancelled" and (redis.call("HEXISTS", KEYS[1], "called") == 1 or
    redis.call("HEXISTS", KEYS[1], "processedAt") == 1) then
  return {"conflict", cur, redis.call("HGET", KEYS[1], "changedBy") or ""}
end
local allowed = string.find("," .. ARGV[3] .. ",", "," .. cur .. ",", 1, true)
local from = cur
if cur == "processing" and ARGV[1] == "processing" then
  local claim = tonumber(redis.call("HGET", KEYS[1], "claimUntil") or "0")
  if claim > redis_now_ms() or not allowed then return {"claimed", cur, ""} end
  if redis.call("HEXISTS", KEYS[1], "answer") == 1 or
      redis.call("HEXISTS", KEYS[1], "processedAt") == 1 then
    return {"processed", cur, ""}
  end
  if redis.call("HGET", KEYS[1], "changedBy") == "${EXPIRY_CLAIM}" then
    from = redis.call("HGET", KEYS[1], "changeFrom") or "accepted"
  else
    redis.call("HSET", KEYS[1], "called", "1")
  end
end
if not allowed then
  local by = redis.call("HGET", KEYS[1], "changedBy") or ""
  if cur == ARGV[1] and by ~= "" and by == ARGV[7] then
    return {"conflict", cur, by, unheard_before()}
  end
  return {"conflict", cur, by}
end
redis.call("HSET", KEYS[1], "state", ARGV[1], "updatedAt", ARGV[2])
if cur ~= ARGV[1] then
  redis.call("HSET", KEYS[1], "history", history_with(KEYS[1], ARGV[1], ARGV[2]))
end
if ARGV[4] ~= "" then redis.call("HSET", KEYS[1], "error", ARGV[4]) end
if ARGV[5] ~= "" then redis.call("HSET", KEYS[1], "claimUntil", redis_now_ms() + tonumber(ARGV[5])) end
if ARGV[8] == "1" then redis.call("HSET", KEYS[1], "called", "1") end
if ARGV[13] ~= "" and
    tonumber(ARGV[13]) > tonumber(redis.call("HGET", KEYS[1], "parkedAttempt") or "0") then
  redis.call("HSET", KEYS[1], "parkedAttempt", ARGV[13])
end
redis.call("HSET", KEYS[1], "changeToken", ARGV[6], "changeFrom", from, "changedBy", ARGV[7])
local unheard = {}
if ARGV[10] ~= "" then unheard = wake_and_keep(KEYS[1], ARGV[11], ARGV[10]) end
return {"ok", from, ARGV[7], unheard, redis.call("HEXISTS", KEYS[1], "called"),
  reached_of(KEYS[1])}`;

// KEYS: tx, responses; ARGV: seq, response json, final "1"/"0", outcome, now, error json or "",
// ttl ms, wake head (the wake message's JSON up to its response; "" for no wake), wake channel
// root, then the record's field names (RECORD_FIELDS, in its order).
// Stores a response once per seq; a final response sets the terminal state. Once terminal, the
// list is closed: a response arriving after that is "late" and changes nothing, except one of
// the final's own predecessors (a seq below it): responses 1..n of an answer are published in
// order but may be stored out of it (two response workers, a requeue after a Redis error), and
// one stored after the final still belongs to the outcome, so it is added without a change of
// state (finalSeq, kept with the final, tells them apart).
// In the same round trip it returns the record as it is now (no read after it), and a final
// response wakes the adapter instances holding its sync callers over pub/sub (owner and
// watchers); the instances no subscriber heard (an adapter of an earlier release, or one whose
// subscription is down) are returned, to be woken through the broker as before. A duplicate of
// the final response wakes them again: the first handling may have stopped before its wake.
const ADD_RESPONSE = `${TERMINAL_LUA}${WAKE_LUA}${HISTORY_LUA}
local cur = redis.call("HGET", KEYS[1], "state")
if not cur then return {"missing", ""} end
local result = "ok"
local response = ARGV[2]
local unwoken = nil
local earlier = ""
if redis.call("HEXISTS", KEYS[2], ARGV[1]) == 1 then
  result = "duplicate"
  response = redis.call("HGET", KEYS[2], ARGV[1])
  -- The outcome the worker stored with the answer (RECORD_ANSWER), seen here for the first
  -- time: its responses are on the broker now, so the answer kept for a redelivered copy has
  -- served its purpose, and this handling is the first one (listeners, metrics), not a repeat.
  -- The worker woke the sync callers then: only those no subscriber heard are woken again.
  local kept = redis.call("HEXISTS", KEYS[1], "answer") == 1
  local final_seq = redis.call("HGET", KEYS[1], "finalSeq")
  if ARGV[3] == "1" and kept and final_seq == ARGV[1] then
    unwoken = redis.call("HGET", KEYS[1], "unwoken") or ""
    redis.call("HDEL", KEYS[1], "answer", "unwoken")
    result = "ok"
  elseif ARGV[3] ~= "1" and kept and final_seq and tonumber(ARGV[1]) < tonumber(final_seq) then
    -- An earlier response of that outcome, before the final's handling: handled as the record
    -- stood right after it (told "earlier"), as it would have been stored one by one.
    result = "ok"
    earlier = "1"
  end
else
  if terminal[cur] then
    local last = tonumber(redis.call("HGET", KEYS[1], "finalSeq") or "0")
    if ARGV[3] == "1" or tonumber(ARGV[1]) >= last then return {"late", cur} end
    redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
  else
    redis.call("HSET", KEYS[2], ARGV[1], ARGV[2])
    redis.call("PEXPIRE", KEYS[2], redis.call("PTTL", KEYS[1]))
    redis.call("HSET", KEYS[1], "updatedAt", ARGV[5])
    if ARGV[3] == "1" then
      redis.call("HSET", KEYS[1], "state", ARGV[4], "finalSeq", ARGV[1], "history",
        history_with(KEYS[1], ARGV[4], ARGV[5]))
      if ARGV[6] ~= "" then redis.call("HSET", KEYS[1], "error", ARGV[6]) end
      -- The worker's copy of the answer has served its purpose once the outcome is stored.
      redis.call("HDEL", KEYS[1], "answer")
      -- The outcome stays readable for the whole retention, however long the message waited.
      redis.call("PEXPIRE", KEYS[1], ARGV[7])
      redis.call("PEXPIRE", KEYS[2], ARGV[7])
    end
  end
end
local fields = redis.call("HMGET", KEYS[1], unpack(ARGV, 10))
local unreached = {}
if ARGV[8] ~= "" and ARGV[3] == "1" and (result == "ok" or fields[2] == ARGV[4]) then
  unreached = publish_wakes(fields[1], fields[11], ARGV[9], ARGV[8] .. response .. "}", unwoken)
end
return {result, cur, fields, redis.call("HVALS", KEYS[2]), unreached, earlier}`;

// KEYS: tx, in-flight set (or ""), responses, hub listeners (or ""), the slot's waiting set (or
// ""); ARGV: answer json, now, slot token, slot channel, claim
// token (or ""), "1" when the answer comes of a call that may have reached the backend. Keeps the backend's answer (the first one recorded) beside the record until
// its outcome is stored. Never recreates a record that vanished meanwhile. The call is over
// whatever the result, so its in-flight slot, when given, is freed in the same round trip.
// With a claim token, only the claim's holder records: a worker whose claim lapsed and was
// taken over is told "lost" (the holder's own call decides the outcome), and its call, if it
// made one, is noted (`called`): the message is no longer one the backend never saw. A record with no claim token
// (rebuilt after Redis lost its data) was claimed by nobody since: the answer is kept.
// Finishing (ARGV 7.., given for an answer whose sync caller waits): the outcome is stored as
// ADD_RESPONSE stores it (responses, terminal state, retention) and the adapter instances
// holding the message's sync callers are woken, in this same round trip, so a caller is
// answered without waiting for the responses queue and the response worker. The answer stays
// beside the outcome until the response worker has stored the final response (ADD_RESPONSE
// drops it then): a redelivered copy of the request still publishes it (see the worker's look).
// The instances no subscriber heard are kept (unwoken): the response worker wakes only those,
// through the broker when pub/sub still does not reach them.
// Alone (KEYS[4], the client's hub listener set, given when the message has no callback
// target, and empty): nobody but the sync callers hears of the outcome, so the response worker
// has nothing to do for it and its responses are not published ("answered"): no answer is
// kept, a redelivered copy finds the message processed, and the instances no subscriber heard
// are returned, for the worker to wake through the broker. The record keeps which claim told
// it (answeredBy) and those instances (unwoken): the same run repeated under that claim is
// "answered" again with them, so its worker still wakes them (and counts the outcome).
// ARGV 7: retention ms (or "" not to finish), 8: final seq, 9: outcome, 10: error json or "",
// 11: wake message (or "" for no wake), 12: wake channel root, then seq and stored response
// json of each response.
const RECORD_ANSWER = `${SLOT_LUA}${TERMINAL_LUA}${WAKE_LUA}${HISTORY_LUA}
if KEYS[2] ~= "" then release_slot(KEYS[2], ARGV[3], ARGV[4], KEYS[5]) end
local cur = redis.call("HGET", KEYS[1], "state")
if not cur then return {"missing", ""} end
if terminal[cur] then
  -- This record run again (ioredis resends a command whose reply a reconnect lost; the worker
  -- repeats one that timed out) finds its own outcome stored and its answer kept beside it:
  -- "recorded", so that answer is still published, not dropped as someone else's outcome. A
  -- record written again after Redis lost it holds no claim, as when the answer was recorded.
  local own = redis.call("HGET", KEYS[1], "changeToken")
  if ARGV[5] ~= "" and (own == ARGV[5] or not own) and
      redis.call("HEXISTS", KEYS[1], "answer") == 1 then
    return {"recorded", cur}
  end
  -- The same for an outcome this claim told in place (no answer kept): "answered" again, with
  -- the instances the first run's wake reached no subscriber of, for the worker to wake them
  -- through the broker as it would have (the others heard that wake).
  if ARGV[5] ~= "" and redis.call("HGET", KEYS[1], "answeredBy") == ARGV[5] then
    return {"answered", cur, unwoken_of(KEYS[1])}
  end
  return {"terminal", cur}
end
local holder = redis.call("HGET", KEYS[1], "changeToken")
if ARGV[5] ~= "" and holder and holder ~= ARGV[5] then
  if ARGV[6] == "1" then redis.call("HSET", KEYS[1], "called", "1") end
  return {"lost", cur}
end
if redis.call("HEXISTS", KEYS[1], "answer") == 1 then return {"recorded", cur} end
local finish = ARGV[7] and ARGV[7] ~= ""
local alone = finish and KEYS[4] ~= "" and redis.call("EXISTS", KEYS[4]) == 0
if alone then
  -- Which claim told the outcome in place: a repeat of this run is told apart from another's.
  redis.call("HSET", KEYS[1], "processedAt", ARGV[2], "answeredBy", ARGV[5])
else
  redis.call("HSET", KEYS[1], "answer", ARGV[1], "processedAt", ARGV[2])
end
if finish then
  for i = 13, #ARGV, 2 do redis.call("HSET", KEYS[3], ARGV[i], ARGV[i + 1]) end
  redis.call("HSET", KEYS[1], "state", ARGV[9], "finalSeq", ARGV[8], "updatedAt", ARGV[2],
    "history", history_with(KEYS[1], ARGV[9], ARGV[2]))
  if ARGV[10] ~= "" then redis.call("HSET", KEYS[1], "error", ARGV[10]) end
  redis.call("PEXPIRE", KEYS[1], ARGV[7])
  redis.call("PEXPIRE", KEYS[3], ARGV[7])
  if ARGV[11] ~= "" then
    local unwoken = wake_and_keep(KEYS[1], ARGV[12], ARGV[11])
    if alone then return {"answered", cur, unwoken} end
  end
  return {"finished", cur}
end
return {"ok", cur}`;

// KEYS: tx, in-flight set, its waiting set; ARGV: now, claim-until, slot token, slot max, slot
// lease ms, the delivery's attempt (or ""), how long a try refused a slot waits (ms).
// The worker's first look at a request and, when it may be called, its slot and claim in one
// round trip: "refused" / "missing" / "view" (state, processedAt, answer, deadLettered) when
// it is not to be claimed (what a peek would show), "claimed" while another worker's claim
// lasts, "busy" (ms until the earliest lease expires) when no slot is free, else "ok" with
// the previous state, whether the record is marked called and the counts it keeps
// (REACHED_LUA): the slot is taken and the message claimed as TRANSITION would.
// The claim keeps the slot's token as its change token (and the state it came from): ioredis
// sends a command again after a reconnect when its reply was lost, and that second run must
// find the claim its own, not another worker's (which would park the message and strand the
// slot). A delivery of an attempt below the retry copy parked last is "stale" (see TRANSITION):
// that copy is the message now, so this one is dropped, whoever holds the claim. A lapsed
// expiry claim is taken over as never sent (see TRANSITION): the previous state told is the one
// before it; any other lapsed claim taken over is marked called (see TRANSITION).
const CLAIM_WITH_SLOT = `${SLOT_LUA}${HISTORY_LUA}${REACHED_LUA}
local f = redis.call("HMGET", KEYS[1], "state", "processedAt", "answer", "deadLettered",
  "refused", "claimUntil", "changeToken", "changeFrom", "parkedAttempt", "changedBy")
local cur = f[1]
if f[5] then return {"refused"} end
if not cur then return {"missing"} end
if f[2] or f[3] or (cur ~= "accepted" and cur ~= "processing") then
  return {"view", cur, f[2] or "", f[3] or "", f[4] or ""}
end
if cur == "processing" and f[7] == ARGV[3] then
  return {"ok", f[8] or cur, redis.call("HEXISTS", KEYS[1], "called"), reached_of(KEYS[1])}
end
if ARGV[6] ~= "" and tonumber(ARGV[6]) < tonumber(f[9] or "0") then return {"stale"} end
if cur == "processing" and tonumber(f[6] or "0") > redis_now_ms() then return {"claimed"} end
local admitted, wait = acquire_slot(KEYS[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5]),
  KEYS[3], tonumber(ARGV[7]))
if admitted == 0 then return {"busy", wait} end
local from = cur
if cur == "processing" and f[10] == "${EXPIRY_CLAIM}" then
  from = f[8] or "accepted"
elseif cur == "processing" then
  redis.call("HSET", KEYS[1], "called", "1")
end
redis.call("HSET", KEYS[1], "state", "processing", "updatedAt", ARGV[1],
  "claimUntil", redis_now_ms() + tonumber(ARGV[2]), "changeToken", ARGV[3], "changeFrom", from,
  "changedBy", "")
if cur ~= "processing" then
  redis.call("HSET", KEYS[1], "history", history_with(KEYS[1], "processing", ARGV[1]))
end
return {"ok", from, redis.call("HEXISTS", KEYS[1], "called"), reached_of(KEYS[1])}`;

// KEYS: tx. Notes that the recorded answer's dead-letter copy was confirmed by the broker.
const NOTE_DEAD_LETTERED = `
if redis.call("HEXISTS", KEYS[1], "answer") == 0 then return 0 end
redis.call("HSET", KEYS[1], "deadLettered", "1")
return 1`;

// KEYS: tx; ARGV: the answer to keep instead (json), the claim token (or ""). The kept answer's
// responses are more than the broker takes (its max_message_size, learned from its refusal):
// published, they would be refused on every try. A message still open keeps `ARGV[1]` instead
// (the failure that says so), under the claim the answer was kept under ("lost" when another
// worker's claim holds it); one whose outcome is stored already (told to its sync callers with
// the answer) only drops the answer, which no copy could publish ("terminal").
const REPLACE_ANSWER = `${TERMINAL_LUA}
local f = redis.call("HMGET", KEYS[1], "state", "changeToken")
if not f[1] then return "missing" end
if redis.call("HEXISTS", KEYS[1], "answer") == 0 then return "gone" end
if terminal[f[1]] then
  redis.call("HDEL", KEYS[1], "answer")
  return "terminal"
end
if ARGV[2] ~= "" and f[2] and f[2] ~= ARGV[2] then return "lost" end
redis.call("HSET", KEYS[1], "answer", ARGV[1])
return "ok"`;

// KEYS: tx of each message. Marks the broker's confirms of one event-loop turn.
const MARK_PUBLISHED_MANY = `${markPublishedLua("1")}
return #KEYS`;

// KEYS: tx; ARGV: instance, stale ms, adoption token. Hands the publish of a submission nobody
// confirmed (its adapter died between the record and the broker's confirm) to a resubmission's
// adapter: 1 when this one publishes it now. Once adopted the record is never discarded. The
// same adoption run again (ioredis resends a command whose reply a reconnect lost) is still
// its adopter's: told 0, that adapter would publish nothing and the submission would be lost.
// A state after the first in its history (a worker claimed it, and gave it back) proves the
// broker had it, as the confirm mark does (Transaction's `published`): never adopted then.
const ADOPT = `${REDIS_NOW_LUA}
if redis.call("HGET", KEYS[1], "state") ~= "accepted" then return 0 end
if redis.call("HGET", KEYS[1], "published") == "1" then return 0 end
if string.find(redis.call("HGET", KEYS[1], "history") or "", "},{", 1, true) then return 0 end
if redis.call("HGET", KEYS[1], "adoptToken") == ARGV[3] then return 1 end
local now = redis_now_ms()
local since = tonumber(redis.call("HGET", KEYS[1], "adoptedAt") or "0")
if since > 0 and now - since < tonumber(ARGV[2]) then return 0 end
redis.call("HSET", KEYS[1], "adoptedBy", ARGV[1], "adoptedAt", now, "adoptToken", ARGV[3])
return 1`;

// KEYS: tx. How long ago the record was made, by Redis's clock; -1 when it does not say (made
// by an earlier release, or rebuilt).
const AGE = `${REDIS_NOW_LUA}
local made = redis.call("HGET", KEYS[1], "createdMs")
if not made then return -1 end
return redis_now_ms() - tonumber(made)`;

// KEYS: tx; ARGV: adapter instance. Asks for a wake when the final response is stored (a sync
// duplicate waiting on another instance than the first caller's); returns the state now.
const WATCH = `
local cur = redis.call("HGET", KEYS[1], "state")
if not cur then return false end
local watchers = redis.call("HGET", KEYS[1], "watchers") or ""
if not string.find("," .. watchers .. ",", "," .. ARGV[1] .. ",", 1, true) then
  if watchers ~= "" then watchers = watchers .. "," end
  redis.call("HSET", KEYS[1], "watchers", watchers .. ARGV[1])
end
return cur`;

// KEYS: tx. 1 while a worker's claim on the message lasts (by Redis's clock), else 0.
const CLAIM_HELD = `${REDIS_NOW_LUA}
if redis.call("HGET", KEYS[1], "state") ~= "processing" then return 0 end
local claim = tonumber(redis.call("HGET", KEYS[1], "claimUntil") or "0")
if claim > redis_now_ms() then return 1 end
return 0`;

// KEYS: tx, dedup (or ""); ARGV: claim ms, claim token, "1" when the holder's call may have
// reached the backend (or ""), meta json (or "" not to write a lost record again), now, then
// ttl ms, id and history json of a record written again (or ""), then the attempt and the call
// count the message has reached (or ""), noted as REACHED_LUA says.
// Extends the claim of a message still being processed: 1 when extended, 0 when
// the claim is no longer this holder's (another worker took it over once it lapsed, or the
// message moved on), -1 when the record is gone (Redis lost its data: nobody else holds it).
// Without the token check a worker whose claim was taken over would extend the other worker's
// claim. Redis lost the claim with its data: given the meta, a record that is gone is written
// again under this claim; a record written again since (by a copy the broker handed out
// again, before it claimed it: `accepted`, no claim made on it, no answer) is this claim's
// again. Either way, and on a claim lost to another worker, a call of the holder's that may
// have reached the backend is marked (`called`), or a cancel or an expiry would end the
// message as never sent.
const RENEW_CLAIM = `${REDIS_NOW_LUA}${TERMINAL_LUA}${HISTORY_LUA}${WRITE_AGAIN_LUA}${REACHED_LUA}
local f = redis.call("HMGET", KEYS[1], "state", "changeToken", "rebuiltAt", "answer", "processedAt")
if not f[1] then
  if ARGV[4] == "" or redis.call("EXISTS", KEYS[1]) == 1 then return -1 end
  write_again(KEYS[1], KEYS[2], ARGV[4], ARGV[5], ARGV[6], ARGV[7], ARGV[8])
  f = {"accepted", false, ARGV[5], false, false}
end
if f[2] ~= ARGV[2] then
  if f[1] ~= "accepted" or f[2] or not f[3] or f[4] or f[5] then
    if ARGV[3] == "1" then mark_called(KEYS[1], f[1]) end
    return 0
  end
  redis.call("HSET", KEYS[1], "state", "processing", "updatedAt", ARGV[5],
    "history", history_with(KEYS[1], "processing", ARGV[5]), "changeToken", ARGV[2],
    "changeFrom", "accepted", "changedBy", "")
elseif f[1] ~= "processing" then
  return 0
end
redis.call("HSET", KEYS[1], "claimUntil", redis_now_ms() + tonumber(ARGV[1]))
if ARGV[3] == "1" then redis.call("HSET", KEYS[1], "called", "1") end
if ARGV[9] and ARGV[9] ~= "" and
    tonumber(ARGV[9]) > tonumber(redis.call("HGET", KEYS[1], "reachedAttempt") or "0") then
  redis.call("HSET", KEYS[1], "reachedAttempt", ARGV[9], "reachedCalls", ARGV[10])
end
return 1`;

// KEYS: tx; ARGV: delivery, now, only-from (comma list or ""). Answers the delivery it changed
// from, or 0 when it changed nothing.
const SET_DELIVERY = `${HISTORY_LUA}
local cur = redis.call("HGET", KEYS[1], "delivery")
if not cur then return 0 end
if cur == ARGV[1] then return 0 end
if ARGV[3] ~= "" and not string.find("," .. ARGV[3] .. ",", "," .. cur .. ",", 1, true) then return 0 end
redis.call("HSET", KEYS[1], "delivery", ARGV[1], "updatedAt", ARGV[2], "history",
  history_with(KEYS[1], ARGV[1], ARGV[2]))
return cur`;

interface ScriptedRedis extends Redis {
  sluiceCreateMany(numKeys: number, ...keysThenArgs: Array<string | number>): Promise<string[]>;
  sluiceTransition(
    tx: string,
    ...args: string[]
  ): Promise<[string, string, string, string[] | undefined, number | undefined, [string, string]?]>;
  sluiceAddResponse(
    tx: string,
    responses: string,
    ...args: string[]
  ): Promise<[string, string, Array<string | null>?, string[]?, string[]?, string?]>;
  sluiceSetDelivery(tx: string, ...args: string[]): Promise<Delivery | 0>;
  sluiceRecordAnswer(
    tx: string,
    slots: string,
    responses: string,
    hubClient: string,
    waiting: string,
    answer: string,
    now: string,
    token: string,
    channel: string,
    claimToken: string,
    called: string,
    ...finish: string[]
  ): Promise<[string, string, string[]?]>;
  sluiceClaimWithSlot(
    tx: string,
    slots: string,
    waiting: string,
    ...args: string[]
  ): Promise<Array<string | number>>;
  sluiceRebuild(tx: string, dedup: string, ...args: string[]): Promise<number>;
  sluiceDiscard(
    tx: string,
    dedup: string,
    ttl: string,
    id: string,
    ...lost: string[]
  ): Promise<number>;
  sluiceNoteDeadLettered(tx: string): Promise<number>;
  sluiceReplaceAnswer(tx: string, answer: string, token: string): Promise<ReplaceAnswerResult>;
  sluiceRenewClaim(tx: string, dedup: string, ...args: string[]): Promise<number>;
  sluiceMarkPublishedMany(numKeys: number, ...txs: string[]): Promise<number>;
  sluiceAdopt(tx: string, instance: string, staleMs: string, token: string): Promise<number>;
  sluiceWatch(tx: string, instance: string): Promise<string | null>;
  sluiceAge(tx: string): Promise<number>;
  sluiceClaimHeld(tx: string): Promise<number>;
}

/**
 * "lost": the change was fenced by a claim (`holding`) that is no longer its caller's.
 * "stale": a claim for a delivery (`attempt`) older than the retry copy parked since.
 * "processed": not claimed, since the backend's answer is recorded (under a lapsed claim, or
 * beside a record written again after Redis lost it).
 */
export type TransitionResult =
  "ok" | "missing" | "conflict" | "claimed" | "lost" | "stale" | "processed";
/** "lost": the claim the answer was recorded under is another worker's now; nothing was kept. */
/**
 * "finished": recorded, and the outcome stored with it (`recordAnswer`'s `finish`); "answered":
 * the outcome stored and told to the sync callers, and nothing else is to hear of it (no
 * callback target, no hub listener): its responses are not to be published.
 */
export type RecordAnswerResult =
  "ok" | "finished" | "answered" | "missing" | "terminal" | "recorded" | "lost";

/**
 * What `replaceAnswer` did: "ok" (the answer replaced), "terminal" (the outcome was stored
 * already: the kept answer was dropped), "lost" (another worker's claim), "gone" (no answer is
 * kept any more), "missing" (no record).
 */
export type ReplaceAnswerResult = "ok" | "terminal" | "lost" | "gone" | "missing";

/** How `recordAnswer` stores the outcome of a sync caller's answer with it. */
export interface AnswerFinish {
  /**
   * The message's client when it has no callback target: the outcome is then "answered" in
   * place when the client has no hub listener either. Null: the responses are published.
   */
  client: string | null;
  /**
   * Called with the adapter instances an "answered" outcome's wake reached no subscriber of
   * (an adapter of an earlier release, or one whose subscription is down) and the wake: the
   * caller sends it to their reply queues.
   */
  unreached(instances: string[], wake: Buffer): void;
}
/**
 * What renewing a claim found: extended ("held"), no longer the caller's ("lost": taken over
 * after it lapsed, or the message moved on), or no record at all ("missing").
 */
export type ClaimRenewal = "held" | "lost" | "missing";

/**
 * What a worker got from the backend, kept in the record before any of it is published: a
 * later copy of the request (redelivered after a broker or channel loss) publishes this again
 * instead of calling the backend a second time.
 */
export interface RecordedAnswer {
  responses: ResponseMessage[];
  /** The dead-letter reason when the outcome also sends the request to the dead-letter queue. */
  deadLetter: string | null;
  /** For the operator's dead-letter record: the last error and the backend calls made. */
  deadLetterDetail?: { error: string; attempts: number };
}

/** What the worker reads before it decides anything about a request. */
export interface RequestView {
  state: State;
  processedAt: number | null;
  answer: RecordedAnswer | null;
  /** Whether the answer's dead-letter copy was already confirmed. */
  deadLettered: boolean;
}
export type AddResponseResult = "ok" | "missing" | "duplicate" | "late";

/**
 * The attempt and the call count a message has reached, as its record keeps them for a delivery
 * handed back with earlier ones (see `renewClaim`'s `reached`).
 */
export interface Reached {
  attempt: number;
  calls: number;
}

/** What a claim script tells of `Reached` (two strings, "" when the record keeps none). */
function reachedOf(raw: unknown): Reached | undefined {
  const [attempt, calls] = Array.isArray(raw) ? (raw as string[]) : [];
  if (!attempt) return undefined;
  return { attempt: Number(attempt), calls: Number(calls) || 0 };
}

/** What `claimWithSlot` did. */
export type SlotClaim =
  /**
   * The slot is taken and the message claimed (`processing`), from `previous`; `called`: the
   * record is marked called (a call of an earlier attempt may have reached the backend).
   */
  | { result: "ok"; previous: State; called: boolean; reached?: Reached }
  /** No slot is free (the earliest lease ends in `retryInMs`); nothing was changed. */
  | { result: "busy"; retryInMs: number }
  /** Another worker's claim on the message lasts; nothing was taken. */
  | { result: "claimed" }
  /** A later attempt's retry copy was parked: this delivery is left over; nothing was taken. */
  | { result: "stale" }
  /** Not to be claimed: the record as `peek` shows it (refused, missing, processed, terminal). */
  | { result: "view"; view: RequestView | "refused" | null };

/** The worker's view of a request from its record's fields from Redis ("" or null: unset). */
function requestViewOf(
  state: string,
  processedAt: string | null,
  answer: string | null,
  deadLettered: string | null,
): RequestView {
  return {
    state: state as State,
    processedAt: processedAt ? Number(processedAt) : null,
    answer: answer ? (JSON.parse(answer) as RecordedAnswer) : null,
    deadLettered: deadLettered === "1",
  };
}

/**
 * The record as it stood right after its response `seq`, one before the final, for an outcome
 * the worker stored with all its responses at once (a sync caller's): the state before the
 * terminal one, responses 1..seq, no error yet; so callbacks and hub events of the earlier
 * responses carry the document they carry when the responses are stored one by one.
 */
function asOfEarlierResponse(tx: Transaction, seq: number): Transaction {
  let terminalAt = tx.history.length - 1;
  while (terminalAt >= 0 && !isTerminal(tx.history[terminalAt].state as State)) terminalAt--;
  if (terminalAt < 0) return tx;
  const history = tx.history.slice(0, terminalAt);
  const before = [...history].reverse().find((entry) => !DELIVERY_STATES.has(entry.state));
  // A spread that only overwrites fields the record has: V8 copies it as one shape.
  return {
    ...tx,
    state: (before?.state ?? "processing") as State,
    delivery: "pending",
    updatedAt: before?.at ?? tx.updatedAt,
    history,
    responses: tx.responses.filter((response) => response.seq <= seq),
    error: null,
  };
}

const DELIVERY_STATES = new Set<string>(["pending", "delivered", "delivery_failed"]);

/** A response as the record keeps it, and as a wake message carries it. */
function storedResponseOf(response: ResponseMessage): StoredResponse {
  const stored: StoredResponse = {
    seq: response.seq,
    final: response.final,
    status: response.status,
    contentType: response.contentType,
    body: response.body,
    bodyEncoding: response.bodyEncoding ?? "utf8",
    outcome: response.outcome,
    producedAt: response.producedAt,
  };
  if (response.headers && Object.keys(response.headers).length > 0) {
    stored.headers = response.headers;
  }
  return stored;
}

/**
 * Whether the worker may store an answer's outcome itself when it records the answer: it ends
 * in a final response, and sends nothing to the dead-letter queue (whose copy must be confirmed
 * before the outcome is told).
 */
export function finishable(answer: RecordedAnswer): boolean {
  return !answer.deadLetter && answer.responses.at(-1)?.final === true;
}

/** A create waiting for its turn's batch: the record's fields and their JSON. */
interface PendingCreate {
  meta: TransactionMeta;
  json: string;
}

export class TransactionStore {
  private readonly redis: ScriptedRedis;
  private readonly keys: RedisKeys;
  readonly retentionMs: number;
  /**
   * Creates and confirm marks are gathered per event-loop turn: one script call (one command,
   * one reply) for all the messages accepted in a turn instead of one each.
   */
  private readonly creates = new TurnBatch<PendingCreate, string>((pending) =>
    this.createMany(pending),
  );
  /**
   * Confirm marks nobody waits for (`notePublished`), as record keys: they travel with the
   * creates of the same turn when there are any, else alone at its end, one command either way.
   */
  private notedMarks: string[] = [];
  private readonly publishedMarks = new TurnBatch<string, number>(async (ids) => {
    const count = await this.redis.sluiceMarkPublishedMany(
      ids.length,
      ...ids.map((id) => this.key(id)),
    );
    return ids.map(() => count);
  });

  constructor(redis: Redis, prefix: string, retentionMs: number) {
    this.redis = redis as ScriptedRedis;
    this.keys = redisKeys(prefix);
    this.retentionMs = retentionMs;
    if (!("sluiceCreateMany" in redis)) {
      // Key counts vary with the batch: the first argument gives it.
      redis.defineCommand("sluiceCreateMany", { lua: CREATE_MANY });
      redis.defineCommand("sluiceTransition", { numberOfKeys: 1, lua: TRANSITION });
      redis.defineCommand("sluiceAddResponse", { numberOfKeys: 2, lua: ADD_RESPONSE });
      redis.defineCommand("sluiceSetDelivery", { numberOfKeys: 1, lua: SET_DELIVERY });
      redis.defineCommand("sluiceRecordAnswer", { numberOfKeys: 5, lua: RECORD_ANSWER });
      redis.defineCommand("sluiceClaimWithSlot", { numberOfKeys: 3, lua: CLAIM_WITH_SLOT });
      redis.defineCommand("sluiceRebuild", { numberOfKeys: 2, lua: REBUILD });
      redis.defineCommand("sluiceDiscard", { numberOfKeys: 2, lua: DISCARD });
      redis.defineCommand("sluiceNoteDeadLettered", { numberOfKeys: 1, lua: NOTE_DEAD_LETTERED });
      redis.defineCommand("sluiceReplaceAnswer", { numberOfKeys: 1, lua: REPLACE_ANSWER });
      redis.defineCommand("sluiceRenewClaim", { numberOfKeys: 2, lua: RENEW_CLAIM });
      redis.defineCommand("sluiceMarkPublishedMany", { lua: MARK_PUBLISHED_MANY });
      redis.defineCommand("sluiceAdopt", { numberOfKeys: 1, lua: ADOPT });
      redis.defineCommand("sluiceWatch", { numberOfKeys: 1, lua: WATCH });
      redis.defineCommand("sluiceAge", { numberOfKeys: 1, lua: AGE });
      redis.defineCommand("sluiceClaimHeld", { numberOfKeys: 1, lua: CLAIM_HELD });
    }
  }

  key(id: string): string {
    return this.keys.tx(id);
  }

  private responsesKey(id: string): string {
    return this.keys.txResponses(id);
  }

  /** Duplicates are keyed by (client, service code, X-Road id): docs/semantics.md. */
  private dedupKey(meta: Pick<TransactionMeta, "client" | "service" | "xroadId">): string {
    return this.keys.dedup(meta.client, meta.service, String(meta.xroadId));
  }

  /**
   * Records a new transaction. When the same client already sent the same X-Road id to the
   * same service, nothing is written and the existing gateway id is returned instead.
   * `json` is `meta` serialised, when the caller has it already.
   */
  async create(
    meta: TransactionMeta,
    json: string = JSON.stringify(meta),
  ): Promise<{ created: true } | { created: false; existingId: string }> {
    const existing = await this.creates.add({ meta, json });
    if (existing === REFUSED_CREATE) {
      throw new Error("the submission was refused before its record was written");
    }
    // A command resent after a reconnect finds the key it wrote itself: that is still ours.
    return existing && existing !== meta.id
      ? { created: false, existingId: existing }
      : { created: true };
  }

  private createMany(pending: PendingCreate[]): Promise<string[]> {
    const keys: string[] = [];
    const args: Array<string | number> = [this.retentionMs, pending.length];
    for (const { meta, json } of pending) {
      keys.push(
        this.key(meta.id),
        meta.xroadId ? this.dedupKey(meta) : "",
        meta.xroadId ? this.keys.dedupV1(meta.client, meta.xroadId) : "",
      );
      args.push(json, meta.createdAt, meta.id);
    }
    const marks = this.notedMarks;
    if (marks.length > 0) {
      this.notedMarks = [];
      keys.push(...marks);
    }
    return this.redis.sluiceCreateMany(keys.length, ...keys, ...args);
  }

  /**
   * Undoes `create` when the broker did not take the message, so a retry is not deduplicated.
   * A marker stays for the retention: should the broker have taken the message after all
   * (its confirm was lost), the worker knows it was refused and never processes it.
   * "adopted": another adapter publishes it; "taken": a worker already took the message, so
   * the broker has it whatever the publish said, and the record stays.
   */
  async discard(
    meta: TransactionMeta,
    /**
     * Redis answered the create, so it ran: a record gone now was lost with Redis's data
     * (and any worker's claim with it), and is written again unconfirmed ("kept": the caller
     * is still refused, and its resubmission finds and adopts this message).
     */
    created = false,
  ): Promise<"discarded" | "adopted" | "taken" | "kept"> {
    const { dedup, args } = this.writeAgainArgs(meta);
    const result = await this.redis.sluiceDiscard(
      this.key(meta.id),
      dedup,
      String(this.retentionMs),
      meta.id,
      ...(created ? [args[0], args[1], args[4]] : []),
    );
    return (["adopted", "discarded", "taken", "kept"] as const)[result];
  }

  /**
   * Writes the record of an accepted message again from what its request (or a response)
   * carries, when the record is gone: Redis lost its data, or retention passed while the
   * request waited. Its state starts again at `accepted`; the de-duplication key is restored
   * unless another submission took it meanwhile. It is marked published (the broker had the
   * message), so a resubmission does not adopt it. False when a record (or the marker of a
   * refused submission) exists.
   */
  async rebuild(
    meta: TransactionMeta,
    /**
     * A worker's call of the message may have reached the backend: the record is written
     * marked so (`transition`'s `called`), and so is one another copy wrote again first.
     */
    called = false,
    /**
     * The attempt of the retry copy the worker parked before releasing its claim
     * (`transition`'s `parkedAttempt`): a delivery of an earlier attempt stays stale.
     */
    parkedAttempt?: number,
  ): Promise<boolean> {
    const { dedup, args } = this.writeAgainArgs(meta);
    const written = await this.redis.sluiceRebuild(
      this.key(meta.id),
      dedup,
      ...args,
      called ? "1" : "",
      Number.isInteger(parkedAttempt) ? String(parkedAttempt) : "",
    );
    return written === 1;
  }

  /** A record written again: its dedup key, and its meta json, now, ttl ms, id, history json. */
  private writeAgainArgs(meta: TransactionMeta): { dedup: string; args: string[] } {
    return {
      dedup: meta.xroadId ? this.dedupKey(meta) : "",
      args: [
        JSON.stringify(meta),
        String(Date.now()),
        String(this.retentionMs),
        meta.id,
        JSON.stringify({ state: "accepted", at: meta.createdAt }),
      ],
    };
  }

  /**
   * The record of `id`, or null. Given `owns`, null too when it says the reader may not see the
   * record, and its responses (each up to a backend's maxResponseBytes) are read only after it
   * said yes: read with the rest, they made another client's 404 measurably slower than an
   * unknown id's, which told that the id exists. One round trip more for the owner.
   */
  async get(id: string, owns?: (tx: Transaction) => boolean): Promise<Transaction | null> {
    if (owns !== undefined) {
      const tx = transactionOf(await this.redis.hgetall(this.key(id)), []);
      if (tx === null || !owns(tx)) return null;
      tx.responses = responsesOf(await this.redis.hvals(this.responsesKey(id)));
      return tx;
    }
    const [fields, responses] = await Promise.all([
      this.redis.hgetall(this.key(id)),
      this.redis.hvals(this.responsesKey(id)),
    ]);
    return transactionOf(fields, responses);
  }

  /**
   * The message a client sent to a service under an X-Road id, as duplicates find it: by the
   * current key, else by Sluice 0.1.0's (client, X-Road id) key when its record is that message.
   */
  async findByXroadId(
    client: string,
    service: string,
    xroadId: string,
  ): Promise<Transaction | null> {
    const id = await this.redis.get(this.dedupKey({ client, service, xroadId }));
    if (id) return this.get(id);
    const oldId = await this.redis.get(this.keys.dedupV1(client, xroadId));
    const tx = oldId ? await this.get(oldId) : null;
    return tx && tx.client === client && tx.service === service && tx.xroadId === xroadId
      ? tx
      : null;
  }

  /**
   * Notes that the broker confirmed the request, so a duplicate arriving at another adapter
   * instance knows at once that the first submission is persisted.
   */
  async markPublished(id: string): Promise<void> {
    await this.publishedMarks.add(id);
  }

  /**
   * `markPublished` for a caller that does not wait for it (a lost mark only delays
   * duplicates). Under load creates are made in the same turns as confirms arrive, so the mark
   * rides on their script call instead of costing a command of its own.
   */
  notePublished(id: string): void {
    if (this.notedMarks.length === 0) setImmediate(() => this.sendNotedMarks());
    this.notedMarks.push(this.key(id));
  }

  private sendNotedMarks(): void {
    // Creates of this turn not yet sent take the marks along (createMany); none, they go alone.
    if (this.creates.size > 0 || this.notedMarks.length === 0) return;
    const marks = this.notedMarks;
    this.notedMarks = [];
    this.redis.sluiceMarkPublishedMany(marks.length, ...marks).catch(() => undefined);
  }

  /**
   * Takes over the publish of a submission whose adapter never confirmed it (it died between
   * writing the record and the broker's confirm): true when the caller must publish it now.
   * Another adopter's claim counts for `staleMs`; an adopted record is never discarded.
   */
  async adopt(id: string, instance: string, staleMs: number): Promise<boolean> {
    return (
      (await this.redis.sluiceAdopt(this.key(id), instance, String(staleMs), randomUUID())) === 1
    );
  }

  /**
   * How long ago the record of `tx` was made, by Redis's clock: the adapter that wrote it may
   * run on a clock far from this one's. A record that does not say (an earlier release's, or
   * rebuilt) is judged by its `createdAt` and this process's clock.
   */
  async ageMs(tx: Pick<Transaction, "id" | "createdAt">): Promise<number> {
    const age = await this.redis.sluiceAge(this.key(tx.id));
    return age >= 0 ? age : Date.now() - tx.createdAt;
  }

  /**
   * Asks that `instance` be woken when the final response is stored, and returns the state
   * as it is now (null when the record is gone). Registering before reading closes the gap.
   */
  async watch(id: string, instance: string): Promise<State | null> {
    return (await this.redis.sluiceWatch(this.key(id), instance)) as State | null;
  }

  /**
   * Whether the refusal marker of `id` was left by an operator's discard (REFUSED_BY_DISCARD)
   * rather than by a publish its caller was told failed: the worker's dead letter says which.
   */
  async refusedByDiscard(id: string): Promise<boolean> {
    return (await this.redis.hget(this.key(id), "refusedBy")) === REFUSED_BY_DISCARD;
  }

  /**
   * What the worker needs to decide about a request: state, processed mark, recorded answer;
   * "refused" for a submission whose publish failed, null when there is no record at all.
   */
  async peek(id: string): Promise<RequestView | "refused" | null> {
    const [state, processedAt, answer, deadLettered, refused] = await this.redis.hmget(
      this.key(id),
      "state",
      "processedAt",
      "answer",
      "deadLettered",
      "refused",
    );
    if (refused) return "refused";
    if (!state) return null;
    return requestViewOf(state, processedAt, answer, deadLettered);
  }

  /**
   * The first look at a request and, when it may be called now, its in-flight slot and its
   * claim for `claimMs` (by Redis's clock), all in one round trip: what `peek`, taking the slot and
   * `transition(id, ["accepted"], "processing", { attempt })` would do one after another.
   */
  async claimWithSlot(
    id: string,
    claimMs: number,
    slot: SlotAsk,
    /** The delivery's attempt: one below the retry copy parked last is "stale". */
    attempt?: number,
  ): Promise<SlotClaim> {
    const reply = await this.redis.sluiceClaimWithSlot(
      this.key(id),
      slot.key,
      slot.waiting,
      String(Date.now()),
      String(claimMs),
      slot.token,
      String(slot.max),
      String(slot.leaseMs),
      Number.isInteger(attempt) ? String(attempt) : "",
      String(slot.waitMs),
    );
    const [result, state, processedAt, answer, deadLettered] = reply as string[];
    switch (result) {
      case "ok": {
        const claim: Extract<SlotClaim, { result: "ok" }> = {
          result,
          previous: state as State,
          called: reply[2] === 1,
        };
        // Only when the record keeps one: most claims have none.
        const reached = reachedOf(reply[3]);
        if (reached) claim.reached = reached;
        return claim;
      }
      case "busy":
        return { result, retryInMs: Math.max(1, Number(reply[1])) };
      case "claimed":
      case "stale":
        return { result };
      case "refused":
        return { result: "view", view: "refused" };
      case "missing":
        return { result: "view", view: null };
      default:
        return { result: "view", view: requestViewOf(state, processedAt, answer, deadLettered) };
    }
  }

  /**
   * Moves the state to `to` when the current state is one of `from`. `claimMs` leases
   * `processing` to one worker for that long by Redis's clock: another may take it over only
   * after the lease lapsed, and only when its `from` names `processing` ("claimed" otherwise,
   * and "processed" when the lapsed claim's worker recorded its answer). A claim made with
   * `token` is known by it: `holding` fences a later change (the release of the claim) to that
   * claim, "lost" once another worker took it over.
   */
  async transition(
    id: string,
    from: readonly State[],
    to: State,
    options: {
      error?: ErrorInfo;
      claimMs?: number;
      /** Who makes the change (a cancel's `client` or `operator`), kept with the state. */
      by?: string;
      /**
       * A worker gives the message back after a call that may have reached the backend: from
       * now on it cannot be cancelled (a cancel is a conflict).
       */
      called?: boolean;
      /** This change's token (a claim's, to fence its later changes); a new one by default. */
      token?: string;
      /** The claim token the change is fenced by: "lost" unless the claim is still this one. */
      holding?: string;
      /**
       * A claim's delivery attempt: "stale" when a retry copy of a later attempt was parked
       * since (`parkedAttempt`), so that copy, not this delivery, is the message now.
       */
      attempt?: number;
      /**
       * The attempt of the retry copy the broker confirmed before this release of the claim:
       * from now on every delivery of an earlier attempt is stale.
       */
      parkedAttempt?: number;
      /**
       * The wake (`terminalWake`) to publish to the sync callers waiting on the message (owner
       * and watchers) when the change is made: a terminal change without a response, which no
       * response worker stores (a cancel).
       */
      wake?: string;
    } = {},
  ): Promise<{
    result: TransitionResult;
    previous: State | null;
    /** Who made the state as it is now: this change's `by`, or on a conflict the earlier one's. */
    changedBy: string | null;
    /**
     * Adapter instances to wake that the change's `wake` reached no pub/sub subscriber of (an
     * adapter of an earlier release, or one whose subscription is down): the caller wakes them
     * through their reply queues (`wakeUnheard`). A repeat of the change (the same token, or a
     * "conflict" with the same `by`) tells those of the first run again.
     */
    unreached: string[];
    /**
     * A change made ("ok"): whether the record is marked called (a call of the message may
     * have reached the backend), as a claim's holder must know should Redis lose the record.
     */
    called: boolean;
    /** A claim made ("ok"): the attempt and call count the record keeps, if any (`Reached`). */
    reached?: Reached;
  }> {
    const [result, previous, changedBy, unreached, called, reached] =
      await this.redis.sluiceTransition(
        this.key(id),
        to,
        String(Date.now()),
        from.join(","),
        options.error ? JSON.stringify(options.error) : "",
        options.claimMs !== undefined ? String(options.claimMs) : "",
        // Each change its own token, the same in a resend of this command.
        options.token ?? randomUUID(),
        options.by ?? "",
        options.called ? "1" : "",
        options.holding ?? "",
        options.wake ?? "",
        this.keys.wake(""),
        Number.isInteger(options.attempt) ? String(options.attempt) : "",
        Number.isInteger(options.parkedAttempt) ? String(options.parkedAttempt) : "",
      );
    const change: Awaited<ReturnType<TransactionStore["transition"]>> = {
      result: result as TransitionResult,
      previous: (previous || null) as State | null,
      changedBy: changedBy || null,
      unreached: unreached ?? [],
      called: called === 1,
    };
    // Only when the record keeps one: most claims have none.
    const kept = reachedOf(reached);
    if (kept) change.reached = kept;
    return change;
  }

  /**
   * Whether a worker gave the message back after a call that may have reached the backend
   * (`transition`'s `called`): its next copy may carry no count of that call.
   */
  async wasCalled(id: string): Promise<boolean> {
    return (await this.redis.hexists(this.key(id), "called")) === 1;
  }

  /** Whether a worker's claim on the message lasts (by Redis's clock): its worker lives. */
  async claimHeld(id: string): Promise<boolean> {
    return (await this.redis.sluiceClaimHeld(this.key(id))) === 1;
  }

  /**
   * Extends this worker's `processing` claim to `claimMs` from now by Redis's clock (a long
   * in-place retry), only while the claim is still the one of `token`: a worker whose claim
   * lapsed and was taken over learns it ("lost") instead of extending the other's. A record
   * Redis lost is this claim's again: written again from `meta` when it is gone, taken back
   * when a copy wrote it again and nobody claimed it since.
   */
  async renewClaim(
    id: string,
    claimMs: number,
    token: string,
    options: {
      /** The holder's call may have reached the backend: the record is marked so. */
      called?: boolean;
      /** What the record is written again from, when it is gone ("missing" without it). */
      meta?: TransactionMeta;
      /**
       * The attempt and call count the message has reached, kept when higher than the record's
       * (a retry copy that could not be parked): a later claim goes on from them.
       */
      reached?: Reached;
    } = {},
  ): Promise<ClaimRenewal> {
    const { dedup, args } = options.meta
      ? this.writeAgainArgs(options.meta)
      : { dedup: "", args: ["", String(Date.now()), "", "", ""] };
    const renewed = await this.redis.sluiceRenewClaim(
      this.key(id),
      dedup,
      String(claimMs),
      token,
      options.called ? "1" : "",
      ...args,
      options.reached ? String(options.reached.attempt) : "",
      options.reached ? String(options.reached.calls) : "",
    );
    return renewed === 1 ? "held" : renewed === 0 ? "lost" : "missing";
  }

  /**
   * Keeps the backend's answer in the record and marks the message processed, before anything
   * is published: from here on no copy of the request calls the backend again.
   */
  async recordAnswer(
    id: string,
    answer: RecordedAnswer,
    /** The call's in-flight slot, freed in the same round trip (whatever the result). */
    slot?: SlotRef,
    /** The claim the answer was made under: recorded only while it is still this one. */
    claim: { token: string; called: boolean } | null = null,
    /**
     * Store the outcome too and wake the message's sync callers ("finished", "answered"), when
     * the answer allows it (see `finishable`): a caller waiting for it is answered at once.
     */
    finish: AnswerFinish | null = null,
  ): Promise<RecordAnswerResult> {
    const now = Date.now();
    const final = finish && finishable(answer) ? answer.responses.at(-1)! : null;
    const wake = final ? this.finalWake(id, answer.responses, final) : null;
    const [result, , unreached] = await this.redis.sluiceRecordAnswer(
      this.key(id),
      slot?.key ?? "",
      this.responsesKey(id),
      final && finish?.client != null ? this.keys.hubClient(finish.client) : "",
      slot?.waiting ?? "",
      JSON.stringify(answer),
      String(now),
      slot?.token ?? "",
      slot?.channel ?? "",
      claim?.token ?? "",
      claim?.called ? "1" : "",
      ...(final && wake ? this.finishArgs(answer.responses, wake.stored, final, wake.text) : []),
    );
    if (result === "answered" && unreached && unreached.length > 0 && wake) {
      finish?.unreached(unreached, Buffer.from(wake.text));
    }
    return result as RecordAnswerResult;
  }

  /**
   * The JSON of an answer's responses as stored, and the wake of its final one. The wake is
   * written around the final response's stored JSON (`wakeHead`), so the response, body and
   * all, is serialised once for both.
   */
  private finalWake(id: string, responses: ResponseMessage[], final: ResponseMessage) {
    const stored = responses.map((response) => JSON.stringify(storedResponseOf(response)));
    const head = wakeHead({ id, state: final.outcome, error: final.error ?? null });
    return { stored, text: `${head}${stored.at(-1)!}}` };
  }

  /** RECORD_ANSWER's arguments that store the outcome of `responses` and wake its callers. */
  private finishArgs(
    responses: ResponseMessage[],
    stored: string[],
    final: ResponseMessage,
    wake: string,
  ): string[] {
    const error = final.error ?? null;
    const args = [
      String(this.retentionMs),
      String(final.seq),
      final.outcome,
      error ? JSON.stringify(error) : "",
      wake,
      this.keys.wake(""),
    ];
    for (let i = 0; i < responses.length; i++) args.push(String(responses[i].seq), stored[i]);
    return args;
  }

  /** Notes that the recorded answer's dead-letter copy is on the broker (not to be sent again). */
  async noteDeadLettered(id: string): Promise<void> {
    await this.redis.sluiceNoteDeadLettered(this.key(id));
  }

  /**
   * Keeps `answer` instead of the recorded one, whose responses the broker refuses as too large
   * (see REPLACE_ANSWER): "ok", or what stood in the way.
   */
  async replaceAnswer(
    id: string,
    answer: RecordedAnswer,
    /** The claim the kept answer was recorded under, or "" for a copy holding none. */
    token: string,
  ): Promise<ReplaceAnswerResult> {
    return this.redis.sluiceReplaceAnswer(this.key(id), JSON.stringify(answer), token);
  }

  /**
   * Whether a terminal change without a response (a cancel) was told to listeners already:
   * the adapter and, as a fallback, the worker that skips the message both send a notice.
   */
  async wasTold(id: string): Promise<boolean> {
    return (await this.redis.exists(this.keys.txTold(id))) > 0;
  }

  /** Remembers, for the record's retention, that `state` was told to listeners. */
  async markTold(id: string, state: State): Promise<void> {
    await this.redis.set(this.keys.txTold(id), state, "PX", this.retentionMs);
  }

  /**
   * Stores one response; a final one sets the terminal state (once: later ones are "late") and
   * wakes the adapter instances holding its sync callers over Redis pub/sub, all in one round
   * trip that also returns the record as it is now. `wakeHead` is the encoded wake message up
   * to its response (codec's `wakeHead`): the wake is `wakeHead` + the stored response + "}".
   */
  async addResponse(
    response: ResponseMessage,
    wakeHead = "",
  ): Promise<{
    result: AddResponseResult;
    previous: State | null;
    /** The record right after the response was stored ("ok", "duplicate"), else null. */
    tx: Transaction | null;
    /**
     * Adapter instances to wake that no pub/sub subscriber heard (an adapter of an earlier
     * release, or one whose subscription is down): the caller wakes them through the broker.
     */
    unreached: string[];
    /** The response as stored, which is also what a wake carries. */
    stored: StoredResponse;
  }> {
    const stored = storedResponseOf(response);
    const error = response.error ?? null;
    const [result, previous, fields, responses, unreached, earlier] =
      await this.redis.sluiceAddResponse(
        this.key(response.id),
        this.responsesKey(response.id),
        String(response.seq),
        JSON.stringify(stored),
        response.final ? "1" : "0",
        response.outcome,
        String(Date.now()),
        error ? JSON.stringify(error) : "",
        String(this.retentionMs),
        response.final ? wakeHead : "",
        this.keys.wake(""),
        ...RECORD_FIELDS,
      );
    let tx: Transaction | null = null;
    if (fields && responses) {
      const record: Record<string, string> = {};
      RECORD_FIELDS.forEach((name, i) => {
        const value = fields[i];
        if (value !== null && value !== undefined) record[name] = value;
      });
      tx = transactionOf(record, responses);
      if (earlier === "1" && tx) tx = asOfEarlierResponse(tx, response.seq);
    }
    return {
      result: result as AddResponseResult,
      previous: earlier === "1" && tx ? tx.state : ((previous || null) as State | null),
      tx,
      unreached: unreached ?? [],
      stored,
    };
  }

  /** Sets the delivery state; `onlyFrom` guards against overwriting a later decision. */
  async setDelivery(
    id: string,
    delivery: Delivery,
    onlyFrom: readonly Delivery[] = [],
  ): Promise<boolean> {
    return (await this.changeDelivery(id, delivery, onlyFrom)) !== null;
  }

  /** As setDelivery, answering the delivery state it changed from (null: nothing changed). */
  async changeDelivery(
    id: string,
    delivery: Delivery,
    onlyFrom: readonly Delivery[] = [],
  ): Promise<Delivery | null> {
    const from = await this.redis.sluiceSetDelivery(
      this.key(id),
      delivery,
      String(Date.now()),
      onlyFrom.join(","),
    );
    return from === 0 ? null : from;
  }
}

/**
 * The record's fields a Transaction is made of, as ADD_RESPONSE reads them (HMGET, in this
 * order: the script finds `meta` first, `state` second and `watchers` eleventh).
 */
const RECORD_FIELDS = [
  "meta",
  "state",
  "delivery",
  "updatedAt",
  "history",
  "error",
  "processedAt",
  "published",
  "replayOf",
  "replayedAs",
  "watchers",
] as const;

/** A record's stored responses, in their order. */
function responsesOf(responses: string[]): StoredResponse[] {
  return responses.map((text) => JSON.parse(text) as StoredResponse).sort((a, b) => a.seq - b.seq);
}

/** A Transaction from the record's fields and its stored responses; null without a record. */
function transactionOf(
  fields: Partial<Record<string, string>>,
  responses: string[],
): Transaction | null {
  if (!fields.meta) return null;
  const meta = JSON.parse(fields.meta) as TransactionMeta;
  const history = JSON.parse(`[${fields.history ?? ""}]`) as Transaction["history"];
  // The freshly parsed meta becomes the transaction: a spread followed by more fields would be
  // built on V8's slow path (microseconds), and every read of a record passes here.
  return Object.assign(meta, {
    state: fields.state as State,
    delivery: fields.delivery as Delivery,
    updatedAt: Number(fields.updatedAt),
    history,
    responses: responsesOf(responses),
    error: fields.error ? (JSON.parse(fields.error) as ErrorInfo) : null,
    processedAt: fields.processedAt ? Number(fields.processedAt) : null,
    // Any state after the first proves the broker had taken it.
    published: fields.published === "1" || history.length > 1,
    replayOf: fields.replayOf || null,
    replayedAs: fields.replayedAs || null,
  });
}
