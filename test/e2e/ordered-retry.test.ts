// An ordered backend keeps order through retries: a message that failed transiently is tried
// again in place, and the messages behind it wait instead of overtaking it.

import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

describe("ordered backend with a transient failure", function () {
  this.timeout(40_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20 },
    config: {
      services: { book: { protocols: ["rest"], reply: { mode: "ack" }, backend: "ledger" } },
      backends: {
        ledger: {
          translator: "rest-json",
          ordering: "strict",
          retry: { attempts: 3, backoff: ["500ms"] },
        },
      },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("calls the backend in arrival order, the failed message first again", async () => {
    await harness.sim.update({ paused: true });
    const ids: string[] = [];
    for (let i = 0; i < 4; i++) {
      // The first message fails once at the backend, then succeeds.
      const query = i === 0 ? "?sim-fail-times=1" : "";
      const answer = await call(`${roles.sluice.url}/rest/book${query}`, {
        body: JSON.stringify({ n: i }),
      });
      expect(answer.status).to.equal(202);
      ids.push(answer.json.id);
    }
    await harness.sim.update({ paused: false });
    await eventually(
      async () => {
        const docs = await Promise.all(ids.map((id) => call(`${roles.sluice.url}/messages/${id}`)));
        return docs.every((d) => d.json.state === "completed") ? true : undefined;
      },
      20_000,
      "all completed",
    );
    const order = harness.sim.calls().map((c) => `${ids.indexOf(c.id!)}:${c.status}`);
    expect(order).to.deep.equal(["0:503", "0:200", "1:200", "2:200", "3:200"]);
  });
});
