// The legacy simulator over real HTTP: REST echo, runtime settings, capacity, failure hooks,
// call recording, and SOAP through a real `soap` client built from the served WSDL.

import { expect } from "chai";
import { existsSync, readFileSync } from "node:fs";
import http from "node:http";
import path from "node:path";
import * as soap from "soap";
import {
  startLegacySim,
  type LegacySim,
  type ReceivedHook,
  type RecordedCall,
} from "../../legacy-sim/legacy-sim";
import { signWebhook } from "../../response-worker/webhook-signature";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";
import { spawn } from "../support/spawned-children";

const REPO = path.resolve(__dirname, "../../..");
const FIXTURES = [
  path.join(REPO, "test/fixtures/xroad-soap"),
  path.resolve(REPO, "../shared/fixtures/xroad-soap"),
].find((dir) => existsSync(path.join(dir, "simple.query"))) as string;

interface StatsBody {
  total: number;
  inFlight: number;
  maxConcurrentSeen: number;
  calls: RecordedCall[];
}

async function waitFor(check: () => Promise<boolean>, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe("legacy-sim", () => {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  let sim: LegacySim;

  const call = (p: string, init: RequestInit = {}): Promise<Response> => fetch(sim.url + p, init);
  const json = async (
    p: string,
    init: RequestInit = {},
  ): Promise<{ status: number; body: Record<string, unknown> }> => {
    const res = await call(p, init);
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  const stats = async (query = ""): Promise<StatsBody> =>
    (await (await call(`/stats${query}`)).json()) as StatsBody;
  const putSettings = (patch: unknown): Promise<Response> =>
    call("/sim/settings", {
      method: "PUT",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(patch),
    });

  before(async () => {
    sim = await startLegacySim({ port: 0 });
  });
  after(async () => {
    await sim.close();
  });
  beforeEach(async () => {
    const res = await putSettings({
      latencyMs: 0,
      jitterMs: 0,
      maxConcurrency: 0,
      errorRate: 0,
      paused: false,
    });
    expect(res.status).to.equal(200);
    expect((await call("/stats", { method: "DELETE" })).status).to.equal(204);
  });

  describe("REST", () => {
    it("echoes any method and path as JSON and records the call", async () => {
      const res = await json("/orders/7?x=1&x=2&y=%C3%A4", {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "idempotency-key": "k-echo",
          "x-road-client": "EE/BUSINESS/consumer",
        },
        body: JSON.stringify({ name: "aäõ", n: 1 }),
      });
      expect(res.status).to.equal(200);
      expect(res.body).to.deep.equal({
        path: "/orders/7",
        method: "POST",
        query: { x: ["1", "2"], y: "ä" },
        received: { name: "aäõ", n: 1 },
        answer: 42,
        idempotencyKey: "k-echo",
      });
      const del = await json("/things", { method: "DELETE" });
      expect(del.body).to.include({ method: "DELETE", received: null, idempotencyKey: null });

      const s = await stats();
      expect(s.total).to.equal(2);
      expect(s.calls).to.have.length(2);
      const [first, second] = s.calls;
      expect(first).to.include({
        id: "k-echo",
        method: "POST",
        path: "/orders/7",
        status: 200,
        xroadClient: "EE/BUSINESS/consumer",
      });
      expect(first.endedAt).to.be.a("number").and.at.least(first.startedAt);
      expect(second).to.include({
        id: null,
        method: "DELETE",
        path: "/things",
        status: 200,
        xroadClient: null,
      });
      expect(sim.calls()).to.deep.equal(s.calls);
    });

    it("answers bad JSON and oversized bodies with 4xx and keeps serving", async () => {
      const bad = await json("/x", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "{nope",
      });
      expect(bad.status).to.equal(400);
      const big = await call("/x", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: "x".repeat(1024 * 1024 + 1),
      });
      expect(big.status).to.equal(413);
      await big.arrayBuffer();
      const text = await json("/x", {
        method: "PUT",
        headers: { "content-type": "text/plain" },
        body: "plain ä",
      });
      expect(text.status).to.equal(200);
      expect(text.body).to.include({ received: null, receivedText: "plain ä" });
      expect((await stats()).calls.map((c) => c.status)).to.deep.equal([400, 413, 200]);
    });

    it("honours latency from settings and from X-Sim-Latency", async () => {
      // A floor, on the monotonic clock: a loaded machine only lengthens the wait, and a wall
      // clock stepped meanwhile cannot shorten it.
      expect((await putSettings({ latencyMs: 150 })).status).to.equal(200);
      let started = performance.now();
      expect((await call("/slow")).status).to.equal(200);
      expect(performance.now() - started).to.be.at.least(140);

      await putSettings({ latencyMs: 0 });
      started = performance.now();
      expect((await call("/slow", { headers: { "x-sim-latency": "150" } })).status).to.equal(200);
      expect(performance.now() - started).to.be.at.least(140);
    });

    it("answers 503 with Retry-After beyond maxConcurrency and counts concurrency", async () => {
      await putSettings({ maxConcurrency: 2, paused: true });
      const held = [call("/held"), call("/held")];
      await waitFor(async () => (await stats()).inFlight === 2, "two calls in flight");
      const busy = await call("/held");
      expect(busy.status).to.equal(503);
      expect(busy.headers.get("retry-after")).to.equal("1");
      await busy.arrayBuffer();

      await putSettings({ paused: false });
      const answers = await Promise.all(held);
      expect(answers.map((r) => r.status)).to.deep.equal([200, 200]);
      await Promise.all(answers.map((r) => r.arrayBuffer()));
      const s = await stats();
      expect(s.maxConcurrentSeen).to.equal(3);
      expect(s.inFlight).to.equal(0);
      expect(s.calls.map((c) => c.status).sort()).to.deep.equal([200, 200, 503]);
    });

    it("answers every call 500 at errorRate 1", async () => {
      await putSettings({ errorRate: 1 });
      const statuses = await Promise.all(
        Array.from({ length: 10 }, async () => {
          const res = await call("/flaky", { method: "POST", body: "{}" });
          await res.arrayBuffer();
          return res.status;
        }),
      );
      expect(statuses).to.deep.equal(Array(10).fill(500));
      await putSettings({ errorRate: 0 });
      expect((await call("/flaky")).status).to.equal(200);
    });

    it("forces statuses through X-Sim-Status, /status/<code> and adds X-Sim-Retry-After", async () => {
      const rejected = await json("/r", { headers: { "x-sim-status": "404" } });
      expect(rejected.status).to.equal(404);
      expect(rejected.body).to.include({ status: 404 });
      const transient = await call("/status/503", { headers: { "x-sim-retry-after": "7" } });
      expect(transient.status).to.equal(503);
      expect(transient.headers.get("retry-after")).to.equal("7");
      await transient.arrayBuffer();
      const created = await json("/r", {
        method: "POST",
        headers: { "x-sim-status": "201" },
        body: "[1]",
      });
      expect(created.status).to.equal(201);
      expect(created.body).to.include({ answer: 42 });
      expect((await call("/r", { headers: { "x-sim-status": "abc" } })).status).to.equal(400);
      expect((await call("/r", { headers: { "x-sim-status": "700" } })).status).to.equal(400);
    });

    it("fails the first n calls with the same Idempotency-Key, then succeeds", async () => {
      const attempt = async (key: string): Promise<number> => {
        const res = await call("/retry", {
          method: "POST",
          headers: { "idempotency-key": key, "x-sim-fail-times": "2" },
          body: "{}",
        });
        await res.arrayBuffer();
        return res.status;
      };
      expect([
        await attempt("k1"),
        await attempt("k1"),
        await attempt("k2"),
        await attempt("k1"),
      ]).to.deep.equal([503, 503, 503, 200]);
      const k1 = await stats("?id=k1");
      expect(k1.calls.map((c) => c.status)).to.deep.equal([503, 503, 200]);
      expect(k1.calls.every((c) => c.id === "k1")).to.equal(true);
      expect(k1.total).to.equal(4);
      // Resetting the stats resets the fail counters too.
      await call("/stats", { method: "DELETE" });
      expect(await attempt("k1")).to.equal(503);
    });
    it("takes the same hooks from sim-* query parameters, which pass through Sluice", async () => {
      const rejected = await json("/q?sim-status=404&other=1");
      expect(rejected.status).to.equal(404);
      const first = await call("/q?sim-fail-times=1&sim-retry-after=3", {
        headers: { "idempotency-key": "q1" },
      });
      expect(first.status).to.equal(503);
      expect(first.headers.get("retry-after")).to.equal("3");
      await first.arrayBuffer();
      const second = await json("/q?sim-fail-times=1", { headers: { "idempotency-key": "q1" } });
      expect(second.status).to.equal(200);
      expect(second.body.query).to.deep.equal({ "sim-fail-times": "1" });
      expect((await call("/q?sim-latency=soon")).status).to.equal(400);
    });

    it("answers several responses under X-Multiple-Responses on sim-responses", async () => {
      const res = await call("/orders/7?sim-responses=3", {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": "multi-1" },
        body: JSON.stringify({ n: 1 }),
      });
      expect(res.status).to.equal(200);
      expect(res.headers.get("x-multiple-responses")).to.equal("true");
      const body = (await res.json()) as {
        responses: Array<{ status: number; body: Record<string, unknown> }>;
      };
      expect(body.responses.map((r) => [r.status, r.body.part, r.body.parts])).to.deep.equal([
        [200, 1, 3],
        [200, 2, 3],
        [200, 3, 3],
      ]);
      expect(body.responses[0].body).to.include({ path: "/orders/7", answer: 42 });
      expect(body.responses[2].body.received).to.deep.equal({ n: 1 });

      const header = await call("/x", {
        headers: { "x-sim-responses": "2", "x-sim-status": "201" },
      });
      expect(header.status).to.equal(201);
      expect(((await header.json()) as { responses: unknown[] }).responses).to.have.length(2);
      // A forced error status wins: an error answer is never split.
      const failed = await call("/x?sim-responses=2&sim-status=503");
      expect(failed.status).to.equal(503);
      expect(failed.headers.get("x-multiple-responses")).to.equal(null);
      await failed.arrayBuffer();
      for (const bad of ["0", "101", "two"]) {
        const refused = await call(`/x?sim-responses=${bad}`);
        expect(refused.status, bad).to.equal(400);
        await refused.arrayBuffer();
      }
    });
  });

  describe("settings and stats", () => {
    it("reads and validates settings, refusing a bad patch whole", async () => {
      const current = await json("/sim/settings");
      expect(current.body).to.deep.equal({
        latencyMs: 0,
        jitterMs: 0,
        maxConcurrency: 0,
        errorRate: 0,
        paused: false,
      });
      const bad = await putSettings({ latencyMs: -1, errorRate: 2, colour: "red", jitterMs: 5 });
      expect(bad.status).to.equal(400);
      const body = (await bad.json()) as { problems: string[] };
      expect(body.problems).to.have.length(3);
      expect((await json("/sim/settings")).body).to.include({ jitterMs: 0 });
      expect((await call("/sim/settings", { method: "PUT", body: "{" })).status).to.equal(400);
      const ok = await putSettings({ latencyMs: 5, jitterMs: 2 });
      expect(await ok.json()).to.include({ latencyMs: 5, jitterMs: 2 });
      expect(sim.settings).to.include({ latencyMs: 5, jitterMs: 2 });
    });

    it("holds calls while paused and releases them on resume", async () => {
      await putSettings({ paused: true });
      let done = false;
      const pending = call("/held", { headers: { "idempotency-key": "p1" } }).then((res) => {
        done = true;
        return res;
      });
      await waitFor(async () => (await stats()).inFlight === 1, "the call to arrive");
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(done).to.equal(false);
      const held = (await stats("?id=p1")).calls[0];
      expect(held).to.include({ endedAt: null, status: null });

      await putSettings({ paused: false });
      const res = await pending;
      expect(res.status).to.equal(200);
      await res.arrayBuffer();
      const [ended] = (await stats("?id=p1")).calls;
      expect(ended.status).to.equal(200);
      expect(ended.endedAt).to.be.at.least(ended.startedAt + 100);
    });

    it("resets the stats and filters them by time and count", async () => {
      for (let i = 0; i < 3; i++) await (await call(`/n/${i}`)).arrayBuffer();
      expect((await stats("?limit=2")).calls.map((c) => c.path)).to.deep.equal(["/n/1", "/n/2"]);
      const all = await stats();
      expect(all.total).to.equal(3);
      expect((await stats(`?since=${all.calls[2].startedAt + 1}`)).calls).to.have.length(0);
      await call("/stats", { method: "DELETE" });
      const empty = await stats();
      expect(empty.total).to.equal(0);
      expect(empty.calls).to.have.length(0);
    });
  });

  describe("SOAP", () => {
    let client: soap.Client;
    before(async () => {
      // The WSDL's address is relative: the client names the endpoint.
      client = await soap.createClientAsync(`${sim.url}/soap?wsdl`, {
        endpoint: `${sim.url}/soap`,
      });
    });

    it("serves the WSDL with a relative address, whatever Host the request names", async () => {
      const { port } = new URL(sim.url);
      // fetch() sets Host itself; a raw request writes the caller's own.
      const wsdl = await new Promise<string>((resolve, reject) => {
        const req = http.get(
          { host: "127.0.0.1", port, path: "/soap?wsdl", headers: { host: "evil.example:666" } },
          (res) => {
            let text = "";
            res.setEncoding("utf8");
            res.on("data", (chunk: string) => (text += chunk));
            res.on("end", () => resolve(text));
          },
        );
        req.on("error", reject);
      });
      expect(wsdl).to.not.include("evil.example");
      expect(
        [...wsdl.matchAll(/<soap:address location="([^"]*)"/g)].map((m) => m[1]),
      ).to.deep.equal(["/soap"]);
    });

    it("answers testQuery through a soap client and records the call", async () => {
      const [result] = (await client.testQueryAsync(
        { request: { name: "foo", age: 35 } },
        {},
        { "Idempotency-Key": "soap-1" },
      )) as [Record<string, unknown>];
      expect(result).to.deep.equal({ answer: "42", echo: "foo" });
      const [recorded] = (await stats("?id=soap-1")).calls;
      expect(recorded).to.include({ method: "POST", path: "/soap", status: 200 });
      // Fetching the WSDL is not a call of the legacy system.
      expect((await stats()).total).to.equal(1);
    });

    it("echoes getState text with non-ASCII characters intact", async () => {
      const [result] = (await client.getStateAsync("aäõ €𝄞")) as [Record<string, unknown>];
      expect(result).to.deep.equal({ response: "aäõ €𝄞" });
    });

    it("accepts an X-Road Body element passed verbatim as $xml", async () => {
      const element =
        '<xroad:getState xmlns:xroad="http://x-road.eu/xsd/xroad.xsd">aäõ</xroad:getState>';
      const [result] = (await client.getStateAsync({ $xml: element })) as [Record<string, unknown>];
      expect(result).to.deep.equal({ response: "aäõ" });
    });

    it("answers Client and Server faults on the marker texts", async () => {
      const faultOf = async (text: string): Promise<{ code: unknown; status: unknown }> => {
        try {
          await client.getStateAsync(text);
        } catch (error) {
          const e = error as {
            root?: { Envelope?: { Body?: { Fault?: { faultcode?: unknown } } } };
            response?: { status?: number };
          };
          return { code: e.root?.Envelope?.Body?.Fault?.faultcode, status: e.response?.status };
        }
        throw new Error("expected a SOAP fault");
      };
      expect(await faultOf("please FAULT-CLIENT")).to.deep.equal({
        code: "soap:Client",
        status: 500,
      });
      expect(await faultOf("FAULT-SERVER now")).to.deep.equal({ code: "soap:Server", status: 500 });
      expect((await stats()).calls.map((c) => c.status)).to.deep.equal([500, 500]);
    });

    it("takes sim-* markers from the SOAP body for retries through Sluice", async () => {
      const attempt = async (): Promise<number> => {
        try {
          await client.getStateAsync(
            "state sim-fail-times=1",
            {},
            { "Idempotency-Key": "soap-retry" },
          );
          return 200;
        } catch (error) {
          return (error as { response?: { status: number } }).response?.status ?? 0;
        }
      };
      expect([await attempt(), await attempt()]).to.deep.equal([503, 200]);
    });

    it("answers real X-Road requests and records the X-Road client", async () => {
      const post = async (
        file: string,
        headers: Record<string, string> = {},
      ): Promise<{ status: number; text: string }> => {
        const res = await call("/soap", {
          method: "POST",
          headers: { "content-type": "text/xml; charset=utf-8", ...headers },
          body: readFileSync(path.join(FIXTURES, file)),
        });
        return { status: res.status, text: await res.text() };
      };
      const simple = await post("simple.query");
      expect(simple.status).to.equal(200);
      expect(simple.text).to.match(
        /<tns:testQueryResponse><answer>42<\/answer><echo>foo<\/echo><\/tns:testQueryResponse>/,
      );
      const state = await post("getstate-subsystem.query");
      expect(state.status).to.equal(200);
      expect(state.text).to.include("<response>aäõ</response>");
      const [first, second] = (await stats()).calls;
      expect(first.xroadClient).to.equal("EE/BUSINESS/consumer");
      expect(second.xroadClient).to.equal("EE/BUSINESS/consumer/subsys1");

      for (const file of [
        "inconsistent-headers.query",
        "malformed-body2.query",
        "empty.query",
        "missing-body.query",
      ]) {
        const answer = await post(file);
        expect(answer.status, file).to.equal(500);
        expect(answer.text, file).to.include("<faultcode>soap:Client</faultcode>");
      }
      const busy = await post("simple.query", { "x-sim-status": "503", "x-sim-retry-after": "2" });
      expect(busy.status).to.equal(503);
      expect(busy.text).to.include("<faultcode>soap:Server</faultcode>");
    });
  });

  describe("lifecycle", () => {
    it("refuses bad options with every problem named", async () => {
      let message = "";
      try {
        await startLegacySim({ errorRate: 3, latencyMs: -5, soapServices: ["ok"] });
      } catch (error) {
        message = (error as Error).message;
      }
      expect(message).to.include("errorRate").and.include("latencyMs");
      let soapMessage = "";
      await startLegacySim({ soapServices: ["bad name"] }).catch(
        (error: Error) => (soapMessage = error.message),
      );
      expect(soapMessage).to.include("bad name");
    });

    it("closes promptly while calls are paused", async () => {
      const own = await startLegacySim({ latencyMs: 0 });
      own.update({ paused: true });
      const pending = fetch(`${own.url}/held`).then(
        (res) => res.status,
        () => "closed",
      );
      await waitFor(async () => own.stats().inFlight === 1, "the call to arrive");
      await own.close();
      expect(await pending).to.equal("closed");
    });

    it("runs as a process that logs its URL and exits 0 on SIGTERM", async () => {
      const script = `require(${JSON.stringify(path.join(REPO, "dist/legacy-sim/main.js"))}).runLegacySim({ port: 0 })`;
      const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
      let output = "";
      let errors = "";
      child.stderr.on("data", (chunk: Buffer) => (errors += chunk.toString()));
      // The start line, or the child's end: a process started on a loaded machine may take
      // longer than any fixed wait, so none is set here beyond the test's own timeout.
      const started = new Promise<void>((resolve, reject) => {
        child.stdout.on("data", (chunk: Buffer) => {
          output += chunk.toString();
          if (output.includes("\n")) resolve();
        });
        child.once("exit", (code, signal) =>
          reject(new Error(`exited (${code ?? signal}) before its start line: ${errors}`)),
        );
      });
      try {
        await started;
        const line = JSON.parse(output.split("\n")[0]) as { url: string; msg: string };
        expect(line.msg).to.equal(`legacy-sim listening on ${line.url}`);
        expect((await fetch(`${line.url}/ping`)).status).to.equal(200);
        const exit = new Promise<number | null>((resolve) => child.on("exit", resolve));
        child.kill("SIGTERM");
        expect(await exit).to.equal(0);
      } finally {
        if (child.exitCode === null) child.kill("SIGKILL");
      }
    });
  });
  describe("callback receiver on /hooks", () => {
    const SECRET = `whsec_${Buffer.alloc(32, 7).toString("base64")}`;
    const OTHER = `whsec_${Buffer.alloc(32, 9).toString("base64")}`;
    let own: LegacySim;
    const heard: ReceivedHook[] = [];
    before(async () => {
      own = await startLegacySim({ hookSecrets: [SECRET], onHook: (hook) => heard.push(hook) });
    });
    after(() => own.close());
    beforeEach(() => {
      own.reset();
      heard.length = 0;
    });

    const deliver = (secret: string, body: string, path = "/hooks/demo") =>
      fetch(`${own.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          ...signWebhook([secret], "msg_1.completed", body),
        },
        body,
      });

    it("accepts a correctly signed status document and lists it on GET /hooks", async () => {
      const body = JSON.stringify({ id: "m-1", state: "completed" });
      const res = await deliver(SECRET, body);
      expect(res.status).to.equal(200);
      expect(await res.json()).to.deep.equal({ received: true, signature: "valid" });
      const listed = (await (await fetch(`${own.url}/hooks`)).json()) as {
        received: ReceivedHook[];
      };
      expect(listed.received).to.have.length(1);
      expect(listed.received[0]).to.deep.include({
        path: "/hooks/demo",
        webhookId: "msg_1.completed",
        signature: "valid",
        id: "m-1",
        state: "completed",
        bytes: Buffer.byteLength(body),
      });
      expect(heard.map((h) => h.id)).to.deep.equal(["m-1"]);
      // A callback is not a call of the legacy system.
      expect(own.stats().total).to.equal(0);
    });

    it("lists a hub event by the message it is about", async () => {
      // An event wraps the status document: {eventId, …, event: {message: {id, state, …}}}.
      const body = JSON.stringify({
        eventId: "m-3.1",
        eventType: "MessageStateChangeEvent",
        correlationId: "m-3",
        event: { message: { id: "m-3", state: "completed" } },
      });
      expect((await deliver(SECRET, body)).status).to.equal(200);
      expect(own.hooks()[0]).to.deep.include({ id: "m-3", state: "completed" });
    });

    it("refuses a callback signed with another secret, or not at all, with 401", async () => {
      const body = JSON.stringify({ id: "m-2", state: "failed" });
      expect((await deliver(OTHER, body)).status).to.equal(401);
      const unsigned = await fetch(`${own.url}/hooks/demo`, { method: "POST", body });
      expect(unsigned.status).to.equal(401);
      expect(own.hooks().map((h) => h.signature)).to.deep.equal([
        "invalid: no matching signature",
        "invalid: missing header",
      ]);
    });

    it("accepts any callback unchecked when it was given no secret", async () => {
      const open = await startLegacySim();
      try {
        const res = await fetch(`${open.url}/hooks`, { method: "POST", body: "not json" });
        expect(res.status).to.equal(200);
        expect(open.hooks()[0]).to.deep.include({ signature: "not checked", id: null, bytes: 8 });
      } finally {
        await open.close();
      }
    });
  });
});
