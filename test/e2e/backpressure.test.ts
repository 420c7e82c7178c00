// Backpressure as a caller sees it: a paused backend fills its queue to the high-water mark,
// the rest of a burst gets 503 Busy with Retry-After, intake reopens once the queue drains,
// and every accepted message still completes.

import { randomUUID } from "node:crypto";
import * as amqplib from "amqplib";
import { expect } from "chai";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  type HttpAnswer,
  type SluiceProcess,
} from "../support/harness";
import { burst, metricValue, retryAfterSeconds, simSettings, untilDepth } from "./ops-support";

const HIGH_WATER = 50;
const IN_FLIGHT = 4;

/**
 * The adapter's loop-stall guard off, where a test counts what is accepted and refused: on a
 * loaded machine a burst (or the process being starved) lags the loop past its 2 s default, and
 * the guard's own 503 Busy (`loop_stalled`) changes those counts. It has its own test
 * (test/e2e/loop-stall.test.ts).
 */
const NO_STALL_GUARD = { maxLoopStall: "0s" };

/** One process of every role, its `intake` service acknowledging into the backend `slow`. */
function slowBackendSuite(highWater: number, maxInFlight: number): Harness {
  return Harness.suite({
    config: {
      adapter: NO_STALL_GUARD,
      services: { intake: { protocols: ["rest"], reply: { mode: "ack" }, backend: "slow" } },
      backends: {
        slow: {
          translator: "rest-json",
          maxInFlight,
          timeout: "30s",
          queue: { highWater, maxLength: 1000 },
        },
      },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
}

describe("backpressure end to end (paused backend, high water 50)", function () {
  // Every wait below is for a state, bounded only against a hang: the monitor's 1 s samples, the
  // worker's drain and the adapter's output all lag on a loaded machine.
  this.timeout(240_000);
  const harness = slowBackendSuite(HIGH_WATER, IN_FLIGHT);
  const { roles } = harness;
  const queue = `${harness.prefix}requests.slow`;

  it("a burst of 200 stops near 50 accepted; the rest get 503 Busy with Retry-After; all accepted complete", async () => {
    await simSettings(harness.sim.url, { paused: true });
    // The monitor has sampled the empty queue before the burst.
    await untilDepth(roles.sluice.adminUrl, queue, (depth) => depth === 0, 60_000);

    const answers = await burst(`${roles.sluice.url}/rest/intake`, 200);
    const accepted = answers.filter((a) => a.status === 202);
    const refused = answers.filter((a) => a.status !== 202);
    // Admissions count before the broker confirms, so a burst faster than the 1 s sampling
    // stops at the mark, never past it but for the few the worker holds (maxInFlight, unacked).
    // A sample taken during the burst counts the publishes confirmed while it was on its way
    // twice (queue-monitor.ts: over-counting only closes intake a little early), until the
    // next sample: then the mark is reached one request at a time below.
    expect(accepted.length).to.be.within(1, HIGH_WATER + IN_FLIGHT);
    expect(refused.length).to.equal(200 - accepted.length);
    for (const answer of refused) expectBusy(answer);

    // Ready messages count, not those the worker holds: once it has taken its maxInFlight, a
    // few more fit, then intake stays closed at the mark while the backend is paused.
    await eventually(
      async () => {
        const next = await call(`${roles.sluice.url}/rest/intake`, { body: "{}" });
        if (next.status === 202) accepted.push(next);
        else {
          expectBusy(next);
          refused.push(next);
        }
        return next.status !== 202 && accepted.length >= HIGH_WATER ? true : undefined;
      },
      60_000,
      "intake closed at the mark",
    );
    expect(accepted.length).to.be.within(HIGH_WATER, HIGH_WATER + IN_FLIGHT);
    // The depth gauge shows the backlog the backend has not taken.
    await untilDepth(
      roles.sluice.adminUrl,
      queue,
      (depth) => depth >= HIGH_WATER - IN_FLIGHT,
      60_000,
    );

    await simSettings(harness.sim.url, { paused: false });
    await untilDepth(roles.sluice.adminUrl, queue, (depth) => depth === 0, 60_000);
    const after = await eventually(
      async () => {
        const answer = await call(`${roles.sluice.url}/rest/intake`, { body: '{"late":true}' });
        return answer.status === 202 ? answer : undefined;
      },
      60_000,
      "intake to reopen",
    );
    accepted.push(after);
    // The operator's log: one line when intake closed, one when it reopened, not one per 503.
    // When the worker took its maxInFlight only after the burst had closed intake (a slow
    // machine), the backlog fell below the reopening mark, the few more above were accepted and
    // intake closed again: a second pair, never more. The line is written before the answer,
    // but the test reads the process's output through a pipe, which may deliver it after the
    // HTTP answer arrives: wait for the last reopened line.
    const intakeLines = () =>
      roles.sluice.lines
        .filter((l) => /^intake (closed|reopened)/.test(String(l.msg)))
        .map((l) => [l.level, String(l.msg).split(":")[0], l.backend]);
    await eventually(
      async () => (intakeLines().at(-1)?.[1] === "intake reopened" ? true : undefined),
      60_000,
      "the intake reopened line",
    );
    // A pair more when a sample during the burst closed intake early, as above.
    const lines = intakeLines();
    expect(lines.length).to.be.oneOf([2, 4, 6]);
    lines.forEach((line, i) =>
      expect(line).to.deep.equal(
        i % 2 === 0 ? ["warn", "intake closed", "slow"] : ["info", "intake reopened", "slow"],
      ),
    );

    const ids = accepted.map((a) => a.json.id as string);
    await eventually(
      async () => {
        const docs = await Promise.all(ids.map((id) => call(`${roles.sluice.url}/messages/${id}`)));
        const open = docs.filter((d) => d.json?.state !== "completed");
        return open.length === 0 ? true : undefined;
      },
      60_000,
      "every accepted message completed",
    );
    // Each accepted message reached the backend; no refused one did.
    const called = new Set(harness.sim.calls().map((c) => c.id));
    for (const id of ids) expect(called.has(id), `backend saw ${id}`).to.equal(true);
    for (const answer of refused) expect(answer.json.detail).to.equal(null);
    expect(called.size).to.equal(ids.length);
  });
});

describe("backpressure end to end (one client's flood, high water 20, clientShare 0.5)", function () {
  this.timeout(60_000);
  const harness = slowBackendSuite(20, 1);
  const { roles } = harness;
  const queue = `${harness.prefix}requests.slow`;
  const FLOOD = "EE/GOV/70000001/batch-job";
  const OTHER = "EE/GOV/70000002/case-app";
  const THIRD = "EE/GOV/70000003/registry";
  const send = (client: string, xroadId: string) =>
    call(`${roles.sluice.url}/rest/intake`, {
      body: JSON.stringify({ client }),
      client,
      headers: { "X-Road-Id": xroadId },
    });
  const shareLines = () =>
    roles.sluice.lines
      .filter((l) => /more than its share/.test(String(l.msg)))
      .map((l) => [l.level, l.client, l.backend]);
  /** One request after another until the first refusal: the accepted and that refusal. */
  const untilRefused = async (client: string) => {
    const accepted: Array<HttpAnswer & { xroadId: string }> = [];
    for (let i = 0; i < 40; i++) {
      const xroadId = randomUUID();
      const answer = await send(client, xroadId);
      if (answer.status !== 202) return { accepted, refusal: answer };
      accepted.push({ ...answer, xroadId });
    }
    throw new Error(`${client} was never refused`);
  };

  it("a client sending most of the intake stops at half the mark; the other half is kept for another client; all accepted complete", async () => {
    await simSettings(harness.sim.url, { paused: true });
    await untilDepth(roles.sluice.adminUrl, queue, (depth) => depth === 0);

    const calledBefore = harness.sim.calls().length;
    expect((await send(OTHER, randomUUID())).status).to.equal(202);
    // The worker holds it (maxInFlight 1, the backend paused) before the flood: ready messages
    // count, so a take after the queue reached the mark would open room for one more.
    await eventually(
      async () => (harness.sim.calls().length > calledBefore ? true : undefined),
      30_000,
      "the worker holding the first message",
    );
    const flood = await untilRefused(FLOOD);
    expectBusy(flood.refusal);
    expect(flood.refusal.json.message).to.match(/more than its share/);
    // Stopped at half of 20 (the worker holds one unacknowledged, the other client sent one).
    expect(flood.accepted.length).to.be.within(8, 11);
    expect(
      await metricValue(roles.sluice.adminUrl, "sluice_backpressure_rejections_total", {
        reason: "client_share",
      }),
    ).to.equal(1);

    // The operator's log names the client, once.
    await eventually(
      async () => (shareLines().length > 0 ? true : undefined),
      5_000,
      "the over-share line",
    );
    expect(shareLines()).to.deep.equal([["warn", FLOOD, "slow"]]);

    // The room above half the mark was kept for the other client: it sends as many until it
    // in turn has sent more than half of the intake (or the queue is at the mark).
    const other = await untilRefused(OTHER);
    expectBusy(other.refusal);
    expect(other.accepted.length).to.be.within(8, 12);
    // A client that sent nothing yet fills what is left (if anything), up to the mark itself.
    const third = await untilRefused(THIRD);
    expectBusy(third.refusal);
    expect(third.refusal.json.message).to.match(/backlog for this service is full/);

    // A resubmission of an accepted message (its caller lost the 202) is answered as the
    // duplicate it is, at the mark and over its share alike: a 503 would tell it "not accepted".
    // It is no refusal, so no cause counts it.
    const refusals = () =>
      Promise.all(
        ["high_water", "client_share"].map(async (reason) =>
          metricValue(roles.sluice.adminUrl, "sluice_backpressure_rejections_total", { reason }),
        ),
      );
    const counted = await refusals();
    for (const [client, run] of [
      [FLOOD, flood],
      [OTHER, other],
    ] as const) {
      const again = await send(client, run.accepted[0].xroadId);
      expect(again.status, again.text).to.equal(202);
      expect(again.json.id).to.equal(run.accepted[0].json.id);
    }
    expect(await refusals()).to.deep.equal(counted);
    // A new message is refused (the queue is at the mark), and counted once.
    expectBusy(await send(FLOOD, randomUUID()));
    const sum = (values: Array<number | undefined>) =>
      values.reduce<number>((total, value) => total + (value ?? 0), 0);
    expect(sum(await refusals())).to.equal(sum(counted) + 1);

    await simSettings(harness.sim.url, { paused: false });
    // A message's status is its own client's to read.
    const reads = [
      ...flood.accepted.map((a) => ({ id: a.json.id as string, client: FLOOD })),
      ...other.accepted.map((a) => ({ id: a.json.id as string, client: OTHER })),
      ...third.accepted.map((a) => ({ id: a.json.id as string, client: THIRD })),
    ];
    await eventually(
      async () => {
        const docs = await Promise.all(
          reads.map(({ id, client }) => call(`${roles.sluice.url}/messages/${id}`, { client })),
        );
        return docs.every((d) => d.json?.state === "completed") ? true : undefined;
      },
      30_000,
      "every accepted message completed",
    );
  });
});

describe("backpressure end to end (queue maxLength is the hard stop)", function () {
  this.timeout(60_000);
  const MAX = 5;
  const harness = new Harness();
  let adapterA: SluiceProcess;
  let adapterB: SluiceProcess;
  let queue: string;
  let connection: amqplib.ChannelModel;
  let channel: amqplib.ConfirmChannel;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({
      adapter: NO_STALL_GUARD,
      services: { intake: { protocols: ["rest"], reply: { mode: "ack" }, backend: "held" } },
      backends: {
        held: { translator: "rest-json", queue: { highWater: MAX, maxLength: MAX } },
      },
    });
    queue = `${harness.prefix}requests.held`;
    // Two adapters and no worker: nothing drains the queue.
    [adapterA, adapterB] = await Promise.all([harness.spawn("adapter"), harness.spawn("adapter")]);
    connection = await amqplib.connect(AMQP_URL);
    channel = await connection.createConfirmChannel();
  });

  after(async () => {
    await connection?.close().catch(() => undefined);
    await harness.cleanup();
  });

  it("a publish the broker refuses (queue at maxLength) is answered 503 Busy and leaves no record", async () => {
    // The broker is asked only when the adapter's estimate is below the mark; fill the queue
    // behind its back right after a depth sample so that the next request reaches the broker.
    let brokerRefusal: HttpAnswer | undefined;
    for (let attempt = 0; attempt < 3 && !brokerRefusal; attempt++) {
      await channel.purgeQueue(queue);
      await untilDepth(adapterA.adminUrl, queue, (depth) => depth === 0);
      await fillUntilRefused(channel, queue);
      const answer = await call(`${adapterA.url}/rest/intake`, { body: "{}" });
      expectBusy(answer);
      if (/refused/.test(answer.json.message)) brokerRefusal = answer;
    }
    expect(brokerRefusal, "a refusal by the broker").to.not.equal(undefined);
    const id = brokerRefusal!.headers.get("x-sluice-id");
    if (id) expect((await call(`${adapterA.url}/messages/${id}`)).status).to.equal(404);
    const refusals = await metricValue(adapterA.adminUrl, "sluice_backpressure_rejections_total", {
      reason: "broker_refused",
    });
    expect(refusals).to.be.at.least(1);
  });

  it("two adapters bursting at once: every answer is 202 or 503 Busy, and the queue holds exactly the accepted", async () => {
    await channel.purgeQueue(queue);
    for (const adapter of [adapterA, adapterB]) {
      await untilDepth(adapter.adminUrl, queue, (depth) => depth === 0);
    }
    const [fromA, fromB] = await Promise.all([
      burst(`${adapterA.url}/rest/intake`, 2 * MAX),
      burst(`${adapterB.url}/rest/intake`, 2 * MAX),
    ]);
    const answers = [...fromA, ...fromB];
    const accepted = answers.filter((a) => a.status === 202);
    for (const answer of answers.filter((a) => a.status !== 202)) expectBusy(answer);
    // Each adapter stops at the mark by its own count; what both send together beyond
    // maxLength the broker refuses (quorum queues apply the limit with a short lag).
    expect(accepted.length).to.be.within(MAX, 2 * MAX);
    const { messageCount } = await channel.checkQueue(queue);
    expect(messageCount).to.equal(accepted.length);
  });
});

describe("backpressure end to end (sync waiter limit of one adapter)", function () {
  // Past two tests' waits of 15 s each.
  this.timeout(90_000);
  const harness = Harness.suite({
    config: {
      adapter: { port: 0, maxSyncWaiters: 2, ...NO_STALL_GUARD },
      services: {
        // The wait outlasts the burst: a caller whose wait ended before the burst's last request
        // arrived (2 s, on a loaded machine) freed its slot for a third waiter.
        ask: { protocols: ["rest"], reply: { mode: "sync", wait: "15s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("callers beyond maxSyncWaiters get 503 Busy; those waiting get their 202 when the wait ends", async () => {
    await simSettings(harness.sim.url, { paused: true });
    const answers = await burst(`${roles.sluice.url}/rest/ask`, 5);
    const waited = answers.filter((a) => a.status === 202);
    expect(waited).to.have.length(2);
    for (const answer of answers.filter((a) => a.status !== 202)) expectBusy(answer);
    expect(
      await metricValue(roles.sluice.adminUrl, "sluice_backpressure_rejections_total", {
        reason: "waiters_full",
      }),
    ).to.equal(3);
    await simSettings(harness.sim.url, { paused: false });
  });

  it("answers a persisted message's sync resubmission 202 while every waiter slot is taken, never 503", async () => {
    await simSettings(harness.sim.url, { paused: true });
    try {
      const url = `${roles.sluice.url}/rest/ask`;
      const xroadIds = [randomUUID(), randomUUID()];
      const first = xroadIds.map((xroadId) =>
        call(url, { body: JSON.stringify({ xroadId }), headers: { "X-Road-Id": xroadId } }),
      );
      await eventually(async () =>
        (await metricValue(roles.sluice.adminUrl, "sluice_sync_waiters", {})) === 2
          ? true
          : undefined,
      );
      const waitersFull = () =>
        metricValue(roles.sluice.adminUrl, "sluice_backpressure_rejections_total", {
          reason: "waiters_full",
        });
      const counted = await waitersFull();
      // Accepted and persisted: a 503 would tell its caller it was not, and it counts as none.
      const again = await call(url, {
        body: JSON.stringify({ xroadId: xroadIds[0] }),
        headers: { "X-Road-Id": xroadIds[0] },
      });
      expect(again.status, again.text).to.equal(202);
      expect(await waitersFull()).to.equal(counted);
      const answers = await Promise.all(first);
      expect(answers.map((a) => a.status)).to.deep.equal([202, 202]);
      expect(again.json.id).to.equal(answers[0].json.id);
    } finally {
      await simSettings(harness.sim.url, { paused: false });
    }
  });
});

/** Publishes one message at a time until the broker nacks one: the queue is then full. */
async function fillUntilRefused(channel: amqplib.ConfirmChannel, queue: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const refused = await new Promise<boolean>((resolve) =>
      channel.sendToQueue(queue, Buffer.from("{}"), { persistent: true }, (err) =>
        resolve(err !== null && err !== undefined),
      ),
    );
    if (refused) return;
  }
  throw new Error("the broker never refused a publish");
}

function expectBusy(answer: HttpAnswer): void {
  expect(answer.status, answer.text).to.equal(503);
  expect(answer.headers.get("content-type")).to.match(/^application\/json/);
  expect(answer.json).to.include.keys("type", "message", "detail");
  expect(answer.json.type).to.equal("Busy");
  const retryAfter = retryAfterSeconds(answer);
  expect(Number.isInteger(retryAfter), `Retry-After ${answer.headers.get("retry-after")}`).to.equal(
    true,
  );
  expect(retryAfter).to.be.within(1, 300);
}
