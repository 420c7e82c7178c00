// A cancel while a sync caller still waits on its message, end to end (adapter, response worker,
// worker as separate processes). Cancelled before any worker called the backend: the waiting
// caller gets the cancelled outcome (409, "cancelled by the client") as soon as the cancel is
// made, and the backend never sees the message. Refused once a worker may have called it (409):
// the caller gets the backend's answer.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import {
  call,
  eventually,
  Harness,
  type HttpAnswer,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";

const ALICE = "EE/GOV/70000001/alice";

describe("cancel while a sync caller waits on the message", function () {
  // A test starts a worker after a 10 s wait: a start takes up to START_TIMEOUT_MS under load.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 20 });
    harness.writeConfig({
      services: {
        // The caller waits far longer than this suite runs: an answer it gets came by a wake,
        // never by its deadline.
        waits: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "5m", maxWait: "5m" },
          backend: "sim",
        },
      },
      backends: { sim: { translator: "rest-json" } },
    });
    await harness.spawn("response-worker");
    adapter = await harness.spawn("adapter");
  });
  after(() => harness.cleanup());

  /** Sends a sync request and, while its caller waits, finds the message's gateway id. */
  async function waitingCaller(): Promise<{ id: string; answer: Promise<HttpAnswer> }> {
    const xroadId = randomUUID();
    const answer = call(`${adapter.url}/rest/waits`, {
      client: ALICE,
      body: JSON.stringify({ waiting: true }),
      headers: { "X-Road-Id": xroadId },
    });
    const query = new URLSearchParams({ client: ALICE, service: "waits", xroadId });
    const id = await eventually(async () => {
      const found = await harness.admin(adapter, `/admin/messages?${query}`);
      return found.status === 200 ? (found.json.id as string) : undefined;
    });
    return { id, answer };
  }

  const cancel = (id: string) =>
    call(`${adapter.url}/messages/${id}`, { method: "DELETE", client: ALICE });
  const stateOf = async (id: string) =>
    (await call(`${adapter.url}/messages/${id}`, { client: ALICE })).json.state as string;

  it("cancelled before the backend was called: the waiting caller gets the cancelled outcome", async () => {
    // No worker runs yet: the message waits in its queue, its caller waits on it.
    const { id, answer } = await waitingCaller();
    const cancelled = await cancel(id);
    expect(cancelled.status).to.equal(200);
    expect(cancelled.json.state).to.equal("cancelled");

    const waited = await answer;
    expect(waited.status).to.equal(409);
    expect(waited.headers.get("x-sluice-id")).to.equal(id);
    expect(waited.json).to.include({ type: "Conflict", message: "cancelled by the client" });
    expect(waited.json.detail).to.equal(id);
    // The caller was told the outcome: its delivery is delivered (the operator's look marks
    // nothing, as the client's status read would).
    await eventually(
      async () => {
        const found = await harness.admin(adapter, `/admin/messages/${id}`);
        return found.json.delivery === "delivered" ? true : undefined;
      },
      10_000,
      "the cancelled outcome's delivery marked delivered",
    );

    // A worker that reaches it skips it: the backend never sees it.
    await harness.spawn("worker");
    const later = await waitingCaller();
    expect((await later.answer).status).to.equal(200);
    expect(harness.sim.stats({ id: later.id }).calls).to.have.length(1);
    expect(harness.sim.stats({ id }).calls).to.have.length(0);
    expect(await stateOf(id)).to.equal("cancelled");
  });

  it("refused once the backend may have it (409): the waiting caller gets the backend's answer", async () => {
    harness.sim.update({ latencyMs: 2_000 });
    try {
      const { id, answer } = await waitingCaller();
      await eventually(async () => (await stateOf(id)) === "processing" || undefined);
      const refused = await cancel(id);
      expect(refused.status).to.equal(409);
      expect(refused.json.type).to.equal("Conflict");
      expect(refused.json.message).to.match(/processing/);

      const waited = await answer;
      expect(waited.status).to.equal(200);
      expect(waited.headers.get("x-sluice-id")).to.equal(id);
      expect(await stateOf(id)).to.equal("completed");
      expect(harness.sim.stats({ id }).calls).to.have.length(1);
    } finally {
      harness.sim.update({ latencyMs: 20 });
    }
  });
});
