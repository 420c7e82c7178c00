// A bulk replay (the admin port's POST /admin/dead-letters/replay, `sluice dead-letters replay
// --all`) while the broker takes no replay of a backend: the first refusal stops that
// backend's part of the run. Going on waited the full publish timeout once per dead letter (an
// operator's request or CLI run held for hours by a blocked broker) and left one refused copy
// per dead letter in the channel for the broker to take once it answered again.

import { expect } from "chai";
import type { Replayer } from "../../shared/operator/replay";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBrokerThrough,
  replayerFor,
  SHORT_PUBLISH_TIMEOUT_MS,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { AMQP_URL } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";
import { proxyTo } from "../support/tcp-proxy";

describe("bulk dead-letter replay while the broker does not confirm (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("replay-bulk-broker-test");
  const { names, redis, deadLetters } = scope;
  const proxy = proxyTo(AMQP_URL);
  let amqp: BrokerSide;
  let replayer: Replayer;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBrokerThrough(proxy, scope);
    replayer = replayerFor(scope, amqp, { publishTimeoutMs: SHORT_PUBLISH_TIMEOUT_MS });
  });
  after(async () => {
    proxy.heal();
    await amqp?.close().catch(() => undefined);
    await proxy.close();
    await scope.close();
  });

  it("stops at the first refusal: one refused with retryAfter, the rest skipped to ask again", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      // Oldest first: one millisecond apart, so the run's order is known.
      ids.push(await recordDeadLetter(deadLetters, requestMessage(), { at: Date.now() - 10 + i }));
    }
    const entries = await deadLetters.oldestPending({}, 10);
    expect(entries.map((e) => e.id)).to.deep.equal(ids);

    proxy.stall();
    const stalled = await replayer.replayMany(entries, () => 0);
    expect(stalled.replayed).to.have.length(1);
    expect(stalled.replayed[0]).to.include({ id: ids[0], result: "refused", type: "Unavailable" });
    expect(stalled.replayed[0].retryAfter).to.be.greaterThan(0);
    expect(stalled.skipped.map((s) => s.id)).to.deep.equal(ids.slice(1));
    for (const skip of stalled.skipped) {
      expect(skip.reason).to.match(/broker.*ask again/);
      expect(skip).to.include({ type: "Unavailable", message: skip.reason });
    }
    // Nothing of the skipped ones was claimed: each can be replayed once the broker answers.
    for (const id of ids) expect((await deadLetters.get(id))?.replayedAs).to.equal(null);

    proxy.heal();
    const again = await replayer.replayMany(await deadLetters.oldestPending({}, 10), () => 0);
    expect(again.skipped).to.deep.equal([]);
    expect(again.replayed.map((r) => r.result)).to.deep.equal(["replayed", "replayed", "replayed"]);
    // The broker holds the three replays, and at most the one refused copy of the first run.
    const queued = await takeQueued(amqp.channel, names.requestsQueue("b"));
    const replays = again.replayed.map((r) => r.replayedAs);
    expect(queued.filter((id) => replays.includes(id))).to.have.members(replays);
    expect(queued.length).to.be.at.most(4);
  });

  it("keeps what a run did when an entry's replay fails with an error (Redis not answering): the rest skipped, the failure named", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push(await recordDeadLetter(deadLetters, requestMessage(), { at: Date.now() - 10 + i }));
    }
    const entries = await deadLetters.oldestPending({}, 10);
    expect(entries.map((e) => e.id)).to.deep.equal(ids);
    // The second replay's store call times out, as ioredis reports a Redis that stalled.
    const original = replayer.replay.bind(replayer);
    let calls = 0;
    replayer.replay = async (id: string) => {
      if (++calls === 2) throw new Error("Command timed out");
      return original(id);
    };
    try {
      const run = await replayer.replayMany(entries, () => 0);
      expect(run.failure).to.equal("Command timed out");
      expect(run.replayed.map((r) => [r.id, r.result])).to.deep.equal([[ids[0], "replayed"]]);
      expect(run.skipped.map((s) => s.id)).to.deep.equal(ids.slice(1));
      expect(run.skipped[0].reason).to.match(/^the run stopped here: Command timed out; whether/);
      expect(run.skipped[1].reason).to.equal(
        "not tried: the run stopped at an error (Command timed out); ask again",
      );
      for (const skip of run.skipped) expect(skip).to.include({ type: "Unavailable" });
    } finally {
      replayer.replay = original;
    }
    await takeQueued(amqp.channel, names.requestsQueue("b"));
  });
});
