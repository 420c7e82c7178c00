// Nothing accepted is lost: a worker killed with SIGKILL while messages are queued and in
// flight is replaced, and every accepted message still reaches exactly one outcome.

import { expect } from "chai";
import { call, eventually, Harness, START_TIMEOUT_MS } from "../support/harness";

describe("worker crash with messages queued", function () {
  // Two worker starts (each up to START_TIMEOUT_MS on a loaded machine) and 55 s of waits.
  this.timeout(2 * START_TIMEOUT_MS + 90_000);
  const harness = Harness.suite({
    sim: { latencyMs: 150 },
    config: {
      services: { file: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json", maxInFlight: 2, timeout: "2s" } },
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;

  it("every accepted message completes exactly once after SIGKILL and restart of the worker", async () => {
    const ids: string[] = [];
    for (let i = 0; i < 30; i++) {
      const answer = await call(`${roles.adapter.url}/rest/file`, {
        body: JSON.stringify({ n: i }),
      });
      expect(answer.status).to.equal(202);
      ids.push(answer.json.id);
    }
    const worker = await harness.spawn("worker");
    await eventually(
      async () => (harness.sim.stats().total >= 6 ? true : undefined),
      15_000,
      "first calls",
    );
    await worker.stop("SIGKILL");
    const seenAtKill = new Set(harness.sim.calls().map((c) => c.id));
    expect(seenAtKill.size).to.be.lessThan(30);

    await harness.spawn("worker");
    const states = await eventually(
      async () => {
        const docs = await Promise.all(
          ids.map((id) => call(`${roles.adapter.url}/messages/${id}`)),
        );
        return docs.every((d) => d.json.state === "completed") ? docs : undefined;
      },
      40_000,
      "all completed",
    );
    for (const doc of states) {
      // One terminal outcome: one final response, one completed entry in the history.
      expect(doc.json.responses).to.have.length(1);
      expect(
        doc.json.history.filter((h: { state: string }) => h.state === "completed"),
      ).to.have.length(1);
    }
    // Each message reached the backend; only a call in progress at the kill may be repeated,
    // and it carries the same Idempotency-Key (the window docs/semantics.md documents).
    const calls = harness.sim.calls();
    const perId = new Map<string, number>();
    for (const c of calls) perId.set(c.id!, (perId.get(c.id!) ?? 0) + 1);
    for (const id of ids) expect(perId.get(id), id).to.be.at.least(1);
    const repeated = [...perId.entries()].filter(([, n]) => n > 1).map(([id]) => id);
    expect(repeated.length).to.be.at.most(2); // maxInFlight calls could be in progress
    for (const id of repeated) expect(seenAtKill.has(id)).to.equal(true);
  });
});
