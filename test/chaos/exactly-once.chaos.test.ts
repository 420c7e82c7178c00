// `npm run chaos`: the exactly-once checker over each fault an operator's bad day brings, with
// more messages than the short version in `npm test` (test/e2e/exactly-once.test.ts). Every
// broker, cluster node, Redis and Sentinel here is started by this suite on ports of its own;
// the machine's default RabbitMQ and Redis are never touched. It prints one line per scenario
// and a Markdown table for docs/reliability.md. CHAOS_MESSAGES sets the messages per run.

import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { expect } from "chai";
import { checkExactlyOnce, describeVerdict, type Verdict } from "../support/exactly-once";
import { eventually, Harness, type SluiceProcess } from "../support/harness";
import { PrivateRabbit, PrivateRedis, PrivateSentinels } from "../e2e/ops-support";

const run = promisify(execFile);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MESSAGES = Number(process.env.CHAOS_MESSAGES || 200);
const services = { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } };
const backends = { sim: { translator: "rest-json", timeout: "2s", maxInFlight: 8 } };
const results: string[] = [];

/** Records the run's row and checks it; `window` lists ids the named windows may repeat. */
function judge(
  name: string,
  verdict: Verdict,
  window: Set<string> = new Set(),
  redisLostData = false,
): void {
  const outside = verdict.twice.filter((id) => !window.has(id));
  console.log(`      ${describeVerdict(name, verdict)}`);
  results.push(
    `| ${name} | ${verdict.accepted} | ${verdict.lost.length} | ${outside.length} | ` +
      `${verdict.twice.length - outside.length} | ${verdict.outcomeLost.length} |`,
  );
  expect(verdict.lost, "lost").to.deep.equal([]);
  // An outcome may be unreadable only when Redis lost it, for a call that ended before.
  if (!redisLostData) expect(verdict.outcomeLost, "outcome unreadable").to.deep.equal([]);
  for (const gone of verdict.outcomeLost) {
    expect(gone.callEndedAt ?? Infinity, gone.id).to.be.at.most(verdict.faultAt);
  }
  expect(outside, "sent twice outside the named windows").to.deep.equal([]);
  expect(verdict.inconsistent, "more than one outcome").to.deep.equal([]);
  expect(verdict.neverCalled, "completed without a call").to.deep.equal([]);
}

/** A harness with the three roles as separate processes on the given broker and Redis. */
class Roles {
  readonly harness = new Harness();
  adapter!: SluiceProcess;
  worker!: SluiceProcess;
  responseWorker!: SluiceProcess;
  constructor(private readonly env: Record<string, string>) {}

  async start(latencyMs = 300): Promise<void> {
    await this.harness.startSim({ latencyMs });
    this.harness.writeConfig({ services, backends });
    [this.adapter, this.worker, this.responseWorker] = await Promise.all([
      this.harness.spawn("adapter", this.env),
      this.harness.spawn("worker", this.env),
      this.harness.spawn("response-worker", this.env),
    ]);
  }

  /** Kills a role with SIGKILL and starts a new one in its place. */
  async kill(role: "adapter" | "worker" | "response-worker"): Promise<void> {
    const key = role === "response-worker" ? "responseWorker" : role;
    await this[key].stop("SIGKILL");
    this[key] = await this.harness.spawn(role, this.env);
  }

  check(fault: () => Promise<void>, faultAfter = Math.floor(MESSAGES / 3)) {
    return checkExactlyOnce({
      adapters: () => [this.adapter.url],
      service: "order",
      count: MESSAGES,
      faultAfter,
      sim: this.harness.sim,
      fault,
      settleMs: 300_000,
    });
  }
}

describe("chaos: exactly once under faults", function () {
  this.timeout(1_800_000);

  after(() => {
    console.log(
      [
        "",
        "| fault | accepted | lost | sent twice outside the windows | repeated in a named window |",
        "| --- | --- | --- | --- | --- |",
        ...results,
      ].join("\n"),
    );
  });

  describe("each role killed with SIGKILL mid-run (default broker and Redis)", () => {
    for (const role of ["worker", "response-worker", "adapter"] as const) {
      it(`${role}`, async () => {
        const roles = new Roles({});
        try {
          await roles.start();
          // Window 1: a worker killed after the backend answered and before the answer was
          // recorded. Only calls the backend had received by the kill can be in it.
          let calledBeforeKill = new Set<string>();
          const verdict = await roles.check(async () => {
            calledBeforeKill = new Set(roles.harness.sim.calls().map((c) => c.id ?? ""));
            await roles.kill(role);
          });
          judge(`SIGKILL ${role}`, verdict, role === "worker" ? calledBeforeKill : new Set());
        } finally {
          await roles.harness.cleanup();
        }
      });
    }
  });

  it("single broker: kill -9, restart after a claim would have lapsed", async () => {
    const rabbit = await PrivateRabbit.start();
    const roles = new Roles({ AMQP_URL: rabbit.url });
    try {
      await roles.start(1_200);
      const verdict = await roles.check(async () => {
        await rabbit.kill();
        await sleep(9_000);
        await rabbit.resume();
      });
      judge("broker kill -9 + restart", verdict);
    } finally {
      await roles.harness.cleanup();
      await rabbit.remove();
    }
  });

  it("single broker: stop_app / start_app", async () => {
    const rabbit = await PrivateRabbit.start();
    const roles = new Roles({ AMQP_URL: rabbit.url });
    try {
      await roles.start();
      const verdict = await roles.check(async () => {
        await rabbit.ctl("stop_app");
        await sleep(7_000);
        await rabbit.ctl("start_app");
      });
      judge("broker stop_app + start_app", verdict);
    } finally {
      await roles.harness.cleanup();
      await rabbit.remove();
    }
  });

  it("three-node cluster: each node stopped in turn (and started again)", async () => {
    const nodes: PrivateRabbit[] = [];
    for (let i = 0; i < 3; i++) nodes.push(await PrivateRabbit.start());
    await nodes[1].join(nodes[0]);
    await nodes[2].join(nodes[0]);
    const roles = new Roles({ AMQP_URL: nodes.map((n) => n.url).join(",") });
    try {
      await roles.start();
      for (const [i, node] of nodes.entries()) {
        roles.harness.sim.reset();
        const verdict = await roles.check(async () => {
          await node.stop();
          // Intake goes on through the other two nodes while this one is down.
          await eventually(
            async () => {
              const answer = await fetch(`${roles.adapter.url}/rest/order`, {
                method: "POST",
                headers: { "Content-Type": "application/json", "X-Road-Client": "EE/GOV/1/probe" },
                body: "{}",
              });
              await answer.arrayBuffer();
              return answer.status === 202 ? true : undefined;
            },
            30_000,
            "a 202 with one node down",
          );
          await node.resume();
        });
        judge(`cluster: node ${i + 1} of 3 stopped`, verdict);
      }
    } finally {
      await roles.harness.cleanup();
      for (const node of nodes) await node.remove();
    }
  });

  for (const keepsData of [true, false]) {
    it(`Redis restarted ${keepsData ? "with its data (AOF)" : "without its data"}`, async () => {
      const redis = await PrivateRedis.start({ appendonly: keepsData });
      const roles = new Roles({ REDIS_URL: redis.url });
      try {
        await roles.start();
        const verdict = await roles.check(async () => {
          await redis.stop();
          await sleep(2_000);
          await redis.resume();
        });
        judge(
          `Redis restart ${keepsData ? "with" : "without"} data`,
          verdict,
          new Set(),
          !keepsData,
        );
      } finally {
        await roles.harness.cleanup();
        await redis.remove();
      }
    });
  }

  it("Redis Sentinel failover (master killed)", async () => {
    const master = await PrivateRedis.start();
    const replica = await PrivateRedis.start({ replicaOf: master });
    await eventually(async () => {
      const { stdout } = await run("redis-cli", [
        "-p",
        String(replica.port),
        "info",
        "replication",
      ]);
      return stdout.includes("master_link_status:up") ? true : undefined;
    });
    const sentinels = await PrivateSentinels.start(master);
    const roles = new Roles({ REDIS_URL: sentinels.url });
    try {
      await roles.start();
      const verdict = await roles.check(async () => {
        await master.stop();
        await eventually(
          async () => ((await sentinels.masterPort()) === replica.port ? true : undefined),
          60_000,
          "the promotion",
        );
      });
      judge("Sentinel failover", verdict, new Set(), true);
    } finally {
      await roles.harness.cleanup();
      await sentinels.stop();
      await master.remove();
      await replica.remove();
    }
  });
});
