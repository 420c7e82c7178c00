// Hub events for every state change, end to end with separate adapter, worker and
// response-worker processes: a client's listener hears accepted, processing and the outcome of
// each of its own messages, signed and in history order, and nothing of other clients'.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import type { ReceivedCall } from "../integration/callback-receiver";
import { call, eventually, Harness } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";

interface EventBody {
  eventId: string;
  eventType: string;
  correlationId: string;
  event: { message: { id: string; state: string; history: Array<{ state: string }> } };
}

describe("state-change events end to end (adapter, worker, response worker)", function () {
  this.timeout(40_000);
  const harness = Harness.suite({
    sim: { latencyMs: 50 },
    receiver: {
      secret: SECRET,
      listeners: [
        { client: ALICE, path: "/events/alice" },
        { client: BOB, path: "/events/bob" },
        { client: ALICE, path: "/events/alice-processing", query: "state=processing" },
      ],
    },
    config: {
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
    },
    roles: ["response-worker", "worker", "adapter"],
  });
  const { roles } = harness;

  const send = async (client: string, service = "lookup", headers: Record<string, string> = {}) => {
    const answer = await call(`${roles.adapter.url}/rest/${service}`, {
      body: "{}",
      client,
      headers,
    });
    expect(answer.status).to.equal(202);
    return answer.json.id as string;
  };
  const eventsAt = (path: string, id?: string): ReceivedCall[] =>
    harness.receiver.calls.filter(
      (c) =>
        c.path === `/events/${path}` &&
        (id === undefined || (JSON.parse(c.body) as EventBody).correlationId === id),
    );
  const bodies = (calls: ReceivedCall[]) => calls.map((c) => JSON.parse(c.body) as EventBody);
  /** Waits for the event that names `state` for message `id` at `path`. */
  const waitForState = (path: string, id: string, state: string) =>
    eventually(
      async () =>
        bodies(eventsAt(path, id)).some((b) => b.event.message.state === state) || undefined,
      15_000,
      `${state} event of ${id} at ${path}`,
    );
  /**
   * Waits for all three events of message `id` at `path`: deliveries are not ordered
   * (docs/callbacks.md), so `accepted` may come after `completed`.
   */
  const waitForAll = async (path: string, id: string) => {
    for (const state of ["accepted", "processing", "completed"])
      await waitForState(path, id, state);
  };

  it("tells the sender's listener accepted, processing and completed, signed", async () => {
    const id = await send(ALICE);
    await waitForAll("alice", id);
    const events = eventsAt("alice", id);
    for (const event of events) {
      expect(verifyWebhook(SECRET, event.headers, event.body)).to.deep.equal({ valid: true });
      expect(event.headers["x-sluice-id"]).to.equal(id);
    }
    const byState = new Map(bodies(events).map((b) => [b.event.message.state, b]));
    expect([...byState.keys()].sort()).to.deep.equal(["accepted", "completed", "processing"]);
    expect(byState.get("accepted")!.eventId).to.equal(`${id}.accepted.1`);
    expect(byState.get("processing")!.eventId).to.equal(`${id}.processing.1`);
    expect(byState.get("completed")!.eventId).to.equal(`${id}.1`);
    // Each event carries the message as it stood right after that change.
    const history = (state: string) =>
      byState.get(state)!.event.message.history.map((h) => h.state);
    expect(history("accepted")).to.deep.equal(["accepted"]);
    expect(history("processing")).to.deep.equal(["accepted", "processing"]);
    expect(history("completed")).to.deep.equal(["accepted", "processing", "completed"]);
    // Every delivery has its own webhook-id; a repeat of one would carry the same.
    const webhookIds = events.map((e) => e.headers["webhook-id"]);
    expect(new Set(webhookIds).size).to.equal(events.length);
  });

  it("tells each client only of its own messages", async () => {
    const aliceId = await send(ALICE);
    const bobId = await send(BOB);
    await waitForAll("alice", aliceId);
    await waitForAll("bob", bobId);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const correlations = (path: string) =>
      new Set(bodies(eventsAt(path)).map((b) => b.correlationId));
    expect(correlations("alice").has(bobId)).to.equal(false);
    expect(correlations("bob").has(aliceId)).to.equal(false);
    expect(
      bodies(eventsAt("bob", bobId))
        .map((b) => b.event.message.state)
        .sort(),
    ).to.deep.equal(["accepted", "completed", "processing"]);
    expect(correlations("alice-processing").has(bobId)).to.equal(false);
  });

  it("filters the new states by the listener's query", async () => {
    const id = await send(ALICE);
    await waitForState("alice", id, "completed");
    await waitForState("alice-processing", id, "processing");
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(
      bodies(eventsAt("alice-processing", id)).map((b) => b.event.message.state),
    ).to.deep.equal(["processing"]);
  });

  it("sends a callback-mode message's callback its outcome only, and the hub every change", async () => {
    const id = await send(ALICE, "notify", {
      Prefer: "respond-async",
      "X-Callback-Url": harness.receiver.url("/hooks/notify"),
    });
    await waitForAll("alice", id);
    await eventually(
      async () => harness.receiver.calls.some((c) => c.path === "/hooks/notify") || undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    const callbacks = harness.receiver.calls.filter((c) => c.path === "/hooks/notify");
    expect(callbacks).to.have.length(1);
    expect(callbacks[0].headers["webhook-id"]).to.equal(`msg_${id}.1`);
    expect(JSON.parse(callbacks[0].body).state).to.equal("completed");
    expect(
      bodies(eventsAt("alice", id))
        .map((b) => b.event.message.state)
        .sort(),
    ).to.deep.equal(["accepted", "completed", "processing"]);
  });
});
