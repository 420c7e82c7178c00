// Duplicates per docs/semantics.md across two adapter instances: keyed by (client, service, X-Road
// id), answered in the resubmitting caller's own reply mode whatever state the first reached,
// and never held longer than a first submission would be. The roles run as separate processes;
// the worker starts only once the "still queued" cases are done.

import { expect } from "chai";
import {
  call,
  eventually,
  Harness,
  type HttpAnswer,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import { fixture, TEST_QUERY_SCHEMA } from "../fixtures/xroad-soap/outcomes";

let counter = 0;
const freshId = (what: string) => `dup-${what}-${process.pid}-${++counter}`;

/** Elapsed milliseconds of `work`, reported (never asserted: the machine may be loaded). */
async function timed<T>(what: string, work: () => Promise<T>): Promise<T> {
  const started = process.hrtime.bigint();
  const result = await work();
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  console.log(`      ${what}: ${ms.toFixed(1)} ms`);
  return result;
}

/** An ack duplicate's answer: the acknowledgement of the first submission, word for word. */
function expectFirstAck(answer: HttpAnswer, id: string, xroadId: string): void {
  expect(answer.status).to.equal(202);
  expect(answer.json).to.deep.equal({
    id,
    xroadId,
    state: "accepted",
    statusUrl: `/messages/${id}`,
  });
  expect(answer.headers.get("location")).to.equal(`/messages/${id}`);
  expect(answer.headers.get("preference-applied")).to.equal("respond-async");
}

describe("duplicates (two adapter instances, docs/semantics.md)", function () {
  // A test starts a worker: a start takes up to START_TIMEOUT_MS on a loaded machine.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let a: SluiceProcess;
  let b: SluiceProcess;

  const rest = (adapter: SluiceProcess, service: string, xroadId: string, headers = {}) =>
    call(`${adapter.url}/rest/${service}`, {
      body: JSON.stringify({ q: xroadId }),
      headers: { "X-Road-Id": xroadId, ...headers },
    });

  before(async () => {
    await harness.startSim({ latencyMs: 0, soapServices: ["testQuery", "test"] });
    const sync = { mode: "sync", wait: "5s", maxWait: "25s" };
    harness.writeConfig({
      // A duplicate that waited out the first one's confirm deadline would outlast the test.
      adapter: { port: 0, publishTimeout: "90s" },
      services: {
        lookup: { protocols: ["rest"], reply: sync, backend: "sim" },
        other: { protocols: ["rest"], reply: sync, backend: "sim" },
        testQuery: {
          protocols: ["soap"],
          namespace: "http://cosumer.ee.xroad.net",
          schema: TEST_QUERY_SCHEMA,
          reply: sync,
          backend: "soapsim",
        },
        test: { protocols: ["soap"], reply: sync, backend: "soapsim", attachments: true },
      },
      backends: {
        sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } },
        soapsim: { translator: "soap", retry: { attempts: 2, backoff: ["1s"] } },
      },
    });
    await harness.spawn("response-worker");
    a = await harness.spawn("adapter");
    b = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  it("still queued: an ack duplicate on the other instance gets the same 202 at once; a sync one its 202 after its own wait", async () => {
    const xroadId = freshId("queued");
    const first = await rest(a, "lookup", xroadId, { Prefer: "respond-async" });
    expect(first.status).to.equal(202);
    const id = first.json.id as string;

    const ack = await timed("ack duplicate of a queued message, other instance", () =>
      rest(b, "lookup", xroadId, { Prefer: "respond-async" }),
    );
    expectFirstAck(ack, id, xroadId);

    const sync = await timed("sync duplicate (wait=1) of a queued message, other instance", () =>
      rest(b, "lookup", xroadId, { Prefer: "wait=1" }),
    );
    expect(sync.status).to.equal(202);
    expect(sync.json.id).to.equal(id);
    expect(sync.headers.get("preference-applied")).to.equal("wait=1");
  });

  it("a sync duplicate waiting on the other instance is woken with the outcome once a worker processes the first (ack) submission", async () => {
    const xroadId = freshId("wake");
    const first = await rest(a, "lookup", xroadId, { Prefer: "respond-async" });
    const id = first.json.id as string;
    const waiting = rest(b, "lookup", xroadId, { Prefer: "wait=25" });
    // Give the duplicate time to register before anything can answer it.
    await new Promise((resolve) => setTimeout(resolve, 300));
    await harness.spawn("worker");
    const answer = await timed("sync duplicate woken across instances", () => waiting);
    expect(answer.status).to.equal(200);
    expect(answer.headers.get("x-sluice-id")).to.equal(id);
    expect(answer.json.received).to.deep.equal({ q: xroadId });
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("processing: a sync duplicate (Prefer: wait) waits for the outcome; an ack duplicate gets the 202", async () => {
    const xroadId = freshId("processing");
    harness.sim.update({ paused: true });
    try {
      const first = await rest(a, "lookup", xroadId, { Prefer: "respond-async" });
      const id = first.json.id as string;
      await eventually(
        async () => (harness.sim.calls({ id }).length === 1 ? true : undefined),
        10_000,
        "the backend call",
      );
      const status = await call(`${a.url}/messages/${id}`);
      expect(status.json.state).to.equal("processing");

      const ack = await rest(b, "lookup", xroadId, { Prefer: "respond-async" });
      expect(ack.status).to.equal(202);
      expect(ack.json.id).to.equal(id);

      const waiting = rest(b, "lookup", xroadId, { Prefer: "wait=20" });
      const sameInstance = rest(a, "lookup", xroadId, { Prefer: "wait=20" });
      await new Promise((resolve) => setTimeout(resolve, 300));
      harness.sim.update({ paused: false });
      for (const answer of await Promise.all([waiting, sameInstance])) {
        expect(answer.status).to.equal(200);
        expect(answer.headers.get("x-sluice-id")).to.equal(id);
        expect(answer.headers.get("preference-applied")).to.equal("wait=20");
        expect(answer.json.received).to.deep.equal({ q: xroadId });
      }
      expect(harness.sim.calls({ id })).to.have.length(1);
    } finally {
      harness.sim.update({ paused: false });
    }
  });

  it("completed: an ack duplicate gets the same 202 (not the answer); a sync duplicate gets the answer at once", async () => {
    const xroadId = freshId("completed");
    const first = await rest(a, "lookup", xroadId);
    expect(first.status).to.equal(200);
    const id = first.headers.get("x-sluice-id") as string;

    const ack = await rest(b, "lookup", xroadId, { Prefer: "respond-async" });
    expectFirstAck(ack, id, xroadId);

    const sync = await rest(b, "lookup", xroadId);
    expect(sync.status).to.equal(200);
    expect(sync.headers.get("x-sluice-id")).to.equal(id);
    expect(sync.json).to.deep.equal(first.json);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("rejected: an ack duplicate gets the 202; a sync duplicate the backend's refusal", async () => {
    const xroadId = freshId("rejected");
    const first = await call(`${a.url}/rest/lookup?sim-status=404`, {
      body: "{}",
      headers: { "X-Road-Id": xroadId },
    });
    expect(first.status).to.equal(404);
    const id = first.headers.get("x-sluice-id") as string;
    const ack = await rest(b, "lookup", xroadId, { Prefer: "respond-async" });
    expect(ack.status).to.equal(202);
    expect(ack.json.id).to.equal(id);
    const sync = await rest(b, "lookup", xroadId);
    expect(sync.status).to.equal(404);
    expect(sync.headers.get("x-sluice-id")).to.equal(id);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("the service is part of the key: the same X-Road id to another service is another message", async () => {
    const xroadId = freshId("service");
    const one = await rest(a, "lookup", xroadId);
    const two = await rest(b, "other", xroadId);
    expect(one.status).to.equal(200);
    expect(two.status).to.equal(200);
    const [idOne, idTwo] = [one.headers.get("x-sluice-id"), two.headers.get("x-sluice-id")];
    expect(idOne).to.not.equal(idTwo);
    expect(harness.sim.calls({ id: idOne as string })).to.have.length(1);
    expect(harness.sim.calls({ id: idTwo as string })).to.have.length(1);
    // And another client is another message too.
    const stranger = await call(`${b.url}/rest/lookup`, {
      body: JSON.stringify({ q: xroadId }),
      headers: { "X-Road-Id": xroadId },
      client: "EE/GOV/70000002/other-app",
    });
    expect(stranger.headers.get("x-sluice-id")).to.not.equal(idOne);
  });

  it("SOAP fixtures: simple.query (testQuery) and attachm.query (test) share client and X-Road id, and each gets its own service's answer", async () => {
    const xroadId = freshId("soap");
    const post = (name: string, contentType: string) =>
      fetch(`${a.url}/soap`, {
        method: "POST",
        headers: { "Content-Type": contentType },
        body: fixture(name)
          .toString("utf8")
          .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`),
      });
    const simple = await post("simple.query", "text/xml; charset=utf-8");
    const attachm = await post(
      "attachm.query",
      'multipart/related; type="text/xml"; boundary=jetty771207119h3h10dty',
    );
    const [simpleText, attachmText] = [await simple.text(), await attachm.text()];
    expect(simple.status, simpleText).to.equal(200);
    expect(attachm.status, attachmText).to.equal(200);
    const ids = [simple.headers.get("x-sluice-id"), attachm.headers.get("x-sluice-id")];
    expect(ids[0]).to.not.equal(ids[1]);
    expect(simpleText).to.match(/<ns1:testQueryResponse\b/);
    expect(attachmText).to.match(/<ns1:testResponse\b/);
    expect(attachmText).to.not.match(/testQueryResponse/);
    expect(harness.sim.calls({ id: ids[1] as string })).to.have.length(1);
  });
});
