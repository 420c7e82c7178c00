// A dead letter replayed (or dry-run) to a paused backend: the replay is queued as any other,
// and the answer says it waits for the backend's resume, so an operator watching for its
// outcome is not left waiting without a word (real broker and Redis).

import { expect } from "chai";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import {
  type BrokerSide,
  connectBroker,
  replayerFor,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { recordDeadLetter, requestMessage } from "../support/messages";

describe("dead-letter replay to a paused backend (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("replay-paused-test");
  const { prefix, names, redis, deadLetters } = scope;
  const pauses = new BackendPauses(redis, prefix);
  let amqp: BrokerSide;

  before(async () => {
    amqp = await connectBroker(scope);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  it("queues the replay and names the paused backend, since when, and how to resume it", async () => {
    const paused = await pauses.pause("b");
    const id = await recordDeadLetter(deadLetters, requestMessage(), { error: "boom" });
    const replayer = replayerFor(scope, amqp);
    const preview = await replayer.preview(id);
    expect(preview).to.include({ result: "would replay", pausedBackend: "b" });
    const result = await replayer.replay(id);
    expect(result).to.include({ result: "replayed", pausedBackend: "b" });
    expect(result.note).to.equal(
      `backend b is paused since ${new Date(paused.since!).toISOString()}: the replay waits in its queue until it is resumed (sluice backends resume b --config FILE)`,
    );
    expect(await takeQueued(amqp.channel, names.requestsQueue("b"))).to.deep.equal([
      result.replayedAs,
    ]);
  });

  it("says nothing of a pause once the backend is resumed", async () => {
    await pauses.resume("b");
    const id = await recordDeadLetter(deadLetters, requestMessage(), { error: "boom" });
    const result = await replayerFor(scope, amqp).replay(id);
    expect(result.result).to.equal("replayed");
    expect(result).not.to.have.any.keys("pausedBackend", "note");
    await takeQueued(amqp.channel, names.requestsQueue("b"));
  });
});
