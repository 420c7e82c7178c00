// redisCommandTimeout against the process's own event-loop lag: a command whose reply Redis sent
// in time succeeds however long the process was busy before reading it; a Redis that is truly
// silent (a stalled proxy) still fails the command at its deadline.

import { expect } from "chai";
import pino from "pino";
import type Redis from "ioredis";
import { createRedis, isCommandTimeout, whenReady } from "../../shared/store/redis";
import { REDIS_URL } from "../support/harness";
import { busy } from "../support/event-loop";
import { proxyTo, viaProxy, type TcpProxy } from "../support/tcp-proxy";

const log = pino({ level: "silent" });
const DEADLINE_MS = 1_000;

/** Keeps the event loop busy (as parsing many request bodies does) for well past the deadline. */
function busyPastDeadline(): void {
  busy(2.5 * DEADLINE_MS);
}

describe("Redis command deadline and event-loop lag (redisCommandTimeout)", function () {
  this.timeout(30_000);
  let redis: Redis;
  let proxy: TcpProxy | undefined;

  beforeEach(async () => {
    redis = createRedis(REDIS_URL, log, "reply-deadline-test", DEADLINE_MS);
    await whenReady(redis);
  });

  /** Reconnects `redis` through a proxy, then stalls it: a Redis that has gone silent. */
  async function throughStalledProxy(): Promise<TcpProxy> {
    const stalled = proxyTo(REDIS_URL);
    proxy = stalled;
    const port = await stalled.listen();
    redis.disconnect();
    redis = createRedis(viaProxy(REDIS_URL, port), log, "reply-deadline-test", DEADLINE_MS);
    await whenReady(redis);
    stalled.stall();
    return stalled;
  }

  afterEach(async () => {
    redis.disconnect();
    await proxy?.close();
    proxy = undefined;
  });

  it("a reply already waiting when the deadline passes is read, not counted as silence", async () => {
    const ping = redis.ping();
    // This turn's writes have left (the socket is corked per turn); Redis answers meanwhile.
    await new Promise((resolve) => setImmediate(resolve));
    busyPastDeadline();
    expect(await ping).to.equal("PONG");
  });

  it("many commands of one turn, their replies waiting through a busy turn, all succeed", async () => {
    const pings = Array.from({ length: 500 }, () => redis.ping());
    await new Promise((resolve) => setImmediate(resolve));
    busyPastDeadline();
    expect(new Set(await Promise.all(pings))).to.deep.equal(new Set(["PONG"]));
  });

  it("a command the busy process had not yet sent gets its whole deadline once sent", async () => {
    const ping = redis.ping();
    busyPastDeadline();
    expect(await ping).to.equal("PONG");
  });

  it("a silent Redis still fails the command at its deadline", async () => {
    const stalled = await throughStalledProxy();
    const error = await redis.ping().then(
      () => null,
      (err: unknown) => err,
    );
    expect(isCommandTimeout(error), String(error)).to.equal(true);
    stalled.heal();
  });

  it("a silent Redis fails every command of a turn, and of the turns after it", async () => {
    const stalled = await throughStalledProxy();
    const failed = (command: Promise<unknown>) =>
      command.then(
        () => false,
        (err: unknown) => isCommandTimeout(err),
      );
    const first = Array.from({ length: 100 }, () => failed(redis.ping()));
    await new Promise((resolve) => setTimeout(resolve, DEADLINE_MS / 2));
    const later = Array.from({ length: 100 }, () => failed(redis.ping()));
    expect(new Set(await Promise.all([...first, ...later]))).to.deep.equal(new Set([true]));
    stalled.heal();
  });
});
