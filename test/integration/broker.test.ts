// The broker wrapper on the real RabbitMQ: a confirmed publish resolves, and a mandatory
// publish that no queue takes is refused instead of being reported as persisted (and a return
// that comes after its publish gave up is forgotten, not held against a later publish); a consumer
// cancelled while it is being set up stays cancelled; one whose channel the broker closed
// consumes again.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { Broker, type Consumer, type ConsumerOptions } from "../../shared/broker/amqp";
import { SluiceError } from "../../shared/protocol/errors";
import { proxyTo, viaProxy } from "../support/tcp-proxy";
import { AMQP_URL } from "../support/harness";

describe("broker publishes (RabbitMQ)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const exchange = `${prefix}x`;
  const queue = `${prefix}q`;
  let broker: Broker;

  before(async () => {
    broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
  });
  after(async () => {
    const cleanup = broker.channel("cleanup", async (channel) => {
      await channel.deleteQueue(queue);
      await channel.deleteExchange(exchange);
    });
    await cleanup.waitForConnect();
    await cleanup.close();
    await broker.close();
  });

  /**
   * A consumer of a non-durable queue of its own, which its setup declares (again on every new
   * channel), as every role's setup declares its topology.
   */
  const consumeOwnQueue = (
    name: string,
    own: string,
    onMessage: ConsumerOptions["onMessage"],
  ): Consumer =>
    broker.consume(name, {
      queue: own,
      prefetch: 1,
      setup: async (channel) => {
        await channel.assertQueue(own, { durable: false });
      },
      onMessage,
    });

  it("hands a delivery a channel signal that any number of waits may listen to without a warning", async () => {
    // A worker's message that expires waits on a signal linked to this one by a listener of its
    // own: more than 10 of them waiting at once on one channel is no leak.
    const own = `${prefix}listened`;
    const gone = await new Promise<AbortSignal>((resolve) => {
      const consumer = consumeOwnQueue("listened", own, async (message, channel, signal) => {
        channel.ack(message);
        resolve(signal);
        await consumer.cancel();
      });
      const sender = broker.channel("listened-sender", async (channel) => {
        await channel.assertQueue(own, { durable: false });
        channel.sendToQueue(own, Buffer.from("x"));
      });
      void sender.waitForConnect();
    });
    const warnings: string[] = [];
    const onWarning = (warning: Error) => warnings.push(warning.name);
    process.on("warning", onWarning);
    const listeners = Array.from({ length: 20 }, () => () => undefined);
    try {
      for (const listener of listeners) gone.addEventListener("abort", listener);
      // Node emits a warning on the next tick.
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      for (const listener of listeners) gone.removeEventListener("abort", listener);
      process.off("warning", onWarning);
    }
    expect(warnings).to.not.include("MaxListenersExceededWarning");
  });

  it("confirms a routed message and refuses an unroutable mandatory one", async () => {
    const publisher = broker.channel("publisher", async (channel) => {
      await channel.assertExchange(exchange, "direct", { durable: false, autoDelete: false });
      await channel.assertQueue(queue, { durable: false });
      await channel.bindQueue(queue, exchange, "routed");
    });
    await publisher.waitForConnect();
    await broker.publish(publisher, exchange, "routed", Buffer.from("a"), {
      mandatory: true,
      messageId: "m-1",
    });
    let refused: unknown = null;
    try {
      await broker.publish(publisher, exchange, "nowhere", Buffer.from("b"), {
        mandatory: true,
        messageId: "m-2",
      });
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(SluiceError);
    expect((refused as SluiceError).code).to.equal("Unavailable");
    // The same id later, routed, is not mistaken for the returned one.
    await broker.publish(publisher, exchange, "routed", Buffer.from("c"), {
      mandatory: true,
      messageId: "m-2",
    });
  });

  it("forgets a return that comes after its publish timed out: a later publish of that id is not refused", async () => {
    // The proxy holds what the broker sends (and what it is sent) while stalled: the publish
    // times out with no confirm, and its return reaches the client only after that.
    const proxy = proxyTo(AMQP_URL);
    const proxied = await Broker.connect(
      viaProxy(AMQP_URL, await proxy.listen()),
      pino({ level: "silent" }),
    );
    try {
      const publisher = proxied.channel(
        "late-return",
        async (channel) => {
          await channel.assertExchange(exchange, "direct", { durable: false, autoDelete: false });
          await channel.assertQueue(queue, { durable: false });
          await channel.bindQueue(queue, exchange, "routed");
        },
        500,
      );
      await publisher.waitForConnect();
      proxy.stall();
      const timedOut = await proxied
        .publish(publisher, exchange, "nowhere", Buffer.from("late"), {
          mandatory: true,
          messageId: "m-late",
        })
        .then(
          () => "confirmed",
          (error: SluiceError) => error.code,
        );
      expect(timedOut).to.equal("Busy");
      proxy.heal();
      // Confirmed after the return of the timed-out publish (the broker answers in order).
      await proxied.publish(publisher, exchange, "routed", Buffer.from("marker"), {
        mandatory: true,
        messageId: "m-marker",
      });
      await proxied.publish(publisher, exchange, "routed", Buffer.from("again"), {
        mandatory: true,
        messageId: "m-late",
      });
    } finally {
      await proxied.close();
      await proxy.close();
    }
  });

  it("leaves no consumer behind when cancelled while its basic.consume is on its way", async () => {
    const own = `${prefix}early`;
    const consumer: Consumer = broker.consume("cancelled-early", {
      queue: own,
      prefetch: 1,
      setup: async (channel) => {
        await channel.assertQueue(own, { durable: false });
        // Cancelled right after prefetch and basic.consume are sent: their replies cannot
        // arrive before the next check phase, so the cancel lands while both are on their way.
        setImmediate(() => void consumer.cancel());
      },
      onMessage: async (message, channel) => channel.nack(message, false, true),
    });
    await consumer.waitForConnect();
    const consumers = await new Promise<number>((resolve, reject) => {
      const check = broker.channel("check", async (channel) => {
        try {
          resolve((await channel.checkQueue(own)).consumerCount);
          await channel.deleteQueue(own);
        } catch (error) {
          reject(error as Error);
        }
      });
      void check.waitForConnect().then(() => check.close());
    });
    await consumer.close();
    expect(consumers).to.equal(0);
  });

  it("consumes again after the broker closed the consumer's channel", async () => {
    // RabbitMQ closes a channel on its own for a delivery held past consumer_timeout, or an ack
    // it does not know (here: one ack too many). The connection stays up, so no reconnect
    // re-runs the setup: the consumer's channel must be opened again by itself.
    const own = `${prefix}closed`;
    const got: string[] = [];
    let closed: Promise<void> | null = null;
    const consumer = consumeOwnQueue("closed-by-broker", own, async (message, channel) => {
      got.push(message.content.toString());
      if (got.length === 1) closed = new Promise((resolve) => channel.once("close", resolve));
      channel.ack(message);
      if (got.length === 1) channel.ack(message);
    });
    await consumer.waitForConnect();
    const publisher = broker.channel("closed-publisher", async (channel) => {
      await channel.assertQueue(own, { durable: false });
    });
    await publisher.waitForConnect();
    try {
      await broker.publish(publisher, "", own, Buffer.from("first"));
      for (let i = 0; i < 100 && got.length < 1; i++) await sleep(50);
      await closed;
      await broker.publish(publisher, "", own, Buffer.from("second"));
      for (let i = 0; i < 200 && got.length < 2; i++) await sleep(50);
      expect(got).to.deep.equal(["first", "second"]);
    } finally {
      await consumer.close();
      const check = broker.channel("closed-cleanup", async (channel) => {
        await channel.deleteQueue(own);
      });
      await check.waitForConnect();
      await check.close();
      await publisher.close();
    }
  });

  it("consumes again after the broker cancelled the consumer (its queue deleted)", async () => {
    const own = `${prefix}cancelled`;
    const got: string[] = [];
    const consumer = consumeOwnQueue("cancelled-by-broker", own, async (message, channel) => {
      got.push(message.content.toString());
      channel.ack(message);
    });
    await consumer.waitForConnect();
    const admin = await broker.probeChannel();
    const publisher = broker.channel("cancelled-publisher");
    await publisher.waitForConnect();
    try {
      await admin.deleteQueue(own);
      await admin.close();
      // Declared again by the consumer's setup, once the cancel has reached it (a look at a
      // missing queue costs the looking channel: one each).
      let consumers = 0;
      for (let i = 0; i < 200 && consumers === 0; i++) {
        await sleep(50);
        const look = await broker.probeChannel();
        consumers = await look
          .checkQueue(own)
          .then((q) => q.consumerCount)
          .catch(() => 0);
        await look.close().catch(() => undefined);
      }
      expect(consumers, "consumers of the queue declared again").to.equal(1);
      await broker.publish(publisher, "", own, Buffer.from("after"));
      for (let i = 0; i < 200 && got.length < 1; i++) await sleep(50);
      expect(got).to.deep.equal(["after"]);
    } finally {
      await consumer.close();
      const cleanup = await broker.probeChannel();
      await cleanup.deleteQueue(own).catch(() => undefined);
      await cleanup.close().catch(() => undefined);
      await publisher.close();
    }
  });
});

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
