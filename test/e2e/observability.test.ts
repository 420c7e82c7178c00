// What an operator reads about one message, across the three roles as separate processes:
// the same `id` key on every line of every role, the instance names they were given, one
// access-log line per request (refused ones included), nothing but JSON on the output even
// with many calls in flight, a backend redirect reported as a redirect, and (with tracing
// off) a caller's trace context passed on to the backend.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { CallbackReceiver } from "../integration/callback-receiver";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { RecordingBackend } from "./recording-backend";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";

/** The lines of a process that mention `text` anywhere. */
function mentioning(proc: SluiceProcess, text: string): Array<Record<string, unknown>> {
  return proc.lines.filter((line) => JSON.stringify(line).includes(text));
}

describe("observability: logs across the roles", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  let backend: RecordingBackend;
  let hooks: CallbackReceiver;
  const names = {
    adapter: `obs-adapter-${randomUUID().slice(0, 4)}`,
    worker: `obs-worker-${randomUUID().slice(0, 4)}`,
    responder: `obs-responder-${randomUUID().slice(0, 4)}`,
  };
  const harness = Harness.suite({
    sim: false,
    config: async () => {
      backend = await RecordingBackend.start();
      hooks = await CallbackReceiver.start({ tls: false });
      return {
        services: {
          notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "legacy" },
          lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "legacy" },
          hasty: { protocols: ["rest"], reply: { mode: "sync", wait: "10s" }, backend: "hasty" },
        },
        backends: {
          legacy: {
            translator: "rest-json",
            url: backend.url,
            maxInFlight: 20,
            retry: { attempts: 1, backoff: ["1s"] },
          },
          // The same backend with a timeout shorter than its `/slow` answer (400 ms).
          hasty: {
            translator: "rest-json",
            url: backend.url,
            timeout: "100ms",
            retry: { attempts: 1, backoff: ["1s"] },
          },
        },
        callbacks: hooks.loopbackCallbacks(SECRET),
      };
    },
    // One after the other: three cold starts at once can outlast the start timeout on a busy machine.
    roles: [
      { role: "response-worker", as: "responder", env: { SLUICE_INSTANCE: names.responder } },
      { role: "worker", env: { SLUICE_INSTANCE: names.worker } },
      { role: "adapter", env: { SLUICE_INSTANCE: names.adapter } },
    ],
  });
  const { roles } = harness;
  /** The worker's error line about message `id`, once it has come through the pipe. */
  const loggedError = (id: string) =>
    eventually(
      async () => roles.worker.lines.find((l) => l.id === id && l.level === "error"),
      10_000,
      `the worker's error line about ${id}`,
    );
  after(async () => {
    await hooks?.close();
    await backend?.close();
  });

  it("names each process by SLUICE_INSTANCE and says its role once on the ready line", () => {
    for (const [proc, name] of [
      [roles.adapter, names.adapter],
      [roles.worker, names.worker],
      [roles.responder, names.responder],
    ] as const) {
      expect(proc.lines.every((line) => line.instance === name)).to.equal(true);
      const ready = proc.output.find((text) => text.includes('"sluice ready"'));
      expect(ready?.match(/"role":/g), ready).to.have.length(1);
      expect(JSON.parse(ready!).instanceId).to.match(new RegExp(`^${name}-[0-9a-f]{8}$`));
      // No OTLP endpoint in this environment: nothing is recorded or exported.
      expect(JSON.parse(ready!).tracing).to.equal("off");
    }
  });

  it("every line about a message names it by `id`, with its X-Road id and client, in every role", async () => {
    const xroadId = randomUUID();
    const answer = await call(`${roles.adapter.url}/rest/notify`, {
      body: JSON.stringify({ case: 1 }),
      client: CLIENT,
      headers: { "X-Road-Id": xroadId, "X-Callback-Url": hooks.url("/hooks/one") },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    // A line each role writes about it, read once all three are in: the worker writes "backend
    // answered" after it published the answer, so the callback could be settled (and the
    // responder's line read) before the worker's line came through its pipe.
    const last = {
      adapter: "request",
      worker: "backend answered",
      responder: "callback delivery settled",
    };
    for (const [role, msg] of Object.entries(last) as Array<[keyof typeof last, string]>) {
      await eventually(
        async () => mentioning(roles[role], id).some((l) => l.msg === msg) || undefined,
        20_000,
        `the ${role}'s line "${msg}"`,
      );
    }
    for (const proc of [roles.adapter, roles.worker, roles.responder]) {
      const about = mentioning(proc, id);
      expect(about, proc.role).to.have.length.above(0);
      for (const line of about) {
        expect(line.id, JSON.stringify(line)).to.equal(id);
        expect(line.xroadId, JSON.stringify(line)).to.equal(xroadId);
        expect(line.client, JSON.stringify(line)).to.equal(CLIENT);
      }
    }
    for (const proc of [roles.adapter, roles.worker, roles.responder]) {
      expect(proc.lines.filter((line) => "messageId" in line)).to.deep.equal([]);
    }
  });

  it("writes one access line per request, a refused one included, with its fault code", async () => {
    const refusedId = randomUUID();
    const refused = await call(`${roles.adapter.url}/rest/notify`, {
      body: "{not json",
      client: CLIENT,
      headers: { "X-Road-Id": refusedId, "X-Callback-Url": hooks.url("/hooks/two") },
    });
    expect(refused.status).to.equal(400);
    const unknownId = randomUUID();
    const unknown = await call(`${roles.adapter.url}/rest/nosuch/person/38001010000?q=secret`, {
      client: CLIENT,
      headers: { "X-Road-Id": unknownId },
    });
    expect(unknown.status).to.equal(404);
    const soapId = randomUUID();
    const soap = await call(`${roles.adapter.url}/soap`, {
      body: "<not-soap/>",
      headers: { "Content-Type": "text/xml", "X-Road-Id": soapId },
      client: null,
    });
    expect(soap.status).to.equal(500);

    const accessLines = (xroadId: string) =>
      eventually(async () => {
        const found = roles.adapter.lines.filter(
          (l) => l.msg === "request" && l.xroadId === xroadId,
        );
        return found.length > 0 ? found : undefined;
      });
    const [one] = await accessLines(refusedId);
    expect(
      roles.adapter.lines.filter((l) => l.msg === "request" && l.xroadId === refusedId),
    ).to.have.length(1);
    expect(one).to.include({
      method: "POST",
      path: "/rest/notify",
      status: 400,
      service: "notify",
      client: CLIENT,
      code: "InvalidJson",
      outcome: "invalid",
    });
    expect(one.durationMs).to.be.a("number");

    const [missing] = await accessLines(unknownId);
    expect(missing).to.include({ status: 404, code: "UnknownService", service: "nosuch" });
    // The caller's own path and query may name a person: neither is logged.
    expect(missing.path).to.equal("/rest/nosuch/[redacted]");
    expect(JSON.stringify(missing)).to.not.include("38001010000");
    expect(JSON.stringify(missing)).to.not.include("secret");

    const [fault] = await accessLines(soapId);
    expect(fault).to.include({ method: "POST", path: "/soap", status: 500 });
    expect(fault.code).to.be.a("string").and.not.equal("");
  });

  it("an accepted request's access line carries the gateway id", async () => {
    const xroadId = randomUUID();
    const answer = await call(`${roles.adapter.url}/rest/notify`, {
      body: JSON.stringify({ case: 2 }),
      client: CLIENT,
      headers: { "X-Road-Id": xroadId, "X-Callback-Url": hooks.url("/hooks/three") },
    });
    expect(answer.status).to.equal(202);
    const line = await eventually(async () =>
      roles.adapter.lines.find((l) => l.msg === "request" && l.xroadId === xroadId),
    );
    expect(line).to.include({ status: 202, id: answer.json.id, outcome: "accepted", code: null });
  });

  it("reports a backend redirect as a redirect, with its own outcome and dead-letter reason", async () => {
    const answer = await call(`${roles.adapter.url}/rest/lookup/moved`, { client: CLIENT });
    expect(answer.status).to.equal(502);
    expect(answer.json.message).to.match(/redirect/);
    expect(answer.json.message).to.not.match(/translat/);
    const metricsText = await (await fetch(`${roles.worker.adminUrl}/metrics`)).text();
    expect(metricsText).to.match(
      /sluice_backend_calls_total\{backend="legacy",outcome="redirect"\} 1/,
    );
    expect(metricsText).to.match(
      /sluice_dead_letters_total\{backend="legacy",reason="backend_redirect"\} 1/,
    );
    // The worker's line comes through a pipe, maybe after the answer: waited for.
    const logged = await loggedError(answer.json.detail as string);
    expect(logged?.msg).to.match(/redirect/);
    expect(logged?.status).to.equal(302);
    // The log shows where the backend pointed as the dead letter does: no token in it.
    expect(logged?.location).to.equal("http://elsewhere.example/login?ticket=[redacted]");
    expect(mentioning(roles.worker, "t0k3n")).to.deep.equal([]);
    expect(mentioning(roles.worker, "sso:secret")).to.deep.equal([]);
    // Where the runbook sends the operator (SluiceDeadLetters, SluiceBackendErrors): the dead
    // letter and the last failed calls say what failed and where the backend pointed.
    const id = answer.json.detail as string;
    const dead = await harness.admin(roles.worker, `/admin/dead-letters/${id}`);
    expect(dead.status).to.equal(200);
    expect(dead.json.error).to.match(/answered 302 \(a redirect, not followed\)/);
    expect(dead.json.error).to.include(
      "(Location: http://elsewhere.example/login?ticket=[redacted])",
    );
    expect(dead.json.error).to.not.match(/secret|t0k3n/);
    // Noted without waiting for it, beside the answer's record.
    const noted = await eventually(async () => {
      const status = await harness.admin(roles.worker, "/admin/status");
      const backends = status.json.backends as Array<{
        name: string;
        recentFailures: Array<{ id: string; error: string; outcome: string }>;
      }>;
      return backends.find((b) => b.name === "legacy")?.recentFailures.find((f) => f.id === id);
    });
    expect(noted.error).to.equal(dead.json.error);
    expect(noted.outcome).to.match(/redirect/);
  });

  it("reports a backend timeout as a timeout, with its own outcome, and the sync caller gets 504", async () => {
    const answer = await call(`${roles.adapter.url}/rest/hasty/slow`, { client: CLIENT });
    expect(answer.status).to.equal(504);
    expect(answer.json.message).to.match(/timed out after 100 ms/);
    const metricsText = await (await fetch(`${roles.worker.adminUrl}/metrics`)).text();
    expect(metricsText).to.match(
      /sluice_backend_calls_total\{backend="hasty",outcome="timeout"\} 1/,
    );
    expect(metricsText).to.not.match(
      /sluice_backend_calls_total\{backend="hasty",outcome="poison"\}/,
    );
    const logged = await loggedError(answer.json.detail as string);
    expect(logged?.msg, JSON.stringify(logged)).to.equal("retries exhausted; dead-lettered");
    expect(logged?.err).to.match(/did not answer/);
  });

  it("passes a caller's trace context on to the backend unchanged while tracing is off", async () => {
    const traceparent = `00-${randomBytes(16).toString("hex")}-${randomBytes(8).toString("hex")}-01`;
    const answer = await call(`${roles.adapter.url}/rest/lookup/traced`, {
      client: CLIENT,
      headers: { traceparent, tracestate: "vendor=value" },
    });
    expect(answer.status).to.equal(200);
    const seen = backend.calls.find((c) => c.path.endsWith("/traced"));
    expect(seen?.headers.traceparent).to.equal(traceparent);
    expect(seen?.headers.tracestate).to.equal("vendor=value");
  });

  it("passes no trace context W3C Trace Context calls invalid on to the backend, whatever its tracestate", async () => {
    const trace = randomBytes(16).toString("hex");
    const span = randomBytes(8).toString("hex");
    const invalid = [
      `00-${trace.toUpperCase()}-${span}-01`,
      `00-${"0".repeat(32)}-${span}-01`,
      `00-${trace}-${"0".repeat(16)}-01`,
      `ff-${trace}-${span}-01`,
      `00-${trace}-${span}-01-extra`,
      `<script>${"x".repeat(8000)}`,
    ];
    for (const [n, traceparent] of invalid.entries()) {
      const answer = await call(`${roles.adapter.url}/rest/lookup/untraced-${n}`, {
        client: CLIENT,
        headers: { traceparent, tracestate: "vendor=value" },
      });
      expect(answer.status, traceparent.slice(0, 60)).to.equal(200);
      const seen = backend.calls.find((c) => c.path.endsWith(`/untraced-${n}`));
      expect(seen?.headers.traceparent, traceparent.slice(0, 60)).to.equal(undefined);
      expect(seen?.headers.tracestate, traceparent.slice(0, 60)).to.equal(undefined);
    }
  });

  it("writes nothing but JSON, also with more than ten calls in flight", async () => {
    const answers = await Promise.all(
      Array.from({ length: 16 }, () =>
        call(`${roles.adapter.url}/rest/lookup/slow`, { client: CLIENT }),
      ),
    );
    expect(answers.map((a) => a.status)).to.deep.equal(answers.map(() => 200));
    for (const proc of [roles.adapter, roles.worker, roles.responder]) {
      expect(proc.stderr(), proc.role).to.equal("");
      for (const text of proc.output) expect(() => JSON.parse(text), text).to.not.throw();
    }
  });
});
