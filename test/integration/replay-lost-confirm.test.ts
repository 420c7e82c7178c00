// A replay whose publish the broker took but whose confirm never came in time (lost, or late
// from a blocked broker): the replay is reported refused and may be asked again, so the copy
// the broker holds must never be processed beside the next replay; and one a worker already
// took stays the dead letter's replay. Real broker and Redis, the confirm dropped by a proxy.

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
import { createRedis, whenReady } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { AMQP_URL, deletePrefix, eventually, REDIS_URL } from "../support/harness";
import { confirmDropper, proxyTo, viaProxy } from "../support/tcp-proxy";

const log = pino({ level: "silent" });
/** Short, so the lost confirm is given up on quickly; no timing is asserted. */
const PUBLISH_TIMEOUT_MS = 1_000;

describe("dead-letter replay whose broker confirm was lost (real broker and Redis)", function () {
  this.timeout(30_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
  };
  const names = topologyNames(prefix);
  const redis = createRedis(REDIS_URL, log, "replay-lost-confirm-test");
  const store = new TransactionStore(redis, prefix, 60_000);
  const deadLetters = new DeadLetters(redis, prefix, 60_000);
  const confirms = confirmDropper();
  const proxy = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  let config: SluiceConfig;
  let broker: Broker;
  let publisher: ChannelWrapper;
  let reader: amqplib.ChannelModel;
  let channel: amqplib.Channel;
  let replayer: Replayer;

  before(async () => {
    await whenReady(redis);
    config = compileConfig(rawConfig, ".");
    broker = await Broker.connect(viaProxy(AMQP_URL, await proxy.listen()), log);
    publisher = broker.channel(
      "publisher",
      (ch) => declareAllBackends(ch, config, names),
      PUBLISH_TIMEOUT_MS,
    );
    await publisher.waitForConnect();
    reader = await amqplib.connect(AMQP_URL);
    channel = await reader.createChannel();
    replayer = new Replayer({
      config,
      redis,
      store,
      deadLetters,
      broker,
      publisher,
      names,
      publishTimeoutMs: PUBLISH_TIMEOUT_MS,
    });
  });
  after(async () => {
    await reader?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await proxy.close();
    redis.disconnect();
    await deletePrefix(prefix, rawConfig);
  });

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
        error: "HTTP 500",
        attempts: 1,
      },
      requestCodec.encode(request),
    );
    return id;
  }

  /** The next request queued for backend b, taken off the queue (waits for it). */
  const nextQueued = () =>
    eventually(async () => {
      const message = await channel.get(names.requestsQueue("b"), { noAck: true });
      return message ? String(message.properties.messageId) : undefined;
    });

  it("reports the replay refused and marks the copy the broker holds refused, so no worker processes it", async () => {
    const id = await deadLetter();
    confirms.arm();
    const lost = await replayer.replay(id);
    expect(confirms.dropped).to.equal(1);
    expect(lost).to.include({ result: "refused", replayedAs: null });
    const copy = await nextQueued();
    // What a worker reads first: "refused" makes it dead-letter the copy, never call the backend.
    expect(await store.peek(copy)).to.equal("refused");
    expect((await deadLetters.get(id))?.replayedAs).to.equal(null);

    const again = await replayer.replay(id);
    expect(again).to.include({ result: "replayed" });
    expect(again.replayedAs).to.not.equal(copy);
    expect(await nextQueued()).to.equal(again.replayedAs);
    expect(await store.peek(again.replayedAs!)).to.include({ state: "accepted" });
  });

  it("keeps a replay a worker took before the confirm was given up on", async () => {
    const id = await deadLetter();
    confirms.arm();
    const replaying = replayer.replay(id);
    const taken = await nextQueued();
    // A worker takes the replay while its publisher still waits for the lost confirm.
    expect(
      (await store.transition(taken, ["accepted"], "processing", { claimMs: 60_000 })).result,
    ).to.equal("ok");
    const result = await replaying;
    expect(result).to.include({ result: "replayed", replayedAs: taken });
    expect((await deadLetters.get(id))?.replayedAs).to.equal(taken);
    expect(await replayer.replay(id)).to.include({ result: "already", replayedAs: taken });
  });
});
