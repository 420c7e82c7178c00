// A callback or hub event job larger than the broker takes (RabbitMQ's `max_message_size`) on a
// node of this test alone: the delivery ends once, as a dead callback saying why, instead of
// failing its enqueue, which handed the response back to be tried again for ever.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import amqplib from "amqplib";
import type { ChannelWrapper } from "amqp-connection-manager";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { CallbackDeliverer, type Settlement } from "../../response-worker/callback-deliverer";
import type { CallbackJob } from "../../shared/protocol/callback-job";
import {
  callbackTopology,
  declareCallbackTopology,
  type CallbackTopology,
} from "../../response-worker/callback-schedule";
import { CallbackSender } from "../../response-worker/callback-sender";
import { CallbackReceiver } from "../integration/callback-receiver";
import { AMQP_URL, call, eventually } from "../support/harness";
import { CallbackStack } from "./callback-stack";
import { PrivateRabbit } from "./ops-support";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const BROKER_MAX = 1024 * 1024;

describe("callback jobs larger than the broker takes (private RabbitMQ node)", function () {
  this.timeout(240_000);
  let rabbit: PrivateRabbit;
  let broker: Broker;
  let admin: amqplib.ChannelModel;
  let adminChannel: amqplib.Channel;
  let receiver: CallbackReceiver;
  let http: SafeHttp;
  let topology: CallbackTopology;
  let channel: ChannelWrapper;
  const settled: Array<{ job: CallbackJob; settlement: Settlement }> = [];
  let deliverer: CallbackDeliverer;

  before(async () => {
    rabbit = await PrivateRabbit.start({ config: `max_message_size = ${BROKER_MAX}\n` });
    receiver = await CallbackReceiver.start({ tls: true });
    http = new SafeHttp({ allowPrivate: true, ca: receiver.ca, timeoutMs: 2_000 });
    broker = await Broker.connect(rabbit.url, pino({ level: "silent" }));
    admin = await amqplib.connect(rabbit.url);
    adminChannel = await admin.createChannel();
  });
  after(async () => {
    await admin?.close().catch(() => undefined);
    await broker?.close().catch(() => undefined);
    await http?.close();
    await receiver?.close();
    await rabbit?.remove();
  });
  afterEach(async () => {
    await deliverer.stop();
    await channel.close();
    settled.length = 0;
  });

  async function start(maxJobBytes?: number) {
    topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [200]);
    channel = broker.channel(topology.delivery, (ch) => declareCallbackTopology(ch, topology));
    await channel.waitForConnect();
    deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology,
      sender: new CallbackSender({
        secrets: [SECRET],
        policy: {
          allow: [`https://127.0.0.1:${receiver.port}/`],
          allowHttp: false,
          allowPrivate: true,
          xroad: false,
        },
        http,
      }),
      onSettled: (job, settlement) => {
        settled.push({ job, settlement });
      },
      ...(maxJobBytes === undefined ? {} : { maxJobBytes }),
    });
    await deliverer.start();
  }

  /** A status document whose text body is control characters: about 6 bytes each as JSON. */
  const job = (bodyChars: number, extra: Partial<CallbackJob> = {}) => ({
    webhookId: `msg_${randomUUID()}`,
    messageId: randomUUID(),
    target: receiver.url("/hooks/big"),
    payload: JSON.stringify({ id: "m-1", state: "completed", body: "\u0001".repeat(bodyChars) }),
    settlesDelivery: true,
    ...extra,
  });

  async function deadLetters(): Promise<Array<Record<string, unknown>>> {
    const entries = [];
    for (;;) {
      const message = await adminChannel.get(topology.dead, { noAck: true });
      if (message === false) return entries;
      entries.push(JSON.parse(message.content.toString("utf8")) as Record<string, unknown>);
    }
  }

  it("ends a job the broker refuses as too large once, as a dead callback, and goes on delivering", async () => {
    await start();
    receiver.calls.length = 0;
    // 200 000 characters are 1.2 MB as JSON, more than the node's 1 MiB.
    const big = job(200_000);
    await deliverer.enqueue(big);
    expect(settled).to.have.length(1);
    expect(settled[0].job.webhookId).to.equal(big.webhookId);
    expect(settled[0].settlement).to.deep.include({ outcome: "too_large", attempts: 0 });
    expect(settled[0].settlement.last?.failure?.message).to.match(/larger than/);
    const dead = await eventually(async () => {
      const entries = await deadLetters();
      return entries.length > 0 ? entries : undefined;
    });
    expect(dead).to.have.length(1);
    expect(dead[0]).to.include({ outcome: "too_large", attempts: 0 });
    // The record is small: it names the job, not the document that did not fit.
    expect(dead[0].payload).to.equal(undefined);
    expect((dead[0].job as Record<string, unknown>).webhookId).to.equal(big.webhookId);
    // The channel the broker closed is open again and carries the next job.
    const small = job(10);
    await deliverer.enqueue(small);
    await eventually(async () => (settled.length === 2 ? true : undefined));
    expect(settled[1].settlement.outcome).to.equal("delivered");
    expect(receiver.calls.map((c) => c.headers["webhook-id"])).to.deep.equal([small.webhookId]);
  });

  it("ends a hub event job above the known limit before publishing it", async () => {
    await start(64 * 1024);
    receiver.calls.length = 0;
    const event = job(20_000, { settlesDelivery: undefined, listenerId: "l-1" });
    await deliverer.enqueue(event);
    expect(settled.map((s) => s.settlement.outcome)).to.deep.equal(["too_large"]);
    expect(settled[0].settlement.last?.failure?.message).to.match(
      /amqpMaxMessageSize of 65536 bytes/,
    );
    const dead = await eventually(async () => {
      const entries = await deadLetters();
      return entries.length > 0 ? entries : undefined;
    });
    expect(dead[0]).to.include({ outcome: "too_large" });
    expect(receiver.calls).to.deep.equal([]);
  });
});

describe("a callback larger than amqpMaxMessageSize (Sluice end to end)", function () {
  this.timeout(60_000);
  const suite = CallbackStack.suite((receiver) => ({
    services: {
      notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
    },
    backends: { sim: { translator: "rest-json" } },
    callbacks: {
      allow: [`https://127.0.0.1:${receiver.port}/hooks/`],
      allowPrivate: true,
      secret: SECRET,
    },
    amqpMaxMessageSize: "100kb",
  }));

  it("settles the delivery as delivery_failed once, with a too_large dead callback, and posts only the callback that fit", async () => {
    const { stack, receiver } = suite;
    const client = "EE/GOV/70000001/case-app";
    // The simulator echoes the request in each of two responses: 8 000 control characters, 6
    // bytes each as JSON, are about 56 KB in each response message (its body escaped once more),
    // under the 100 KB bound, and the final callback's job carries both responses' document
    // escaped once more again, about 112 KB: the answers are taken, that job is not.
    const answer = await call(`${stack.adapterUrl}/rest/notify?sim-responses=2`, {
      body: JSON.stringify({ text: "\u0001".repeat(8_000) }),
      client,
      headers: {
        Prefer: "respond-async",
        "X-Callback-Url": `https://127.0.0.1:${receiver.port}/hooks/big`,
      },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    const settled = await eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client });
      return s.json.delivery === "pending" ? undefined : s;
    }, 20_000);
    expect(settled.json).to.include({ state: "completed", delivery: "delivery_failed" });
    const topology = callbackTopology(stack.config.prefix, stack.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const dead = await eventually(async () => {
        const message = await channel.get(topology.dead, { noAck: true });
        return message === false ? undefined : JSON.parse(message.content.toString("utf8"));
      });
      expect(dead).to.include({ outcome: "too_large", attempts: 0 });
      expect(dead.job).to.include({ messageId: id, webhookId: `msg_${id}.2` });
      expect(dead.failure.message).to.match(/amqpMaxMessageSize of 102400 bytes/);
      expect((await channel.checkQueue(topology.delivery)).messageCount).to.equal(0);
    } finally {
      await connection.close();
    }
    // The first response's callback fits and is posted; the final one is not.
    expect(receiver.calls.map((c) => c.headers["webhook-id"])).to.deep.equal([`msg_${id}.1`]);
  });
});
