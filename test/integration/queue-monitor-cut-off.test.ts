// A process cut off from the broker stops exporting the queue figures it can no longer read:
// its last depth stayed on /metrics as if current, so one instance that last saw a deep queue
// kept `max by (queue)` and SluiceQueueAboveHighWater up after the queue had drained.

import { expect } from "chai";
import pino from "pino";
import { QueueMonitor } from "../../shared/broker/queue-monitor";
import { metrics } from "../../shared/observability/metrics";
import { whenReady } from "../../shared/store/redis";
import { type BrokerSide, connectBrokerThrough, testScope } from "../support/broker-scope";
import { AMQP_URL, eventually } from "../support/harness";
import { proxyTo } from "../support/tcp-proxy";

describe("queue figures of a process cut off from the broker (real broker)", function () {
  this.timeout(60_000);
  const scope = testScope("queue-monitor-cut-off-test");
  const proxy = proxyTo(AMQP_URL);
  let amqp: BrokerSide;
  let monitor: QueueMonitor;

  before(async () => {
    await whenReady(scope.redis);
    amqp = await connectBrokerThrough(proxy, scope);
    monitor = new QueueMonitor(
      amqp.broker,
      scope.config,
      scope.names,
      pino({ level: "silent" }),
      50,
    );
    monitor.start();
    await monitor.refresh();
  });
  after(async () => {
    monitor?.stop();
    // Out of the process's registry: later files in this process see none of this scope.
    for (const queue of [scope.names.requestsQueue("b"), scope.names.deadLetterWatchQueue]) {
      metrics.queueDepth.remove({ queue });
      metrics.queueConsumers.remove({ queue });
    }
    proxy.refuse(false);
    await amqp?.close().catch(() => undefined);
    await proxy.close();
    await scope.close();
  });

  /** The depth /metrics shows for the queue, or null when it shows none. */
  async function exported(queue: string): Promise<number | null> {
    const { values } = await metrics.queueDepth.get();
    return values.find((v) => v.labels.queue === queue)?.value ?? null;
  }

  it("drops the queue's depth and consumers while it cannot read them, and shows them again once it can", async () => {
    const queue = scope.names.requestsQueue("b");
    await amqp.channel.sendToQueue(queue, Buffer.from("{}"));
    expect(
      await eventually(async () => ((await exported(queue)) === 1 ? true : undefined)),
    ).to.equal(true);

    proxy.refuse(true);
    proxy.cut();
    await eventually(
      async () => ((await exported(queue)) === null ? true : undefined),
      20_000,
      "the depth gone from /metrics",
    );
    const { values } = await metrics.queueConsumers.get();
    expect(values.filter((v) => v.labels.queue === queue)).to.deep.equal([]);

    proxy.refuse(false);
    expect(
      await eventually(
        async () => ((await exported(queue)) === 1 ? true : undefined),
        30_000,
        "the depth back once the broker is reached",
      ),
    ).to.equal(true);
  });

  it("keeps a queue it reads while a missing one closes its channel every other round: no gaps", async () => {
    const queue = scope.names.requestsQueue("b");
    await eventually(async () => ((await exported(queue)) !== null ? true : undefined));
    // The publisher declares the scope's queues again on the reconnect the first test made: on a
    // loaded machine that can come after the monitor's first read, and would declare the queue
    // deleted below again, so the monitor never saw it missing.
    await amqp.publisher.waitForConnect();
    // Request queues are read first; the missing queue's 404 then closes the channel, and the
    // next round only opens it again: a round without a read, which must not drop the series.
    await amqp.channel.deleteQueue(scope.names.deadLetterWatchQueue);
    await eventually(async () =>
      monitor.isMissing(scope.names.deadLetterWatchQueue) ? true : undefined,
    );
    let gaps = 0;
    for (let look = 0; look < 100; look++) {
      if ((await exported(queue)) === null) gaps++;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    expect(gaps).to.equal(0);
  });
});
