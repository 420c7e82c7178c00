// A worker killed mid-call after its message's expireAfter passed: the broker hands the
// delivery to the next worker at once, while the dead worker's claim still lasts. That copy is
// the only one left; it must reach an outcome, and not `expired` (the backend may have it).

import { expect } from "chai";
import { call, eventually, Harness, untilState, START_TIMEOUT_MS } from "../support/harness";

describe("worker killed mid-call after its message expired", function () {
  // Two worker starts and up to 71 s of waits in the test.
  this.timeout(2 * START_TIMEOUT_MS + 90_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: {
        brief: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim", expireAfter: "1s" },
      },
      // The claim lasts timeout + 5 s: 20 s after the dead worker's last renewal. The first
      // call is held by the paused sim until the worker is killed, and the timeout leaves the
      // test 15 s from that call's start to get there; a machine busy with other work does not
      // time the second call out either (which would end the expired message failed).
      backends: { sim: { translator: "rest-json", timeout: "15s" } },
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;

  it("the next worker waits for the dead worker's claim to lapse, then calls: completed, never lost", async () => {
    const first = await harness.spawn("worker");
    // The paused sim holds the call: the message expires while the first worker waits for the
    // answer, however long a loaded machine takes the test to get there (up to the timeout),
    // where a call of 5 s left it about 4 s.
    harness.sim.update({ paused: true });
    const answer = await call(`${roles.adapter.url}/rest/brief`, {
      body: JSON.stringify({ n: 1 }),
    });
    expect(answer.status).to.equal(202);
    const id: string = answer.json.id;
    await eventually(
      async () => (harness.sim.calls().some((c) => c.id === id) ? true : undefined),
      10_000,
      "the first call",
    );
    const status = await call(`${roles.adapter.url}/messages/${id}`);
    const expiresAt = Date.parse(status.json.createdAt) + 1_000;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, expiresAt - Date.now() + 100)));
    // Still in its call, held by the sim.
    expect(harness.sim.calls().filter((c) => c.id === id && c.endedAt === null)).to.have.length(1);
    await first.stop("SIGKILL");
    harness.sim.update({ paused: false });

    await harness.spawn("worker");
    // Acknowledged as "another worker's", the redelivered copy was gone and the record stayed
    // `processing` until retention.
    const done = await untilState(
      roles.adapter,
      id,
      ["completed", "failed", "expired", "rejected", "cancelled"],
      60_000,
    );
    // The dead worker may have reached the backend: not `expired` ("never sent").
    expect(done.json.state).to.equal("completed");
    expect(done.json.responses).to.have.length(1);
    // Called again once the claim lapsed, with the same Idempotency-Key (window 1).
    expect(harness.sim.calls().filter((c) => c.id === id)).to.have.length(2);
  });
});
