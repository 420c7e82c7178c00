// The consumer direction under faults: a local caller → Sluice (an `xroad-rest` or `xroad-soap`
// backend, ack mode) → xroad-sim (the local security server) → the remote provider (a legacy
// simulator that records every call it receives: a REST call by its Idempotency-Key, a SOAP call
// by the `id` in its X-Road header). The exactly-once checker (test/support/exactly-once.ts)
// submits the messages (as many in every run) 8 at a time and injects one fault per run. REST
// and SOAP: the worker killed with SIGKILL and replaced; the worker stopped with SIGTERM while
// its calls to a slow provider outlast the shutdown grace. REST: the broker killed (SIGKILL)
// with calls in flight and restarted, Redis restarted without its data. Each
// message must reach the remote provider once (a repeat only in window 1 or 2 of
// docs/reliability.md, recorded), end in one outcome, and carry its gateway id on every call
// (REST: as X-Road-Id and Idempotency-Key; SOAP: as the header's `id`).
//
// Its own broker and Redis, on free ports (a restart keeps its node's port), as every file of
// `npm test` takes them: two runs of the suite on one machine never meet. The machine's shared
// ones are never touched.

import { expect } from "chai";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import {
  checkExactlyOnce,
  UnexpectedAnswer,
  type Submitted,
  describeVerdict,
  explainVerdict,
  retriedByWorker,
  submitRest,
  type CheckRun,
  type Verdict,
} from "../support/exactly-once";
import {
  call,
  eventually,
  Harness,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import type { CallFilter, RecordedCall } from "../../legacy-sim/call-log";
import { CONSUMER, localSoapCall, NS, REST_PROVIDER, SOAP_PROVIDER } from "./consumer-support";
import { PrivateRabbit, PrivateRedis } from "./ops-support";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Lets xroad-sim (in this process) take the calls a killed worker had written before it died:
 * their bytes wait in this process's sockets, and its exit can be heard before them, so a call
 * of the killed worker was once recorded after the kill and its repeat judged outside window 1.
 * No other process calls xroad-sim until the replacement is spawned after this, so once it
 * holds no connection every call of the killed worker has arrived (each is stamped as it
 * arrives): the wait can only make the window exact, never wider. A wait for the sockets, not
 * a second: a starved machine can read them later than that.
 */
const settleKilledCalls = (xroad: XroadSim) =>
  eventually(
    async () => ((await xroad.connections()) === 0 ? true : undefined),
    30_000,
    "the killed worker's connections to xroad-sim closed",
  );

/** Messages per run, REST and SOAP alike. */
const MESSAGES = 60;
/**
 * The remote service's timeout: far above the provider's latency, so a starved machine does
 * not time calls out and retry them (a retry's second call is by design, not a fault's doing).
 */
const TIMEOUT_MS = 5_000;
/** The remote service, as the security server knows it. */
const SERVICE = `${REST_PROVIDER}/register`;
/** The remote SOAP service (the legacy simulator's getState at /soap). */
const SOAP_SERVICE = `${SOAP_PROVIDER}/getState`;
/**
 * The worker's shutdown grace, and the remote provider's latency in the window 2 run: every
 * call that began less than (latency - grace) before the SIGTERM is still running when the
 * grace ends, and is cut off.
 */
const GRACE = "1s";
const SLOW_MS = 3_000;

/** The X-Road message id in a SOAP call's header: a SOAP provider sees no HTTP header of ours. */
const XROAD_ID = /<xrd:id(?:\s[^>]*)?>([^<]+)<\/xrd:id>/;

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
    [rabbit, redis] = await Promise.all([PrivateRabbit.start(), PrivateRedis.start()]);
    env = { AMQP_URL: rabbit.url, REDIS_URL: redis.url };
    // The remote provider: it keeps each call's headers, to compare the ids of any repeat.
    // Its SOAP side answers as an X-Road provider, echoing the request's header.
    await harness.startSim({ latencyMs: 600, recordDetails: true, soapEchoHeader: true });
    xroad = await startXroadSim({
      services: {
        [SERVICE]: { url: `${harness.sim.url}/register` },
        [SOAP_SERVICE]: { url: `${harness.sim.url}/soap`, type: "soap" },
      },
    });
    const remote = {
      url: xroad.url,
      timeout: `${TIMEOUT_MS}ms`,
      maxInFlight: 6,
      // A killed worker's in-flight slots free after this (30 s by default), not the run's
      // length: the replacement calls again once the claims lapsed (timeout + 5 s).
      leaseTime: "5s",
      retry: { attempts: 3, backoff: ["500ms"] },
    };
    harness.writeConfig({
      securityServer: { url: xroad.url, client: CONSUMER },
      services: {
        register: { protocols: ["rest"], reply: { mode: "ack" }, backend: "remote" },
        getState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "ack" },
          backend: "remote-soap",
        },
      },
      backends: {
        remote: { ...remote, translator: "xroad-rest", service: SERVICE },
        "remote-soap": { ...remote, translator: "xroad-soap", service: SOAP_SERVICE },
      },
      // Short, so that the window 2 run's calls to a slow provider outlast it (the backend
      // timeout above it is warned of, by design).
      shutdown: { grace: GRACE },
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
   * The remote provider's record, each SOAP call named by the X-Road id in its header: through
   * a security server a SOAP provider sees no HTTP header of ours (no Idempotency-Key, by which
   * the record names a REST call).
   */
  const provider = {
    calls: (filter: CallFilter = {}): RecordedCall[] => {
      const named = harness.sim
        .calls({ since: filter.since })
        .map((c) =>
          c.id !== null || !c.body
            ? c
            : { ...c, id: XROAD_ID.exec(c.body.toString("utf8"))?.[1] ?? null },
        );
      const mine = filter.id === undefined ? named : named.filter((c) => c.id === filter.id);
      return filter.limit === undefined ? mine : mine.slice(-filter.limit);
    },
  };

  /**
   * A local SOAP caller's submission to the local service `getState` (ack mode), its X-Road id
   * in the header; `content` reaches the remote provider in the Body.
   */
  const submitSoap =
    (content?: string) =>
    async (url: string, xroadId: string): Promise<Submitted> => {
      const answer = await call(`${url}/soap`, {
        client: null,
        headers: { "Content-Type": "text/xml; charset=utf-8" },
        body: localSoapCall("getState", xroadId, undefined, content),
      });
      const id =
        /<id>([0-9a-f-]{36})<\/id>/.exec(answer.text)?.[1] ?? answer.headers.get("x-sluice-id");
      if (answer.status === 200 && id) return { id };
      if (answer.status === 503) return { refused: answer.text };
      throw new UnexpectedAnswer(answer.status, answer.text);
    };

  /**
   * What every run must show. `window` lists the messages a named window may have repeated
   * (window 1: the killed worker had sent them before it died; window 2: the stopped worker
   * cut their calls off at the grace's end), `windowName` names it; `redisLostData` when an
   * outcome stored before the fault may be gone with Redis's data; `since` when the run began,
   * if no run is to reach the provider meanwhile (the provider's calls since must each carry
   * the id of one of its messages).
   */
  function judge(
    name: string,
    verdict: Verdict,
    window: Set<string>,
    redisLostData = false,
    since: number | undefined = undefined,
    windowName = "window 1",
  ) {
    const retried = retriedByWorker(verdict, all);
    const inWindow = verdict.twice.filter((id) => window.has(id));
    console.log(
      `      ${describeVerdict(name, verdict)}, sent twice in ${windowName} ${inWindow.length}, ` +
        `retried by the worker ${retried.size}`,
    );
    explainVerdict(verdict, provider, all);
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
    // Every call the remote provider got names its message by the gateway id: a REST call as
    // X-Road-Id and as Idempotency-Key, a SOAP call in its header's `id` (which names it in
    // `provider`): a repeat is recognisable as the same message. No call of the run carries
    // another id.
    for (const [id] of verdict.calls) {
      if (!verdict.states.has(id) && !verdict.outcomeLost.some((o) => o.id === id)) continue;
      for (const c of provider.calls({ id })) {
        if (c.path.startsWith("/soap")) continue;
        expect(c.headers?.["x-road-id"], `X-Road-Id of a call of ${id}`).to.equal(id);
        expect(c.headers?.["idempotency-key"], `Idempotency-Key of a call of ${id}`).to.equal(id);
      }
    }
    if (since === undefined) return;
    const strays = provider.calls({ since }).filter((c) => !ofRun.has(c.id ?? ""));
    expect(
      strays.map((c) => c.id),
      "calls with an id of no message of the run",
    ).to.deep.equal([]);
  }

  /**
   * The worker killed with SIGKILL once calls are in flight, and replaced at once; `window()`
   * (read once the run is over) is the set of messages window 1 may have repeated.
   *
   * Window 1: a worker killed after the remote provider answered and before the answer was
   * recorded, or with its call on the way. Only calls the worker had sent by its death can be
   * in it: those the security server had received by the time the killed process exited (it
   * goes on calling until the signal lands). A call the security server took before the kill
   * may reach the provider after it, as X-Road's client proxy carries on a call whose client
   * went away; so the set is read from xroad-sim's record (the arrival of each call, on this
   * process's clock) once the run is over, not from the provider's at the kill.
   */
  function workerKill() {
    let killedAt = Infinity;
    return {
      fault: async () => {
        await eventually(
          async () => (harness.sim.stats().inFlight > 0 ? true : undefined),
          30_000,
          "calls in flight",
        );
        await roles.worker!.stop("SIGKILL");
        await settleKilledCalls(xroad);
        killedAt = Date.now();
        await spawn("worker");
      },
      window: () =>
        new Set(
          xroad
            .calls()
            .filter((c) => c.at <= killedAt)
            .map((c) => c.xroadId),
        ),
    };
  }

  /** A run of MESSAGES through the adapter, the fault once a third of them were accepted. */
  const runOf = (run: Omit<CheckRun, "adapters" | "count" | "faultAfter">) =>
    checkExactlyOnce({
      adapters: () => [roles.adapter!.url],
      count: MESSAGES,
      faultAfter: MESSAGES / 3,
      ...run,
    });

  /**
   * Window 2 of docs/reliability.md, for one service: every call of the run goes to a remote
   * provider that answers after SLOW_MS, longer than the worker's shutdown grace. Once a call
   * has just begun, the worker is stopped with SIGTERM, so the calls still running when the
   * grace ends are given up and handed back; once it exited, the next worker is spawned and
   * makes them again. The stopped worker names each such message in its log: each reaches the
   * provider at most twice (the first call may have stopped at the security server) and is
   * called once more after the exit; no other message reaches the provider twice.
   */
  async function window2Run(name: string, service: string, submit: CheckRun["submit"]) {
    const since = Date.now();
    let stopped: SluiceProcess | undefined;
    let exitedAt = Infinity;
    const verdict = await runOf({
      service,
      submit,
      sim: provider,
      fault: async () => {
        // A call begun now, not one about to end: it outlasts the grace.
        const now = Date.now();
        await eventually(
          async () =>
            harness.sim.calls({ since: now }).some((c) => c.endedAt === null) ? true : undefined,
          30_000,
          "a call begun in flight",
        );
        stopped = roles.worker!;
        await stopped.stop("SIGTERM");
        exitedAt = Date.now();
        await spawn("worker");
      },
    });
    const cutOff = new Set(
      stopped!.lines
        .filter((l) => String(l.msg).startsWith("call cut off by shutdown"))
        .map((l) => String(l.id)),
    );
    console.log(`      cut off at the grace's end ${cutOff.size}`);
    expect(cutOff.size, "calls cut off by the grace").to.be.at.least(1);
    judge(name, verdict, cutOff, false, since, "window 2");
    // Each message cut off was called again, by the next worker, and ended once (judged above).
    for (const id of cutOff) {
      expect(verdict.states.get(id)?.state, `outcome of ${id}`).to.equal("completed");
      expect(verdict.calls.get(id) ?? 0, `calls of ${id} at the provider`).to.be.at.most(2);
      expect(
        provider.calls({ id }).filter((c) => c.startedAt >= exitedAt),
        `calls of ${id} after the stopped worker exited`,
      ).to.have.length(1);
    }
    return verdict;
  }

  it("the worker killed (SIGKILL) mid-run and replaced: a repeat only in window 1", async () => {
    const kill = workerKill();
    const verdict = await runOf({
      service: "register",
      sim: harness.sim,
      fault: kill.fault,
    });
    judge("consumer: SIGKILL worker", verdict, kill.window());
  });

  it("SOAP: the worker killed (SIGKILL) mid-run and replaced: a repeat only in window 1, with the same id", async () => {
    // As the REST run above, through an `xroad-soap` backend: the remote provider tells a
    // repeat by the `id` in the SOAP header, the gateway id on every call of a message.
    const since = Date.now();
    const kill = workerKill();
    const verdict = await runOf({
      service: "getState",
      submit: submitSoap(),
      sim: provider,
      fault: kill.fault,
    });
    judge("consumer SOAP: SIGKILL worker", verdict, kill.window(), false, since);
    // Every message reached the provider as SOAP, under its own id.
    for (const id of verdict.states.keys())
      for (const c of provider.calls({ id })) expect(c.path, `a call of ${id}`).to.match(/^\/soap/);
  });

  it("the worker stopped (SIGTERM) with calls to a slow provider in flight: those cut off at the grace's end are made again, no other", async () => {
    // The local caller's query reaches the remote provider, which reads its latency there.
    const verdict = await window2Run(
      "consumer: SIGTERM worker, slow provider",
      "register",
      submitRest("register", `sim-latency=${SLOW_MS}`),
    );
    // Every message reached the provider as REST.
    for (const id of verdict.states.keys())
      for (const c of provider.calls({ id }))
        expect(c.path, `a call of ${id}`).to.match(/^\/register/);
  });

  it("SOAP: the worker stopped (SIGTERM) with calls to a slow provider in flight: those cut off at the grace's end are made again, no other", async () => {
    await window2Run(
      "consumer SOAP: SIGTERM worker, slow provider",
      "getState",
      submitSoap(`sim-latency=${SLOW_MS}`),
    );
  });

  it("the broker killed (SIGKILL) with calls in flight and restarted: nothing lost or repeated", async () => {
    const verdict = await runOf({
      service: "register",
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
    const verdict = await runOf({
      service: "register",
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
