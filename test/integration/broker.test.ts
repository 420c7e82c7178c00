// The broker wrapper on the real RabbitMQ: a confirmed publish resolves, and a mandatory
// publish that no queue takes is refused instead of being reported as persisted; a consumer
// cancelled while it is being set up stays cancelled.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { Broker, type Consumer } from "../../shared/broker/amqp";
import { SluiceError } from "../../shared/protocol/errors";

const AMQP_URL = process.env.AMQP_URL || "amqp://guest:guest@127.0.0.1:5672";

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
});
