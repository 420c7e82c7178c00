// Callback jobs across a channel the broker closed and the deliverer's channel opened again
// (real broker): the jobs the new channel delivers (those handed back by the closed one and
// those that waited) are each sent and acknowledged, and a job of the closed channel settled
// meanwhile acknowledges nothing on the new one.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import amqplib from "amqplib";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { CallbackDeliverer } from "../../response-worker/callback-deliverer";
import {
  callbackQueues,
  callbackTopology,
  declareCallbackTopology,
} from "../../response-worker/callback-schedule";
import type { CallbackSend } from "../../response-worker/callback-sender";
import { AMQP_URL, eventually } from "../support/harness";

describe("callback jobs across a reopened channel (real broker)", function () {
  this.timeout(60_000);
  const topology = callbackTopology(`t-${randomUUID().slice(0, 8)}.`, [60_000]);
  let broker: Broker;
  let admin: amqplib.ChannelModel;

  before(async () => {
    broker = await Broker.connect(AMQP_URL, pino({ level: "silent" }));
    admin = await amqplib.connect(AMQP_URL);
  });
  after(async () => {
    const channel = await admin.createChannel();
    for (const queue of callbackQueues(topology)) await channel.deleteQueue(queue);
    await admin.close();
    await broker.close();
  });

  it("sends and acknowledges every job the new channel delivers", async () => {
    const channel = broker.channel("callbacks", (ch) => declareCallbackTopology(ch, topology));
    await channel.waitForConnect();
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const sent: string[] = [];
    let waiting = 0;
    const settled: string[] = [];
    const deliverer = new CallbackDeliverer({
      broker,
      channel,
      topology,
      prefetch: 2,
      sender: {
        async send(request: CallbackSend) {
          waiting += 1;
          await gate;
          sent.push(request.webhookId);
          return { outcome: "delivered", status: 204 };
        },
      },
      onSettled: (job) => void settled.push(job.webhookId),
    });
    await deliverer.start();
    const ids = [1, 2, 3, 4, 5, 6].map((n) => `msg_${n}`);
    for (const webhookId of ids) {
      await deliverer.enqueue({
        webhookId,
        messageId: randomUUID(),
        target: "https://cb.example.org/hooks/1",
        payload: "{}",
      });
    }
    await eventually(async () => (waiting === 2 ? true : undefined), 10_000, "two jobs sent");
    // An ack the broker does not know closes the channel (PRECONDITION_FAILED) with the
    // connection left up; the deliverer's channel is opened again and delivers the jobs anew,
    // the two held ones first. Their sends wait too: the closed channel's two settle after them.
    channel.ack({ fields: { deliveryTag: 999_999 } } as amqplib.Message);
    await eventually(async () => (waiting === 4 ? true : undefined), 20_000, "jobs redelivered");
    open();
    await eventually(
      async () => (ids.every((id) => sent.includes(id)) ? true : undefined),
      30_000,
      "every job sent",
    );
    const look = await admin.createChannel();
    await eventually(
      async () => {
        const { messageCount } = await look.checkQueue(topology.delivery);
        return messageCount === 0 && settled.length >= ids.length ? true : undefined;
      },
      30_000,
      "every job acknowledged",
    );
    await look.close();
    await deliverer.stop();
    // Nothing left unacknowledged: closing the channel hands nothing back.
    await channel.close();
    const after = await admin.createChannel();
    expect((await after.checkQueue(topology.delivery)).messageCount).to.equal(0);
    await after.close();
  });
});
