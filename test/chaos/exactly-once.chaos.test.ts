// `npm run chaos`: the exactly-once checker over each fault an operator's bad day brings, with
// more messages than the short version in `npm test` (test/e2e/exactly-once.test.ts). Every
// broker, cluster node, Redis and Sentinel here is started by this suite on ports of its own;
// the machine's default RabbitMQ and Redis are never touched. It prints one line per scenario
// and a Markdown table for docs/reliability.md. CHAOS_MESSAGES sets the messages per run.
//
// Its own ports: RabbitMQ nodes on AMQP 5681-5683 (distribution 25681-25683, no management
// plugin), Redis on 6391-6394, Sentinels on 26391-26393. The SIGKILL-per-role runs use the
// machine's broker and Redis as an ordinary client (unique prefix), since they fault nothing
// but Sluice's own processes.

import { expect } from "chai";
import {
  checkExactlyOnce,
  describeVerdict,
  explainVerdict,
  type Verdict,
} from "../support/exactly-once";
import { eventually, Harness, type SluiceProcess } from "../support/harness";
import { PrivateRabbit, PrivateRedis, PrivateSentinels } from "../e2e/ops-support";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const MESSAGES = Number(process.env.CHAOS_MESSAGES || 300);
const services = { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } };
/** A fresh copy per run: writeConfig fills in the run's own simulator URL. */
const backends = () => ({ sim: { translator: "rest-json", timeout: "5s", maxInFlight: 8 } });
const results: string[] = [];
const AMQP_PORTS = [5681, 5682, 5683];
const DIST_PORTS = [25681, 25682, 25683];
const REDIS_PORTS = { aof: 6391, empty: 6392, master: 6393, replica: 6394 };
const SENTINEL_PORTS = [26391, 26392, 26393];
const rabbitNode = (i: number, config?: string) =>
  PrivateRabbit.start({ port: AMQP_PORTS[i], distPort: DIST_PORTS[i], config });
/** The URL list of the private nodes, in the order given (node indexes). */
const nodeUrls = (order: number[]) =>
  order.map((i) => `amqp://guest:guest@127.0.0.1:${AMQP_PORTS[i]}`).join(",");
type Role = "adapter" | "worker" | "response-worker";

/** Records the run's row and checks it; `window` lists ids the named windows may repeat. */
function judge(
  name: string,
  verdict: Verdict,
  window: Set<string>,
  redisLostData: boolean,
  startedAt: number,
  roles: Roles,
): void {
  const outside = verdict.twice.filter((id) => !window.has(id));
  // Calls the worker retried after a failure (a timeout under load): not a fault's doing,
  // reported so a repeat they caused is not mistaken for one.
  const retried = new Set(
    roles.all.flatMap((p) =>
      p.lines
        .filter((l) => String(l.msg).startsWith("backend unavailable"))
        .map((l) => String(l.id))
        .filter((id) => verdict.states.has(id)),
    ),
  ).size;
  const seconds = Math.round((Date.now() - startedAt) / 1000);
  console.log(`      ${describeVerdict(name, verdict)}, ${seconds} s`);
  results.push(
    `| ${name} | ${verdict.accepted} | ${verdict.refusals} | ${verdict.lost.length} | ` +
      `${outside.length} | ${verdict.twice.length - outside.length} | ` +
      `${verdict.outcomeLost.length} | ${retried} | ${seconds} s |`,
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
  // The backend answers every call: each message readable at the end completed.
  expect(verdict.outcomes, "outcomes").to.deep.equal({
    completed: verdict.accepted - verdict.outcomeLost.length,
  });
}

/** A harness with the three roles as separate processes on the given broker and Redis. */
class Roles {
  readonly harness = new Harness();
  adapter!: SluiceProcess;
  worker!: SluiceProcess;
  responseWorker!: SluiceProcess;
  /** Every process started, killed ones too: their log lines explain a finding. */
  readonly all: SluiceProcess[] = [];
  /** `perRole`: more environment for one role (its own broker list, say). */
  constructor(
    private readonly env: Record<string, string>,
    private readonly perRole: Partial<Record<Role, Record<string, string>>> = {},
  ) {}

  private async spawn(role: Role): Promise<SluiceProcess> {
    const proc = await this.harness.spawn(role, { ...this.env, ...this.perRole[role] });
    this.all.push(proc);
    return proc;
  }

  /** Prints the backend's calls and every log line of the first few messages sent twice. */
  explain(verdict: Verdict): void {
    explainVerdict(verdict, this.harness.sim, this.all);
  }

  /** `adapterLast`: the adapter starts once the workers are ready (they declare the queues). */
  async start(latencyMs = 300, adapterLast = false): Promise<void> {
    await this.harness.startSim({ latencyMs });
    this.harness.writeConfig({ services, backends: backends() });
    if (adapterLast) {
      [this.worker, this.responseWorker] = await Promise.all([
        this.spawn("worker"),
        this.spawn("response-worker"),
      ]);
      this.adapter = await this.spawn("adapter");
      return;
    }
    [this.adapter, this.worker, this.responseWorker] = await Promise.all([
      this.spawn("adapter"),
      this.spawn("worker"),
      this.spawn("response-worker"),
    ]);
  }

  /** SIGKILLs the role's process; `dead` runs once it has exited, before its replacement starts. */
  async kill(role: Role, dead = () => {}): Promise<void> {
    const key = role === "response-worker" ? "responseWorker" : role;
    await this[key].stop("SIGKILL");
    dead();
    this[key] = await this.spawn(role);
  }

  /**
   * Sends the run's messages with `fault` after a third of them, then records the run's row
   * under `name` and checks it: `window()`, read once the run is over, lists ids a named window
   * may repeat; `redisLostData` when the fault may lose outcomes Redis held.
   */
  async check(
    name: string,
    fault: () => Promise<void>,
    options: { window?: () => Set<string>; redisLostData?: boolean } = {},
  ): Promise<void> {
    const startedAt = Date.now();
    const verdict = await checkExactlyOnce({
      adapters: () => [this.adapter.url],
      service: "order",
      count: MESSAGES,
      faultAfter: Math.floor(MESSAGES / 3),
      sim: this.harness.sim,
      fault,
      settleMs: 300_000,
    });
    this.explain(verdict);
    const window = options.window?.() ?? new Set<string>();
    judge(name, verdict, window, options.redisLostData ?? false, startedAt, this);
  }
}

describe("chaos: exactly once under faults", function () {
  this.timeout(1_800_000);

  after(() => {
    console.log(
      [
        "",
        `Messages per scenario: ${MESSAGES}`,
        "",
        "| fault | accepted | refusals retried | lost | sent twice outside the windows | " +
          "sent twice in window 1 | outcome lost with Redis's data | calls retried | run |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
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
          // recorded. Only calls the backend had received by the kill can be in it: taken once
          // the killed process has exited, since it goes on calling until the signal lands.
          let calledBeforeKill = new Set<string>();
          await roles.check(
            `SIGKILL ${role}`,
            async () => {
              await roles.kill(role, () => {
                calledBeforeKill = new Set(roles.harness.sim.calls().map((c) => c.id ?? ""));
              });
            },
            { window: () => (role === "worker" ? calledBeforeKill : new Set()) },
          );
        } finally {
          await roles.harness.cleanup();
        }
      });
    }
  });

  it("single broker: kill -9, restart after a claim would have lapsed", async () => {
    const rabbit = await rabbitNode(0);
    const roles = new Roles({ AMQP_URL: rabbit.url });
    try {
      await roles.start(1_200);
      await roles.check("broker kill -9 with calls in flight, restarted after 12 s", async () => {
        await eventually(
          async () => (roles.harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await rabbit.kill();
        // Longer than a claim lasts without renewal (backend timeout 5 s + 5 s): a worker
        // that let it lapse would see its redelivered copy claimed and sent again.
        await sleep(12_000);
        await rabbit.resume();
      });
    } finally {
      await roles.harness.cleanup();
      await rabbit.remove();
    }
  });

  it("single broker: stop_app / start_app", async () => {
    const rabbit = await rabbitNode(0);
    const roles = new Roles({ AMQP_URL: rabbit.url });
    try {
      await roles.start();
      await roles.check("broker stop_app, start_app after 7 s", async () => {
        await rabbit.ctl("stop_app");
        await sleep(7_000);
        await rabbit.ctl("start_app");
      });
    } finally {
      await roles.harness.cleanup();
      await rabbit.remove();
    }
  });

  it("three-node cluster: each node stopped in turn (and started again)", async () => {
    const nodes: PrivateRabbit[] = [];
    const roles = new Roles({
      AMQP_URL: AMQP_PORTS.map((p) => `amqp://guest:guest@127.0.0.1:${p}`).join(","),
    });
    try {
      for (let i = 0; i < 3; i++) nodes.push(await rabbitNode(i));
      await nodes[1].join(nodes[0]);
      await nodes[2].join(nodes[0]);
      await roles.start();
      // Sluice's durable queues are quorum queues, replicated on the three nodes.
      const listed = await nodes[0].ctl("list_queues", "--quiet", "name", "type");
      const ours = listed
        .split("\n")
        .map((line) => line.trim().split(/\s+/))
        .filter(([name]) => name?.startsWith(roles.harness.prefix));
      const classic = ours.filter(([name, type]) => type !== "quorum" && !name.includes(".reply."));
      expect(ours.length, listed).to.be.greaterThan(5);
      expect(classic, "durable queues that are not quorum queues").to.deep.equal([]);
      for (const [i, node] of nodes.entries()) {
        roles.harness.sim.reset();
        await roles.check(`cluster: node ${i + 1} of 3 stopped, started again`, async () => {
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
            60_000,
            "a 202 with one node down",
          );
          await node.resume();
        });
      }
    } finally {
      await roles.harness.cleanup();
      for (const node of nodes) await node.remove();
    }
  });

  // A partition, not a stopped node: node 3 is cut off from the other two while its process
  // and AMQP listener stay up, with the worker and the response worker connected to it. The
  // nodes handle partitions with pause_minority (docs/reliability.md, "Production topology"):
  // node 3, alone, pauses and drops its clients, which go on through the next node of their
  // list; healed, it rejoins. net_ticktime is short so the cut is held well past its detection.
  for (const silent of [false, true]) {
    const how = silent ? ", its links gone silent" : "";
    it(`three-node cluster: a network partition cuts one node off${how} (pause_minority)`, async () => {
      const nodes: PrivateRabbit[] = [];
      const config = "cluster_partition_handling = pause_minority\nnet_ticktime = 10\n";
      const roles = new Roles(
        {},
        {
          adapter: { AMQP_URL: nodeUrls([0, 1, 2]) },
          worker: { AMQP_URL: nodeUrls([2, 0, 1]) },
          "response-worker": { AMQP_URL: nodeUrls([2, 1, 0]) },
        },
      );
      try {
        for (let i = 0; i < 3; i++) nodes.push(await rabbitNode(i, config));
        await nodes[1].join(nodes[0]);
        await nodes[2].join(nodes[0]);
        const [majority, , cutOff] = nodes;
        // The workers start first and declare the queues on node 3: quorum queues place their
        // leader on the declaring client's node, so the cut takes leaders with it.
        await roles.start(300, true);
        // The worker and the response worker are on the node that is cut off.
        const on = (proc: SluiceProcess) =>
          proc.lines.filter((l) => l.msg === "connected to RabbitMQ").map((l) => String(l.broker));
        for (const proc of [roles.worker, roles.responseWorker]) {
          expect(on(proc), proc.role).to.have.lengthOf(1);
          expect(on(proc)[0], proc.role).to.include(`127.0.0.1:${AMQP_PORTS[2]}`);
        }
        const clients = await cutOff.ctl("list_connections", "--quiet", "peer_port");
        expect(clients.trim().split("\n").filter(Boolean).length, clients).to.be.at.least(2);
        const leaders = (await majority.ctl("list_queues", "--quiet", "name", "leader"))
          .split("\n")
          .map((line) => line.trim().split(/\s+/))
          .filter(([name]) => name?.startsWith(roles.harness.prefix));
        const onCutOff = leaders.filter(([, leader]) => leader === cutOff.node).map(([q]) => q);
        console.log(`      queue leaders on node 3: ${onCutOff.length} of ${leaders.length}`);
        expect(onCutOff, "the request queue's leader on node 3").to.satisfy((queues: string[]) =>
          queues.some((q) => q.endsWith("requests.sim")),
        );
        const name = silent
          ? "cluster: node 3 of 3 frozen until net_ticktime ended its links, cut off, healed"
          : "cluster: node 3 of 3 cut off by a partition for 25 s, healed";
        await roles.check(name, async () => {
          await eventually(
            async () => (roles.harness.sim.stats().inFlight > 0 ? true : undefined),
            30_000,
            "calls in flight",
          );
          if (silent) {
            // Links that go quiet, as a network that drops packets makes them: the majority
            // declares node 3 down only once net_ticktime ran out, and the clients on it hear
            // nothing until their heartbeats run out. Thawed, node 3 finds its links gone and
            // cannot make them again.
            await cutOff.partition({ keepLinks: true });
            cutOff.freeze();
            await eventually(
              async () =>
                !(await majority.clusterStatus()).running.includes(cutOff.node) ? true : undefined,
              60_000,
              "the majority to find node 3 gone",
            );
            await sleep(5_000);
            cutOff.thaw();
          } else await cutOff.partition();
          // The majority runs without node 3; node 3, in the minority, pauses.
          await eventually(
            async () =>
              !(await cutOff.running()) &&
              !(await majority.clusterStatus()).running.includes(cutOff.node)
                ? true
                : undefined,
            60_000,
            "node 3 paused and out of the majority's running nodes",
          );
          // Held past net_ticktime (10 s), so no link survives on either side.
          await sleep(25_000);
          await cutOff.heal();
          await eventually(
            async () => ((await majority.clusterStatus()).running.length === 3 ? true : undefined),
            180_000,
            "node 3 to rejoin",
          );
        });
        // Both lost node 3 to the partition and went on through the next node of their list.
        for (const [proc, next] of [
          [roles.worker, AMQP_PORTS[0]],
          [roles.responseWorker, AMQP_PORTS[1]],
        ] as const)
          expect(on(proc)[1], proc.role).to.include(`127.0.0.1:${next}`);
        // pause_minority leaves no partition to resolve by hand.
        for (const node of nodes)
          expect((await node.clusterStatus()).partitions, node.node).to.deep.equal({});
      } finally {
        await roles.harness.cleanup();
        for (const node of nodes) await node.remove();
      }
    });
  }

  // appendfsync always: a crash keeps every acknowledged write. everysec (the production
  // recommendation) may lose the last second of writes: outcomes stored in it may be lost.
  for (const fsync of ["always", "everysec"] as const) {
    it(`Redis killed and restarted with its data (AOF, appendfsync ${fsync})`, async () => {
      const redis = await PrivateRedis.start({
        appendonly: true,
        appendfsync: fsync,
        port: REDIS_PORTS.aof,
      });
      const roles = new Roles({ REDIS_URL: redis.url });
      try {
        await roles.start();
        await roles.check(
          `Redis kill -9, restarted with its data (AOF, appendfsync ${fsync})`,
          async () => {
            await redis.stop();
            await sleep(2_000);
            await redis.resume();
          },
          { redisLostData: fsync === "everysec" },
        );
      } finally {
        await roles.harness.cleanup();
        await redis.remove();
      }
    });
  }

  it("Redis killed and restarted without its data", async () => {
    const redis = await PrivateRedis.start({ port: REDIS_PORTS.empty });
    const roles = new Roles({ REDIS_URL: redis.url });
    try {
      await roles.start();
      await roles.check(
        "Redis kill -9, restarted without its data",
        async () => {
          await redis.stop();
          await sleep(2_000);
          await redis.resume();
        },
        { redisLostData: true },
      );
    } finally {
      await roles.harness.cleanup();
      await redis.remove();
    }
  });

  it("Redis Sentinel failover (master killed)", async () => {
    const master = await PrivateRedis.start({ port: REDIS_PORTS.master });
    const replica = await PrivateRedis.start({ replicaOf: master, port: REDIS_PORTS.replica });
    await replica.untilInSync();
    const sentinels = await PrivateSentinels.start(master, "sluice", SENTINEL_PORTS);
    const roles = new Roles({ REDIS_URL: sentinels.url });
    try {
      await roles.start();
      await roles.check(
        "Sentinel failover (master kill -9)",
        async () => {
          await master.stop();
          await eventually(
            async () => ((await sentinels.masterPort()) === replica.port ? true : undefined),
            60_000,
            "the promotion",
          );
        },
        { redisLostData: true },
      );
    } finally {
      await roles.harness.cleanup();
      await sentinels.stop();
      await master.remove();
      await replica.remove();
    }
  });
});
