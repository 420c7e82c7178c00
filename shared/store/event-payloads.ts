// A large hub event's JSON, kept once in Redis for all the listeners it goes to. Each listener
// gets a job of its own on the callback queues (its own webhook-id, attempts and backoff); were
// the document in every job, a client with 100 listeners would make the broker write 100 copies
// of a megabytes-long answer, and again at every retry.

import type Redis from "ioredis";
import { redisKeys, type RedisKeys } from "../protocol/redis-keys";

/** The field holding the event's JSON; the others are the listeners still to settle. */
const BODY = "body";
const pending = (listenerId: string) => `listener:${listenerId}`;

// KEYS: the payload hash; ARGV: expiry (ms), the body, then the pending listeners' fields.
const PUT = `
redis.call("HSET", KEYS[1], "${BODY}", ARGV[2])
for i = 3, #ARGV do redis.call("HSET", KEYS[1], ARGV[i], "1") end
redis.call("PEXPIRE", KEYS[1], ARGV[1])
return 0`;

// KEYS: the payload hash; ARGV: the listener's field. Deleted with the last listener, so a
// payload lives while one of its jobs is unsettled (and at most its expiry).
const SETTLED = `
redis.call("HDEL", KEYS[1], ARGV[1])
if redis.call("HLEN", KEYS[1]) <= 1 then redis.call("DEL", KEYS[1]) end
return 0`;

interface ScriptedRedis extends Redis {
  sluiceEventPayloadPut(key: string, ttlMs: string, ...args: string[]): Promise<number>;
  sluiceEventPayloadSettled(key: string, field: string): Promise<number>;
}

export class EventPayloads {
  private readonly redis: ScriptedRedis;
  private readonly keys: RedisKeys;

  /** `ttlMs`: the longest a payload is kept (`retention`), should a job never settle. */
  constructor(
    redis: Redis,
    prefix: string,
    private readonly ttlMs: number,
  ) {
    this.redis = redis as ScriptedRedis;
    this.keys = redisKeys(prefix);
    if (!("sluiceEventPayloadPut" in redis)) {
      redis.defineCommand("sluiceEventPayloadPut", { numberOfKeys: 1, lua: PUT });
      redis.defineCommand("sluiceEventPayloadSettled", { numberOfKeys: 1, lua: SETTLED });
    }
  }

  /**
   * Keeps `body` for the listeners' jobs. Written again by a response handled twice (its jobs
   * come again with the same webhook-ids): every listener is pending once more, and each of
   * those jobs settles it again.
   */
  async put(eventKey: string, body: string, listenerIds: readonly string[]): Promise<void> {
    await this.redis.sluiceEventPayloadPut(
      this.keys.eventPayload(eventKey),
      String(this.ttlMs),
      body,
      ...listenerIds.map(pending),
    );
  }

  /** The event's JSON; null once every listener settled it, or Redis lost it. */
  load(eventKey: string): Promise<string | null> {
    return this.redis.hget(this.keys.eventPayload(eventKey), BODY);
  }

  /** One listener's job settled (whatever its outcome); the last one removes the payload. */
  async settled(eventKey: string, listenerId: string): Promise<void> {
    await this.redis.sluiceEventPayloadSettled(
      this.keys.eventPayload(eventKey),
      pending(listenerId),
    );
  }
}
