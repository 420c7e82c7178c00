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

export class HubListeners {
  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    /** Listeners one client may hold; more is refused with 409. */
    private readonly maxPerClient = 100,
  ) {}

  private listenerKey(id: string): string {
    return redisKeys(this.prefix).hubListener(id);
  }

  private clientKey(client: string): string {
    return redisKeys(this.prefix).hubClient(client);
  }

  /** Registers a listener; the callback must already have passed checkCallbackTarget. */
  async add(client: string, callback: string, query: string): Promise<HubListener> {
    parseHubQuery(query);
    const listener: HubListener = {
      id: randomUUID(),
      client,
      callback,
      query,
      createdAt: Date.now(),
    };
    // Added first and counted in the same transaction, so concurrent registrations cannot
    // together pass the limit; one over it is taken back.
    const results = await this.redis
      .multi()
      .set(this.listenerKey(listener.id), JSON.stringify(listener))
      .sadd(this.clientKey(client), listener.id)
      .scard(this.clientKey(client))
      .exec();
    const count = Number(results?.[2]?.[1] ?? 0);
    if (count > this.maxPerClient) {
      await this.redis
        .multi()
        .srem(this.clientKey(client), listener.id)
        .del(this.listenerKey(listener.id))
        .exec();
      throw new SluiceError(
        "Conflict",
        `a client may register at most ${this.maxPerClient} hub listeners`,
      );
    }
    return listener;
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
   * Removes a listener when `client` owns it. False when there is no such listener or another
   * client owns it: the two are not told apart, so ids of others cannot be probed.
   */
  async remove(id: string, client: string): Promise<boolean> {
    const listener = await this.get(id);
    if (listener === null || listener.client !== client) return false;
    await this.redis.multi().del(this.listenerKey(id)).srem(this.clientKey(client), id).exec();
    return true;
  }

  /** Every listener of one client. */
  async forClient(client: string): Promise<HubListener[]> {
    const ids = await this.redis.smembers(this.clientKey(client));
    if (ids.length === 0) return [];
    const texts = await this.redis.mget(ids.map((id) => this.listenerKey(id)));
    const listeners: HubListener[] = [];
    texts.forEach((text, i) => {
      if (text === null) void this.redis.srem(this.clientKey(client), ids[i]);
      else listeners.push(JSON.parse(text) as HubListener);
    });
    return listeners;
  }
}
