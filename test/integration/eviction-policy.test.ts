// A Redis that evicts keys when full would drop records of accepted messages unseen: each role
// says so at its start (shared/store/eviction-policy.ts), read from the Redis it connects to, and
// again when it changes under a running role (a failover, a CONFIG SET), on /metrics too.

import { expect } from "chai";
import Redis from "ioredis";
import pino from "pino";
import { Writable } from "node:stream";
import { loadConfig } from "../../shared/config/config";
import { startRuntime } from "../../shared/runtime/runtime";
import { metricsText } from "../../shared/observability/metrics";
import { eventually, Harness } from "../support/harness";
import { PrivateRedis } from "../e2e/ops-support";

describe("Redis eviction policy, told at a role's start and when it changes (real Redis)", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let redis: PrivateRedis;

  before(async () => {
    redis = await PrivateRedis.start();
  });
  after(async () => {
    await redis.remove();
    await harness.cleanup();
  });

  /** A runtime started on the private Redis, and the lines it logs. */
  async function started() {
    const lines: Array<Record<string, unknown>> = [];
    const sink = new Writable({
      write(chunk: Buffer, _encoding, done) {
        for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
          lines.push(JSON.parse(line) as Record<string, unknown>);
        }
        done();
      },
    });
    const config = loadConfig(
      harness.writeConfig({
        redisUrl: redis.url,
        services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      }),
    );
    const runtime = await startRuntime(config, pino({ level: "info" }, sink), 0);
    return { runtime, lines };
  }

  /** The warnings about Redis a runtime started on the private Redis logs. */
  async function warningsAtStart(): Promise<Array<Record<string, unknown>>> {
    const { runtime, lines } = await started();
    await runtime.close();
    return lines.filter((line) => line.level === 40 && /Redis/.test(String(line.msg)));
  }

  const evictingGauge = async () => /^sluice_redis_evicting (\d)$/m.exec(await metricsText())?.[1];

  async function configure(maxmemory: string, policy: string): Promise<void> {
    const client = new Redis(redis.url);
    await client.config("SET", "maxmemory", maxmemory);
    await client.config("SET", "maxmemory-policy", policy);
    client.disconnect();
  }

  it("warns when a memory limit and an evicting policy are set, naming the policy", async () => {
    await configure("100mb", "allkeys-lru");
    const warnings = await warningsAtStart();
    expect(warnings).to.have.length(1);
    expect(warnings[0]).to.include({
      maxmemory: 100 * 1024 * 1024,
      maxmemoryPolicy: "allkeys-lru",
    });
    expect(warnings[0].msg).to.match(
      /maxmemory-policy allkeys-lru.*set maxmemory-policy noeviction/,
    );

    // Every record Sluice keeps has an expiry: volatile-* policies evict them too.
    await configure("100mb", "volatile-ttl");
    expect((await warningsAtStart())[0]).to.include({ maxmemoryPolicy: "volatile-ttl" });
  });

  it("tells of a policy turned to evicting under a running role, read again at its reconnection", async () => {
    await configure("100mb", "noeviction");
    const { runtime, lines } = await started();
    try {
      expect(await evictingGauge()).to.equal("0");
      // What a failover to a replica configured otherwise looks like to the role: another
      // policy once it is connected again.
      await configure("100mb", "allkeys-lru");
      runtime.redis.disconnect(true);
      await eventually(async () => ((await evictingGauge()) === "1" ? true : undefined));
      const warned = lines.filter(
        (line) => line.level === 40 && /Redis evicts/.test(String(line.msg)),
      );
      expect(warned).to.have.length(1);
      expect(warned[0]).to.include({ maxmemoryPolicy: "allkeys-lru" });
      // Set back, it says so once.
      await configure("100mb", "noeviction");
      runtime.redis.disconnect(true);
      await eventually(async () => ((await evictingGauge()) === "0" ? true : undefined));
      expect(lines.filter((line) => /Redis evicts/.test(String(line.msg)))).to.have.length(1);
      expect(lines.filter((line) => /no longer evicts/.test(String(line.msg)))).to.have.length(1);
    } finally {
      await runtime.close();
    }
  });

  it("is silent for noeviction (a full Redis refuses writes) and without a memory limit", async () => {
    await configure("100mb", "noeviction");
    expect(await warningsAtStart()).to.deep.equal([]);
    await configure("0", "allkeys-lru");
    expect(await warningsAtStart()).to.deep.equal([]);
  });
});
