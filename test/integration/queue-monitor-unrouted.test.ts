// A publish the broker returns (no queue took it) marks its request queue missing at once, so
// the adapter refuses the next requests before their body (queue_missing) instead of recording,
// publishing and discarding each until the queue monitor's next sample finds the queue gone.

import { expect } from "chai";
import pino from "pino";
import { Backpressure } from "../../adapter/backpressure";
import { QueueMonitor } from "../../shared/broker/queue-monitor";
import type { ConfirmChannel } from "amqplib";
import { declareBackendTopology } from "../../shared/broker/topology";
import { UnroutedPublishError } from "../../shared/broker/unrouted-publish";
import { metrics } from "../../shared/observability/metrics";
import { whenReady } from "../../shared/store/redis";
import { type BrokerSide, connectBroker, testScope } from "../support/broker-scope";
import { rejectionOf } from "../support/rejection";

describe("a returned publish marks its request queue missing before the next sample (real broker)", function () {
  this.timeout(60_000);
  const scope = testScope("queue-monitor-unrouted-test");
  let amqp: BrokerSide;
  let monitor: QueueMonitor;

  before(async () => {
    await whenReady(scope.redis);
    amqp = await connectBroker(scope);
    // Sampled only when the test says (refresh): no sample comes between the return and the look.
    monitor = new QueueMonitor(
      amqp.broker,
      scope.config,
      scope.names,
      pino({ level: "silent" }),
      3_600_000,
    );
    monitor.start();
    await monitor.refresh();
  });
  after(async () => {
    monitor?.stop();
    // Out of the process's registry: later files in this process see none of this scope.
    metrics.queueDepth.remove({ queue: scope.names.requestsQueue("b") });
    metrics.queueConsumers.remove({ queue: scope.names.requestsQueue("b") });
    await amqp?.close().catch(() => undefined);
    await scope.close();
  });

  it("refuses queue_missing from the return on, until a sample finds the queue declared again", async () => {
    const queue = scope.names.requestsQueue("b");
    const backend = scope.config.backends.b;
    const backpressure = new Backpressure(amqp.broker, monitor, scope.names);
    expect(backpressure.refusal(backend, "EE/GOV/1/a")).to.equal(null);

    await amqp.channel.deleteQueue(queue);
    const returned = await rejectionOf(
      amqp.broker.publish(amqp.publisher, scope.names.requestsExchange, "b", Buffer.from("{}"), {
        messageId: "m-unrouted",
        mandatory: true,
      }),
    );
    expect(returned).to.be.instanceOf(UnroutedPublishError);
    // Not sampled since the queue went: only the return tells.
    expect(monitor.isMissing(queue)).to.equal(false);
    backpressure.publishRefused(returned, "b");
    expect(monitor.isMissing(queue)).to.equal(true);
    expect(backpressure.refusal(backend, "EE/GOV/1/a")).to.include({ reason: "queue_missing" });

    // Declared again (the operator's fix): the next sample clears the mark.
    await declareBackendTopology(amqp.channel as unknown as ConfirmChannel, scope.names, backend);
    await monitor.refresh();
    expect(monitor.isMissing(queue)).to.equal(false);
    expect(backpressure.refusal(backend, "EE/GOV/1/a")).to.equal(null);
  });
});
