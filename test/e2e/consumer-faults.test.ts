// The consumer direction under faults: a local caller → Sluice (an `xroad-rest` backend, ack
// mode) → xroad-sim (the local security server) → the remote provider (a legacy simulator that
// records every call it receives, by its Idempotency-Key). The exactly-once checker
// (test/support/exactly-once.ts) submits the messages 8 at a time and injects one fault per run:
// the worker killed with SIGKILL and replaced, the broker killed (SIGKILL) with calls in flight
// and restarted, Redis restarted without its data. Each message must reach the remote provider
// once (a repeat only in window 1 of docs/reliability.md, recorded), end in one outcome, and
// carry the same X-Road-Id and Idempotency-Key, its gateway id, on every call.
//
// Its own broker and Redis, on ports no other suite uses: RabbitMQ AMQP 5691 (distribution
// 25691), Redis 6395. The machine's shared ones are never touched.

import { expect } from "chai";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import {
  checkExactlyOnce,
  describeVerdict,
  explainVerdict,
  retriedByWorker,
  type Verdict,
} from "../support/exactly-once";
import { eventually, Harness, type SluiceProcess, START_TIMEOUT_MS } from "../support/harness";
import { CONSUMER, REST_PROVIDER } from "./consumer-support";
import { PrivateRabbit, PrivateRedis } from "./ops-support";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

const AMQP_PORT = 5691;
const DIST_PORT = 25691;
const REDIS_PORT = 6395;
/** Messages per run: 3 runs in `npm test`. */
const MESSAGES = 60;
/**
 * The remote service's timeout: far above the provider's latency, so a starved machine does
 * not time calls out and retry them (a retry's second call is by design, not a fault's doing).
 */
const TIMEOUT_MS = 5_000;
/** The remote service, as the security server knows it. */
const SERVICE = `${REST_PROVIDER}/register`;

describe("consumer direction under faults (worker SIGKILL, broker kill -9, Redis without its data)", function () {
  this.timeout(START_TIMEOUT_MS + 300_000);
  const harness = new Harness();
  let rabbit: PrivateRabbit;
  let redis: PrivateRedis;
  let xroad: XroadSim;
  let env: Record<string, string>;
  const roles: Record<"adapter" | "worker" | "response-worker", SluiceProcess | undefined> = {
    adapter: undefined,
    worker: undefined,
    "response-worker": undefined,
  };
  /** Every role process started, killed ones too: their log lines explain a finding. */
  const all: SluiceProcess[] = [];
  const spawn = async (role: keyof typeof roles): Promise<SluiceProcess> => {
    const proc = await harness.spawn(role, env);
    roles[role] = proc;
    all.push(proc);
    return proc;
  };

  before(async () => {
    [rabbit, redis] = await Promise.all([
      PrivateRabbit.start({ port: AMQP_PORT, distPort: DIST_PORT }),
      PrivateRedis.start({ port: REDIS_PORT }),
    ]);
    env = { AMQP_URL: rabbit.url, REDIS_URL: redis.url };
    // The remote provider: it keeps each call's headers, to compare the ids of any repeat.
    await harness.startSim({ latencyMs: 600, recordDetails: true });
    xroad = await startXroadSim({
      services: { [SERVICE]: { url: `${harness.sim.url}/register` } },
    });
    harness.writeConfig({
      securityServer: { url: xroad.url, client: CONSUMER },
      services: { register: { protocols: ["rest"], reply: { mode: "ack" }, backend: "remote" } },
      backends: {
        remote: {
          translator: "xroad-rest",
          service: SERVICE,
          url: xroad.url,
          timeout: `${TIMEOUT_MS}ms`,
          maxInFlight: 6,
          // A killed worker's in-flight slots free after this (30 s by default), not the run's
          // length: the replacement calls again once the claims lapsed (timeout + 5 s).
          leaseTime: "5s",
          retry: { attempts: 3, backoff: ["500ms"] },
        },
      },
    });
    await Promise.all([spawn("adapter"), spawn("worker"), spawn("response-worker")]);
  });
  after(async () => {
    await harness.cleanup();
    await xroad?.close();
    await rabbit?.remove();
    await redis?.remove();
  });

  /**
   * What every run must show. `window` lists the messages window 1 may have repeated (the
   * killed worker had sent them before it died); `redisLostData` when an outcome stored
   * before the fault may be gone with Redis's data.
   */
  function judge(name: string, verdict: Verdict, window: Set<string>, redisLostData = false) {
    const retried = retriedByWorker(verdict, all);
    const inWindow = verdict.twice.filter((id) => window.has(id));
    console.log(
      `      ${describeVerdict(name, verdict)}, sent twice in window 1 ${inWindow.length}, ` +
        `retried by the worker ${retried.size}`,
    );
    explainVerdict(verdict, harness.sim, all);
    expect(verdict.lost, "accepted but never settled").to.deep.equal([]);
    for (const gone of verdict.outcomeLost) {
      expect(redisLostData, `outcome of ${gone.id} unreadable`).to.equal(true);
      expect(
        gone.callEndedAt ?? Infinity,
        `call of ${gone.id} ended before the loss`,
      ).to.be.at.most(verdict.faultAt);
    }
    expect(
      verdict.twice.filter((id) => !window.has(id) && !retried.has(id)),
      "sent to the remote provider twice outside the named windows",
    ).to.deep.equal([]);
    expect(verdict.neverCalled, "completed without a call").to.deep.equal([]);
    expect(verdict.inconsistent, "more than one outcome").to.deep.equal([]);
    expect(verdict.outcomes, "outcomes").to.deep.equal({
      completed: verdict.accepted - verdict.outcomeLost.length,
    });
    // The security server's own record agrees, call for call: every call it took reached the
    // provider, and none reached the provider around it. Only a call the killed worker had on
    // the way (window 1) may have stopped at the security server (cut off before its body was
    // read) or have been answered with an error (its answer had nobody to go to).
    const mine = [...verdict.states.keys(), ...verdict.outcomeLost.map((o) => o.id)];
    const ofRun = new Set([...mine, ...verdict.lost]);
    const taken = new Map<string, number>();
    for (const c of xroad.calls()) {
      if (!ofRun.has(c.xroadId)) continue;
      if (c.error !== null)
        expect(window.has(c.xroadId), `${c.xroadId} answered ${c.error}`).to.equal(true);
      taken.set(c.xroadId, (taken.get(c.xroadId) ?? 0) + 1);
    }
    for (const id of mine) {
      const atProvider = verdict.calls.get(id) ?? 0;
      if (window.has(id))
        expect(atProvider, `calls of ${id} at the provider`).to.be.at.most(taken.get(id) ?? 0);
      else expect(taken.get(id) ?? 0, `calls of ${id} at the security server`).to.equal(atProvider);
    }
    // Every call the remote provider got names its message by the gateway id, as X-Road-Id
    // and as Idempotency-Key: a repeat is recognisable as the same message.
    for (const [id] of verdict.calls) {
      if (!verdict.states.has(id) && !verdict.outcomeLost.some((o) => o.id === id)) continue;
      for (const c of harness.sim.calls({ id })) {
        expect(c.headers?.["x-road-id"], `X-Road-Id of a call of ${id}`).to.equal(id);
        expect(c.headers?.["idempotency-key"], `Idempotency-Key of a call of ${id}`).to.equal(id);
      }
    }
  }

  it("the worker killed (SIGKILL) mid-run and replaced: a repeat only in window 1", async () => {
    // Window 1: a worker killed after the remote provider answered and before the answer was
    // recorded, or with its call on the way. Only calls the worker had sent by its death can be
    // in it: those the security server had received by the time the killed process exited
    // (it goes on calling until the signal lands). A call the security server took before the
    // kill may reach the provider after it, as X-Road's client proxy carries on a call whose
    // client went away; so the set is read from xroad-sim's record (the arrival of each call,
    // on this process's clock) once the run is over, not from the provider's at the kill.
    let killedAt = Infinity;
    const calledBeforeKill = () =>
      new Set(
        xroad
          .calls()
          .filter((c) => c.at <= killedAt)
          .map((c) => c.xroadId),
      );
    const verdict = await checkExactlyOnce({
      adapters: () => [roles.adapter!.url],
      service: "register",
      count: MESSAGES,
      faultAfter: MESSAGES / 3,
      sim: harness.sim,
      fault: async () => {
        await eventually(
          async () => (harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await roles.worker!.stop("SIGKILL");
        killedAt = Date.now();
        await spawn("worker");
      },
    });
    judge("consumer: SIGKILL worker", verdict, calledBeforeKill());
  });

  it("the broker killed (SIGKILL) with calls in flight and restarted: nothing lost or repeated", async () => {
    const verdict = await checkExactlyOnce({
      adapters: () => [roles.adapter!.url],
      service: "register",
      count: MESSAGES,
      faultAfter: MESSAGES / 3,
      sim: harness.sim,
      fault: async () => {
        await eventually(
          async () => (harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await rabbit.kill();
        // Longer than a claim lasts without renewal (timeout + 5 s): a worker that let it lapse
        // would see its redelivered copy claimed and sent again.
        await sleep(TIMEOUT_MS + 5_000 + 2_000);
        await rabbit.resume();
      },
    });
    judge("consumer: broker kill -9", verdict, new Set());
  });

  it("Redis restarted without its data: queued and running messages rebuilt, called once", async () => {
    const verdict = await checkExactlyOnce({
      adapters: () => [roles.adapter!.url],
      service: "register",
      count: MESSAGES,
      faultAfter: MESSAGES / 3,
      sim: harness.sim,
      fault: async () => {
        // With calls in flight: their records go while the worker calls, and it writes them
        // again under its claim (docs/reliability.md, "When Redis loses its data").
        await eventually(
          async () => (harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await redis.stop();
        await sleep(1_000);
        await redis.resume(); // empty: no persistence
      },
    });
    judge("consumer: Redis restart without data", verdict, new Set(), true);
  });
});
