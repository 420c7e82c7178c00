// The settle logic both consumer loops share: one settlement per delivery, on its own channel.

import { expect } from "chai";
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import pino from "pino";
import { SettlingConsumer } from "../../shared/broker/settling-consumer";
import { ShutdownDeadline } from "../../shared/runtime/shutdown-deadline";

function recordingChannel(settled: string[]): ConfirmChannel {
  return {
    ack: () => settled.push("ack"),
    nack: (_m: ConsumeMessage, _all: boolean, requeue: boolean) =>
      settled.push(requeue ? "requeue" : "drop"),
  } as unknown as ConfirmChannel;
}

const message = { content: Buffer.from("{}"), fields: {}, properties: {} } as ConsumeMessage;
const live = new AbortController().signal;

describe("settling consumer", () => {
  const log = pino({ level: "silent" });

  it("acks what was handled, requeues what the handler hands back", async () => {
    const settled: string[] = [];
    const consumer = new SettlingConsumer(log, "interrupted");
    const channel = recordingChannel(settled);
    await consumer.handler(async () => undefined)(message, channel, live);
    await consumer.handler(async () => "ack" as const)(message, channel, live);
    await consumer.handler(async () => "requeue" as const)(message, channel, live);
    expect(settled).to.deep.equal(["ack", "ack", "requeue"]);
  });

  it("tries again through a short outage, then settles once", async () => {
    const settled: string[] = [];
    const consumer = new SettlingConsumer(log, "interrupted");
    let tries = 0;
    await consumer.handler(async () => {
      if (++tries < 2) throw new Error("redis away");
    })(message, recordingChannel(settled), live);
    expect([tries, settled]).to.deep.equal([2, ["ack"]]);
  });

  it("hands back a delivery whose channel is gone, once the handler gives up", async () => {
    const settled: string[] = [];
    const consumer = new SettlingConsumer(log, "interrupted");
    const gone = new AbortController();
    gone.abort();
    await consumer.handler(async () => {
      throw new Error("broker away");
    })(message, recordingChannel(settled), gone.signal);
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    expect(settled).to.deep.equal(["requeue"]);
  });

  it("while draining hands new deliveries back at once and waits for the work in hand", async () => {
    const settled: string[] = [];
    const consumer = new SettlingConsumer(log, "interrupted");
    const channel = recordingChannel(settled);
    let finish!: () => void;
    const inHand = consumer.handler(() => new Promise<void>((resolve) => (finish = resolve)))(
      message,
      channel,
      live,
    );
    const deadline = new ShutdownDeadline(60_000);
    const drained = consumer.drain(deadline);
    await consumer.handler(async () => "ack" as const)(message, channel, live);
    expect(settled).to.deep.equal(["requeue"]);
    finish();
    expect(await drained).to.equal(true);
    await inHand;
    expect(settled).to.deep.equal(["requeue", "ack"]);
    deadline.dispose();
  });
});
