// callbacks.dead is bounded: nothing consumes it (it is the audit copy of deliveries given up
// on), so a fresh declaration keeps the newest records up to its bound and drops the oldest.
// One an earlier release declared without the bound, classic or quorum, or with another bound,
// is used as it is and reported (the broker refuses to change an existing queue's arguments).

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import amqplib from "amqplib";
import {
  CALLBACK_QUEUE_ARGUMENTS,
  callbackQueues,
  callbackTopology,
  deadQueueArguments,
  declareCallbackTopology,
  type CallbackTopology,
  type DeadQueueBound,
} from "../../response-worker/callback-schedule";
import { AMQP_URL } from "../support/harness";

/** A callback queue as the first releases with quorum callback queues declared it. */
const EARLIER_QUORUM = { "x-queue-type": "quorum" };

describe("callbacks.dead (RabbitMQ): bounded, and kept as it is when declared otherwise", () => {
  const bound: DeadQueueBound = { maxLength: 3, ttlMs: 3_600_000 };
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
  /** Declares the topology as the response worker does; what was reported. */
  const declare = async (t: CallbackTopology) => {
    const reported = { classic: [] as string[][], unbounded: [] as string[] };
    const channel = await connection.createConfirmChannel();
    try {
      await declareCallbackTopology(channel, t, {
        probe,
        deadBound: bound,
        onClassic: (queues) => reported.classic.push(queues),
        onUnboundedDead: (queue) => reported.unbounded.push(queue),
      });
      // The channel the topology was declared on is still open and publishes to the queue.
      channel.sendToQueue(t.dead, Buffer.from("after declaring"), { persistent: true });
      await channel.waitForConfirms();
    } finally {
      await channel.close().catch(() => undefined);
    }
    return reported;
  };
  const publish = async (queue: string, bodies: string[]) => {
    const channel = await connection.createConfirmChannel();
    for (const body of bodies) channel.sendToQueue(queue, Buffer.from(body), { persistent: true });
    await channel.waitForConfirms();
    await channel.close();
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
  /** Whether the broker still takes `args` for the queue: its arguments were left alone. */
  const takes = async (queue: string, args: Record<string, unknown> | undefined) => {
    const channel = await probe();
    try {
      await channel.assertQueue(queue, { durable: true, arguments: args });
    } catch {
      return false;
    }
    await channel.close();
    return true;
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

  it("a fresh declaration keeps the newest records up to its bound", async () => {
    const t = topology();
    const reported = await declare(t);
    expect(reported).to.deep.equal({ classic: [], unbounded: [] });
    // Declared again (every reconnect does): the same queue, nothing reported.
    expect(await declare(t)).to.deep.equal({ classic: [], unbounded: [] });
    await publish(t.dead, ["1", "2", "3", "4", "5", "6"]);
    const channel = await connection.createChannel();
    expect((await channel.checkQueue(t.dead)).messageCount).to.equal(bound.maxLength);
    await channel.close();
    expect(await drain(t.dead)).to.deep.equal(["4", "5", "6"]);
    expect(await takes(t.dead, deadQueueArguments(bound))).to.equal(true);
  });

  it("uses an earlier release's unbounded quorum callbacks.dead as it is, and reports it", async () => {
    const t = topology();
    const channel = await connection.createChannel();
    await channel.assertQueue(t.dead, { durable: true, arguments: EARLIER_QUORUM });
    await channel.close();
    await publish(t.dead, ["old"]);
    const reported = await declare(t);
    expect(reported).to.deep.equal({ classic: [], unbounded: [t.dead] });
    expect(await takes(t.dead, EARLIER_QUORUM)).to.equal(true);
    expect(await drain(t.dead)).to.deep.equal(["old", "after declaring"]);
    // The other callback queues are declared as usual, bounded dead queue or not.
    expect(await takes(t.delivery, { ...CALLBACK_QUEUE_ARGUMENTS })).to.equal(true);
  });

  it("uses a callbacks.dead with another bound as it is, and reports it", async () => {
    const t = topology();
    const other = deadQueueArguments({ maxLength: 10, ttlMs: bound.ttlMs });
    const channel = await connection.createChannel();
    await channel.assertQueue(t.dead, { durable: true, arguments: other });
    await channel.close();
    expect(await declare(t)).to.deep.equal({ classic: [], unbounded: [t.dead] });
    expect(await takes(t.dead, other)).to.equal(true);
  });

  it("reports a classic callbacks.dead both as classic and as unbounded", async () => {
    const t = topology();
    const channel = await connection.createChannel();
    await channel.assertQueue(t.dead, { durable: true });
    await channel.close();
    expect(await declare(t)).to.deep.equal({ classic: [[t.dead]], unbounded: [t.dead] });
    expect(await takes(t.dead, undefined)).to.equal(true);
  });
});
