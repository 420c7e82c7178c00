// The adapter's wake subscription on the real Redis: when it comes back after a loss, the
// records of the waiting callers are read, and a read that fails (the command connection is
// not back yet) is made again until it succeeds, so a wake lost meanwhile is never waited out.

import { randomUUID } from "node:crypto";
import net from "node:net";
import { expect } from "chai";
import Redis from "ioredis";
import pino from "pino";
import { WakeSubscriber } from "../../adapter/wake-subscriber";
import { SyncWaiters } from "../../adapter/sync-waiters";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { wakeHead } from "../../shared/protocol/codec";
import { createRedis, whenReady } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { eventually, REDIS_URL } from "../support/harness";
import { responseMessage, transactionMeta } from "../support/messages";
import { proxyTo, viaProxy } from "../support/tcp-proxy";
import { PrivateRedis } from "../e2e/ops-support";

describe("wake subscription (real Redis)", function () {
  this.timeout(20_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const instance = `wakes-${randomUUID().slice(0, 8)}`;
  const channel = redisKeys(prefix).wake(instance);
  const connectionName = `${prefix}wakes`.replace(/[^A-Za-z0-9_.-]/g, "-");
  let direct: Redis;

  /** The subscription of this suite's instance, on `redis`. */
  const subscribed = (
    redis: Redis,
    store: TransactionStore,
    waiters: SyncWaiters,
    log: pino.Logger,
  ): Promise<WakeSubscriber> =>
    WakeSubscriber.start({ redis, channel, connectionName, waiters, store, log });

  before(() => {
    direct = new Redis(REDIS_URL);
  });
  after(async () => {
    const keys = await direct.keys(`${prefix}*`);
    if (keys.length) await direct.del(...keys);
    direct.disconnect();
  });

  it("reads a waiting caller's record again once the command connection is back, if the first read failed", async function () {
    // The waiter's deadline, and the waits before it begins to count.
    this.timeout(90_000);
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const proxy = proxyTo(REDIS_URL);
    const commands = createRedis(viaProxy(REDIS_URL, await proxy.listen()), log, "wake-recheck");
    commands.on("error", () => undefined);
    const store = new TransactionStore(commands, prefix, 60_000);
    const waiters = new SyncWaiters(10);

    // The subscription reaches Redis directly: it comes back while the commands cannot.
    const wakes = await subscribed(direct, store, waiters, log);
    try {
      await whenReady(commands);
      const id = randomUUID();
      await new TransactionStore(direct, prefix, 60_000).create(
        transactionMeta({ id, replyMode: "sync" }),
      );
      // Its deadline ends the wait empty (null) long after the connection is back: an answer
      // before it came from a read of the record. Of 15 s, the subscription's return (up to
      // 10 s) and the commands' reconnection left too little on a loaded machine.
      const waiter = waiters.register(id, 60_000, "EE/GOV/A");
      let answered = false;
      void waiter.promise.then(() => (answered = true));

      proxy.refuse(true);
      proxy.cut();
      // The outcome is stored while the subscription is down too: its wake is lost.
      const response = responseMessage(id);
      const stored = new TransactionStore(direct, prefix, 60_000);
      const clients = String(await direct.client("LIST"));
      const line = clients.split("\n").find((entry) => entry.includes(` name=${connectionName} `));
      expect(line, "the wake subscription").to.not.equal(undefined);
      await direct.client("KILL", "ID", /(?:^| )id=(\d+)/.exec(line!)![1]);
      expect((await stored.addResponse(response)).result).to.equal("ok");
      // Back on its own; its read of the waiting caller's record fails (the commands are down).
      await eventually(
        async () =>
          lines.some((l) => l.includes("wake subscription restored")) ? true : undefined,
        10_000,
        "the subscription restored",
      );
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(answered, "nothing to answer with while the record cannot be read").to.equal(false);

      proxy.refuse(false);
      const wake = await waiter.promise;
      expect(wake?.state).to.equal("completed");
      expect(wake?.response?.status).to.equal(200);
    } finally {
      wakes.close();
      commands.disconnect();
      await proxy.close();
    }
  });

  it("a subscription gone silent (its connection alive to Redis, nothing comes through) is made again, and the wake sent into it is not waited out", async function () {
    // The waiter's deadline, and the waits before it begins to count.
    this.timeout(90_000);
    const log = pino({ level: "silent" });
    // A proxy whose open connections can be frozen while new ones pass: a NAT or firewall
    // that dropped one connection's state, the socket still open at both ends.
    const target = new URL(REDIS_URL);
    const frozen: Array<() => void> = [];
    const proxy = net.createServer((client) => {
      const server = net.connect(Number(target.port || 6379), target.hostname);
      client.pipe(server);
      server.pipe(client);
      client.on("error", () => undefined);
      server.on("error", () => undefined);
      frozen.push(() => {
        client.unpipe(server);
        server.unpipe(client);
        client.pause();
        server.pause();
      });
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", () => resolve()));
    const port = (proxy.address() as net.AddressInfo).port;
    const viaFrozen = new Redis(viaProxy(REDIS_URL, port), { lazyConnect: true });
    const store = new TransactionStore(direct, prefix, 60_000);
    const waiters = new SyncWaiters(10);
    const wakes = await subscribed(viaFrozen, store, waiters, log);
    try {
      const id = randomUUID();
      await store.create(transactionMeta({ id, replyMode: "sync", owner: instance }));
      const waiter = waiters.register(id, 60_000, "EE/GOV/A");
      for (const freeze of frozen.splice(0)) freeze();
      // Redis still counts the frozen subscriber: its wake is "heard", so none goes by the broker.
      const response = responseMessage(id);
      const head = wakeHead({ id, state: "completed", error: null });
      expect((await store.addResponse(response, head)).unreached).to.deep.equal([]);
      // Answered from the record once the subscription is made again, before its deadline (a
      // wait waited out ends empty, null). A bound of its own of 20 s was a race against the
      // pings, the reconnection and the read, which a loaded machine could lose.
      const wake = await waiter.promise;
      expect(wake?.state, "the wake waited out").to.equal("completed");
    } finally {
      wakes.close();
      viaFrozen.disconnect();
      proxy.close();
    }
  });

  it("a Redis slow for every connection (paused past two pings) leaves the subscription as it is: no reconnect, no re-read of every caller", async function () {
    this.timeout(40_000);
    const lines: string[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => void lines.push(line) });
    const server = await PrivateRedis.start();
    const commands = createRedis(server.url, log, "wake-slow");
    const store = new TransactionStore(commands, prefix, 60_000);
    const waiters = new SyncWaiters(10);
    const pauser = new Redis(server.url);
    try {
      await whenReady(commands);
      const wakes = await subscribed(commands, store, waiters, log);
      try {
        const reconnects = () => lines.filter((line) => line.includes("connecting again")).length;
        const ids = async () =>
          String(await pauser.client("LIST"))
            .split("\n")
            .filter((line) => line.includes(` name=${connectionName} `))
            .map((line) => /\bid=(\d+)/.exec(line)?.[1]);
        const [before] = await ids();
        // Every command of every client waits 7 s: three pings of the subscription, and the
        // command connection's pings, go unanswered that long.
        await pauser.client("PAUSE", 7_000, "ALL");
        await new Promise((resolve) => setTimeout(resolve, 9_000));
        expect(reconnects(), lines.join("")).to.equal(0);
        expect(await ids(), "the same subscription connection").to.deep.equal([before]);
        // A wake after the pause still comes through it.
        const id = randomUUID();
        await store.create(transactionMeta({ id, replyMode: "sync", owner: instance }));
        const waiter = waiters.register(id, 20_000, "EE/GOV/A");
        const head = wakeHead({ id, state: "completed", error: null });
        expect((await store.addResponse(responseMessage(id), head)).unreached).to.deep.equal([]);
        expect((await waiter.promise)?.state).to.equal("completed");
      } finally {
        wakes.close();
      }
    } finally {
      pauser.disconnect();
      commands.disconnect();
      await server.remove();
    }
  });
});
