// A replay whose publish the broker took but whose confirm never came in time (lost, or late
// from a blocked broker): the replay is reported refused and may be asked again, so the copy
// the broker holds must never be processed beside the next replay; and one a worker already
// took stays the dead letter's replay. Real broker and Redis, the confirm dropped by a proxy.

import { expect } from "chai";
import type { Replayer } from "../../shared/operator/replay";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBrokerThrough,
  replayerFor,
  SHORT_PUBLISH_TIMEOUT_MS,
  testScope,
} from "../support/broker-scope";
import { AMQP_URL, eventually } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";
import { confirmDropper, proxyTo } from "../support/tcp-proxy";

describe("dead-letter replay whose broker confirm was lost (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("replay-lost-confirm-test");
  const { names, redis, store, deadLetters } = scope;
  const confirms = confirmDropper();
  const proxy = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  let amqp: BrokerSide;
  let replayer: Replayer;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBrokerThrough(proxy, scope);
    replayer = replayerFor(scope, amqp, { publishTimeoutMs: SHORT_PUBLISH_TIMEOUT_MS });
  });
  after(async () => {
    await amqp?.close().catch(() => undefined);
    await proxy.close();
    await scope.close();
  });

  const deadLetter = () => recordDeadLetter(deadLetters, requestMessage());

  /** The next request queued for backend b, taken off the queue (waits for it). */
  const nextQueued = () =>
    eventually(async () => {
      const message = await amqp.channel.get(names.requestsQueue("b"), { noAck: true });
      return message ? String(message.properties.messageId) : undefined;
    });

  it("reports the replay refused and marks the copy the broker holds refused, so no worker processes it", async () => {
    const id = await deadLetter();
    confirms.arm();
    const lost = await replayer.replay(id);
    expect(confirms.dropped).to.equal(1);
    expect(lost).to.include({ result: "refused", replayedAs: null });
    const copy = await nextQueued();
    // What a worker reads first: "refused" makes it dead-letter the copy, never call the backend.
    expect(await store.peek(copy)).to.equal("refused");
    expect((await deadLetters.get(id))?.replayedAs).to.equal(null);

    const again = await replayer.replay(id);
    expect(again).to.include({ result: "replayed" });
    expect(again.replayedAs).to.not.equal(copy);
    expect(await nextQueued()).to.equal(again.replayedAs);
    expect(await store.peek(again.replayedAs!)).to.include({ state: "accepted" });
  });

  it("keeps a replay a worker took before the confirm was given up on", async () => {
    const id = await deadLetter();
    confirms.arm();
    const replaying = replayer.replay(id);
    const taken = await nextQueued();
    // A worker takes the replay while its publisher still waits for the lost confirm.
    expect(
      (await store.transition(taken, ["accepted"], "processing", { claimMs: 60_000 })).result,
    ).to.equal("ok");
    const result = await replaying;
    expect(result).to.include({ result: "replayed", replayedAs: taken });
    expect((await deadLetters.get(id))?.replayedAs).to.equal(taken);
    expect(await replayer.replay(id)).to.include({ result: "already", replayedAs: taken });
  });
});
