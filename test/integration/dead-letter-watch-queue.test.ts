// The dead-letter watch queue has a delivery limit of its own, far above RabbitMQ 4's default of
// 20 for quorum queues: the response worker hands a copy back while the worker holding the
// message's claim lives on (or while Redis is out of reach), and each hand-back counts. Checked
// as a client can: redeclared with the documented arguments, the broker accepts (it refuses a
// declaration that differs from the queue's), and a copy handed back more than 20 times stays.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import amqplib from "amqplib";
import { compileConfig } from "../../shared/config/config";
import { declareAllBackends } from "../../shared/broker/topology";
import { topologyNames } from "../../shared/protocol/names";
import { AMQP_URL, deletePrefix } from "../support/harness";

/** The watch queue's arguments as docs/reliability.md gives them. */
const DOCUMENTED = {
  "x-queue-type": "quorum",
  "x-max-length": 100_000,
  "x-overflow": "drop-head",
  "x-delivery-limit": 10_000,
};

describe("the dead-letter watch queue's delivery limit (RabbitMQ)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const raw = {
    prefix,
    services: { s: { protocols: ["rest"], backend: "b" } },
    backends: { b: { translator: "rest-json", url: "http://127.0.0.1:1" } },
  };
  const config = compileConfig(raw, ".");
  const names = topologyNames(prefix);
  let connection: amqplib.ChannelModel;

  before(async () => {
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createConfirmChannel();
    await declareAllBackends(channel, config, names, {
      probe: () => connection.createChannel(),
      onWatchKept: () => {
        throw new Error("a new watch queue was kept as if an earlier release had declared it");
      },
    });
    await channel.close();
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
    await deletePrefix(prefix, raw);
  });

  it("is declared with its own delivery limit", async () => {
    const channel = await connection.createChannel();
    // A refused declaration closes the channel with an error (the answer below says which).
    channel.on("error", () => undefined);
    const refused = await channel
      .assertQueue(names.deadLetterWatchQueue, { durable: true, arguments: DOCUMENTED })
      .then(
        () => null,
        (error: Error) => error.message,
      );
    expect(refused).to.equal(null);
    await channel.close();
  });

  it("keeps a copy handed back more than 20 times", async () => {
    const channel = await connection.createConfirmChannel();
    channel.sendToQueue(names.deadLetterWatchQueue, Buffer.from("copy"), {
      persistent: true,
      messageId: "held",
    });
    await channel.waitForConfirms();
    // A requeued copy is back in the queue shortly after the nack: look until it is (or not).
    const take = async (noAck: boolean) => {
      for (let look = 0; look < 100; look++) {
        const copy = await channel.get(names.deadLetterWatchQueue, { noAck });
        if (copy) return copy;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return null;
    };
    for (let handedBack = 0; handedBack < 25; handedBack++) {
      const copy = await take(false);
      expect(copy, `the copy after ${handedBack} hand-backs`).to.not.equal(null);
      channel.nack(copy!, false, true);
    }
    const copy = await take(true);
    expect(copy && copy.properties.messageId).to.equal("held");
    await channel.close();
  });
});
