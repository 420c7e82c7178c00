// Callback targets as a hostile caller writes them, through the real deliverer (RabbitMQ) to
// real HTTPS receivers: private addresses in every spelling, a name that is public when the
// caller submits it and private when the callback goes out (DNS rebinding), a redirect to a
// private address. None of them may reach a receiver on a refused address.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import amqplib from "amqplib";
import http from "node:http";
import type { AddressInfo } from "node:net";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import {
  checkCallbackTarget,
  parseCallbackTarget,
  type CallbackPolicy,
} from "../../shared/delivery/callback-target";
import { SafeHttp, type Lookup } from "../../shared/delivery/safe-http";
import { CallbackDeliverer, type Settlement } from "../../response-worker/callback-deliverer";
import {
  callbackQueues,
  callbackTopology,
  declareCallbackTopology,
} from "../../response-worker/callback-schedule";
import { CallbackSender } from "../../response-worker/callback-sender";
import { CallbackReceiver } from "./callback-receiver";
import { AMQP_URL } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
/** A public address (example.com's); nothing here connects to it. */
const PUBLIC = "93.184.216.34";

describe("callback targets a hostile caller writes (real broker, real HTTPS receivers)", () => {
  let broker: Broker;
  let receiver: CallbackReceiver;
  const cleanups: Array<() => Promise<void>> = [];

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
    broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
  });
  beforeEach(() => {
    receiver.calls.length = 0;
    receiver.respond = () => ({ status: 204 });
  });
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });
  after(async () => {
    await broker.close();
    await receiver.close();
  });

  const strictPolicy = (allow: string[]): CallbackPolicy => ({
    allow,
    allowHttp: false,
    allowPrivate: false,
    xroad: false,
  });

  /** A deliverer with two quick attempts whose sender resolves names with `lookup`. */
  async function deliverer(
    policy: CallbackPolicy,
    lookup?: Lookup,
    allowPrivate = false,
    payload = JSON.stringify({ id: "m-1", state: "completed" }),
  ) {
    const client = new SafeHttp({ allowPrivate, ca: receiver.ca, timeoutMs: 1_000, lookup });
    const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [100]);
    const channel = broker.channel(topology.delivery, (ch) =>
      declareCallbackTopology(ch, topology),
    );
    await channel.waitForConnect();
    const settled: Settlement[] = [];
    const instance = new CallbackDeliverer({
      broker,
      channel,
      topology,
      sender: new CallbackSender({ secrets: [SECRET], policy, http: client }),
      onSettled: (_job, settlement) => void settled.push(settlement),
    });
    await instance.start();
    cleanups.push(async () => {
      await instance.stop();
      await channel.close();
      await client.close();
      const admin = await amqplib.connect(AMQP_URL);
      try {
        const adminChannel = await admin.createChannel();
        for (const queue of callbackQueues(topology)) await adminChannel.deleteQueue(queue);
      } finally {
        await admin.close();
      }
    });
    const send = (target: string) =>
      instance.enqueue({
        webhookId: `msg_${randomUUID()}`,
        messageId: randomUUID(),
        target,
        payload,
      });
    const waitSettled = async (count: number) => {
      for (let i = 0; i < 150 && settled.length < count; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(settled, "settled deliveries").to.have.length(count);
    };
    return { send, settled, waitSettled };
  }

  it("refuses loopback in every spelling at submission, and at delivery when a job carries one", async () => {
    const port = receiver.port;
    // Each written as a caller might; the URL parser turns the IPv4 forms into 127.0.0.1.
    const spellings = [
      `https://2130706433:${port}/cb`,
      `https://0177.0.0.1:${port}/cb`,
      `https://0x7f.1:${port}/cb`,
      `https://127.1:${port}/cb`,
      `https://127.0.0.1.:${port}/cb`,
      `https://[::ffff:127.0.0.1]:${port}/cb`,
      `https://[::ffff:7f00:1]:${port}/cb`,
      `https://[0:0:0:0:0:ffff:7f00:1]:${port}/cb`,
      `https://[64:ff9b::7f00:1]:${port}/cb`,
      `https://[2002:7f00:1::]:${port}/cb`,
      `https://[::127.0.0.1]:${port}/cb`,
      `https://[::ffff:0:7f00:1]:${port}/cb`,
      `https://[::]:${port}/cb`,
      `https://[::1]:${port}/cb`,
      `https://0:${port}/cb`,
    ];
    // The allowlist names each as it is normalised, so only the address check stands between.
    const allow = spellings.map((s) => new URL(s).origin + "/");
    const policy = strictPolicy(allow);
    for (const target of spellings) {
      expect(() => parseCallbackTarget(target, policy), target).to.throw(
        /points to a .* address, which is not allowed/,
      );
    }
    // A job queued before the policy said so (a replay, an older release) meets the same rule.
    const { send, settled, waitSettled } = await deliverer(policy);
    for (const target of spellings) await send(target);
    await waitSettled(spellings.length);
    for (const settlement of settled) {
      expect(settlement.outcome).to.equal("refused");
      expect(settlement.last?.failure?.message).to.match(/address, which is not allowed/);
    }
    expect(receiver.calls).to.have.length(0);
  });

  it("refuses user information and a zone id in a target", () => {
    const policy = strictPolicy(["https://receiver.test/"]);
    expect(() => parseCallbackTarget("https://receiver.test@127.0.0.1/", policy)).to.throw(
      /user information/,
    );
    expect(() => parseCallbackTarget("https://x:y@receiver.test/cb", policy)).to.throw(
      /user information/,
    );
    expect(() => parseCallbackTarget("https://[fe80::1%25lo]/cb", policy)).to.throw(
      /not a valid URL/,
    );
  });

  it("never connects to a name that was public at submission and is loopback at delivery", async () => {
    const target = `https://receiver.test:${receiver.port}/rebound`;
    const policy = strictPolicy([`https://receiver.test:${receiver.port}/`]);
    // The caller's name answers a public address while the submission is checked...
    const submitted = await checkCallbackTarget(target, policy, null, async () => [PUBLIC]);
    expect(submitted.target).to.equal(target);
    // ...and loopback once the callback goes out, alone or beside a public one, on every try.
    const answers = [["127.0.0.1"], [PUBLIC, "127.0.0.1"], ["::ffff:127.0.0.1", PUBLIC]];
    let lookups = 0;
    const { send, settled, waitSettled } = await deliverer(policy, async () => {
      lookups += 1;
      return answers[(lookups - 1) % answers.length];
    });
    await send(submitted.target);
    await waitSettled(1);
    expect(settled[0]).to.deep.include({ outcome: "exhausted", attempts: 2 });
    expect(settled[0].last?.failure?.kind).to.equal("blocked");
    expect(lookups).to.equal(2);
    expect(receiver.calls).to.have.length(0);
  });

  it("does not follow a receiver's redirect to a private address", async () => {
    const inside = await CallbackReceiver.start({ tls: true });
    cleanups.push(() => inside.close());
    receiver.respond = () => ({
      status: 307,
      headers: { location: inside.url("/latest/meta-data/") },
    });
    const policy = { ...strictPolicy([receiver.url("/")]), allowPrivate: true };
    const { send, settled, waitSettled } = await deliverer(policy, undefined, true);
    await send(receiver.url("/moved"));
    await waitSettled(1);
    expect(settled[0]).to.deep.include({ outcome: "exhausted", attempts: 2 });
    expect(settled[0].last?.failure?.kind).to.equal("redirect");
    expect(receiver.calls).to.have.length(2);
    expect(inside.calls).to.have.length(0);
  });

  it("gives up on a receiver that takes the connection and never reads a large callback", async () => {
    // Accepts, then never reads: the 8 MB body fills the socket buffers and the write stalls.
    const deaf = http.createServer(() => undefined);
    deaf.on("connection", (socket) => socket.pause());
    await new Promise<void>((resolve) => deaf.listen(0, "127.0.0.1", resolve));
    cleanups.push(async () => {
      deaf.closeAllConnections();
      await new Promise<void>((resolve) => deaf.close(() => resolve()));
    });
    const target = `http://127.0.0.1:${(deaf.address() as AddressInfo).port}/deaf`;
    const policy = { ...strictPolicy([target]), allowHttp: true, allowPrivate: true };
    const large = JSON.stringify({ id: "m-1", text: "x".repeat(8 * 1024 * 1024) });
    const { send, settled, waitSettled } = await deliverer(policy, undefined, true, large);
    await send(target);
    await waitSettled(1);
    expect(settled[0]).to.deep.include({ outcome: "exhausted", attempts: 2 });
    expect(settled[0].last?.failure?.kind).to.equal("timeout");
  });
});
