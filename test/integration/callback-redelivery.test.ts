// The claim behind an operator's redelivery of a dead callback (real broker and Redis): the
// record is written only with the delivery's move to delivery_failed, a redelivery claimed but
// never confirmed is sent by a later request once its publisher's mark expired (and not
// before), and a redelivery the broker did not take leaves the delivery failed, to be asked again.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { CallbackRedeliverer } from "../../shared/operator/callback-redelivery";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { callbackJobCodec } from "../../shared/protocol/codec";
import { topologyNames } from "../../shared/protocol/names";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  declareCallbacksQueue,
  testScope,
} from "../support/broker-scope";
import { eventually } from "../support/harness";
import { recordDeadCallback } from "../support/messages";

describe("dead callbacks: record and redelivery claim (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("callback-redelivery-test");
  const { prefix, names, redis, store } = scope;
  const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
  let amqp: BrokerSide;

  const redeliverer = (queueNames = names, maxJobBytes?: number) =>
    new CallbackRedeliverer({
      store,
      deadCallbacks,
      broker: amqp.broker,
      publisher: amqp.publisher,
      names: queueNames,
      publishTimeoutMs: 5_000,
      ...(maxJobBytes === undefined ? {} : { maxJobBytes }),
    });

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope, { declare: false });
    await declareCallbacksQueue(amqp, names);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  /** A callback-mode message whose final callback died. */
  async function dead(): Promise<string> {
    const { id, entry, recorded } = await recordDeadCallback(store, deadCallbacks);
    expect(recorded).to.equal(true);
    // Once only: a settlement run again (resent after a reconnect) changes nothing.
    expect(await deadCallbacks.record(entry)).to.equal(false);
    return id;
  }

  async function jobs(): Promise<Array<Record<string, unknown>>> {
    const found = [];
    for (;;) {
      const message = await amqp.channel.get(names.callbacksQueue, { noAck: true });
      if (message === false) return found;
      const decoded = callbackJobCodec.decode(message.content);
      if (decoded.ok) found.push(decoded.message as unknown as Record<string, unknown>);
    }
  }

  it("records a dead callback together with delivery_failed, and lists it", async () => {
    const id = await dead();
    expect((await store.get(id))?.delivery).to.equal("delivery_failed");
    const [entry] = await deadCallbacks.list({ id });
    expect(entry).to.deep.include({ id, reason: "exhausted", attempts: 7, redeliveries: 0 });
    expect(await deadCallbacks.list({ receiver: "https://other.example.org" })).to.deep.equal([]);
  });

  it("finds a dead callback by its full target or the target operators see, and redelivers to the full one", async () => {
    const target = "https://cb.example.org/hooks/1?token=s3cret";
    const { id, recorded } = await recordDeadCallback(store, deadCallbacks, { target });
    expect(recorded).to.equal(true);
    for (const filter of [target, "https://cb.example.org/hooks/1?token=[redacted]"]) {
      const found = await deadCallbacks.list({ id, target: filter });
      expect(
        found.map((entry) => entry.target),
        filter,
      ).to.deep.equal([target]);
    }
    expect(
      await deadCallbacks.list({ id, target: "https://cb.example.org/hooks/1" }),
    ).to.deep.equal([]);
    expect(await redeliverer().redeliver(id)).to.deep.include({ result: "redelivered" });
    expect((await jobs()).map((job) => job.target)).to.deep.equal([target]);
  });

  it("sends a redelivery whose publisher stopped after its claim once its mark expired, not before", async () => {
    const id = await dead();
    // A publisher that claimed it and stopped before publishing.
    expect(await deadCallbacks.claim(id, randomUUID(), 300)).to.equal("ok");
    expect((await store.get(id))?.delivery).to.equal("pending");
    const held = await redeliverer().redeliver(id);
    expect(held).to.deep.include({ result: "already", delivery: "pending" });
    expect(await jobs()).to.deep.equal([]);

    const resumed = await eventually(async () => {
      const result = await redeliverer().redeliver(id);
      return result.result === "redelivered" ? result : undefined;
    });
    expect(resumed).to.deep.include({ resumed: true, webhookId: `msg_${id}.1` });
    const sent = await jobs();
    expect(sent).to.have.length(1);
    expect(sent[0]).to.deep.include({
      webhookId: `msg_${id}.1`,
      messageId: id,
      attempt: 1,
      settlesDelivery: true,
    });
    expect(JSON.parse(sent[0].payload as string)).to.deep.include({ id, delivery: "pending" });
    // Confirmed: nobody sends it again.
    expect(await redeliverer().redeliver(id)).to.deep.include({ result: "already" });
    expect(await jobs()).to.deep.equal([]);
  });

  it("leaves the delivery failed when the broker does not take the redelivery", async () => {
    const id = await dead();
    const nowhere = topologyNames(`${prefix}missing.`);
    const refused = await redeliverer(nowhere).redeliver(id);
    expect(refused.result).to.equal("refused");
    expect(refused.error).to.match(/broker did not take/);
    // Nothing was sent: the admin port answers 503 with this Retry-After, as for a replay.
    expect(refused.retryAfter).to.be.greaterThan(0);
    expect((await store.get(id))?.delivery).to.equal("delivery_failed");
    expect((await deadCallbacks.get(id))?.redeliveries).to.equal(0);
    expect(await redeliverer().redeliver(id)).to.deep.include({ result: "redelivered" });
    expect(await jobs()).to.have.length(1);
  });

  it("refuses a redelivery larger than amqpMaxMessageSize without publishing it", async () => {
    const id = await dead();
    const refused = await redeliverer(names, 100).redeliver(id);
    expect(refused.result).to.equal("refused");
    expect(refused.error).to.match(/larger than amqpMaxMessageSize of 100 bytes/);
    // Asking again soon does not help: no Retry-After, so a bulk redelivery goes on.
    expect(refused.retryAfter).to.equal(undefined);
    expect((await store.get(id))?.delivery).to.equal("delivery_failed");
    expect((await deadCallbacks.get(id))?.redeliveries).to.equal(0);
    expect(await jobs()).to.deep.equal([]);
    expect(await redeliverer().redeliver(id)).to.deep.include({ result: "redelivered" });
    expect(await jobs()).to.have.length(1);
  });
});
