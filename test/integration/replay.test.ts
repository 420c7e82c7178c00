// Replaying a dead letter on the real broker and Redis when Redis ran the replay's claim (or
// its take-over) but the reply was lost: ioredis sends the command again after reconnecting,
// and that second run must still be the replayer's own, or nothing is sent.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { redisKeys } from "../../shared/protocol/redis-keys";
import {
  type BrokerSide,
  connectBroker,
  replayerFor,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { connectCutRedis, type CutRedis } from "../support/cut-redis";
import { AMQP_URL, eventually } from "../support/harness";
import { recordDeadLetter, requestMessage, transactionMeta } from "../support/messages";
import { proxyTo, viaProxy } from "../support/tcp-proxy";

describe("dead-letter replay whose Redis reply was lost (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("replay-test");
  const { prefix, names, redis, store, deadLetters } = scope;
  let cutRedis: CutRedis;
  let amqp: BrokerSide;

  before(async () => {
    amqp = await connectBroker(scope);
    cutRedis = await connectCutRedis("replay-test-cut");
  });
  after(async () => {
    await cutRedis?.close();
    await amqp?.close();
    await scope.close();
  });

  /** A replayer whose Redis commands pass through the proxy that can cut a reply. */
  const replayer = () => replayerFor(scope, amqp, { redis: cutRedis.redis });

  /** A failed request's dead letter. */
  const deadLetter = () => recordDeadLetter(deadLetters, requestMessage(), { error: "boom" });

  /** The ids of the requests now queued for backend b. */
  const queued = () => takeQueued(amqp.channel, names.requestsQueue("b"));

  const isScript = (command: string) => /EVAL/i.test(command);

  it("a claim run twice is still the replayer's: the replay is sent", async () => {
    const id = await deadLetter();
    cutRedis.cut.arm((command) => isScript(command) && command.includes(deadLetters.key(id)));
    const result = await replayer().replay(id);
    expect(cutRedis.cut.dropped).to.equal(1);
    expect(result).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([result.replayedAs]);
  });

  it("a broker out of reach refuses the replay with retryAfter, and asking again replays it", async () => {
    const brokerProxy = proxyTo(AMQP_URL);
    const cut = await connectBroker(scope, { url: viaProxy(AMQP_URL, await brokerProxy.listen()) });
    try {
      const replayerOf = () => replayerFor(scope, cut);
      const id = await deadLetter();
      brokerProxy.refuse(true);
      brokerProxy.cut();
      await eventually(async () => (cut.broker.isConnected() ? undefined : true));
      const refused = await replayerOf().replay(id);
      expect(refused).to.include({ result: "refused" });
      expect(refused.retryAfter).to.be.greaterThan(0);
      expect(await queued()).to.deep.equal([]);

      brokerProxy.refuse(false);
      await eventually(async () => (cut.broker.isConnected() ? true : undefined));
      const replayed = await replayerOf().replay(id);
      expect(replayed).to.include({ result: "replayed" });
      expect(await queued()).to.deep.equal([replayed.replayedAs]);
    } finally {
      await cut.close().catch(() => undefined);
      await brokerProxy.close();
    }
  });

  it("a take-over run twice is still the replayer's: the replay is sent", async () => {
    const id = await deadLetter();
    // A replay claimed by a publisher that stopped before the confirm (its mark expired).
    const replayId = randomUUID();
    await redis.hset(deadLetters.key(id), "replayedAs", replayId);
    await redis.hset(
      store.key(replayId),
      "meta",
      JSON.stringify(transactionMeta({ id: replayId })),
      "state",
      "accepted",
      "delivery",
      "pending",
      "updatedAt",
      String(Date.now()),
      "history",
      `{"state":"accepted","at":${Date.now()}}`,
      "replayOf",
      id,
    );
    expect(await redis.exists(redisKeys(prefix).replayPublishing(replayId))).to.equal(0);
    const before = cutRedis.cut.dropped;
    cutRedis.cut.arm((command) => isScript(command) && command.includes(store.key(replayId)));
    const result = await replayer().replay(id);
    expect(cutRedis.cut.dropped).to.equal(before + 1);
    expect(result).to.include({ result: "replayed", replayedAs: replayId, resumed: true });
    expect(await queued()).to.deep.equal([replayId]);
  });
});
