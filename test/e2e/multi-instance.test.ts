// Roles as separate processes: two adapter instances share one worker and response worker,
// and every waiting sync caller is answered on the instance that holds its connection.

import { expect } from "chai";
import { call, Harness } from "../support/harness";

describe("several adapter instances", function () {
  // Past the callers' wait, with room for four roles to start.
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 100 },
    config: {
      services: {
        // Twenty calls at once through four processes: on a loaded machine some can take longer
        // than the default 10 s, and their callers get a 202 where the test reads the answer.
        lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "30s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", maxInFlight: 16 } },
    },
    roles: [
      "response-worker",
      "worker",
      { role: "adapter", as: "adapterA" },
      { role: "adapter", as: "adapterB" },
    ],
  });
  const { roles } = harness;

  it("a response reaches the caller waiting on the instance that holds its connection", async () => {
    const calls = Array.from({ length: 20 }, (_, i) => {
      const adapter = i % 2 === 0 ? roles.adapterA : roles.adapterB;
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
