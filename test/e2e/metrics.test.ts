// What an operator's dashboard reads from the admin port: the request queue's depth rising
// while nothing consumes it and falling to 0 as a worker drains it, the consumers, the
// high-water mark, request outcomes, liveness and readiness.

import { expect } from "chai";
import {
  call,
  eventually,
  Harness,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import { metricValue, untilDepth, untilReadiness } from "./ops-support";

const BATCHES = 4;
const PER_BATCH = 5;

describe("metrics for ops dashboards (queue depth up and down)", function () {
  // A test starts a worker and waits up to 25 s: room for a start under load.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = Harness.suite({
    // One call at a time, 150 ms each: the drain takes a few seconds and can be watched.
    sim: { latencyMs: 150 },
    config: {
      services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: {
        sim: { translator: "rest-json", maxInFlight: 1, queue: { highWater: 100, maxLength: 200 } },
      },
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;
  const queue = `${harness.prefix}requests.sim`;

  const depth = () => metricValue(roles.adapter.adminUrl, "sluice_queue_depth_messages", { queue });

  it("serves /healthz, /readyz and the Prometheus text with the contract's metrics", async () => {
    expect((await call(`${roles.adapter.adminUrl}/healthz`, { client: null })).status).to.equal(
      200,
    );
    await untilReadiness(roles.adapter.adminUrl, 200);
    const answer = await fetch(`${roles.adapter.adminUrl}/metrics`);
    expect(answer.headers.get("content-type")).to.match(/^text\/plain/);
    const text = await answer.text();
    for (const name of [
      "sluice_queue_depth_messages",
      "sluice_queue_high_water",
      "sluice_requests_total",
      "sluice_request_duration_seconds",
      "sluice_sync_waiters",
      "sluice_backpressure_rejections_total",
      "process_cpu_seconds_total",
    ]) {
      expect(text, name).to.include(`# TYPE ${name} `);
    }
    expect(
      await metricValue(roles.adapter.adminUrl, "sluice_queue_high_water", { queue }),
    ).to.equal(100);
  });

  it("sluice_queue_depth_messages rises while messages wait and falls to 0 as they drain", async () => {
    const rising: number[] = [];
    for (let batch = 1; batch <= BATCHES; batch++) {
      for (let i = 0; i < PER_BATCH; i++) {
        const answer = await call(`${roles.adapter.url}/rest/report`, {
          body: JSON.stringify({ i }),
        });
        expect(answer.status).to.equal(202);
      }
      rising.push(
        await untilDepth(roles.adapter.adminUrl, queue, (d) => d === batch * PER_BATCH, 5_000),
      );
    }
    expect(rising).to.deep.equal([5, 10, 15, 20]);
    expect(await metricValue(roles.adapter.adminUrl, "sluice_queue_consumers", { queue })).to.equal(
      0,
    );
    expect(
      await metricValue(roles.adapter.adminUrl, "sluice_requests_total", {
        protocol: "rest",
        service: "report",
        outcome: "accepted",
      }),
    ).to.equal(BATCHES * PER_BATCH);

    await harness.spawn("worker");
    const falling: number[] = [];
    await eventually(
      async () => {
        const value = await depth();
        if (value !== undefined && value !== falling[falling.length - 1]) falling.push(value);
        return value === 0 ? true : undefined;
      },
      20_000,
      "the queue to drain",
    );
    // Seen on the way down: values between full and empty, never rising again.
    expect(falling[falling.length - 1]).to.equal(0);
    expect(falling.some((v) => v > 0 && v < BATCHES * PER_BATCH)).to.equal(true);
    for (let i = 1; i < falling.length; i++) expect(falling[i]).to.be.at.most(falling[i - 1]);
    expect(await metricValue(roles.adapter.adminUrl, "sluice_queue_consumers", { queue })).to.equal(
      1,
    );
  });
});

describe("status reads and cancels on the metrics", function () {
  this.timeout(60_000);
  // No worker: the message stays accepted, so reading and cancelling it cannot race a call.
  const harness = Harness.suite({
    config: {
      services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: ["adapter"],
  });
  const { roles } = harness;

  it("are counted under one service label, found or not: polling and probing show", async () => {
    const accepted = await call(`${roles.adapter.url}/rest/report`, { body: "{}" });
    expect(accepted.status).to.equal(202);
    const id = accepted.json.id as string;
    const count = async (outcome: string) =>
      (await metricValue(roles.adapter.adminUrl, "sluice_requests_total", {
        protocol: "rest",
        service: "messages",
        outcome,
      })) ?? 0;
    expect((await call(`${roles.adapter.url}/messages/${id}`)).status).to.equal(200);
    for (const unknown of ["00000000-0000-4000-8000-000000000000", "not-an-id"]) {
      expect((await call(`${roles.adapter.url}/messages/${unknown}`)).status).to.equal(404);
    }
    const cancel = await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" });
    expect(cancel.status, cancel.text).to.equal(200);
    // A cancel repeated by its client (its answer lost) is answered as the first.
    const again = await call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE" });
    expect(again.status, again.text).to.equal(200);
    expect(await count("status")).to.equal(1);
    expect(await count("cancelled")).to.equal(2);
    expect(await count("invalid")).to.equal(2);
  });
});

describe("the callbacks queue's gauges without a response worker", function () {
  // The test starts three roles one after another and waits up to 40 s for consumer counts.
  this.timeout(3 * START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("an adapter and a worker report callbacks with 0 consumers once the response worker is gone", async () => {
    await harness.startSim();
    harness.writeConfig({
      services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json" } },
    });
    const queue = `${harness.prefix}callbacks`;
    const responseWorker = await harness.spawn("response-worker");
    const others = [await harness.spawn("adapter"), await harness.spawn("worker")];
    const consumers = (role: SluiceProcess) =>
      metricValue(role.adminUrl, "sluice_queue_consumers", { queue });
    for (const role of others) {
      await eventually(async () => ((await consumers(role)) === 1 ? true : undefined), 10_000);
    }
    // With no response worker left, the others are what SluiceNoConsumers reads.
    await responseWorker.stop();
    for (const role of others) {
      await eventually(async () => ((await consumers(role)) === 0 ? true : undefined), 10_000);
      expect(await metricValue(role.adminUrl, "sluice_queue_depth_messages", { queue })).to.equal(
        0,
      );
    }
  });
});
