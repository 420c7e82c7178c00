// An upgrade from a release that declared the callback queues as classic queues (before they
// became quorum queues), with a callback job waiting in them: the response worker keeps the
// classic queues as they are (the broker refuses redeclaring them as quorum), gets ready,
// delivers the waiting job once and warns once how to move the queues to quorum. A broker
// without those queues still gets quorum queues.

import { expect } from "chai";
import { readFileSync } from "node:fs";
import path from "node:path";
import * as amqplib from "amqplib";
import {
  callbackTopology,
  classicTierQueueArguments,
  declareCallbackTopology,
  tierQueueArguments,
  callbackQueues,
  deadQueueArguments,
  DEFAULT_DEAD_QUEUE_BOUND,
} from "../../response-worker/callback-schedule";
import { CallbackReceiver } from "../integration/callback-receiver";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";

const FIXTURES = path.resolve(__dirname, "..", "..", "..", "test", "fixtures", "protocol");
const FIXTURE_ID = "0b7f1a2e-1111-4c1d-9a2b-000000000001";

describe("an upgrade with callback jobs waiting in classic callback queues", function () {
  this.timeout(90_000);
  const harness = new Harness();
  const backoff = ["1s", "1m"];
  const topology = callbackTopology(harness.prefix, [1_000, 60_000]);
  const queues = [topology.delivery, topology.dead, ...topology.tiers.map((t) => t.queue)];
  let connection: amqplib.ChannelModel;
  let receiver: CallbackReceiver;
  let sluice: SluiceProcess;
  // What the receiver got, as webhook id and body.
  const hooks = () =>
    receiver.calls.map((c) => ({ webhookId: String(c.headers["webhook-id"]), body: c.body }));
  const messageId = "0b7f1a2e-2222-4c1d-9a2b-0000000000c1";

  before(async () => {
    receiver = await CallbackReceiver.start({ tls: false });
    const receiverUrl = receiver.url("/hooks/");
    harness.writeConfig({
      services: { s: { protocols: ["rest"], backend: "b" } },
      backends: { b: { translator: "rest-json", url: "http://127.0.0.1:1" } },
      callbacks: {
        allow: [receiverUrl],
        allowHttp: true,
        allowPrivate: true,
        backoff,
        secret: "whsec_Y2xhc3NpYy1jYWxsYmFjay1xdWV1ZXMtdXBncmFkZQ==",
      },
    });

    // The callback queues as the previous release declared them: classic queues.
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createConfirmChannel();
    await channel.assertQueue(topology.delivery, { durable: true });
    await channel.assertQueue(topology.dead, { durable: true });
    for (const tier of topology.tiers)
      await channel.assertQueue(tier.queue, {
        durable: true,
        arguments: classicTierQueueArguments(tier.delayMs, topology.delivery),
      });
    // A callback job of the previous release waiting for delivery.
    const job = JSON.parse(readFileSync(path.join(FIXTURES, "callback-job-v1.json"), "utf8")) as {
      properties: amqplib.Options.Publish;
      content: string;
    };
    channel.sendToQueue(
      topology.delivery,
      Buffer.from(
        job.content
          .split(FIXTURE_ID)
          .join(messageId)
          .replace("https://receiver.example/hook", `${receiverUrl}hook`),
      ),
      job.properties,
    );
    await channel.waitForConfirms();
    await channel.close();

    sluice = await harness.spawn("response-worker");
  });

  after(async () => {
    await receiver?.close();
    const channel = await connection.createChannel();
    for (const queue of callbackQueues(topology))
      await channel.deleteQueue(queue).catch(() => undefined);
    await channel.close().catch(() => undefined);
    await connection?.close().catch(() => undefined);
    await harness.cleanup();
  });

  it("is ready and delivers the waiting job once", async () => {
    expect((await call(`${sluice.adminUrl}/readyz`, { client: null })).status).to.equal(200);
    await eventually(async () => (hooks().length > 0 ? true : undefined), 20_000, "the callback");
    // Time for a second delivery, were there one.
    await new Promise((resolve) => setTimeout(resolve, 2_000));
    expect(hooks()).to.deep.equal([{ webhookId: `msg_${messageId}.1`, body: '{"id":"x"}' }]);
  });

  it("keeps the classic queues and warns once how to move them to quorum", async () => {
    const warnings = sluice.lines.filter((line) =>
      String(line.msg).startsWith("callback queues left by an earlier release"),
    );
    expect(warnings).to.have.length(1);
    expect(warnings[0].queues).to.have.members(queues);
    // The classic callbacks.dead has no bound either: one warning gives the policy for it.
    const unbounded = sluice.lines.filter((line) =>
      String(line.msg).includes("exists without the bound"),
    );
    expect(unbounded.map((line) => line.queue)).to.deep.equal([topology.dead]);
    // Still classic: the previous release's declaration is still accepted.
    const channel = await connection.createChannel();
    await channel.assertQueue(topology.delivery, { durable: true });
    expect((await channel.checkQueue(topology.delivery)).messageCount).to.equal(0);
    await channel.close();
    expect(sluice.child.exitCode).to.equal(null);
    expect(sluice.stderr()).to.equal("");
  });

  it("declares quorum queues on a broker without them, and classic ones it finds", async () => {
    const fresh = callbackTopology(`${harness.prefix}fresh.`, [1_000]);
    const channel = await connection.createConfirmChannel();
    const reported: string[][] = [];
    try {
      const probe = async () => {
        const ch = await connection.createChannel();
        ch.on("error", () => undefined);
        return ch;
      };
      await declareCallbackTopology(channel, fresh, { probe, onClassic: (q) => reported.push(q) });
      await declareCallbackTopology(channel, topology, {
        probe,
        onClassic: (q) => reported.push(q),
      });
      expect(reported).to.deep.equal([queues]);
      // Each fresh queue is quorum: redeclared with its arguments but as classic, refused.
      const freshArgs: Array<[string, Record<string, unknown>]> = [
        [fresh.delivery, {}],
        [fresh.dead, deadQueueArguments(DEFAULT_DEAD_QUEUE_BOUND)],
        [fresh.tiers[0].queue, tierQueueArguments(1_000, fresh.delivery)],
      ];
      for (const [queue, args] of freshArgs) {
        const check = await probe();
        const refused = await check
          .assertQueue(queue, {
            durable: true,
            arguments: { ...args, "x-queue-type": "classic" },
          })
          .then(
            () => null,
            (err: Error) => err.message,
          );
        expect(refused, queue).to.match(/x-queue-type/);
      }
    } finally {
      await channel.close().catch(() => undefined);
      const cleanup = await connection.createChannel();
      for (const queue of callbackQueues(fresh))
        await cleanup.deleteQueue(queue).catch(() => undefined);
      await cleanup.close().catch(() => undefined);
    }
  });
});
