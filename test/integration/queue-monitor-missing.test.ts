// One missing request queue costs the queue monitor only that queue's sample: the queues
// sampled after it are still read in the same round, so another backend's depth stays current
// and a queue declared again is no longer refused queue_missing.

import { expect } from "chai";
import pino from "pino";
import type { ConfirmChannel } from "amqplib";
import { Backpressure } from "../../adapter/backpressure";
import { QueueMonitor } from "../../shared/broker/queue-monitor";
import { declareBackendTopology } from "../../shared/broker/topology";
import { metrics } from "../../shared/observability/metrics";
import { whenReady } from "../../shared/store/redis";
import { type BrokerSide, connectBroker, testScope } from "../support/broker-scope";

/** Backends a and b, each with a service; a's request queue is sampled before b's. */
function twoBackends(prefix: string): Record<string, unknown> {
  const backend = { url: "http://127.0.0.1:9", translator: "rest-json" };
  return {
    prefix,
    services: {
      sa: { protocols: ["rest"], reply: { mode: "ack" }, backend: "a" },
      sb: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" },
    },
    backends: { a: backend, b: backend },
  };
}

describe("a missing request queue costs the queue monitor only its own sample (real broker)", function () {
  this.timeout(60_000);
  const scope = testScope("queue-monitor-missing-test", twoBackends);
  let amqp: BrokerSide;
  let monitor: QueueMonitor;
  let backpressure: Backpressure;

  before(async () => {
    await whenReady(scope.redis);
    amqp = await connectBroker(scope);
    // Sampled only when the test says (refresh), never by the clock.
    monitor = new QueueMonitor(
      amqp.broker,
      scope.config,
      scope.names,
      pino({ level: "silent" }),
      3_600_000,
    );
    monitor.start();
    await monitor.refresh();
    backpressure = new Backpressure(amqp.broker, monitor, scope.names);
  });
  after(async () => {
    monitor?.stop();
    // Out of the process's registry: later files in this process see none of this scope.
    for (const gauge of [metrics.queueDepth, metrics.queueConsumers]) {
      for (const { labels } of (await gauge.get()).values) {
        if (String(labels.queue).startsWith(scope.prefix)) gauge.remove({ queue: labels.queue });
      }
    }
    await amqp?.close().catch(() => undefined);
    await scope.close();
  });

  it("no longer refuses a queue declared again while a queue sampled before it is missing", async () => {
    const [a, b] = [scope.names.requestsQueue("a"), scope.names.requestsQueue("b")];
    await amqp.channel.deleteQueue(b);
    await monitor.refresh();
    expect(monitor.isMissing(b)).to.equal(true);

    // a goes missing too; b is declared again (the operator's fix for b).
    await amqp.channel.deleteQueue(a);
    await declareBackendTopology(
      amqp.channel as unknown as ConfirmChannel,
      scope.names,
      scope.config.backends.b,
    );
    // Two rounds: the one whose read of a closes the channel, and one on the channel opened again.
    await monitor.refresh();
    await monitor.refresh();
    expect(monitor.isMissing(a)).to.equal(true);
    expect(monitor.isMissing(b)).to.equal(false);
    expect(backpressure.refusal(scope.config.backends.a, "EE/GOV/1/a")).to.include({
      reason: "queue_missing",
    });
    expect(backpressure.refusal(scope.config.backends.b, "EE/GOV/1/a")).to.equal(null);
  });

  it("reads the depth of a queue sampled after a missing one", async () => {
    const [a, b] = [scope.names.requestsQueue("a"), scope.names.requestsQueue("b")];
    // Deleting a queue already gone is no error: this test does not lean on the one before.
    await amqp.channel.deleteQueue(a);
    await monitor.refresh();
    expect(monitor.isMissing(a)).to.equal(true);
    expect(monitor.get(b)?.depth).to.equal(0);

    // Confirmed by the broker before the next sample asks for the depth.
    await amqp.broker.publish(
      amqp.publisher,
      scope.names.requestsExchange,
      "b",
      Buffer.from("{}"),
      {
        messageId: "m-after-missing",
      },
    );
    await monitor.refresh();
    await monitor.refresh();
    expect(monitor.isMissing(a)).to.equal(true);
    expect(monitor.get(b)?.depth).to.equal(1);
  });
});
