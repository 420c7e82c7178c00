// A bulk redelivery of dead callbacks (the admin port's POST /admin/dead-callbacks/redeliver,
// `sluice dead-callbacks redeliver --all`) while the broker takes none: every redelivery goes to
// the one callbacks queue, so the first refusal stops the run. Going on waited the full publish
// timeout once per dead callback and left one refused copy per callback in the channel.

import { expect } from "chai";
import { CallbackRedeliverer } from "../../shared/operator/callback-redelivery";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBrokerThrough,
  declareCallbacksQueue,
  SHORT_PUBLISH_TIMEOUT_MS,
  testScope,
} from "../support/broker-scope";
import { AMQP_URL } from "../support/harness";
import { recordDeadCallback } from "../support/messages";
import { proxyTo } from "../support/tcp-proxy";

describe("bulk dead-callback redelivery while the broker does not confirm (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("redeliver-bulk-broker-test");
  const { prefix, names, redis, store } = scope;
  const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
  const proxy = proxyTo(AMQP_URL);
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBrokerThrough(proxy, scope, { declare: false });
    await declareCallbacksQueue(amqp, names);
  });
  after(async () => {
    proxy.heal();
    await amqp?.close().catch(() => undefined);
    await proxy.close();
    await scope.close();
  });

  /** A redeliverer on the broker connection the proxy stands in front of. */
  const redeliverer = () =>
    new CallbackRedeliverer({
      store,
      deadCallbacks,
      broker: amqp.broker,
      publisher: amqp.publisher,
      names,
      publishTimeoutMs: SHORT_PUBLISH_TIMEOUT_MS,
    });

  /** A callback-mode message whose final callback died `ago` ms ago. */
  async function dead(ago: number): Promise<string> {
    const { id, recorded } = await recordDeadCallback(store, deadCallbacks, {
      at: Date.now() - ago,
    });
    expect(recorded).to.equal(true);
    return id;
  }

  it("stops at the first refusal: one refused with retryAfter, the rest skipped and still failed", async () => {
    const ids = [await dead(30), await dead(20), await dead(10)];
    const bulk = redeliverer();
    const entries = await deadCallbacks.list({ delivery: "delivery_failed" }, 10, "oldest");
    expect(entries.map((e) => e.id)).to.deep.equal(ids);

    proxy.stall();
    const run = await bulk.redeliverMany(entries);
    expect(run.redelivered).to.have.length(1);
    expect(run.redelivered[0]).to.include({ id: ids[0], result: "refused", type: "Unavailable" });
    expect(run.redelivered[0].retryAfter).to.be.greaterThan(0);
    expect(run.skipped.map((s) => s.id)).to.deep.equal(ids.slice(1));
    for (const skip of run.skipped) {
      expect(skip.reason).to.match(/broker.*ask again/);
      expect(skip).to.include({ type: "Unavailable", message: skip.reason });
    }
    // Each can be asked for again: none was left claimed.
    for (const id of ids) expect((await store.get(id))?.delivery).to.equal("delivery_failed");
  });

  it("keeps what a run did when an entry's redelivery fails with an error (Redis not answering): the rest skipped, the failure named", async () => {
    proxy.heal();
    const ids = [await dead(33), await dead(23), await dead(13)];
    const bulk = redeliverer();
    const entries = (
      await deadCallbacks.list({ delivery: "delivery_failed" }, 10, "oldest")
    ).filter((e) => ids.includes(e.id));
    expect(entries.map((e) => e.id)).to.deep.equal(ids);
    // The first redelivery's store call times out, as ioredis reports a Redis that stalled.
    bulk.redeliver = async () => {
      throw new Error("Command timed out");
    };
    const run = await bulk.redeliverMany(entries);
    expect(run.failure).to.equal("Command timed out");
    expect(run.redelivered).to.deep.equal([]);
    expect(run.skipped.map((s) => s.id)).to.deep.equal(ids);
    expect(run.skipped[0].reason).to.match(/^the run stopped here: Command timed out; whether/);
    for (const skip of run.skipped.slice(1)) {
      expect(skip.reason).to.equal(
        "not tried: the run stopped at an error (Command timed out); ask again",
      );
    }
  });
});
