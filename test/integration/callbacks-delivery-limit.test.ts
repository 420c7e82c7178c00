// The callbacks queue has a delivery limit of its own, far above RabbitMQ 4's default of 20 for
// quorum queues: a response worker hands a job back while Redis or the broker is out of reach,
// and each hand-back counts. Checked as a client can: redeclared with the documented arguments,
// the broker accepts (it refuses a declaration that differs from the queue's). A callbacks an
// earlier release declared without the limit is used as it is, its jobs kept, and reported.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import amqplib from "amqplib";
import {
  callbackQueues,
  callbackTopology,
  declareCallbackTopology,
  type CallbackTopology,
} from "../../response-worker/callback-schedule";
import { AMQP_URL } from "../support/harness";

/** The callbacks queue's arguments as docs/reliability.md gives them. */
const DOCUMENTED = { "x-queue-type": "quorum", "x-delivery-limit": 1_000_000 };

/** The callbacks queue as releases before its delivery limit declared it. */
const EARLIER = { "x-queue-type": "quorum" };

describe("the callbacks queue's delivery limit (RabbitMQ)", () => {
  const topologies: CallbackTopology[] = [];
  let connection: amqplib.ChannelModel;

  const topology = () => {
    const t = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [1_000]);
    topologies.push(t);
    return t;
  };
  const probe = async () => {
    const ch = await connection.createChannel();
    ch.on("error", () => undefined);
    return ch;
  };
  /** Declares the topology as the response worker does; the queues reported kept. */
  const declare = async (t: CallbackTopology) => {
    const kept: string[] = [];
    const channel = await connection.createConfirmChannel();
    try {
      await declareCallbackTopology(channel, t, {
        probe,
        onDeliveryLimitKept: (queue) => kept.push(queue),
        onClassic: (queues) => kept.push(...queues.map((queue) => `classic ${queue}`)),
      });
      // The channel the topology was declared on is still open and publishes to the queue.
      channel.sendToQueue(t.delivery, Buffer.from("after declaring"), { persistent: true });
      await channel.waitForConfirms();
    } finally {
      await channel.close().catch(() => undefined);
    }
    return kept;
  };
  /** Whether the broker takes `args` for the queue: it was declared with them. */
  const takes = async (queue: string, args: Record<string, unknown>) => {
    const channel = await probe();
    try {
      await channel.assertQueue(queue, { durable: true, arguments: args });
    } catch {
      return false;
    }
    await channel.close();
    return true;
  };
  const drain = async (queue: string) => {
    const channel = await connection.createChannel();
    const bodies: string[] = [];
    for (let m = await channel.get(queue); m; m = await channel.get(queue)) {
      bodies.push(m.content.toString());
      channel.ack(m);
    }
    await channel.close();
    return bodies;
  };

  before(async () => {
    connection = await amqplib.connect(AMQP_URL);
  });

  after(async () => {
    const channel = await connection.createChannel();
    for (const t of topologies)
      for (const queue of callbackQueues(t))
        await channel.deleteQueue(queue).catch(() => undefined);
    await channel.close().catch(() => undefined);
    await connection.close();
  });

  it("is declared with its own delivery limit, and nothing is reported", async () => {
    const t = topology();
    expect(await declare(t)).to.deep.equal([]);
    // Declared again (every reconnect does): the same queue, nothing reported.
    expect(await declare(t)).to.deep.equal([]);
    expect(await takes(t.delivery, DOCUMENTED)).to.equal(true);
  });

  it("uses a callbacks an earlier release declared without the limit as it is, and reports it", async () => {
    const t = topology();
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(t.delivery, { durable: true, arguments: EARLIER });
    channel.sendToQueue(t.delivery, Buffer.from("pending job"), { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
    expect(await declare(t)).to.deep.equal([t.delivery]);
    expect(await takes(t.delivery, EARLIER)).to.equal(true);
    expect(await drain(t.delivery)).to.deep.equal(["pending job", "after declaring"]);
    // Declared again (every reconnect does): kept and reported again; the role warns once.
    expect(await declare(t)).to.deep.equal([t.delivery]);
  });
});
