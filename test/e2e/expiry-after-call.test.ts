// A message whose call may have reached the backend never ends `expired` ("never sent"), even
// when the copy that comes back carries no count of the calls made: an ordered backend's
// message is retried in place, and a worker stopped during that wait hands the delivery back
// as it came.

import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

describe("expiry of a message handed back after a call", function () {
  // A 10.5 s wait, two worker starts and up to 30 s for the outcome: room for a loaded machine.
  this.timeout(120_000);
  const harness = Harness.suite({
    // Every call fails after the backend received it (500).
    sim: { errorRate: 1 },
    config: {
      services: {
        book: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "ledger",
          expireAfter: "10s",
        },
      },
      backends: {
        ledger: {
          translator: "rest-json",
          ordering: "strict",
          retry: { attempts: 3, backoff: ["8s"] },
        },
      },
    },
    roles: ["adapter", "response-worker"],
  });
  const { roles } = harness;

  it("ends failed, not expired, once its expireAfter passed", async () => {
    const worker = await harness.spawn("worker");
    const answer = await call(`${roles.adapter.url}/rest/book`, { body: "{}" });
    // The record was made before this answer: its expireAfter (10 s) has passed 10.5 s from now.
    const pastExpiry = Date.now() + 10_500;
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    // Called once; the worker now waits in place for the retry, holding the message.
    await eventually(() =>
      Promise.resolve(harness.sim.stats({ id }).calls.length === 1 || undefined),
    );
    // Stopped during that wait (longer than the shutdown grace): the delivery goes back to the
    // queue as it came.
    expect(await worker.stop("SIGTERM")).to.equal(0);
    // The next worker takes it past its expiry, counted from the answer: the call and the stop
    // above took part of it.
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, pastExpiry - Date.now())));
    await harness.spawn("worker");
    const status = await eventually(
      async () => {
        const s = await call(`${roles.adapter.url}/messages/${id}`);
        return s.json.state === "failed" || s.json.state === "expired" ? s : undefined;
      },
      30_000,
      "an outcome",
    );
    expect(status.json.state).to.equal("failed");
    expect(harness.sim.stats({ id }).calls).to.have.length(1);
  });
});
