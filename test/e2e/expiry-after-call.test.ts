// A message whose call may have reached the backend never ends `expired` ("never sent"), even
// when the copy that comes back carries no count of the calls made: an ordered backend's
// message is retried in place, and a worker stopped during that wait hands the delivery back
// as it came.

import { expect } from "chai";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";

describe("expiry of a message handed back after a call", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let adapter: SluiceProcess;

  before(async () => {
    // Every call fails after the backend received it (500).
    await harness.startSim({ errorRate: 1 });
    harness.writeConfig({
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
    });
    adapter = await harness.spawn("adapter");
    await harness.spawn("response-worker");
  });

  after(() => harness.cleanup());

  it("ends failed, not expired, once its expireAfter passed", async () => {
    const worker = await harness.spawn("worker");
    const answer = await call(`${adapter.url}/rest/book`, { body: "{}" });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    // Called once; the worker now waits in place for the retry, holding the message.
    await eventually(() =>
      Promise.resolve(harness.sim.stats({ id }).calls.length === 1 || undefined),
    );
    // Stopped during that wait (longer than the shutdown grace): the delivery goes back to the
    // queue as it came.
    expect(await worker.stop("SIGTERM")).to.equal(0);
    // The next worker takes it past its expiry.
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    await harness.spawn("worker");
    const status = await eventually(
      async () => {
        const s = await call(`${adapter.url}/messages/${id}`);
        return s.json.state === "failed" || s.json.state === "expired" ? s : undefined;
      },
      30_000,
      "an outcome",
    );
    expect(status.json.state).to.equal("failed");
    expect(harness.sim.stats({ id }).calls).to.have.length(1);
  });
});
