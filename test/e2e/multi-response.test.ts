// Several responses to one request, end to end with separate adapter, worker and response-worker
// processes: the status document lists them all in seq order, callbacks and hub events come one
// per response, and a sync caller gets the final response.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import type { ReceivedCall } from "../integration/callback-receiver";
import { call, eventually, Harness } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";

interface StatusResponse {
  seq: number;
  final: boolean;
  status: number;
  contentType: string;
  body: { part: number; parts: number };
}

interface StatusDocument {
  id: string;
  state: string;
  delivery: string;
  history: Array<{ state: string }>;
  responses: StatusResponse[];
}

interface EventBody {
  eventId: string;
  correlationId: string;
  event: { message: StatusDocument };
}

/** The simulator numbers the responses of one answer in their body: part 1..parts. */
const partOf = (response: StatusResponse): number => response.body.part;

describe("several responses per request end to end (adapter, worker, response worker)", function () {
  this.timeout(40_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20 },
    receiver: { secret: SECRET, listeners: [{ client: ALICE, path: "/events/alice" }] },
    config: {
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
        ask: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
    },
    roles: ["response-worker", "worker", "adapter"],
  });
  const { roles } = harness;

  const send = (service: string, headers: Record<string, string> = {}, responses = 3) =>
    call(`${roles.adapter.url}/rest/${service}?sim-responses=${responses}`, {
      body: JSON.stringify({ case: 1 }),
      client: ALICE,
      headers,
    });
  const status = async (id: string): Promise<StatusDocument> =>
    (await call(`${roles.adapter.url}/messages/${id}`, { client: ALICE })).json as StatusDocument;
  const completed = (id: string) =>
    eventually(
      async () => {
        const document = await status(id);
        return document.state === "completed" ? document : undefined;
      },
      15_000,
      `${id} completed`,
    );
  const callbacksAt = (path: string) => harness.receiver.calls.filter((c) => c.path === path);
  /** Sends a callback-mode message with three responses; resolves once `count` calls arrived. */
  const sendForCallbacks = async (path: string, count: number): Promise<string> => {
    const answer = await send("notify", {
      Prefer: "respond-async",
      "X-Callback-Url": harness.receiver.url(path),
    });
    expect(answer.status).to.equal(202);
    await eventually(
      async () => callbacksAt(path).length >= count || undefined,
      15_000,
      `${count} calls at ${path}`,
    );
    return answer.json.id as string;
  };
  const seqs = (document: StatusDocument) => document.responses.map((r) => r.seq);
  const finals = (document: StatusDocument) => document.responses.map((r) => r.final);
  const documentOf = (c: ReceivedCall) => JSON.parse(c.body) as StatusDocument;

  /** Checks signatures and that each document is the message right after its own response. */
  const expectOnePerResponse = (calls: ReceivedCall[], id: string, n: number): void => {
    expect(calls).to.have.length(n);
    for (const c of calls) {
      expect(verifyWebhook(SECRET, c.headers, c.body)).to.deep.equal({ valid: true });
      expect(c.headers["x-sluice-id"]).to.equal(id);
    }
    // Sorted by seq, as a receiver orders them, each document extends the one before.
    const bySeq = calls
      .map((c) => ({ webhookId: c.headers["webhook-id"], document: documentOf(c) }))
      .sort((a, b) => a.document.responses.length - b.document.responses.length);
    bySeq.forEach(({ webhookId, document }, i) => {
      const seq = i + 1;
      expect(webhookId).to.equal(`msg_${id}.${seq}`);
      expect(seqs(document)).to.deep.equal(Array.from({ length: seq }, (_, k) => k + 1));
      expect(document.responses.map(partOf)).to.deep.equal(seqs(document));
      expect(finals(document)).to.deep.equal(seqs(document).map((s) => s === n));
      expect(document.state).to.equal(seq === n ? "completed" : "processing");
    });
  };

  it("ack mode: the status document lists every response in seq order, only the last final", async () => {
    const accepted = await send("lookup");
    expect(accepted.status).to.equal(202);
    const document = await completed(accepted.json.id);
    expect(seqs(document)).to.deep.equal([1, 2, 3]);
    expect(finals(document)).to.deep.equal([false, false, true]);
    expect(document.responses.map(partOf)).to.deep.equal([1, 2, 3]);
    for (const response of document.responses) {
      expect(response.status).to.equal(200);
      expect(response.contentType).to.match(/^application\/json/);
    }
    // One backend call produced them all, and the outcome is told once.
    expect(harness.sim.calls({ id: accepted.json.id })).to.have.length(1);
    // The read that saw the outcome delivered it, too.
    expect(document.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
      "completed",
      "delivered",
    ]);
  });

  it("callback mode: one signed callback per response; the final one settles delivery", async () => {
    const id = await sendForCallbacks("/hooks/notify", 3);
    const settled = await eventually(async () => {
      const document = await status(id);
      return document.delivery === "delivered" ? document : undefined;
    });
    expect(seqs(settled)).to.deep.equal([1, 2, 3]);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expectOnePerResponse(callbacksAt("/hooks/notify"), id, 3);
  });

  it("callback mode: a retried earlier callback may arrive after the final one; seq tells the order", async () => {
    // The receiver refuses seq 1's first attempt, and its retries until the final callback has
    // arrived (however late a loaded machine sends it): the retry waits out Retry-After.
    let refused = 0;
    let finalSeen = false;
    harness.receiver.respond = (c) => {
      if (c.path === "/hooks/retry") {
        const webhookId = String(c.headers["webhook-id"]);
        if (webhookId.endsWith(".3")) finalSeen = true;
        if (webhookId.endsWith(".1") && (refused === 0 || !finalSeen)) {
          refused++;
          return { status: 503, headers: { "retry-after": "1" } };
        }
      }
      return { status: 204 };
    };
    try {
      // The three callbacks, seq 1 taken once after its refusals.
      const id = await sendForCallbacks("/hooks/retry", 4);
      const ofSeq = (seq: number) =>
        callbacksAt("/hooks/retry").filter((c) => c.headers["webhook-id"] === `msg_${id}.${seq}`);
      await eventually(
        async () =>
          ofSeq(1).length === refused + 1 && ofSeq(2).length > 0 && ofSeq(3).length > 0
            ? true
            : undefined,
        15_000,
        "seq 1 taken, and seq 2 and 3",
      );
      const calls = callbacksAt("/hooks/retry");
      expect(refused).to.be.at.least(1);
      // The refused attempts and the retry carry the same webhook-id (drop duplicates by it).
      const first = ofSeq(1);
      for (const attempt of first) expect(attempt.body).to.equal(first[0].body);
      // Arrival: the retry of seq 1 taken comes after the final callback.
      const taken = first[first.length - 1];
      expect(calls.indexOf(taken)).to.be.greaterThan(calls.indexOf(ofSeq(3)[0]));
      expectOnePerResponse([taken, ...calls.filter((c) => !first.includes(c))], id, 3);
      // The final callback was delivered at once, so delivery is settled meanwhile.
      expect((await status(id)).delivery).to.equal("delivered");
    } finally {
      harness.receiver.respond = () => ({ status: 204 });
    }
  });

  it("hub: the listener gets one event per response, after accepted and processing", async () => {
    const accepted = await send("lookup", {}, 4);
    expect(accepted.status).to.equal(202);
    const id = accepted.json.id as string;
    const eventsOf = () =>
      harness.receiver.calls
        .filter((c) => c.path === "/events/alice")
        .map((c) => ({ call: c, body: JSON.parse(c.body) as EventBody }))
        .filter((e) => e.body.correlationId === id);
    await eventually(async () => eventsOf().length >= 6 || undefined, 15_000, "six events");
    await new Promise((resolve) => setTimeout(resolve, 300));
    const events = eventsOf();
    for (const { call: c } of events) {
      expect(verifyWebhook(SECRET, c.headers, c.body)).to.deep.equal({ valid: true });
    }
    // Ordered as the docs tell receivers: by history length, then by the responses' seq.
    const ordered = events
      .map((e) => e.body)
      .sort(
        (a, b) =>
          a.event.message.history.length - b.event.message.history.length ||
          a.event.message.responses.length - b.event.message.responses.length,
      );
    expect(ordered.map((b) => b.eventId)).to.deep.equal([
      `${id}.accepted.1`,
      `${id}.processing.1`,
      `${id}.1`,
      `${id}.2`,
      `${id}.3`,
      `${id}.4`,
    ]);
    ordered.slice(2).forEach((b, i) => {
      const message = b.event.message;
      expect(seqs(message)).to.deep.equal(Array.from({ length: i + 1 }, (_, k) => k + 1));
      expect(message.responses.map(partOf)).to.deep.equal(seqs(message));
      expect(message.state).to.equal(i === 3 ? "completed" : "processing");
    });
  });

  it("sync mode: the caller gets the final response; the status document has them all", async () => {
    const answer = await send("ask", { "X-Road-Id": `multi-${randomBytes(4).toString("hex")}` });
    expect(answer.status).to.equal(200);
    const id = answer.headers.get("x-sluice-id")!;
    expect(answer.json).to.include({ part: 3, parts: 3 });
    const document = await completed(id);
    expect(seqs(document)).to.deep.equal([1, 2, 3]);
    expect(document.responses.map(partOf)).to.deep.equal([1, 2, 3]);
    await eventually(async () => ((await status(id)).delivery === "delivered" ? true : undefined));

    // A resubmission of the finished message answers the same response, not the first.
    const again = await call(`${roles.adapter.url}/rest/ask?sim-responses=3`, {
      body: JSON.stringify({ case: 1 }),
      client: ALICE,
      headers: { "X-Road-Id": answer.headers.get("x-road-id")! },
    });
    expect(again.status).to.equal(200);
    expect(again.headers.get("x-sluice-id")).to.equal(id);
    expect(again.json).to.include({ part: 3, parts: 3 });
    expect(harness.sim.calls({ id })).to.have.length(1);
  });
});
