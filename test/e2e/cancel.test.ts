// Cancelling end to end with separate adapter, response-worker and worker processes: a message
// cancelled before any worker took it never reaches the backend, its callback and the client's
// hub listener hear of the cancel (once, however often the client repeats it), and a message
// the backend has or had, or the operator cancelled, cannot be cancelled.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import type { ReceivedCall } from "../integration/callback-receiver";
import { call, eventually, Harness, START_TIMEOUT_MS } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

describe("cancel end to end (adapter, response worker, then a worker)", function () {
  // A test starts a worker and then waits for its outcomes: room for a start under load.
  this.timeout(START_TIMEOUT_MS + 40_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20 },
    receiver: {
      secret: SECRET,
      listeners: [
        { client: ALICE, path: "/events/alice" },
        { client: BOB, path: "/events/bob" },
      ],
    },
    config: {
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;
  let cancelledId = "";

  const status = (id: string, client = ALICE) =>
    call(`${roles.adapter.url}/messages/${id}`, { client });
  const cancel = (id: string, client = ALICE) =>
    call(`${roles.adapter.url}/messages/${id}`, { method: "DELETE", client });
  const stateOf = async (id: string) => (await status(id)).json.state as string;
  const eventsAt = (path: string, id: string): ReceivedCall[] =>
    harness.receiver.calls.filter(
      (c) => c.path === `/events/${path}` && JSON.parse(c.body).correlationId === id,
    );
  const callbacksFor = (id: string) =>
    harness.receiver.calls.filter((c) => c.path === `/hooks/${id}`);

  it("cancels a message no worker has taken: 200 with the cancelled status document", async () => {
    const submitted = await call(`${roles.adapter.url}/rest/notify`, {
      client: ALICE,
      body: JSON.stringify({ case: 7 }),
      headers: {
        Prefer: "respond-async",
        "X-Callback-Url": harness.receiver.url("/hooks/cancelled"),
      },
    });
    expect(submitted.status).to.equal(202);
    cancelledId = submitted.json.id;

    expect((await cancel(cancelledId, BOB)).status).to.equal(404);
    const answer = await cancel(cancelledId);
    expect(answer.status).to.equal(200);
    expect(answer.json).to.deep.include({ id: cancelledId, state: "cancelled" });
    expect(answer.json.error.code).to.equal("Cancelled");
    expect(answer.json.history.map((h: { state: string }) => h.state)).to.deep.equal([
      "accepted",
      "cancelled",
    ]);
    expect(await stateOf(cancelledId)).to.equal("cancelled");

    // The client retries, as after a lost answer: the cancel it asked for is what it is told,
    // on either path (docs/xroad-deployment.md), not a conflict with itself.
    for (const again of [
      await cancel(cancelledId),
      await call(`${roles.adapter.url}/rest/messages/${cancelledId}`, {
        method: "DELETE",
        client: ALICE,
      }),
    ]) {
      expect(again.status).to.equal(200);
      expect(again.headers.get("x-sluice-id")).to.equal(cancelledId);
      expect(again.json).to.deep.include({ id: cancelledId, state: "cancelled" });
      expect(again.json.error).to.deep.equal(answer.json.error);
      expect(again.json.history.slice(0, 2)).to.deep.equal(answer.json.history);
    }
    expect((await cancel(cancelledId, BOB)).status).to.equal(404);

    // Through the status service an X-Road-Service header must name it, as on any REST
    // service (docs/semantics.md); one naming a business service is inconsistent, read or cancel.
    for (const [serviceCode, expected] of [
      ["messages", 200],
      ["order", 400],
    ] as const) {
      for (const method of ["GET", "DELETE"]) {
        const answer = await call(`${roles.adapter.url}/rest/messages/${cancelledId}`, {
          method,
          client: ALICE,
          headers: { "X-Road-Service": `EE/GOV/70000002/sluice/${serviceCode}` },
        });
        expect(answer.status, `${method} as ${serviceCode}: ${answer.text}`).to.equal(expected);
        if (expected === 400) expect(answer.json.type).to.equal("InconsistentHeaders");
      }
    }
  });

  it("takes the message id in upper case as the same id (RFC 9562: UUIDs are read in any case)", async () => {
    const upper = cancelledId.toUpperCase();
    const read = await status(upper);
    expect(read.status).to.equal(200);
    expect(read.json).to.deep.include({ id: cancelledId, state: "cancelled" });
    const again = await cancel(upper);
    expect(again.status).to.equal(200);
    expect(again.headers.get("x-sluice-id")).to.equal(cancelledId);
    expect((await status(upper, BOB)).status).to.equal(404);
    const operator = await harness.admin(roles.adapter, `/admin/messages/${upper}`);
    expect(operator.status).to.equal(200);
    expect(operator.json.id).to.equal(cancelledId);
  });

  it("a message the operator cancelled is a conflict to its client, first time or not", async () => {
    const submitted = await call(`${roles.adapter.url}/rest/lookup`, { client: ALICE, body: "{}" });
    expect(submitted.status).to.equal(202);
    const id = submitted.json.id as string;
    const operator = await fetch(`${roles.adapter.adminUrl}/admin/messages/${id}`, {
      method: "DELETE",
      headers: harness.adminHeaders(),
    });
    expect(operator.status).to.equal(200);
    for (let i = 0; i < 2; i++) {
      const answer = await cancel(id);
      expect(answer.status).to.equal(409);
      expect(answer.json.type).to.equal("Conflict");
      expect(answer.json.message).to.match(/cancelled/);
    }
  });

  it("never sends it to the backend once a worker starts, and the state stays cancelled", async () => {
    await harness.spawn("worker");
    // The queue is first in, first out: once a later message is done, the worker is past it.
    const later = await call(`${roles.adapter.url}/rest/lookup`, { client: ALICE, body: "{}" });
    expect(later.status).to.equal(202);
    await eventually(async () => (await stateOf(later.json.id)) === "completed" || undefined);
    expect(harness.sim.stats({ id: later.json.id }).calls).to.have.length(1);
    expect(harness.sim.stats({ id: cancelledId }).calls).to.have.length(0);
    expect(await stateOf(cancelledId)).to.equal("cancelled");
  });

  it("sends the callback the signed cancelled status document, once", async () => {
    const [callback] = await eventually(
      async () => (callbacksFor("cancelled").length > 0 ? callbacksFor("cancelled") : undefined),
      15_000,
      "the cancelled callback",
    );
    expect(verifyWebhook(SECRET, callback.headers, callback.body)).to.deep.equal({ valid: true });
    expect(callback.headers["webhook-id"]).to.equal(`msg_${cancelledId}.cancelled`);
    const document = JSON.parse(callback.body);
    expect(document).to.deep.include({ id: cancelledId, service: "notify", state: "cancelled" });
    expect(document.error.code).to.equal("Cancelled");
    expect(document.responses).to.deep.equal([]);
    await eventually(async () =>
      (await status(cancelledId)).json.delivery === "delivered" ? true : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(callbacksFor("cancelled")).to.have.length(1);
  });

  it("tells the sender's hub listener accepted and cancelled, and no one else", async () => {
    const events = await eventually(
      async () =>
        eventsAt("alice", cancelledId).length >= 2 ? eventsAt("alice", cancelledId) : undefined,
      15_000,
      "accepted and cancelled events",
    );
    const bodies = events.map((e) => JSON.parse(e.body));
    expect(bodies.map((b) => b.event.message.state).sort()).to.deep.equal([
      "accepted",
      "cancelled",
    ]);
    expect(bodies.map((b) => b.eventId).sort()).to.deep.equal([
      `${cancelledId}.accepted.1`,
      `${cancelledId}.cancelled`,
    ]);
    for (const event of events) {
      expect(verifyWebhook(SECRET, event.headers, event.body)).to.deep.equal({ valid: true });
    }
    const accepted = bodies.find((b) => b.event.message.state === "accepted");
    expect(accepted.event.message.history.map((h: { state: string }) => h.state)).to.deep.equal([
      "accepted",
    ]);
    expect(eventsAt("bob", cancelledId)).to.have.length(0);
  });

  it("refuses to cancel a message the backend is working on, or has answered: 409", async () => {
    harness.sim.update({ latencyMs: 1_500 });
    try {
      const submitted = await call(`${roles.adapter.url}/rest/lookup`, {
        client: ALICE,
        body: "{}",
      });
      const id = submitted.json.id as string;
      await eventually(async () => (await stateOf(id)) === "processing" || undefined);
      const during = await cancel(id);
      expect(during.status).to.equal(409);
      expect(during.json.type).to.equal("Conflict");
      expect(during.json.message).to.match(/processing/);

      await eventually(async () => (await stateOf(id)) === "completed" || undefined);
      const after = await cancel(id);
      expect(after.status).to.equal(409);
      expect(await stateOf(id)).to.equal("completed");
      expect(harness.sim.stats({ id }).calls).to.have.length(1);
    } finally {
      harness.sim.update({ latencyMs: 20 });
    }
  });

  it("another method on a message is 405 naming GET, HEAD and DELETE, for any id; deeper paths stay 404", async () => {
    const sent = await call(`${roles.adapter.url}/rest/lookup`, { client: ALICE, body: "{}" });
    expect(sent.status).to.equal(202);
    const id = sent.json.id as string;
    for (const base of [`${roles.adapter.url}/messages`, `${roles.adapter.url}/rest/messages`]) {
      for (const asked of [id, "00000000-0000-4000-8000-000000000000", "not-an-id"]) {
        for (const method of ["POST", "PUT", "PATCH", "OPTIONS"]) {
          const answer = await call(`${base}/${asked}`, { method, client: ALICE });
          expect(answer.status, `${method} ${base}/${asked}: ${answer.text}`).to.equal(405);
          expect(answer.headers.get("allow")).to.equal("GET, HEAD, DELETE");
          expect(answer.json.type).to.equal("MethodNotAllowed");
        }
      }
    }
    // None of them cancelled it.
    expect(await stateOf(id)).to.not.equal("cancelled");
    const deeper = await call(`${roles.adapter.url}/rest/messages/${id}/x`, {
      method: "POST",
      client: ALICE,
    });
    expect(deeper.status).to.equal(404);
  });
});

describe("cancel of a message whose earlier call failed", function () {
  this.timeout(40_000);
  const harness = Harness.suite({
    // Every call fails (500) after the backend received it; the retry waits long enough to
    // cancel meanwhile.
    sim: { errorRate: 1 },
    config: {
      services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json", retry: { attempts: 3, backoff: ["30s"] } } },
    },
    roles: ["adapter", "worker"],
  });
  const { roles } = harness;

  it("is refused (409): the backend has seen it, so it cannot be withdrawn unsent", async () => {
    const submitted = await call(`${roles.adapter.url}/rest/lookup`, { client: ALICE, body: "{}" });
    expect(submitted.status).to.equal(202);
    const id = submitted.json.id as string;
    // Back to `accepted` in the retry delay queue, after one call the backend received.
    await eventually(async () => {
      const s = await call(`${roles.adapter.url}/messages/${id}`, { client: ALICE });
      const handedBack = s.json.history?.filter((h: { state: string }) => h.state === "accepted");
      return s.json.state === "accepted" && handedBack?.length === 2 ? true : undefined;
    });
    expect(harness.sim.stats({ id }).calls).to.have.length(1);

    const answer = await call(`${roles.adapter.url}/messages/${id}`, {
      method: "DELETE",
      client: ALICE,
    });
    expect(answer.status).to.equal(409);
    expect(answer.json.type).to.equal("Conflict");
    // The same words for a record written again with the answer beside it, which waits for no
    // retry: nothing about why it was sent, only that it was.
    expect(answer.json.message).to.equal(
      "the message was sent to the backend before and can no longer be cancelled",
    );
    const after = await call(`${roles.adapter.url}/messages/${id}`, { client: ALICE });
    expect(after.json.state).to.equal("accepted");
  });
});
