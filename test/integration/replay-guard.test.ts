// A dead letter is replayed only when its original has no other outcome and no worker holds it:
// the broker dead-letters a message past its delivery limit while a worker may still be
// calling the backend for it, and a replay then would call the backend a second time.
// A callback original's replay keeps its target even when the original's record is gone.
// Real broker and Redis; the original's record is put in each state by the store itself.

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
import { AMQP_URL, deletePrefix, REDIS_URL } from "../support/harness";

const log = pino({ level: "silent" });

describe("dead-letter replay and the original's own state (real broker and Redis)", function () {
  this.timeout(20_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
  };
  const names = topologyNames(prefix);
  const redis = createRedis(REDIS_URL, log, "replay-guard-test");
  const store = new TransactionStore(redis, prefix, 60_000);
  const deadLetters = new DeadLetters(redis, prefix, 60_000);
  let config: SluiceConfig;
  let broker: Broker;
  let publisher: ChannelWrapper;
  let reader: amqplib.ChannelModel;
  let channel: amqplib.Channel;
  let replayer: Replayer;

  before(async () => {
    await whenReady(redis);
    config = compileConfig(rawConfig, ".");
    broker = await Broker.connect(AMQP_URL, log);
    publisher = broker.channel("publisher", (ch) => declareAllBackends(ch, config, names));
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
      publishTimeoutMs: 5_000,
    });
  });
  after(async () => {
    await reader?.close().catch(() => undefined);
    await broker?.close();
    redis.disconnect();
    await deletePrefix(prefix, rawConfig);
  });

  /** An original in `accepted` (its record kept unless `recorded` is false) and its dead letter. */
  async function original(recorded = true, callback: string | null = null): Promise<string> {
    const id = randomUUID();
    const now = Date.now();
    const request: RequestMessage = {
      id,
      xroadId: null,
      service: "svc",
      backend: "b",
      protocol: "rest",
      client: "EE/GOV/1/app",
      replyMode: callback ? "callback" : "ack",
      method: "POST",
      path: "/",
      query: "",
      xroadHeaders: {},
      headers: {},
      contentType: "application/json",
      body: "{}",
      bodyEncoding: "utf8",
      createdAt: now,
      expiresAt: null,
      owner: null,
      callback,
    };
    if (recorded) {
      await store.create({
        id,
        xroadId: null,
        service: "svc",
        backend: "b",
        client: request.client,
        protocol: "rest",
        replyMode: "ack",
        owner: null,
        callback: null,
        createdAt: now,
        expiresAt: null,
      });
    }
    await deadLetters.record(
      {
        id,
        reason: "delivery_limit",
        backend: "b",
        service: "svc",
        client: request.client,
        xroadId: null,
        at: now,
        error: "the broker dead-lettered it",
        attempts: 3,
      },
      requestCodec.encode(request),
    );
    return id;
  }

  /** The ids of the requests now queued for backend b (taken off the queue). */
  async function queued(): Promise<string[]> {
    const ids: string[] = [];
    for (;;) {
      const message = await channel.get(names.requestsQueue("b"), { noAck: true });
      if (!message) return ids;
      ids.push(String(message.properties.messageId));
    }
  }

  const processing = (id: string) =>
    store.transition(id, ["accepted"], "processing", { claimMs: 60_000 });

  it("refuses while a worker holds the original, and replays it once it failed", async () => {
    const id = await original();
    await processing(id);
    const early = await replayer.replay(id);
    expect(early).to.include({ result: "refused", replayedAs: null });
    expect(early.error).to.include("still being processed");
    expect(await queued()).to.deep.equal([]);
    expect((await deadLetters.get(id))?.replayedAs).to.equal(null);

    await store.transition(id, ["processing"], "failed");
    const later = await replayer.replay(id);
    expect(later).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([later.replayedAs]);
  });

  it("refuses an original that completed after it was dead-lettered, or whose answer is being recorded", async () => {
    const completed = await original();
    await processing(completed);
    await store.transition(completed, ["processing"], "completed");
    const answered = await original();
    await processing(answered);
    await store.recordAnswer(answered, { responses: [], deadLetter: null });
    for (const id of [completed, answered]) {
      const result = await replayer.replay(id);
      expect(result, id).to.include({ result: "refused" });
      expect(result.error).to.include("would call the backend again");
    }
    const bulk = await replayer.replayMany(
      [(await deadLetters.get(completed))!, (await deadLetters.get(answered))!],
      () => 0,
    );
    expect(bulk.replayed.map((r) => r.result)).to.deep.equal(["refused", "refused"]);
    expect(await queued()).to.deep.equal([]);
  });

  it("replays an original whose recorded answer is its dead letter's, or whose record is gone", async () => {
    const deadAnswer = await original();
    await processing(deadAnswer);
    await store.recordAnswer(deadAnswer, { responses: [], deadLetter: "retries_exhausted" });
    const gone = await original(false);
    const replays: string[] = [];
    for (const id of [deadAnswer, gone]) {
      const result = await replayer.replay(id);
      expect(result, id).to.include({ result: "replayed" });
      replays.push(result.replayedAs!);
    }
    expect((await queued()).sort()).to.deep.equal(replays.sort());
  });

  it("keeps a callback original's target when its record is gone", async () => {
    const target = "https://callbacks.example.org/hook";
    const id = await original(false, target);
    const result = await replayer.replay(id);
    expect(result).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([result.replayedAs]);
    expect(await store.get(result.replayedAs!)).to.include({
      replyMode: "callback",
      callback: target,
    });
  });
});
