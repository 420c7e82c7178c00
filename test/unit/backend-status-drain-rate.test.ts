// GET /admin/status gives each backend's drain rate rounded: the queue monitor's smoothed figure
// only decays towards 0 while nothing drains, and scripts read 2.5e-24 as a drain going on.

import { expect } from "chai";
import type Redis from "ioredis";
import type { QueueMonitor, QueueSample } from "../../shared/broker/queue-monitor";
import { compileConfig } from "../../shared/config/config";
import type { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendStatusReader } from "../../shared/operator/backend-status";
import type { DeadLetters } from "../../shared/operator/dead-letters";
import type { RecentFailures } from "../../shared/operator/recent-failures";
import { topologyNames } from "../../shared/protocol/names";

/** A reader whose monitor's sample of backend b has `drainRate`, and Redis nothing else. */
function readerWith(drainRate: number | null): BackendStatusReader {
  const sample: QueueSample = { depth: 0, consumers: 1, at: 0, drainRate };
  return new BackendStatusReader({
    config: compileConfig(
      {
        prefix: "drain-rate-test.",
        services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      },
      ".",
    ),
    redis: { zcount: () => Promise.resolve(0) } as unknown as Redis,
    monitor: { get: () => sample } as unknown as QueueMonitor,
    names: topologyNames("drain-rate-test."),
    pauses: { state: () => Promise.resolve({ paused: false }) } as unknown as BackendPauses,
    deadLetters: { waitingCounts: () => Promise.resolve([]) } as unknown as DeadLetters,
    failures: { list: () => Promise.resolve([]) } as unknown as RecentFailures,
  });
}

async function drainRateRead(drainRate: number | null): Promise<number | null> {
  const { backends } = await readerWith(drainRate).read(0);
  return backends[0].queue.drainRate;
}

describe("admin status: the drain rate", () => {
  it("is 0 once the smoothed rate has decayed to a negligible figure", async () => {
    expect(await drainRateRead(2.5e-24)).to.equal(0);
    expect(await drainRateRead(0.004)).to.equal(0);
  });

  it("keeps two decimal places of a measured rate", async () => {
    expect(await drainRateRead(12.345678)).to.equal(12.35);
    expect(await drainRateRead(0.3333333)).to.equal(0.33);
    expect(await drainRateRead(7)).to.equal(7);
  });

  it("stays null until the monitor has measured one", async () => {
    expect(await drainRateRead(null)).to.equal(null);
  });
});
