// Outages of Redis and RabbitMQ as a caller and an operator see them, on private instances this
// test stops and restarts (never the shared ones): 503 Unavailable with Retry-After and /readyz
// 503 while one is down, intake again once it is back without restarting Sluice, and nothing
// accepted before the outage lost. A broker memory alarm blocks publishers: 503 Busy.

import { randomUUID } from "node:crypto";
import * as amqplib from "amqplib";
import { expect } from "chai";
import Redis from "ioredis";
import { closedPort } from "../support/closed-port";
import { topologyNames } from "../../shared/protocol/names";
import { STORE_OUTAGE_SHUT_MS } from "../../worker/backend-gates";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  type HttpAnswer,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import {
  PrivateRabbit,
  PrivateRedis,
  readyz,
  retryAfterSeconds,
  untilReadiness,
} from "./ops-support";

function expect503(answer: HttpAnswer, type: "Busy" | "Unavailable"): void {
  expect(answer.status, answer.text).to.equal(503);
  expect(answer.json?.type, answer.text).to.equal(type);
  expect(retryAfterSeconds(answer)).to.be.within(1, 300);
}

async function completed(url: string, ids: string[], timeoutMs: number): Promise<void> {
  await eventually(
    async () => {
      const docs = await Promise.all(ids.map((id) => call(`${url}/messages/${id}`)));
      return docs.every((d) => d.json?.state === "completed") ? true : undefined;
    },
    timeoutMs,
    "every accepted message completed",
  );
}

/** `sluice_dependency_up{dependency}` on `proc`'s /metrics. */
async function dependencyUp(proc: SluiceProcess, dependency: string): Promise<number> {
  const text = (await call(`${proc.adminUrl}/metrics`, { client: null })).text;
  const line = new RegExp(`^sluice_dependency_up\\{dependency="${dependency}"\\} (\\d+)$`, "m");
  const value = line.exec(text)?.[1];
  expect(value, `sluice_dependency_up{dependency="${dependency}"} on /metrics`).to.be.a("string");
  return Number(value);
}

/** `sluice_queue_gate_open{queue}` on `proc`'s /metrics. */
async function gateOpen(proc: SluiceProcess, queue: string): Promise<number> {
  const text = (await call(`${proc.adminUrl}/metrics`, { client: null })).text;
  const line = new RegExp(
    `^sluice_queue_gate_open\\{queue="${queue.replace(/\./g, "\\.")}"\\} (\\d+)$`,
    "m",
  );
  const value = line.exec(text)?.[1];
  expect(value, `sluice_queue_gate_open{queue="${queue}"} on /metrics`).to.be.a("string");
  return Number(value);
}

const services = {
  order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
  ask: { protocols: ["rest"], reply: { mode: "sync", wait: "5s" }, backend: "sim" },
};

describe("Redis outage (private redis-server stopped and restarted)", function () {
  // Up to 80 s of waits, a private redis-server's restart among them: room for a loaded machine.
  this.timeout(180_000);
  const harness = new Harness();
  let redis: PrivateRedis;
  let sluice: SluiceProcess;

  before(async () => {
    redis = await PrivateRedis.start();
    await harness.startSim();
    harness.writeConfig({
      services,
      backends: { sim: { translator: "rest-json", retry: { attempts: 5, backoff: ["1s"] } } },
    });
    sluice = await harness.spawn("all", { REDIS_URL: redis.url });
  });

  after(async () => {
    await harness.cleanup();
    await redis?.stop();
  });

  it("answers 503 Unavailable (never 202) while Redis is down, and accepts again once it is back", async () => {
    await untilReadiness(sluice.adminUrl, 200);
    const xroadId = randomUUID();
    const before = await call(`${sluice.url}/rest/order`, {
      body: '{"n":0}',
      headers: { "X-Road-Id": xroadId },
    });
    expect(before.status).to.equal(202);
    await completed(sluice.url, [before.json.id], 10_000);

    expect(await dependencyUp(sluice, "redis")).to.equal(1);
    await redis.stop();
    const notReady = await untilReadiness(sluice.adminUrl, 503);
    expect(notReady.reasons.some((r) => r.startsWith("redis"))).to.equal(true);
    expect(await dependencyUp(sluice, "redis")).to.equal(0);
    expect(await dependencyUp(sluice, "rabbitmq")).to.equal(1);
    const callsBefore = harness.sim.stats().total;
    for (let i = 1; i <= 5; i++) {
      expect503(await call(`${sluice.url}/rest/order`, { body: `{"n":${i}}` }), "Unavailable");
    }
    expect503(await call(`${sluice.url}/rest/ask`, { body: "{}" }), "Unavailable");
    expect503(await call(`${sluice.url}/messages/${before.json.id}`), "Unavailable");
    // Its resubmission cannot be told apart from a new message without the records: refused.
    expect503(
      await call(`${sluice.url}/rest/order`, {
        body: '{"n":0}',
        headers: { "X-Road-Id": xroadId },
      }),
      "Unavailable",
    );
    // Nothing refused went on to the backend.
    expect(harness.sim.stats().total).to.equal(callsBefore);

    await redis.resume();
    const again = await eventually(
      async () => {
        const answer = await call(`${sluice.url}/rest/order`, { body: '{"n":"after"}' });
        return answer.status === 202 ? answer : undefined;
      },
      15_000,
      "a 202 after Redis is back",
    );
    expect((await readyz(sluice.adminUrl)).status).to.equal(200);
    const sync = await call(`${sluice.url}/rest/ask`, { body: "{}" });
    expect(sync.status).to.equal(200);
    await completed(sluice.url, [again.json.id], 15_000);
  });
});

describe("a long Redis outage with messages queued (private redis-server)", function () {
  // Its waits (the gate's shut after STORE_OUTAGE_SHUT_MS, hand-backs, a private redis-server's
  // restart, every message completed) add up to over 4 minutes on a loaded machine.
  this.timeout(STORE_OUTAGE_SHUT_MS + 300_000);
  const harness = new Harness();
  let redis: PrivateRedis;
  let sluice: SluiceProcess;
  let connection: amqplib.ChannelModel | undefined;

  before(async () => {
    redis = await PrivateRedis.start();
    // A slow backend, one call at a time: the messages after the first wait in the queue.
    await harness.startSim({ latencyMs: 1_000, recordDetails: true });
    harness.writeConfig({
      services,
      backends: { sim: { translator: "rest-json", maxInFlight: 1 } },
    });
    sluice = await harness.spawn("all", { REDIS_URL: redis.url });
  });

  after(async () => {
    await connection?.close().catch(() => undefined);
    await harness.cleanup();
    await redis?.stop();
  });

  it("stops consuming the request queues while Redis is away, so hand-backs cannot use up the delivery limit; every message completes once it is back", async () => {
    await untilReadiness(sluice.adminUrl, 200);
    const ids: string[] = [];
    for (let n = 0; n < 4; n++) {
      const answer = await call(`${sluice.url}/rest/order`, { body: `{"n":${n}}` });
      expect(answer.status, answer.text).to.equal(202);
      ids.push(answer.json.id as string);
    }
    connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createChannel();
    const queue = topologyNames(harness.prefix).requestsQueue("sim");
    const ready = async () => (await channel.checkQueue(queue)).messageCount;
    // The first in its call (the backend takes a second), the others held by the worker.
    await eventually(async () => (harness.sim.calls().length > 0 ? true : undefined), 10_000);
    expect(await gateOpen(sluice, queue)).to.equal(1);

    await redis.stop();
    // Past STORE_OUTAGE_SHUT_MS the worker's gate shuts: it cancels its consumer and hands the
    // three it held back once; nothing takes them again (each taking would count against the
    // delivery limit). The one in its call keeps its answer until it can record it.
    await eventually(
      async () => ((await gateOpen(sluice, queue)) === 0 ? true : undefined),
      STORE_OUTAGE_SHUT_MS + 30_000,
      "the request queue's gate shut while Redis is away",
    );
    await eventually(
      async () => ((await ready()) === 3 ? true : undefined),
      90_000,
      "the three waiting messages back in the queue",
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    expect(await ready(), "taken again while Redis is away").to.equal(3);

    await redis.resume();
    await eventually(
      async () => ((await gateOpen(sluice, queue)) === 1 ? true : undefined),
      30_000,
      "the request queue's gate open again once Redis is back",
    );
    await completed(sluice.url, ids, 60_000);
    // Each called once: none handed back after its call, none dead-lettered uncalled.
    const bodies = harness.sim
      .calls()
      .filter((c) => c.method === "POST")
      .map((c) => c.body?.toString("utf8"));
    for (let n = 0; n < 4; n++) {
      expect(
        bodies.filter((b) => b === `{"n":${n}}`),
        `calls of n=${n}`,
      ).to.have.length(1);
    }
  });
});

describe("Redis refusing writes while it answers (private redis-server)", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let redis: PrivateRedis;
  let redisCli: Redis;
  let adapter: SluiceProcess;

  before(async () => {
    redis = await PrivateRedis.start();
    redisCli = new Redis(redis.url, { lazyConnect: true, maxRetriesPerRequest: 1 });
    await redisCli.connect();
    await harness.startSim();
    harness.writeConfig({ services, backends: { sim: { translator: "rest-json" } } });
    adapter = await harness.spawn("adapter", { REDIS_URL: redis.url });
  });

  after(async () => {
    await harness.cleanup();
    redisCli?.disconnect();
    await redis?.remove();
  });

  it("is not ready, and refuses intake, while Redis refuses writes (OOM, READONLY); ready again after", async () => {
    await untilReadiness(adapter.adminUrl, 200);
    expect(await dependencyUp(adapter, "redis")).to.equal(1);
    const earlier = await call(`${adapter.url}/rest/order`, { body: '{"n":0}' });
    expect(earlier.status, earlier.text).to.equal(202);
    // maxmemory reached with noeviction: every write refused, PING still answered.
    await redisCli.config("SET", "maxmemory-policy", "noeviction");
    await redisCli.config("SET", "maxmemory", "1");
    const full = await untilReadiness(adapter.adminUrl, 503);
    expect(full.reasons).to.include("redis: refusing writes (OOM)");
    expect(await dependencyUp(adapter, "redis")).to.equal(0);
    expect503(await call(`${adapter.url}/rest/order`, { body: '{"n":1}' }), "Unavailable");
    // Reads still work: a caller's status, and the operator's view at 3 a.m.
    const status = await call(`${adapter.url}/messages/${earlier.json.id}`);
    expect(status.status, status.text).to.equal(200);
    const letters = await harness.admin(adapter, "/admin/dead-letters");
    expect(letters.status, letters.text).to.equal(200);
    await redisCli.config("SET", "maxmemory", "0");
    await untilReadiness(adapter.adminUrl, 200);
    expect(await dependencyUp(adapter, "redis")).to.equal(1);
    // A master turned replica (of a server that is not there) refuses writes too.
    await redisCli.call("REPLICAOF", "127.0.0.1", String(await closedPort()));
    // Redis drops its clients as it changes role: reconnected, the client is refused.
    await eventually(
      async () =>
        (await readyz(adapter.adminUrl)).reasons.includes("redis: refusing writes (READONLY)")
          ? true
          : undefined,
      10_000,
      "/readyz naming the refused writes",
    );
    expect(await dependencyUp(adapter, "redis")).to.equal(0);
    await redisCli.call("REPLICAOF", "NO", "ONE");
    await untilReadiness(adapter.adminUrl, 200);
    const accepted = await call(`${adapter.url}/rest/order`, { body: '{"n":2}' });
    expect(accepted.status, accepted.text).to.equal(202);
  });
});

describe("RabbitMQ outage and alarm (private RabbitMQ node stopped and restarted)", function () {
  // A private RabbitMQ node's restart alone may take up to 210 s on a loaded machine (its port,
  // then its readiness), and the test then starts a worker and waits for every message.
  this.timeout(START_TIMEOUT_MS + 300_000);
  const harness = new Harness();
  let rabbit: PrivateRabbit;
  let adapter: SluiceProcess;

  before(async () => {
    rabbit = await PrivateRabbit.start();
    await harness.startSim();
    harness.writeConfig({
      adapter: { port: 0, publishTimeout: "2s" },
      services,
      backends: { sim: { translator: "rest-json" } },
    });
    const env = { AMQP_URL: rabbit.url };
    // No worker yet: accepted messages wait in the (durable, quorum) request queue.
    await harness.spawn("response-worker", env);
    adapter = await harness.spawn("adapter", env);
  });

  after(async () => {
    await harness.cleanup();
    await rabbit?.remove();
  });

  it("a memory alarm (publishers blocked) answers 503 Busy until it clears", async () => {
    const accepted = await call(`${adapter.url}/rest/order`, { body: '{"n":"before alarm"}' });
    expect(accepted.status).to.equal(202);

    await rabbit.ctl("set_vm_memory_high_watermark", "0.0001");
    try {
      // The broker blocks a connection when it next publishes: the first refusal may be a
      // publish that got no confirm in time, the next ones come from the blocked notice.
      const busy = await eventually(
        async () => {
          const answer = await call(`${adapter.url}/rest/order`, { body: '{"n":"alarm"}' });
          return answer.json?.message === "message broker is refusing publishes"
            ? answer
            : undefined;
        },
        15_000,
        "Busy from the blocked broker",
      );
      expect503(busy, "Busy");
    } finally {
      await rabbit.ctl("set_vm_memory_high_watermark", "0.4");
    }
    await eventually(
      async () => {
        const answer = await call(`${adapter.url}/rest/order`, { body: '{"n":"after alarm"}' });
        return answer.status === 202 ? true : undefined;
      },
      15_000,
      "a 202 after the alarm cleared",
    );
  });

  it("answers 503 Unavailable while the broker is down; after its restart accepts again and queued messages complete", async () => {
    const ids: string[] = [];
    const xroadId = randomUUID();
    for (let i = 0; i < 5; i++) {
      const answer = await call(`${adapter.url}/rest/order`, {
        body: `{"n":${i}}`,
        headers: i === 0 ? { "X-Road-Id": xroadId } : {},
      });
      expect(answer.status).to.equal(202);
      ids.push(answer.json.id);
    }

    const status = async () => (await harness.admin(adapter, "/admin/status")).json;
    expect((await status()).broker).to.deep.equal({ connected: true });
    expect(await dependencyUp(adapter, "rabbitmq")).to.equal(1);
    await rabbit.stop();
    const notReady = await untilReadiness(adapter.adminUrl, 503);
    expect(notReady.reasons).to.include("rabbitmq: disconnected");
    // The status page says so: its queue figures are the broker's last ones, as of then.
    const down = await status();
    expect(down.broker).to.deep.equal({ connected: false });
    // For the SluiceDependencyDown alert, which fires without any caller refused.
    expect(await dependencyUp(adapter, "rabbitmq")).to.equal(0);
    expect(await dependencyUp(adapter, "redis")).to.equal(1);
    const [sim] = down.backends;
    expect(Date.parse(sim.queue.sampledAt)).to.be.below(Date.parse(down.generatedAt));
    for (let i = 0; i < 3; i++) {
      expect503(await call(`${adapter.url}/rest/order`, { body: '{"n":"down"}' }), "Unavailable");
    }
    expect503(await call(`${adapter.url}/rest/ask`, { body: "{}" }), "Unavailable");
    // A resubmission of a message accepted before the outage is its duplicate, not refused: a
    // 503 would say it was not accepted.
    const resubmitted = await call(`${adapter.url}/rest/order`, {
      body: '{"n":0}',
      headers: { "X-Road-Id": xroadId },
    });
    expect(resubmitted.status, resubmitted.text).to.equal(202);
    expect(resubmitted.json.id).to.equal(ids[0]);

    await rabbit.resume();
    const again = await eventually(
      async () => {
        const answer = await call(`${adapter.url}/rest/order`, { body: '{"n":"back"}' });
        return answer.status === 202 ? answer : undefined;
      },
      20_000,
      "a 202 after the broker is back",
    );
    ids.push(again.json.id);
    await untilReadiness(adapter.adminUrl, 200, 10_000);

    // The messages accepted before the outage survived it in the queue.
    await harness.spawn("worker", { AMQP_URL: rabbit.url });
    await completed(adapter.url, ids, 20_000);
  });
});

describe("request queue deleted under running processes (topology no longer declared)", function () {
  this.timeout(30_000);
  const harness = new Harness();
  let adapter: SluiceProcess;
  let worker: SluiceProcess;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({ services, backends: { sim: { translator: "rest-json" } } });
    worker = await harness.spawn("worker");
    adapter = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  it("/readyz names the missing queue and the adapter answers 503 instead of acknowledging into nowhere", async () => {
    for (const proc of [adapter, worker]) {
      expect((await readyz(proc.adminUrl)).status, proc.role).to.equal(200);
    }
    const queue = `${harness.prefix}requests.sim`;
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      await channel.deleteQueue(queue);
    } finally {
      await connection.close();
    }
    // The monitor's passive declare ("missing queue") or a consumer's failed setup after the
    // broker cancelled it ("declaring the topology failed on ... no queue '<name>'"), whichever
    // the process saw first: either names the queue.
    const namesQueue = (reason: string): boolean =>
      reason === `topology: missing queue ${queue}` ||
      (reason.startsWith("topology: declaring the topology failed on ") &&
        reason.includes(`'${queue}'`));
    for (const proc of [adapter, worker]) {
      const notReady = await untilReadiness(proc.adminUrl, 503);
      await eventually(
        async () => {
          const { status, reasons } = await readyz(proc.adminUrl);
          return status === 503 && reasons.some(namesQueue) ? true : undefined;
        },
        5_000,
        `${proc.role}'s /readyz naming ${queue} (first said ${JSON.stringify(notReady.reasons)})`,
      );
    }
    expect503(await call(`${adapter.url}/rest/order`, { body: "{}" }), "Unavailable");
  });
});
