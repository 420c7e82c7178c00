import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import amqplib from "amqplib";
import type { ChannelWrapper } from "amqp-connection-manager";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import type { CallbackPolicy } from "../../shared/delivery/callback-target";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { CallbackDeliverer, type Settlement } from "../../response-worker/callback-deliverer";
import type { CallbackJob } from "../../shared/protocol/callback-job";
import {
  callbackTopology,
  declareCallbackTopology,
  type CallbackTopology,
  callbackQueues,
} from "../../response-worker/callback-schedule";
import { CallbackSender } from "../../response-worker/callback-sender";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { CallbackReceiver } from "./callback-receiver";
import { startXroadSim } from "../../xroad-sim/xroad-sim";
import { AMQP_URL } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

interface Harness {
  topology: CallbackTopology;
  channel: ChannelWrapper;
  deliverer: CallbackDeliverer;
  settled: Array<{ job: CallbackJob; settlement: Settlement }>;
  waitSettled(count: number, timeoutMs?: number): Promise<void>;
}

describe("callback delivery over RabbitMQ (real broker, real HTTPS receiver)", () => {
  let broker: Broker;
  let admin: amqplib.ChannelModel;
  let adminChannel: amqplib.Channel;
  let receiver: CallbackReceiver;
  let http: SafeHttp;
  const harnesses: Harness[] = [];

  const policy = (overrides: Partial<CallbackPolicy> = {}): CallbackPolicy => ({
    allow: [`https://127.0.0.1:${receiver.port}/`, `https://localhost:${receiver.port}/`],
    allowHttp: false,
    allowPrivate: true,
    xroad: false,
    ...overrides,
  });

  /** `unrecorded`: how many settlements fail first, as when Redis cannot record them. */
  async function harness(
    backoffMs: number[],
    senderPolicy = policy(),
    unrecorded = 0,
  ): Promise<Harness> {
    const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, backoffMs);
    const channel = broker.channel(topology.delivery, (ch) =>
      declareCallbackTopology(ch, topology),
    );
    await channel.waitForConnect();
    const settled: Harness["settled"] = [];
    let wake: () => void = () => undefined;
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology,
      sender: new CallbackSender({ secrets: [SECRET], policy: senderPolicy, http }),
      onSettled: (job, settlement) => {
        if (unrecorded > 0) {
          unrecorded -= 1;
          throw new Error("Redis is down");
        }
        settled.push({ job, settlement });
        wake();
      },
    });
    await deliverer.start();
    const h: Harness = {
      topology,
      channel,
      deliverer,
      settled,
      async waitSettled(count, timeoutMs = 10_000) {
        const deadline = Date.now() + timeoutMs;
        while (settled.length < count) {
          if (Date.now() > deadline) throw new Error(`expected ${count} settlements`);
          await new Promise<void>((resolve) => {
            wake = resolve;
            setTimeout(resolve, 100);
          });
        }
      },
    };
    harnesses.push(h);
    return h;
  }

  async function deadLetters(topology: CallbackTopology): Promise<Array<Record<string, unknown>>> {
    const entries = [];
    for (;;) {
      const message = await adminChannel.get(topology.dead, { noAck: true });
      if (message === false) return entries;
      entries.push(JSON.parse(message.content.toString("utf8")) as Record<string, unknown>);
    }
  }

  const job = (target: string) => ({
    webhookId: `msg_${randomUUID()}`,
    messageId: randomUUID(),
    target,
    payload: JSON.stringify({ id: "m-1", state: "completed" }),
  });

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: true });
    http = new SafeHttp({ allowPrivate: true, ca: receiver.ca, timeoutMs: 2_000 });
    broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
    admin = await amqplib.connect(AMQP_URL);
    adminChannel = await admin.createChannel();
  });
  beforeEach(() => {
    receiver.calls.length = 0;
    receiver.respond = () => ({ status: 204 });
  });
  afterEach(async () => {
    for (const h of harnesses.splice(0)) {
      await h.deliverer.stop();
      await h.channel.close();
      for (const queue of callbackQueues(h.topology)) {
        await adminChannel.deleteQueue(queue);
      }
    }
  });
  after(async () => {
    await admin.close();
    await broker.close();
    await http.close();
    await receiver.close();
  });

  it("delivers a signed callback on the first attempt", async () => {
    const h = await harness([200]);
    const sent = job(receiver.url("/hooks/a"));
    await h.deliverer.enqueue(sent);
    await h.waitSettled(1);
    expect(h.settled[0].settlement).to.deep.include({ outcome: "delivered", attempts: 1 });
    const [call] = receiver.calls;
    expect(call.path).to.equal("/hooks/a");
    expect(call.body).to.equal(sent.payload);
    expect(call.headers["content-type"]).to.equal("application/json");
    expect(call.headers["webhook-id"]).to.equal(sent.webhookId);
    expect(call.headers["x-sluice-id"]).to.equal(sent.messageId);
    expect(verifyWebhook(SECRET, call.headers, call.body)).to.deep.equal({ valid: true });
    expect(
      verifyWebhook(`whsec_${randomBytes(32).toString("base64")}`, call.headers, call.body).valid,
    ).to.equal(false);
  });

  it("records a delivered callback whose settlement failed without sending it again", async () => {
    const h = await harness([200], policy(), 2);
    const sent = job(receiver.url("/hooks/unrecorded"));
    await h.deliverer.enqueue(sent);
    await h.waitSettled(1);
    expect(h.settled[0].settlement).to.deep.include({ outcome: "delivered", attempts: 1 });
    expect(receiver.calls).to.have.length(1);
  });

  it("retries through the delay queues with the same webhook id until the receiver takes it", async () => {
    const h = await harness([200, 200, 200]);
    let n = 0;
    receiver.respond = () => ({ status: ++n < 3 ? 503 : 200 });
    const sent = job(receiver.url());
    await h.deliverer.enqueue(sent);
    await h.waitSettled(1);
    expect(h.settled[0].settlement).to.deep.include({ outcome: "delivered", attempts: 3 });
    expect(receiver.calls).to.have.length(3);
    expect(new Set(receiver.calls.map((c) => c.headers["webhook-id"]))).to.deep.equal(
      new Set([sent.webhookId]),
    );
    for (const call of receiver.calls)
      expect(verifyWebhook(SECRET, call.headers, call.body).valid).to.equal(true);
    expect(receiver.calls[1].at - receiver.calls[0].at).to.be.at.least(150);
    expect(await deadLetters(h.topology)).to.deep.equal([]);
  });

  it("waits at least as long as the receiver's Retry-After", async () => {
    const h = await harness([100, 1500]);
    let n = 0;
    receiver.respond = () =>
      ++n === 1 ? { status: 429, headers: { "retry-after": "1" } } : { status: 200 };
    await h.deliverer.enqueue(job(receiver.url()));
    await h.waitSettled(1);
    expect(h.settled[0].settlement.outcome).to.equal("delivered");
    // The backoff alone would have retried after 100 ms.
    expect(receiver.calls[1].at - receiver.calls[0].at).to.be.at.least(1000);
  });

  it("waits out a Retry-After longer than the longest delay queue, in it again, without using attempts", async () => {
    const h = await harness([100, 300]);
    let n = 0;
    receiver.respond = () =>
      ++n === 1 ? { status: 503, headers: { "retry-after": "2" } } : { status: 200 };
    await h.deliverer.enqueue(job(receiver.url()));
    await h.waitSettled(1);
    // Its wait in the 300 ms queue, back several times before the 2 s were over, made no
    // attempt: the second is the one that got through. Taken at 300 ms, it was.
    expect(h.settled[0].settlement).to.deep.include({ outcome: "delivered", attempts: 2 });
    expect(receiver.calls).to.have.length(2);
    expect(receiver.calls[1].at - receiver.calls[0].at).to.be.at.least(2000);
  });

  it("stops at 410 Gone and dead-letters the delivery", async () => {
    const h = await harness([100, 100]);
    receiver.respond = () => ({ status: 410 });
    const sent = job(receiver.url("/cb?token=s3cret"));
    await h.deliverer.enqueue(sent);
    await h.waitSettled(1);
    expect(h.settled[0].settlement).to.deep.include({ outcome: "gone", attempts: 1 });
    await new Promise((resolve) => setTimeout(resolve, 400));
    expect(receiver.calls.map((call) => call.path)).to.deep.equal(["/cb?token=s3cret"]);
    const dead = await deadLetters(h.topology);
    expect(dead).to.have.length(1);
    expect(dead[0]).to.deep.include({ outcome: "gone", status: 410, payload: sent.payload });
    // The operator's copy names the receiver, not the caller's token.
    expect((dead[0].job as { target: string }).target).to.equal(
      receiver.url("/cb?token=[redacted]"),
    );
  });

  it("gives up after the last backoff step and dead-letters the delivery", async () => {
    const h = await harness([100, 100]);
    receiver.respond = () => ({ status: 500 });
    await h.deliverer.enqueue(job(receiver.url()));
    await h.waitSettled(1);
    expect(h.settled[0].settlement).to.deep.include({ outcome: "exhausted", attempts: 3 });
    expect(receiver.calls).to.have.length(3);
    const dead = await deadLetters(h.topology);
    expect(dead).to.have.length(1);
    expect(dead[0]).to.deep.include({ outcome: "exhausted", attempts: 3, status: 500 });
  });

  it("refuses a private target at delivery when private addresses are not allowed", async () => {
    const h = await harness([100], policy({ allowPrivate: false }));
    await h.deliverer.enqueue(job(receiver.url()));
    await h.waitSettled(1);
    expect(h.settled[0].settlement.outcome).to.equal("refused");
    expect(h.settled[0].settlement.last?.failure?.message).to.match(/loopback/);
    expect(receiver.calls).to.have.length(0);
  });

  it("never connects to a name that resolves to loopback when private addresses are not allowed", async () => {
    const strict = new SafeHttp({ allowPrivate: false, ca: receiver.ca });
    try {
      const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [100]);
      const channel = broker.channel(topology.delivery, (ch) =>
        declareCallbackTopology(ch, topology),
      );
      const settled: Settlement[] = [];
      const deliverer = new CallbackDeliverer({
        broker,
        channel,
        topology,
        sender: new CallbackSender({ secrets: [SECRET], policy: policy(), http: strict }),
        onSettled: (_job, settlement) => void settled.push(settlement),
      });
      await deliverer.start();
      harnesses.push({
        topology,
        channel,
        deliverer,
        settled: [],
        waitSettled: async () => undefined,
      });
      await deliverer.enqueue(job(receiver.url("/cb", "localhost")));
      for (let i = 0; i < 50 && settled.length === 0; i++)
        await new Promise((r) => setTimeout(r, 100));
      expect(settled).to.have.length(1);
      expect(settled[0]).to.deep.include({ outcome: "exhausted", attempts: 2 });
      expect(settled[0].last?.failure?.kind).to.equal("blocked");
      expect(receiver.calls).to.have.length(0);
    } finally {
      await strict.close();
    }
  });

  /**
   * Ten jobs to a receiver that hangs (until released), then three to a healthy one, on a
   * deliverer with 8 slots, 2 per receiver. The healthy receiver's must arrive while the other
   * still hangs, the hanging one must have had no more than its 2 attempts meanwhile, and once
   * released it gets every one of its jobs, each once, none counted as a failed attempt.
   */
  async function hangingReceiverCase(
    slow: CallbackReceiver,
    healthy: CallbackReceiver,
    targets: { slow: (i: number) => string; healthy: (i: number) => string },
    sender: CallbackSender,
  ) {
    slow.respond = () => "hang";
    healthy.respond = () => ({ status: 204 });
    const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [200]);
    const channel = broker.channel(topology.delivery, (ch) =>
      declareCallbackTopology(ch, topology),
    );
    await channel.waitForConnect();
    const settled: Array<{ job: CallbackJob; settlement: Settlement }> = [];
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology,
      prefetch: 8,
      maxPerTarget: 2,
      sender,
      onSettled: (settledJob, settlement) => void settled.push({ job: settledJob, settlement }),
    });
    await deliverer.start();
    harnesses.push({ topology, channel, deliverer, settled, waitSettled: async () => undefined });
    const waitFor = async (what: string, done: () => boolean) => {
      for (let i = 0; i < 300 && !done(); i++) await new Promise((r) => setTimeout(r, 100));
      expect(done(), what).to.equal(true);
    };

    // Without a limit per receiver, the first eight would take every slot and hang there.
    for (let i = 0; i < 10; i++) await deliverer.enqueue(job(targets.slow(i)));
    for (let i = 0; i < 3; i++) await deliverer.enqueue(job(targets.healthy(i)));
    await waitFor("the healthy receiver's deliveries settled", () => settled.length === 3);
    await waitFor("two attempts hanging at the slow receiver", () => slow.held === 2);
    expect(settled.map((s) => s.settlement.outcome)).to.deep.equal(Array(3).fill("delivered"));
    expect(healthy.calls).to.have.length(3);
    expect(slow.calls, "attempts made to the slow receiver").to.have.length(2);

    slow.respond = () => ({ status: 204 });
    slow.release();
    await waitFor("every delivery settled", () => settled.length === 13);
    expect(settled.every((s) => s.settlement.outcome === "delivered")).to.equal(true);
    expect(settled.every((s) => s.settlement.attempts === 1)).to.equal(true);
    const sent = slow.calls.map((c) => c.headers["webhook-id"]);
    expect(sent, "each of the slow receiver's deliveries sent once").to.have.length(10);
    expect(new Set(sent).size).to.equal(10);
  }

  it("a hanging receiver holds only its slots; others are delivered meanwhile, and its own once it answers", async () => {
    const slow = await CallbackReceiver.start({ tls: true });
    const patient = new SafeHttp({ allowPrivate: true, ca: receiver.ca, timeoutMs: 60_000 });
    try {
      await hangingReceiverCase(
        slow,
        receiver,
        { slow: (i) => slow.url(`/slow/${i}`), healthy: (i) => receiver.url(`/fast/${i}`) },
        new CallbackSender({
          secrets: [SECRET],
          policy: policy({ allow: [receiver.url("/"), slow.url("/")] }),
          http: patient,
        }),
      );
    } finally {
      await slow.close();
      await patient.close();
    }
  });

  it("a hanging X-Road service holds only its slots; other services behind the same security server are delivered meanwhile", async () => {
    const slow = await CallbackReceiver.start({ tls: false });
    const healthy = await CallbackReceiver.start({ tls: false });
    const sim = await startXroadSim({
      services: {
        "EE/GOV/70000001/callbacks/slow": { url: slow.url("/slow"), timeout: "120s" },
        "EE/GOV/70000001/callbacks/fast": { url: healthy.url("/fast") },
      },
    });
    const patient = new SafeHttp({ allowPrivate: true, timeoutMs: 60_000 });
    try {
      await hangingReceiverCase(
        slow,
        healthy,
        {
          slow: () => "xroad:EE/GOV/70000001/callbacks/slow",
          healthy: () => "xroad:EE/GOV/70000001/callbacks/fast",
        },
        new CallbackSender({
          secrets: [SECRET],
          policy: policy({ allow: ["xroad:EE/GOV/"], xroad: true }),
          http,
          xroad: { securityServerUrl: sim.url, client: "EE/GOV/70000009/sluice", http: patient },
        }),
      );
    } finally {
      await slow.close();
      await healthy.close();
      await patient.close();
      await sim.close();
    }
  });

  it("a job that found its receiver busy waits its turn apart from a long backoff, and is delivered once the receiver frees up", async () => {
    // An operator's backoff of an hour: stepping aside into it parked a job that had made no
    // attempt yet for that hour.
    const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [3_600_000]);
    const channel = broker.channel(topology.delivery, (ch) =>
      declareCallbackTopology(ch, topology),
    );
    await channel.waitForConnect();
    const patient = new SafeHttp({ allowPrivate: true, ca: receiver.ca, timeoutMs: 60_000 });
    const settled: Array<{ job: CallbackJob; settlement: Settlement }> = [];
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology,
      maxPerTarget: 1,
      sender: new CallbackSender({ secrets: [SECRET], policy: policy(), http: patient }),
      onSettled: (settledJob, settlement) => void settled.push({ job: settledJob, settlement }),
    });
    await deliverer.start();
    harnesses.push({ topology, channel, deliverer, settled, waitSettled: async () => undefined });
    const waitFor = async (what: string, done: () => boolean | Promise<boolean>) => {
      for (let i = 0; i < 300 && !(await done()); i++) await new Promise((r) => setTimeout(r, 50));
      expect(await done(), what).to.equal(true);
    };
    const depth = async (queue: string) => (await adminChannel.checkQueue(queue)).messageCount;
    try {
      receiver.respond = () => "hang";
      const first = job(receiver.url("/busy/1"));
      const second = job(receiver.url("/busy/2"));
      await deliverer.enqueue(first);
      await waitFor("the first attempt holds the receiver's only slot", () => receiver.held === 1);
      await deliverer.enqueue(second);
      const waiting = [...topology.tiers, ...topology.aside].map((tier) => tier.queue);
      await waitFor("the second job stepped aside", async () => {
        for (const queue of waiting) if ((await depth(queue)) > 0) return true;
        return false;
      });
      expect(await depth(topology.tiers[0].queue), "jobs in the 1 h backoff queue").to.equal(0);

      receiver.respond = () => ({ status: 204 });
      receiver.release();
      await waitFor("both delivered", () => settled.length === 2);
      for (const { settlement } of settled)
        expect(settlement).to.deep.include({ outcome: "delivered", attempts: 1 });
      const ids = receiver.calls.map((c) => c.headers["webhook-id"]);
      expect(
        ids.filter((id) => id === second.webhookId),
        "the second sent once",
      ).to.have.length(1);
      expect(settled.find((s) => s.job.webhookId === second.webhookId)?.job.attempt).to.equal(1);
    } finally {
      receiver.release();
      await patient.close();
    }
  });

  it("dead-letters a malformed job and keeps going", async () => {
    const h = await harness([100]);
    await h.channel.publish("", h.topology.delivery, Buffer.from("{not json"), {
      persistent: true,
    });
    await h.deliverer.enqueue(job(receiver.url()));
    await h.waitSettled(1);
    for (let i = 0; i < 20; i++) {
      const dead = await deadLetters(h.topology);
      if (dead.length > 0) {
        expect(dead[0]).to.deep.include({ outcome: "malformed", job: null, payload: "{not json" });
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error("malformed job was not dead-lettered");
  });

  it("keeps a pending retry in the broker across a restart of the deliverer", async () => {
    const h = await harness([800]);
    receiver.respond = () => ({ status: 503 });
    await h.deliverer.enqueue(job(receiver.url()));
    await receiver.waitForCalls(1);
    await h.deliverer.stop();
    receiver.respond = () => ({ status: 200 });
    const settled: Settlement[] = [];
    const second = new CallbackDeliverer({
      broker,
      channel: h.channel,
      topology: h.topology,
      sender: new CallbackSender({ secrets: [SECRET], policy: policy(), http }),
      onSettled: (_job, settlement) => void settled.push(settlement),
    });
    await second.start();
    harnesses.push({ ...h, deliverer: second });
    await receiver.waitForCalls(2, 5_000);
    for (let i = 0; i < 20 && settled.length === 0; i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(settled[0]).to.deep.include({ outcome: "delivered", attempts: 2 });
  });
  // A callback queue deleted by hand (or by a policy): the broker drops what is routed to it yet
  // confirms it, so a confirm alone must not count as the job being queued.
  it("refuses to queue a job when its delivery queue is missing, instead of losing it", async () => {
    const h = await harness([100]);
    await adminChannel.deleteQueue(h.topology.delivery);
    const outcome = await h.deliverer.enqueue(job(receiver.url())).then(
      () => "confirmed",
      (error: Error) => error.message,
    );
    expect(outcome).to.match(/no queue took the message/);
  });

  it("hands a job back when its retry queue is missing, and parks it once the queue is back", async () => {
    const h = await harness([100, 100]);
    await adminChannel.deleteQueue(h.topology.tiers[0].queue);
    receiver.respond = () => ({ status: 503 });
    await h.deliverer.enqueue(job(receiver.url()));
    // Acked on the confirm of a dropped retry copy, the job would be gone after one attempt.
    await receiver.waitForCalls(2, 10_000);
    expect(h.settled).to.have.length(0);
    await declareCallbackTopology(adminChannel as amqplib.ConfirmChannel, h.topology);
    receiver.respond = () => ({ status: 204 });
    await h.waitSettled(1);
    expect(h.settled[0].settlement.outcome).to.equal("delivered");
  });
});
