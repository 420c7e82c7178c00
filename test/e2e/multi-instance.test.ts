// Roles as separate processes: two adapter instances share one worker and response worker,
// and every waiting sync caller is answered on the instance that holds its connection.

import { expect } from "chai";
import { call, Harness, type SluiceProcess } from "../support/harness";

describe("several adapter instances", function () {
  this.timeout(40_000);
  const harness = new Harness();
  let adapterA: SluiceProcess;
  let adapterB: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 100 });
    harness.writeConfig({
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", maxInFlight: 16 } },
    });
    await harness.spawn("response-worker");
    await harness.spawn("worker");
    adapterA = await harness.spawn("adapter");
    adapterB = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  it("a response reaches the caller waiting on the instance that holds its connection", async () => {
    const calls = Array.from({ length: 20 }, (_, i) => {
      const adapter = i % 2 === 0 ? adapterA : adapterB;
      return call(`${adapter.url}/rest/lookup`, {
        body: JSON.stringify({ n: i }),
        headers: { "X-Road-Id": `multi-${i}` },
      });
    });
    const answers = await Promise.all(calls);
    answers.forEach((answer, i) => {
      expect(answer.status, `caller ${i}`).to.equal(200);
      expect(answer.json.received).to.deep.equal({ n: i });
      expect(answer.headers.get("x-road-id")).to.equal(`multi-${i}`);
    });
    // Each instance woke its own callers: the wakes went to both reply queues.
    expect(new Set(answers.map((a) => a.headers.get("x-sluice-id"))).size).to.equal(20);
  });
});
