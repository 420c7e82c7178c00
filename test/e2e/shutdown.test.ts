// Graceful shutdown under load: SIGTERM while sync callers wait on a slow backend. Every caller
// gets an answer or a 202 (never a reset) that closes its connection, /readyz turns 503 while draining, the process
// exits 0 without waiting for its backend calls, and the messages handed back complete after
// a restart.

import { expect } from "chai";
import {
  call,
  eventually,
  Harness,
  type HttpAnswer,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import { metricValue, simSettings, untilReadiness } from "./ops-support";

const CALLERS = 12;
const GRACE_MS = 4_000;

describe("graceful shutdown under load (SIGTERM with sync callers waiting)", function () {
  // Up to 48 s of waits and the grace time, and a restart of `all` in the test.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    // Each backend call, and its timeout, outlasts the test: a process that waited for its
    // calls instead of handing them back after the grace time would never exit in it.
    await harness.startSim({ latencyMs: 600_000 });
    harness.writeConfig({
      shutdown: { grace: `${GRACE_MS / 1000}s` },
      services: {
        lookup: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "20s", maxWait: "30s" },
          backend: "slow",
        },
      },
      backends: { slow: { translator: "rest-json", maxInFlight: 4, timeout: "10m" } },
    });
    sluice = await harness.spawn("all");
  });

  after(() => harness.cleanup());

  it("every waiting caller gets a 202, /readyz is 503 while draining, exit 0 after the grace time", async () => {
    const readyBefore = await untilReadiness(sluice.adminUrl, 200);
    expect(readyBefore.reasons).to.deep.equal([]);

    const callers: Array<Promise<HttpAnswer | Error>> = [];
    for (let i = 0; i < CALLERS; i++) {
      callers.push(
        call(`${sluice.url}/rest/lookup`, { body: JSON.stringify({ i }), keepAlive: true }).catch(
          (error: Error) => error,
        ),
      );
    }
    await eventually(
      async () =>
        (await metricValue(sluice.adminUrl, "sluice_sync_waiters")) === CALLERS &&
        harness.sim.stats().inFlight >= 4
          ? true
          : undefined,
      10_000,
      "callers waiting and calls at the backend",
    );

    sluice.child.kill("SIGTERM");
    // Answered 503 from the signal's handling until the exit, a grace time later: a starved
    // process may handle the signal seconds late, so the bound lies past the grace time, where
    // 3 s could end before a late drain began. Once the process is gone nothing answers 503.
    const draining = await untilReadiness(sluice.adminUrl, 503, GRACE_MS + 10_000);
    expect(draining.reasons).to.include("draining");

    const answers = await Promise.all(callers);
    for (const answer of answers) {
      expect(answer, "an HTTP answer, not a reset").to.not.be.instanceOf(Error);
      const http = answer as HttpAnswer;
      expect(http.status, http.text).to.equal(202);
      expect(http.json.state).to.equal("accepted");
      expect(http.headers.get("location")).to.equal(`/messages/${http.json.id}`);
      // Its next request goes on a new connection, not on one the drain is about to close.
      expect(http.headers.get("connection")).to.equal("close");
    }
    expect(await sluice.exited).to.equal(0);

    // Handed back, not lost: with a fast backend a new process completes every message.
    await simSettings(harness.sim.url, { latencyMs: 0 });
    const restarted = await harness.spawn("all");
    const ids = answers.map((a) => (a as HttpAnswer).json.id as string);
    await eventually(
      async () => {
        const docs = await Promise.all(ids.map((id) => call(`${restarted.url}/messages/${id}`)));
        return docs.every((d) => d.json?.state === "completed") ? true : undefined;
      },
      20_000,
      "every message completed after the restart",
    );
    // The second named window (docs/semantics.md): the calls still running when the grace
    // ended were cut off and made again, with the same Idempotency-Key; no other message was.
    const seen = ids.map((id) => harness.sim.calls({ id }).length);
    expect(seen.filter((n) => n === 2).length, `calls per message: ${seen}`).to.be.at.least(1);
    expect(
      seen.every((n) => n === 1 || n === 2),
      `calls per message: ${seen}`,
    ).to.equal(true);
  });
});

describe("shutdown.delay: serving while not ready, before the drain", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    // Longer than the test: only the second signal below ends it.
    harness.writeConfig({
      shutdown: { grace: "5s", delay: "60s" },
      services: {
        intake: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json" } },
    });
    adapter = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  it("answers /readyz 503 and still takes requests after SIGTERM; a second signal drains at once", async () => {
    expect((await untilReadiness(adapter.adminUrl, 200)).reasons).to.deep.equal([]);
    adapter.child.kill("SIGTERM");
    const notReady = await untilReadiness(adapter.adminUrl, 503);
    expect(notReady.reasons).to.include("draining");
    // The admin port closes at the end too: its answers say so meanwhile.
    const probe = await call(`${adapter.adminUrl}/readyz`, { client: null, keepAlive: true });
    expect(probe.headers.get("connection")).to.equal("close");
    // A load balancer that has not polled yet still sends requests: they are served as ever.
    const accepted = await call(`${adapter.url}/rest/intake`, {
      body: '{"a":1}',
      keepAlive: true,
    });
    expect(accepted.status, accepted.text).to.equal(202);
    expect(accepted.headers.get("connection")).to.not.equal("close");
    // The line reaches this process through a pipe, maybe after the readiness it goes with.
    const saidSo = "not ready; serving until the delay ends, then draining";
    await eventually(
      async () => (adapter.lines.some((line) => line.msg === saidSo) ? true : undefined),
      10_000,
      `the log line "${saidSo}"`,
    );
    expect(adapter.lines.map((line) => line.msg)).to.not.include("draining");
    adapter.child.kill("SIGTERM");
    expect(await adapter.exited).to.equal(0);
    const messages = adapter.lines.map((line) => line.msg);
    expect(messages).to.include.members(["signal again: draining now", "draining", "stopped"]);
  });
});

describe("a worker's drain hands back the messages it has not called yet, at once", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let worker: SluiceProcess;
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      // Far longer than the test: a worker that kept its waiting messages until the grace
      // time's end would not exit within it.
      shutdown: { grace: "10m" },
      services: {
        intake: { protocols: ["rest"], reply: { mode: "ack" }, backend: "metered" },
      },
      // One call a minute: the first message is called, the others wait for a rate token.
      backends: { metered: { translator: "rest-json", rate: { limit: 1, per: "1m", burst: 1 } } },
    });
    await harness.spawn("response-worker");
    adapter = await harness.spawn("adapter");
    worker = await harness.spawn("worker");
  });

  after(() => harness.cleanup());

  it("exits 0 without sitting out its rate-limit waits, the rest untouched", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 5; i++) {
      const accepted = await call(`${adapter.url}/rest/intake`, { body: JSON.stringify({ i }) });
      expect(accepted.status, accepted.text).to.equal(202);
      ids.push(accepted.json.id as string);
    }
    // The burst's calls made, the others waiting for a token (a minute each).
    const states = async () =>
      Promise.all(
        ids.map(async (id) => (await call(`${adapter.url}/messages/${id}`)).json.state as string),
      );
    await eventually(
      async () => {
        const now = await states();
        const done = now.filter((state) => state === "completed").length;
        return done >= 1 && done === harness.sim.calls().length ? true : undefined;
      },
      20_000,
      "the burst's calls made and recorded",
    );
    const called = harness.sim.calls().length;
    expect(called, "some messages wait for a token").to.be.below(ids.length);
    worker.child.kill("SIGTERM");
    expect(await worker.exited).to.equal(0);
    expect(harness.sim.calls()).to.have.length(called);
    // Handed back untouched, for the next worker to call in turn.
    const after = await states();
    expect(after.filter((state) => state === "completed")).to.have.length(called);
    expect(after.filter((state) => state === "accepted")).to.have.length(ids.length - called);
  });
});
