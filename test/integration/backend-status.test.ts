// The status figures' dead-letter tally against a real Redis: however many status requests
// arrive (each open status page asks every second, from every role's admin port), one tally of
// the dead letters serves them for a short while instead of each reading every record again.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { compileConfig } from "../../shared/config/config";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendStatusReader } from "../../shared/operator/backend-status";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { topologyNames } from "../../shared/protocol/names";
import { REDIS_URL } from "../support/harness";

describe("status figures: the dead-letter tally (real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const redis = new Redis(REDIS_URL);
  const config = compileConfig(
    {
      prefix,
      services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
      backends: { b: { url: "http://127.0.0.1:9" } },
    },
    ".",
  );
  const deadLetters = new DeadLetters(redis, prefix, 3_600_000);
  let lists = 0;
  const counted = Object.assign(Object.create(deadLetters) as DeadLetters, {
    list: (...args: Parameters<DeadLetters["list"]>) => {
      lists += 1;
      return deadLetters.list(...args);
    },
  });
  const reader = new BackendStatusReader({
    config,
    redis,
    monitor: { get: () => undefined } as unknown as QueueMonitor,
    names: topologyNames(prefix),
    pauses: new BackendPauses(redis, prefix),
    deadLetters: counted,
    failures: new RecentFailures(redis, prefix),
  });

  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function record(reason: string): Promise<void> {
    const id = randomUUID();
    await deadLetters.record(
      {
        id,
        reason,
        backend: "b",
        service: "svc",
        client: "EE/GOV/1/app",
        xroadId: null,
        at: Date.now(),
        error: "x",
        attempts: 1,
      },
      Buffer.from("{}"),
    );
  }

  it("reads the dead letters once for the requests of the same moment, and again later", async () => {
    await record("retries_exhausted");
    const now = 1_000_000_000_000;
    const figures = await Promise.all([reader.read(now), reader.read(now), reader.read(now + 1)]);
    expect(lists).to.equal(1);
    for (const f of figures) expect(f.deadLetters).to.deep.equal({ retries_exhausted: 1 });

    await record("translator_error");
    const later = await reader.read(now + 60_000);
    expect(lists).to.equal(2);
    expect(later.deadLetters).to.deep.equal({ retries_exhausted: 1, translator_error: 1 });
    expect(later.backends[0].deadLetters).to.deep.equal(later.deadLetters);
  });
});
