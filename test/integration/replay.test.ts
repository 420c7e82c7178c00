// Replaying a dead letter on the real broker and Redis when Redis ran the replay's claim (or
// its take-over) but the reply was lost: ioredis sends the command again after reconnecting,
// and that second run must still be the replayer's own, or nothing is sent.

import { randomUUID } from "node:crypto";
import type { ChannelWrapper } from "amqp-connection-manager";
import * as amqplib from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { declareAllBackends } from "../../shared/broker/topology";
import { compileConfig, type SluiceConfig } from "../../shared/config/config";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { Replayer } from "../../shared/operator/replay";
import { requestCodec } from "../../shared/protocol/codec";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { topologyNames } from "../../shared/protocol/names";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { createRedis } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { AMQP_URL, deletePrefix, eventually, REDIS_URL } from "../support/harness";
import { connectCutRedis, type CutRedis } from "../support/cut-redis";
import { proxyTo, viaProxy } from "../support/tcp-proxy";

const log = pino({ level: "silent" });

describe("dead-letter replay whose Redis reply was lost (real broker and Redis)", function () {
  this.timeout(20_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
  };
  const names = topologyNames(prefix);
  const redis = createRedis(REDIS_URL, log, "replay-test");
  const store = new TransactionStore(redis, prefix, 60_000);
  const deadLetters = new DeadLetters(redis, prefix, 60_000);
  let cutRedis: CutRedis;
  let config: SluiceConfig;
  let broker: Broker;
  let publisher: ChannelWrapper;
  let reader: amqplib.ChannelModel;
  let channel: amqplib.Channel;

  before(async () => {
    config = compileConfig(rawConfig, ".");
    broker = await Broker.connect(AMQP_URL, log);
    publisher = broker.channel("publisher", (ch) => declareAllBackends(ch, config, names));
    await publisher.waitForConnect();
    reader = await amqplib.connect(AMQP_URL);
    channel = await reader.createChannel();
    cutRedis = await connectCutRedis("replay-test-cut");
  });
  after(async () => {
    await cutRedis?.close();
    await reader?.close().catch(() => undefined);
    await broker?.close();
    redis.disconnect();
    await deletePrefix(prefix, rawConfig);
  });

  /** A replayer whose Redis commands pass through the proxy that can cut a reply. */
  function replayer(): Replayer {
    return new Replayer({
      config,
      redis: cutRedis.redis,
      store,
      deadLetters,
      broker,
      publisher,
      names,
      publishTimeoutMs: 5_000,
    });
  }

  /** A failed request's dead letter. */
  async function deadLetter(): Promise<string> {
    const id = randomUUID();
    const request: RequestMessage = {
      id,
      xroadId: null,
      service: "svc",
      backend: "b",
      protocol: "rest",
      client: "EE/GOV/1/app",
      replyMode: "ack",
      method: "POST",
      path: "/",
      query: "",
      xroadHeaders: {},
      headers: {},
      contentType: "application/json",
      body: "{}",
      bodyEncoding: "utf8",
      createdAt: Date.now(),
      expiresAt: null,
      owner: null,
      callback: null,
    };
    await deadLetters.record(
      {
        id,
        reason: "retries_exhausted",
        backend: "b",
        service: "svc",
        client: request.client,
        xroadId: null,
        at: Date.now(),
        error: "boom",
        attempts: 1,
      },
      requestCodec.encode(request),
    );
    return id;
  }

  /** The ids of the requests now queued for backend b. */
  async function queued(): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const message = await channel.get(names.requestsQueue("b"), { noAck: true });
      if (!message) return ids;
      ids.push(String(message.properties.messageId));
    }
  }

  const isScript = (command: string) => /EVAL/i.test(command);

  it("a claim run twice is still the replayer's: the replay is sent", async () => {
    const id = await deadLetter();
    cutRedis.cut.arm((command) => isScript(command) && command.includes(deadLetters.key(id)));
    const result = await replayer().replay(id);
    expect(cutRedis.cut.dropped).to.equal(1);
    expect(result).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([result.replayedAs]);
  });

  it("a broker out of reach refuses the replay with retryAfter, and asking again replays it", async () => {
    const brokerProxy = proxyTo(AMQP_URL);
    const cutBroker = await Broker.connect(viaProxy(AMQP_URL, await brokerProxy.listen()), log);
    try {
      const cutPublisher = cutBroker.channel("publisher", (ch) =>
        declareAllBackends(ch, config, names),
      );
      await cutPublisher.waitForConnect();
      const replayerOf = () =>
        new Replayer({
          config,
          redis,
          store,
          deadLetters,
          broker: cutBroker,
          publisher: cutPublisher,
          names,
          publishTimeoutMs: 5_000,
        });
      const id = await deadLetter();
      brokerProxy.refuse(true);
      brokerProxy.cut();
      await eventually(async () => (cutBroker.isConnected() ? undefined : true));
      const refused = await replayerOf().replay(id);
      expect(refused).to.include({ result: "refused" });
      expect(refused.retryAfter).to.be.greaterThan(0);
      expect(await queued()).to.deep.equal([]);

      brokerProxy.refuse(false);
      await eventually(async () => (cutBroker.isConnected() ? true : undefined));
      const replayed = await replayerOf().replay(id);
      expect(replayed).to.include({ result: "replayed" });
      expect(await queued()).to.deep.equal([replayed.replayedAs]);
    } finally {
      await cutBroker.close().catch(() => undefined);
      await brokerProxy.close();
    }
  });

  it("a take-over run twice is still the replayer's: the replay is sent", async () => {
    const id = await deadLetter();
    // A replay claimed by a publisher that stopped before the confirm (its mark expired).
    const replayId = randomUUID();
    await redis.hset(deadLetters.key(id), "replayedAs", replayId);
    await redis.hset(
      store.key(replayId),
      "meta",
      JSON.stringify({
        id: replayId,
        xroadId: null,
        service: "svc",
        backend: "b",
        client: "EE/GOV/1/app",
        protocol: "rest",
        replyMode: "ack",
        owner: null,
        callback: null,
        createdAt: Date.now(),
        expiresAt: null,
      }),
      "state",
      "accepted",
      "delivery",
      "pending",
      "updatedAt",
      String(Date.now()),
      "history",
      `{"state":"accepted","at":${Date.now()}}`,
      "replayOf",
      id,
    );
    expect(await redis.exists(redisKeys(prefix).replayPublishing(replayId))).to.equal(0);
    const before = cutRedis.cut.dropped;
    cutRedis.cut.arm((command) => isScript(command) && command.includes(store.key(replayId)));
    const result = await replayer().replay(id);
    expect(cutRedis.cut.dropped).to.equal(before + 1);
    expect(result).to.include({ result: "replayed", replayedAs: replayId, resumed: true });
    expect(await queued()).to.deep.equal([replayId]);
  });
});
