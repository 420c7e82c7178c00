// Nothing lost, nothing sent twice, under broker and Redis faults: the exactly-once checker
// (test/support/exactly-once.ts) against adapter, worker and response worker as separate
// processes, with one fault injected mid-run on a broker or Redis this test starts itself on
// ports of its own (never the machine's shared ones). The longer runs, a RabbitMQ cluster
// losing each node in turn and SIGKILL of each role, are `npm run chaos` (docs/reliability.md).

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import {
  checkExactlyOnce,
  describeVerdict,
  explainVerdict,
  retriedByWorker,
  type Verdict,
} from "../support/exactly-once";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { freePort, PrivateRabbit, PrivateRedis, PrivateSentinels } from "./ops-support";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The backend timeout: far above the simulator's latency, so a machine starved of CPU does not
 * time calls out and retry them (a retry is the backend's second call by design, which these
 * runs would then have to tell from one the fault caused).
 */
const TIMEOUT_MS = 5_000;
const services = { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } };

/**
 * What every scenario must show: all accepted settled, once each, one outcome each. A message
 * the worker itself retried after a backend failure (a call timed out on a loaded machine, see
 * docs/reliability.md) may have reached the backend once per retry; any other repeat fails.
 */
function expectExactlyOnce(
  name: string,
  verdict: Verdict,
  harness: Harness,
  roles: SluiceProcess[],
  redisLostData = false,
): void {
  const retried = retriedByWorker(verdict, roles);
  console.log(`      ${describeVerdict(name, verdict)}, retried by the worker ${retried.size}`);
  explainVerdict(verdict, harness.sim, roles);
  expect(verdict.lost, "accepted but never settled").to.deep.equal([]);
  // Only with Redis's data gone may an outcome be unreadable, and only one stored before.
  for (const gone of verdict.outcomeLost) {
    expect(redisLostData, `outcome of ${gone.id} unreadable`).to.equal(true);
    expect(gone.callEndedAt, `call of ${gone.id}`).to.be.a("number");
    expect(gone.callEndedAt!, `call of ${gone.id} ended before the loss`).to.be.at.most(
      verdict.faultAt,
    );
  }
  expect(
    verdict.twice.filter((id) => !retried.has(id)),
    "sent to the backend twice, not by a retry",
  ).to.deep.equal([]);
  expect(verdict.neverCalled, "completed without a backend call").to.deep.equal([]);
  expect(verdict.inconsistent, "more than one outcome").to.deep.equal([]);
  expect(verdict.outcomes).to.deep.equal({
    completed: verdict.accepted - verdict.outcomeLost.length,
  });
}

/** Starts the three roles as separate processes against the given broker and Redis. */
async function startRoles(harness: Harness, env: Record<string, string>) {
  return Promise.all([
    harness.spawn("adapter", env),
    harness.spawn("worker", env),
    harness.spawn("response-worker", env),
  ]);
}

describe("exactly once: broker killed (SIGKILL) with answers pending, restarted after a claim would have lapsed", function () {
  this.timeout(400_000);
  const harness = new Harness();
  let rabbit: PrivateRabbit;
  let adapter: SluiceProcess;
  let roles: SluiceProcess[] = [];

  before(async () => {
    rabbit = await PrivateRabbit.start();
    // Calls take longer than the gap before the kill: answers arrive while the broker is gone.
    await harness.startSim({ latencyMs: 1_200 });
    harness.writeConfig({
      services,
      backends: { sim: { translator: "rest-json", timeout: `${TIMEOUT_MS}ms`, maxInFlight: 4 } },
    });
    roles = await startRoles(harness, { AMQP_URL: rabbit.url });
    adapter = roles[0];
  });
  after(async () => {
    await harness.cleanup();
    await rabbit?.remove();
  });

  it("every accepted message reaches the backend once and completes once", async () => {
    const verdict = await checkExactlyOnce({
      adapters: () => [adapter.url],
      service: "order",
      count: 24,
      faultAfter: 8,
      sim: harness.sim,
      fault: async () => {
        await eventually(
          async () => (harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await rabbit.kill();
        // Longer than a claim would last without renewal (backend timeout + 5 s): a worker
        // that let it lapse would see its redelivered copy claimed and sent again.
        await sleep(TIMEOUT_MS + 5_000 + 2_000);
        await rabbit.resume();
      },
    });
    expectExactlyOnce("broker kill -9", verdict, harness, roles);
  });
});

describe("exactly once: Redis restarted without its data mid-run", function () {
  this.timeout(300_000);
  const harness = new Harness();
  let redis: PrivateRedis;
  let adapter: SluiceProcess;
  let roles: SluiceProcess[] = [];

  before(async () => {
    redis = await PrivateRedis.start();
    await harness.startSim({ latencyMs: 200 });
    harness.writeConfig({
      services,
      backends: { sim: { translator: "rest-json", timeout: `${TIMEOUT_MS}ms`, maxInFlight: 3 } },
    });
    roles = await startRoles(harness, { REDIS_URL: redis.url });
    adapter = roles[0];
  });
  after(async () => {
    await harness.cleanup();
    await redis?.remove();
  });

  it("queued requests whose records vanished are rebuilt and processed, once", async () => {
    const verdict = await checkExactlyOnce({
      adapters: () => [adapter.url],
      service: "order",
      count: 40,
      faultAfter: 20,
      sim: harness.sim,
      fault: async () => {
        await redis.stop();
        await sleep(1_000);
        await redis.resume(); // empty: no persistence
      },
    });
    expectExactlyOnce("Redis restart without data", verdict, harness, roles, true);
  });
});

describe("exactly once: Redis Sentinel failover mid-run", function () {
  this.timeout(300_000);
  const harness = new Harness();
  let master: PrivateRedis;
  let replica: PrivateRedis;
  let sentinels: PrivateSentinels;
  let adapter: SluiceProcess;
  let roles: SluiceProcess[] = [];

  before(async () => {
    master = await PrivateRedis.start();
    replica = await PrivateRedis.start({ replicaOf: master });
    await replica.untilInSync();
    sentinels = await PrivateSentinels.start(master);
    await harness.startSim({ latencyMs: 200 });
    harness.writeConfig({
      services,
      backends: { sim: { translator: "rest-json", timeout: `${TIMEOUT_MS}ms`, maxInFlight: 3 } },
    });
    roles = await startRoles(harness, { REDIS_URL: sentinels.url });
    adapter = roles[0];
  });
  after(async () => {
    await harness.cleanup();
    await sentinels?.stop();
    await master?.remove();
    await replica?.remove();
  });

  it("follows the promoted replica; nothing lost, nothing sent twice", async () => {
    const verdict = await checkExactlyOnce({
      adapters: () => [adapter.url],
      service: "order",
      count: 40,
      faultAfter: 15,
      sim: harness.sim,
      fault: async () => {
        await master.stop();
        await eventually(
          async () => ((await sentinels.masterPort()) === replica.port ? true : undefined),
          60_000,
          "the sentinels to promote the replica",
        );
      },
    });
    expectExactlyOnce("Sentinel failover", verdict, harness, roles, true);
    // The roles wrote to the promoted replica: it is the master now.
    const { stdout } = await run("redis-cli", ["-p", String(replica.port), "info", "replication"]);
    expect(stdout).to.include("role:master");
  });
});

describe("several broker URLs: the first one unreachable", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({ services, backends: { sim: { translator: "rest-json" } } });
    const dead = `amqp://guest:guest@127.0.0.1:${await freePort()}`;
    sluice = await harness.spawn("all", { AMQP_URL: `${dead},${AMQP_URL}` });
  });
  after(() => harness.cleanup());

  it("starts on the next node in the list and processes messages", async () => {
    const answer = await call(`${sluice.url}/rest/order`, { body: "{}" });
    expect(answer.status, answer.text).to.equal(202);
    await eventually(
      async () => {
        const doc = await call(`${sluice.url}/messages/${answer.json.id}`);
        return doc.json?.state === "completed" ? true : undefined;
      },
      15_000,
      "completed",
    );
    expect(sluice.lines.some((l) => l.msg === "connected to RabbitMQ")).to.equal(true);
  });
});
