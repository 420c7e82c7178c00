// A message Sluice cannot read names no gateway id; its dead letter is still published mandatory
// under an id of its own (marked as made up), so a dead-letter exchange that routes to no queue
// (its queues deleted) fails the publish and the delivery is kept, instead of a confirm of a
// copy the broker dropped acking it. Real broker and Redis.

import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import { expect } from "chai";
import type { Correlator } from "../../response-worker/correlator";
import { declareCoreTopology } from "../../shared/broker/topology";
import { HEADERS } from "../../shared/protocol/names";
import { whenReady } from "../../shared/store/redis";
import type { RequestProcessor } from "../../worker/request-processor";
import {
  type BrokerSide,
  connectBroker,
  correlatorFor,
  processorFor,
  testScope,
} from "../support/broker-scope";

/** A delivery whose body is not JSON and which carries no message id. */
function unreadable(): ConsumeMessage {
  return {
    content: Buffer.from("not json"),
    fields: {},
    properties: { headers: {} },
  } as unknown as ConsumeMessage;
}

describe("the dead letter of an unreadable message (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("dead-letter-unroutable-test");
  const { names, redis } = scope;
  const shutdown = new AbortController();
  let amqp: BrokerSide;
  let processor: RequestProcessor;
  let correlator: Correlator;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
    processor = processorFor(scope, amqp, {
      translator: { call: async () => [] },
      shutdown: shutdown.signal,
    });
    correlator = correlatorFor(scope, amqp);
  });
  after(async () => {
    shutdown.abort();
    await amqp?.close().catch(() => undefined);
    await scope.close();
  });

  const deleteDeadLetterQueues = async () => {
    await amqp.channel.deleteQueue(names.deadLetterQueue);
    await amqp.channel.deleteQueue(names.deadLetterWatchQueue);
  };
  const declareAgain = () => declareCoreTopology(amqp.channel as unknown as ConfirmChannel, names);

  it("is kept in the dead-letter queue under an id marked as made up", async () => {
    expect(await processor.process(unreadable())).to.equal("ack");
    const dead = await amqp.channel.get(names.deadLetterQueue, { noAck: true });
    expect(dead && dead.content.toString()).to.equal("not json");
    expect(dead && dead.properties.messageId)
      .to.be.a("string")
      .and.not.equal("");
    expect(dead && dead.properties.headers?.[HEADERS.generatedId]).to.equal(true);
    expect(dead && dead.properties.headers?.[HEADERS.reason]).to.equal("unreadable");
  });

  it("is not acked by the worker when no queue takes its dead letter", async () => {
    await deleteDeadLetterQueues();
    try {
      const outcome = await processor.process(unreadable()).then(
        (settlement) => `settled ${String(settlement)}`,
        (error: Error) => `failed: ${error.message}`,
      );
      expect(outcome).to.equal("failed: no queue took the message (topology missing)");
    } finally {
      await declareAgain();
    }
  });

  it("is not acked by the response worker when no queue takes its dead letter", async () => {
    await deleteDeadLetterQueues();
    try {
      const outcome = await correlator.handle(unreadable()).then(
        () => "handled",
        (error: Error) => `failed: ${error.message}`,
      );
      expect(outcome).to.equal("failed: no queue took the message (topology missing)");
    } finally {
      await declareAgain();
    }
  });
});
