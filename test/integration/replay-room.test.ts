// Bulk replays on the admin port read the backend's room from the queue monitor, whose sample
// is up to a second old: a second run before the next sample (a double click on "replay all",
// two operators on one admin port) found the room the first had already filled, and the queue
// went to twice its high-water mark. Real broker, Redis and QueueMonitor.

import { expect } from "chai";
import pino from "pino";
import { QueueMonitor } from "../../shared/broker/queue-monitor";
import type { Replayer } from "../../shared/operator/replay";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  oneBackendConfig,
  replayerFor,
  testScope,
} from "../support/broker-scope";
import { recordDeadLetter, requestMessage } from "../support/messages";

describe("bulk replays within one queue sample (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("replay-room-test", (prefix) =>
    oneBackendConfig(prefix, { queue: { highWater: 2, maxLength: 10 } }),
  );
  const { names, deadLetters } = scope;
  let amqp: BrokerSide;
  let monitor: QueueMonitor;
  let replayer: Replayer;

  before(async () => {
    await whenReady(scope.redis);
    amqp = await connectBroker(scope);
    // No sample after the first during the test: the runs see only what they count themselves.
    monitor = new QueueMonitor(
      amqp.broker,
      scope.config,
      names,
      pino({ level: "silent" }),
      600_000,
    );
    monitor.start();
    await monitor.refresh();
    replayer = replayerFor(scope, amqp);
  });
  after(async () => {
    monitor?.stop();
    await amqp?.close();
    await scope.close();
  });

  /** A bulk replay of every dead letter as the admin port runs it. */
  const replayAll = async () =>
    replayer.replayMany(
      await deadLetters.oldestPending({}, 100),
      (backend) => monitor.estimatedDepth(names.requestsQueue(backend)),
      () => false,
      (backend) => monitor.notePublished(names.requestsQueue(backend)),
    );

  it("share the room below the high-water mark, one after the other or at once", async () => {
    for (let i = 0; i < 6; i++) {
      await recordDeadLetter(deadLetters, requestMessage(), { at: 1_700_000_000_000 + i });
    }
    expect(monitor.estimatedDepth(names.requestsQueue("b"))).to.equal(0);
    const first = await replayAll();
    expect(first.replayed.filter((r) => r.result === "replayed")).to.have.length(2);
    const [second, third] = await Promise.all([replayAll(), replayAll()]);
    expect(
      [...second.replayed, ...third.replayed].filter((r) => r.result === "replayed"),
    ).to.deep.equal([]);
    const queue = await amqp.channel.checkQueue(names.requestsQueue("b"));
    expect(queue.messageCount).to.equal(2);
  });
});
