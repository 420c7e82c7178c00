// Event hub listeners (TMF688 style): who asked to be told about which of their own messages,
// kept in Redis per X-Road client. The adapter registers them; the response worker reads them.

import { randomUUID } from "node:crypto";
import type Redis from "ioredis";
import { SluiceError } from "../protocol/errors";
import { MESSAGE_STATES as STATES } from "./transaction-store";
import { redisKeys } from "../protocol/redis-keys";

export const HUB_EVENT_TYPES = ["MessageStateChangeEvent"] as const;
export type HubEventType = (typeof HUB_EVENT_TYPES)[number];

export interface HubListener {
  id: string;
  /** The X-Road client that registered it; it only ever hears of that client's messages. */
  client: string;
  callback: string;
  /** The query as registered, echoed back. */
  query: string;
  createdAt: number;
  /**
   * True when it was registered through a security server (`X-Road-Request-Id`): an X-Road
   * client that may share its id with a local system, so it hears nothing of the consumer
   * direction's messages. Absent for one registered locally (and by releases before the mark).
   */
  viaXroad?: true;
}

/** Conditions of a query; an absent key admits every value. */
export interface HubFilter {
  eventType?: string[];
  service?: string[];
  state?: string[];
}

// TMF688 writes attribute filters as paths into the event; both spellings are accepted.
const KEYS: Record<string, keyof HubFilter> = {
  eventType: "eventType",
  service: "service",
  state: "state",
  "event.message.service": "service",
  "event.message.state": "state",
};

/**
 * Parses `eventType=...&service=...&state=a,b`. Values may be comma-separated or repeated;
 * unknown keys, event types or states are refused, since a filter that can never match would
 * leave the listener silently deaf.
 */
export function parseHubQuery(query: unknown): HubFilter {
  if (query === undefined || query === null || query === "") return {};
  if (typeof query !== "string") throw invalid("query must be a string");
  if (query.length > 2048) throw invalid("query is longer than 2048 characters");
  const filter: HubFilter = {};
  for (const [rawKey, rawValue] of new URLSearchParams(query)) {
    // Own keys only: "__proto__" or "constructor" must be unknown keys, not Object's.
    const key = Object.hasOwn(KEYS, rawKey) ? KEYS[rawKey] : undefined;
    if (key === undefined) {
      throw invalid(`query key "${rawKey}" is not one of eventType, service, state`);
    }
    const values = rawValue
      .split(",")
      .map((value) => value.trim())
      .filter((value) => value !== "");
    if (values.length === 0) throw invalid(`query key "${rawKey}" has no value`);
    for (const value of values) {
      if (key === "eventType" && !(HUB_EVENT_TYPES as readonly string[]).includes(value)) {
        throw invalid(`unknown eventType "${value}"; known: ${HUB_EVENT_TYPES.join(", ")}`);
      }
      if (key === "state" && !(STATES as readonly string[]).includes(value)) {
        throw invalid(`unknown state "${value}"; known: ${STATES.join(", ")}`);
      }
    }
    filter[key] = [...(filter[key] ?? []), ...values];
  }
  return filter;
}

export function matchesHubFilter(
  filter: HubFilter,
  event: { eventType: string; service: string; state: string },
): boolean {
  return (
    (filter.eventType === undefined || filter.eventType.includes(event.eventType)) &&
    (filter.service === undefined || filter.service.includes(event.service)) &&
    (filter.state === undefined || filter.state.includes(event.state))
  );
}

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidRequest", message);
}

// KEYS: registration, new listener, client set, index of clients, the client's set of those
// registered through a security server; ARGV: new id, new listener json, max per client and
// direction, client, "1" when this one came through a security server.
// Adds a listener unless the client registered the same callback and query before: then that
// one is returned, so a registration repeated after its answer was lost (or a command ioredis
// sends again after a reconnect) leaves one listener, not two that each hear every event. A
// registration whose listener is gone from the client's set (removed by a release that kept no
// registration) is stale and replaced. Returns {"added" | "existing", listener json} or
// {"full"} when the client holds its limit already in this direction: an X-Road client that
// shares a local system's id counts its own listeners, the X-Road set, and the local system
// the rest of the client set, so neither fills the other's limit. The X-Road set is counted
// within the client set (SINTER, at most two limits' worth): an id left in it by a release that
// removed listeners without it is not counted in either direction.
const ADD = `
local known = redis.call("GET", KEYS[1])
if known then
  local ok, listener = pcall(cjson.decode, known)
  if ok and type(listener) == "table" and type(listener.id) == "string"
      and redis.call("SISMEMBER", KEYS[3], listener.id) == 1 then
    redis.call("SADD", KEYS[4], ARGV[4])
    return {"existing", known}
  end
end
local held = #redis.call("SINTER", KEYS[5], KEYS[3])
if ARGV[5] ~= "1" then held = redis.call("SCARD", KEYS[3]) - held end
if held >= tonumber(ARGV[3]) then return {"full", ""} end
redis.call("SET", KEYS[2], ARGV[2])
redis.call("SADD", KEYS[3], ARGV[1])
if ARGV[5] == "1" then redis.call("SADD", KEYS[5], ARGV[1]) end
redis.call("SADD", KEYS[4], ARGV[4])
redis.call("SET", KEYS[1], ARGV[2])
return {"added", ARGV[2]}`;

// KEYS: listener, client set, registration, removed mark, index of clients, the client's set of
// those registered through a security server; ARGV: id, removed mark (its client and
// direction), mark's lifetime (ms), client. Removes a listener and its registration, unless the
// registration names another listener (one added after a stale registration), and marks it
// removed for its client.
// A client left without listeners leaves the index in the same step, so it never lists one that
// is gone nor misses one just added.
const REMOVE = `
redis.call("DEL", KEYS[1])
redis.call("SREM", KEYS[2], ARGV[1])
redis.call("SREM", KEYS[6], ARGV[1])
if redis.call("SCARD", KEYS[2]) == 0 then redis.call("SREM", KEYS[5], ARGV[4]) end
redis.call("SET", KEYS[4], ARGV[2], "PX", ARGV[3])
local known = redis.call("GET", KEYS[3])
if known then
  local ok, listener = pcall(cjson.decode, known)
  if not ok or type(listener) ~= "table" or listener.id == ARGV[1] then redis.call("DEL", KEYS[3]) end
end
return 1`;

// KEYS: client set, index of clients; ARGV: client. Indexes a client found by the walk that
// builds the index, unless its listeners were removed since the walk saw them.
const INDEX = `
if redis.call("SCARD", KEYS[1]) > 0 then redis.call("SADD", KEYS[2], ARGV[1]) end
return 1`;

// KEYS: client set, index of clients; ARGV: client. Drops an indexed client with no listener
// left (its last one removed by an earlier release, which kept no index, or its ids all dangling).
const UNINDEX = `
if redis.call("SCARD", KEYS[1]) == 0 then redis.call("SREM", KEYS[2], ARGV[1]) end
return 1`;

/** How many clients' listener sets one listing reads per round trip. */
const CLIENT_BATCH = 100;

/** How long a removed listener's client is kept: longer than any client retries a DELETE. */
const REMOVED_KEEP_MS = 24 * 3600 * 1000;

interface ScriptedRedis extends Redis {
  sluiceHubAdd(
    registration: string,
    listener: string,
    client: string,
    index: string,
    xroadSet: string,
    id: string,
    json: string,
    max: string,
    clientName: string,
    viaXroad: string,
  ): Promise<[string, string]>;
  sluiceHubRemove(
    listener: string,
    clientSet: string,
    registration: string,
    removed: string,
    index: string,
    xroadSet: string,
    id: string,
    mark: string,
    keepMs: string,
    client: string,
  ): Promise<number>;
  sluiceHubIndex(clientSet: string, index: string, client: string): Promise<number>;
  sluiceHubUnindex(clientSet: string, index: string, client: string): Promise<number>;
}

export class HubListeners {
  private readonly redis: ScriptedRedis;

  constructor(
    redis: Redis,
    private readonly prefix: string,
    /** Listeners one client may hold; more is refused with 409. */
    private readonly maxPerClient = 100,
  ) {
    this.redis = redis as ScriptedRedis;
    if (!("sluiceHubAdd" in redis)) {
      redis.defineCommand("sluiceHubAdd", { numberOfKeys: 5, lua: ADD });
      redis.defineCommand("sluiceHubRemove", { numberOfKeys: 6, lua: REMOVE });
      redis.defineCommand("sluiceHubIndex", { numberOfKeys: 2, lua: INDEX });
      redis.defineCommand("sluiceHubUnindex", { numberOfKeys: 2, lua: UNINDEX });
    }
  }

  private listenerKey(id: string): string {
    return redisKeys(this.prefix).hubListener(id);
  }

  private clientKey(client: string): string {
    return redisKeys(this.prefix).hubClient(client);
  }

  private xroadKey(client: string): string {
    return redisKeys(this.prefix).hubClientXroad(client);
  }

  /**
   * What a removal's mark holds: its client, and for one registered through a security server
   * a word before it that no client id holds (ids have no whitespace), so a repeated removal is
   * answered as the first only in its own direction.
   */
  private removedMark(client: string, viaXroad: boolean): string {
    return viaXroad ? `x-road ${client}` : client;
  }

  private registrationKey(
    listener: Pick<HubListener, "client" | "callback" | "query" | "viaXroad">,
  ): string {
    const key = redisKeys(this.prefix).hubRegistration(
      listener.client,
      listener.callback,
      listener.query,
    );
    // Through a security server, another registration than a local system's of the same id:
    // neither is handed the other's listener (and its mark, or lack of one).
    return listener.viaXroad === true ? `${key}:x-road` : key;
  }

  /**
   * Registers a listener; the callback must already have passed checkCallbackTarget. The same
   * client registering the same callback and query again gets the listener it has: one
   * registration, however often it is sent. `viaXroad`: it came through a security server
   * (HubListener.viaXroad).
   */
  async add(
    client: string,
    callback: string,
    query: string,
    viaXroad = false,
  ): Promise<HubListener> {
    parseHubQuery(query);
    const listener: HubListener = {
      id: randomUUID(),
      client,
      callback,
      query,
      createdAt: Date.now(),
      ...(viaXroad ? { viaXroad: true as const } : {}),
    };
    // One script: two identical registrations at once (a retry overtaking its original) still
    // make one listener, and the limit is counted where the listener is added.
    const [result, json] = await this.redis.sluiceHubAdd(
      this.registrationKey(listener),
      this.listenerKey(listener.id),
      this.clientKey(client),
      redisKeys(this.prefix).hubClients,
      this.xroadKey(client),
      listener.id,
      JSON.stringify(listener),
      String(this.maxPerClient),
      client,
      viaXroad ? "1" : "",
    );
    if (result === "full") {
      throw new SluiceError(
        "Conflict",
        `a client may register at most ${this.maxPerClient} hub listeners` +
          (viaXroad ? " through a security server" : ""),
      );
    }
    return JSON.parse(json) as HubListener;
  }

  /** Whether the client has any listener (one cheap EXISTS, for the worker's hot path). */
  async hasAny(client: string): Promise<boolean> {
    return (await this.redis.exists(this.clientKey(client))) === 1;
  }

  async get(id: string): Promise<HubListener | null> {
    const text = await this.redis.get(this.listenerKey(id));
    return text === null ? null : (JSON.parse(text) as HubListener);
  }

  /**
   * Removes a listener when `client` owns it and registered it the way this removal came:
   * through a security server (`viaXroad`) or not. True too when it was theirs and removed
   * within the last day (by this client, or after a 410): a removal repeated because its answer
   * was lost learns it is done. False when there is no such listener, another client owns it,
   * or it is the other direction's (an X-Road client may share a local system's id): these are
   * not told apart, so ids of others cannot be probed.
   */
  async remove(id: string, client: string, viaXroad = false): Promise<boolean> {
    const listener = await this.get(id);
    if (listener === null) {
      const mark = await this.redis.get(redisKeys(this.prefix).hubRemoved(id));
      return mark === this.removedMark(client, viaXroad);
    }
    if (listener.client !== client || (listener.viaXroad === true) !== viaXroad) return false;
    await this.redis.sluiceHubRemove(
      this.listenerKey(id),
      this.clientKey(client),
      this.registrationKey(listener),
      redisKeys(this.prefix).hubRemoved(id),
      redisKeys(this.prefix).hubClients,
      this.xroadKey(client),
      id,
      this.removedMark(client, viaXroad),
      String(REMOVED_KEEP_MS),
      client,
    );
    return true;
  }

  /**
   * Removes `listener` as its own client's removal would, in its direction: Sluice's own
   * removals (after a 410, or of a receiver given to another client). False when it is gone.
   */
  async discard(listener: HubListener): Promise<boolean> {
    return this.remove(listener.id, listener.client, listener.viaXroad === true);
  }

  /**
   * Removes a listener whoever owns it: an operator's removal (its client's later `DELETE`
   * answers as after its own). The listener removed, or null when there is none.
   */
  async removeAny(id: string): Promise<HubListener | null> {
    const listener = await this.get(id);
    if (listener === null) return null;
    await this.discard(listener);
    return listener;
  }

  /**
   * Every listener of every client, for operators: read from the index of clients, so the time
   * grows with the listeners, not with the keys of the Redis they share. The adapter and the
   * response worker never call it.
   */
  async all(): Promise<HubListener[]> {
    await this.buildIndexOnce();
    const index = redisKeys(this.prefix).hubClients;
    const clients = await this.redis.smembers(index);
    const listeners: HubListener[] = [];
    for (let start = 0; start < clients.length; start += CLIENT_BATCH) {
      const batch = clients.slice(start, start + CLIENT_BATCH);
      const sets = await Promise.all(batch.map((client) => this.forClient(client)));
      sets.forEach((found, i) => {
        if (found.length > 0) listeners.push(...found);
        // Tidying only: a failure leaves the client indexed, to be dropped by a later listing,
        // and must not reject unheard (the process would end on an unhandled rejection).
        else this.redis.sluiceHubUnindex(this.clientKey(batch[i]), index, batch[i]).catch(() => {});
      });
    }
    return listeners;
  }

  /**
   * Listeners registered by a release before the index have no entry in it: the first listing
   * of a deployment finds their clients with one walk of the keyspace (SCAN), then marks the
   * index built. Walked twice at once (two first listings), it indexes the same clients twice.
   */
  private async buildIndexOnce(): Promise<void> {
    const keys = redisKeys(this.prefix);
    if ((await this.redis.exists(keys.hubClientsBuilt)) === 1) return;
    const setPrefix = this.clientKey("");
    let cursor = "0";
    do {
      const [next, found] = await this.redis.scan(
        cursor,
        "MATCH",
        `${globEscaped(setPrefix)}*`,
        "COUNT",
        1000,
      );
      cursor = next;
      await Promise.all(
        found.map((key) =>
          this.redis.sluiceHubIndex(key, keys.hubClients, key.slice(setPrefix.length)),
        ),
      );
    } while (cursor !== "0");
    await this.redis.set(keys.hubClientsBuilt, "1");
  }

  /** Every listener of one client. */
  async forClient(client: string): Promise<HubListener[]> {
    const ids = await this.redis.smembers(this.clientKey(client));
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.listenerKey(id)));
    const listeners: HubListener[] = [];
    texts.forEach((text, i) => {
      // From the X-Road set too. Tidying only: a failure leaves the id for the next reading to drop.
      if (text === null) {
        this.redis
          .multi()
          .srem(this.clientKey(client), ids[i])
          .srem(this.xroadKey(client), ids[i])
          .exec()
          .catch(() => {});
      } else listeners.push(JSON.parse(text) as HubListener);
    });
    return listeners;
  }
}

/** `text` matched literally by a SCAN pattern: a prefix may hold `*`, `?`, `[` or a backslash. */
function globEscaped(text: string): string {
  return text.replace(/[*?[\]\\]/g, "\\$&");
}
