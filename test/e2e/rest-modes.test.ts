// The REST path end to end on the real broker, Redis and HTTP: every reply mode, status reads,
// duplicates and each kind of bad input, against Sluice running as a real process.

import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { gzipSync } from "node:zlib";
import { expect } from "chai";
import { call, eventually, Harness, untilState } from "../support/harness";

describe("REST end to end (all roles in one process)", function () {
  this.timeout(30_000);
  let receiver: http.Server;
  const received: Array<{ headers: http.IncomingHttpHeaders; body: string }> = [];
  const harness = Harness.suite({
    sim: { latencyMs: 50 },
    config: async () => {
      receiver = http.createServer((req, res) => {
        let body = "";
        req.on("data", (chunk) => (body += chunk));
        req.on("end", () => {
          received.push({ headers: req.headers, body });
          res.writeHead(204).end();
        });
      });
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
      return {
        services: {
          echo: {
            protocols: ["rest"],
            schema: {
              type: "object",
              properties: { name: { type: "string" }, age: { type: "integer", minimum: 0 } },
              required: ["name"],
            },
            reply: { mode: "ack" },
            backend: "sim",
            maxBodySize: "4kb",
          },
          lookup: {
            protocols: ["rest"],
            reply: { mode: "sync", wait: "5s", maxWait: "10s" },
            backend: "sim",
          },
          notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
          restricted: {
            protocols: ["rest"],
            backend: "sim",
            allowedClients: ["EE/GOV/1/other", "EE/GOV/70+1/app"],
          },
        },
        backends: { sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } } },
        callbacks: {
          allow: [receiverUrl],
          allowHttp: true,
          allowPrivate: true,
          secret: "whsec_cmVzdC1tb2Rlcy10ZXN0LXNlY3JldC1rZXktMTIzNA==",
        },
      };
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;
  after(() => receiver?.close());

  it("ack mode: 202 with Location, Retry-After and the id; the status document gets the answer", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo/people?x=1`, {
      body: JSON.stringify({ name: "Mari", age: 41 }),
      headers: { "X-Road-Id": "ack-1" },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    expect(answer.headers.get("location")).to.equal(`/messages/${id}`);
    expect(Number(answer.headers.get("retry-after"))).to.be.at.least(1);
    expect(answer.headers.get("x-sluice-id")).to.equal(id);
    expect(answer.headers.get("x-road-id")).to.equal("ack-1");
    expect(answer.json).to.deep.equal({
      id,
      xroadId: "ack-1",
      state: "accepted",
      statusUrl: `/messages/${id}`,
    });

    const status = await untilState(roles.sluice, id, ["completed"]);
    expect(status.json.responses).to.have.length(1);
    expect(status.json.responses[0]).to.include({ seq: 1, final: true, status: 200 });
    expect(status.json.responses[0].body.received).to.deep.equal({ name: "Mari", age: 41 });
    expect(status.json.responses[0].body.path).to.equal("/people");
    expect(status.json.history.map((h: { state: string }) => h.state)).to.include.members([
      "accepted",
      "processing",
      "completed",
    ]);
    expect(status.headers.get("retry-after")).to.equal(null);
  });

  it("sync mode: the backend's answer in the same call", async () => {
    const answer = await call(`${roles.sluice.url}/rest/lookup`, {
      body: JSON.stringify({ q: 1 }),
      headers: { "X-Road-Id": "sync-1" },
    });
    expect(answer.status).to.equal(200);
    expect(answer.json.received).to.deep.equal({ q: 1 });
    expect(answer.headers.get("x-sluice-id")).to.match(/^[0-9a-f-]{36}$/);
    expect(answer.headers.get("x-road-id")).to.equal("sync-1");
    expect(answer.json.idempotencyKey).to.equal(answer.headers.get("x-sluice-id"));
  });

  it("sync mode falls back to 202 when the backend is slower than the wait", async () => {
    const answer = await call(`${roles.sluice.url}/rest/lookup?sim-latency=2500`, {
      body: "{}",
      headers: { Prefer: "wait=1" },
    });
    expect(answer.status).to.equal(202);
    expect(answer.headers.get("preference-applied")).to.equal("wait=1");
    const id = answer.json.id as string;
    const done = await untilState(roles.sluice, id, ["completed"]);
    expect(done.json.responses[0].status).to.equal(200);
    // The caller read the outcome it could not wait for: that is its delivery.
    expect(done.json.delivery).to.equal("delivered");
    expect(done.json.history.map((h: { state: string }) => h.state)).to.include("delivered");
  });

  it("a HEAD of a finished message's status delivers nothing; the GET that reads it does", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, { body: '{"name":"Head"}' });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    const head = () => call(`${roles.sluice.url}/messages/${id}`, { method: "HEAD" });
    // Finished once a HEAD no longer says when to look again.
    await eventually(
      async () => {
        const headed = await head();
        expect(headed.status).to.equal(200);
        return headed.headers.get("retry-after") === null ? headed : undefined;
      },
      10_000,
      `message ${id} finished`,
    );
    expect((await head()).text).to.equal("");
    const seen = async () =>
      (await harness.admin(roles.sluice, `/admin/messages/${id}`)).json as {
        state: string;
        delivery: string;
      };
    expect(await seen()).to.deep.include({ state: "completed", delivery: "pending" });
    const read = await call(`${roles.sluice.url}/messages/${id}`);
    expect(read.json).to.deep.include({ state: "completed", delivery: "delivered" });
    expect((await seen()).delivery).to.equal("delivered");
  });

  it("Prefer: respond-async turns a sync service into ack mode", async () => {
    const answer = await call(`${roles.sluice.url}/rest/lookup`, {
      body: "{}",
      headers: { Prefer: "respond-async" },
    });
    expect(answer.status).to.equal(202);
    expect(answer.headers.get("preference-applied")).to.equal("respond-async");
  });

  it("callback mode: the status document is POSTed to the allowlisted URL", async () => {
    const answer = await call(`${roles.sluice.url}/rest/notify`, {
      body: JSON.stringify({ event: "x" }),
      headers: {
        "X-Callback-Url": `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
      },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    const hit = await eventually(async () => {
      return received.find((r) => r.body.includes(id) && JSON.parse(r.body).state === "completed");
    });
    expect(hit.headers["webhook-id"]).to.be.a("string");
    expect(hit.headers["webhook-signature"]).to.match(/^v1,/);
  });

  it("callback mode with Prefer: wait: the answer within the wait, else 202; the callback follows either way", async () => {
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const slow = await call(`${roles.sluice.url}/rest/notify?sim-latency=2500`, {
      body: JSON.stringify({ event: "slow" }),
      headers: { "X-Callback-Url": hook, Prefer: "wait=1" },
    });
    expect(slow.status).to.equal(202);
    expect(slow.headers.get("preference-applied")).to.equal("wait=1");
    const fast = await call(`${roles.sluice.url}/rest/notify`, {
      body: JSON.stringify({ event: "fast" }),
      headers: { "X-Callback-Url": hook, Prefer: "wait=5" },
    });
    expect(fast.status).to.equal(200);
    expect(fast.json.received).to.deep.equal({ event: "fast" });
    for (const id of [slow.json.id as string, fast.headers.get("x-sluice-id") as string]) {
      await eventually(
        async () =>
          received.find((r) => r.body.includes(id) && JSON.parse(r.body).state === "completed"),
        10_000,
        `the callback of ${id}`,
      );
    }
  });

  it("callback mode refuses a target outside the allowlist", async () => {
    const answer = await call(`${roles.sluice.url}/rest/notify`, {
      body: "{}",
      headers: { "X-Callback-Url": "https://elsewhere.example.org/hook" },
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InvalidCallback");
  });

  it("refuses X-Callback-Url without Prefer: respond-async on an ack or sync service, accepting nothing", async () => {
    const hook = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    for (const service of ["echo", "lookup"]) {
      const xroadId = randomUUID();
      const answer = await call(`${roles.sluice.url}/rest/${service}`, {
        body: JSON.stringify({ name: "n" }),
        headers: { "X-Callback-Url": hook, "X-Road-Id": xroadId },
      });
      expect(answer.status, service).to.equal(400);
      expect(answer.json.type).to.equal("InvalidCallback");
      expect(answer.json.message).to.include("Prefer: respond-async");
      // Nothing was accepted: the same X-Road id is a new message, not a duplicate.
      const again = await call(`${roles.sluice.url}/rest/${service}`, {
        body: JSON.stringify({ name: "n" }),
        headers: { "X-Callback-Url": hook, "X-Road-Id": xroadId, Prefer: "respond-async" },
      });
      expect(again.status, again.text).to.equal(202);
      expect(again.headers.get("preference-applied")).to.equal("respond-async");
    }
  });

  it("a message's status is readable only by the client that sent it", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "a" }),
    });
    const id = answer.json.id as string;
    const other = await call(`${roles.sluice.url}/messages/${id}`, {
      client: "EE/GOV/99999999/intruder",
    });
    expect(other.status).to.equal(404);
    expect(other.json.type).to.equal("NotFound");
    const unknown = await call(`${roles.sluice.url}/messages/00000000-0000-4000-8000-000000000000`);
    expect(unknown.status).to.equal(404);
    const own = await call(`${roles.sluice.url}/messages/${id}`);
    expect(own.status).to.equal(200);
    expect(own.json.id).to.equal(id);
  });

  it("a duplicate submission (same client and X-Road-Id) returns the same id and calls the backend once", async () => {
    const xroadId = `dup-${Date.now()}`;
    const first = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "d" }),
      headers: { "X-Road-Id": xroadId },
    });
    const second = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "d" }),
      headers: { "X-Road-Id": xroadId },
    });
    expect(first.status).to.equal(202);
    expect(second.status).to.equal(202);
    expect(second.json.id).to.equal(first.json.id);
    await untilState(roles.sluice, first.json.id, ["completed"]);
    const third = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "d" }),
      headers: { "X-Road-Id": xroadId },
    });
    expect(third.json.id ?? third.headers.get("x-sluice-id")).to.equal(first.json.id);
    expect(harness.sim.calls({ id: first.json.id })).to.have.length(1);
    // Another client may use the same X-Road id: it is a different message.
    const other = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "d" }),
      headers: { "X-Road-Id": xroadId },
      client: "EE/GOV/70000002/other-app",
    });
    expect(other.json.id).to.not.equal(first.json.id);
  });

  it("invalid JSON → 400 InvalidJson", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, { body: '{"name": ' });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InvalidJson");
    expect(answer.json.detail).to.equal(null);
    expect(answer.text).to.not.match(/at .*\.js:\d+/);
  });

  it("schema violations → 400 ValidationFailed with the ajv error paths", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ age: -1 }),
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("ValidationFailed");
    const paths = (answer.json.errors as Array<{ path: string }>).map((e) => e.path);
    expect(paths).to.include.members(["/name", "/age"]);
  });

  it("a POST, PUT or PATCH without a body to a service with a schema → 400 ValidationFailed; GET passes", async () => {
    const before = harness.sim.calls().length;
    for (const method of ["POST", "PUT", "PATCH"]) {
      // No body at all, and an empty one declared as JSON (Content-Length: 0).
      for (const body of [undefined, ""]) {
        const answer = await call(`${roles.sluice.url}/rest/echo`, { method, body });
        expect(answer.status, `${method} ${JSON.stringify(body)}`).to.equal(400);
        expect(answer.json.type).to.equal("ValidationFailed");
        expect(answer.json.errors).to.deep.equal([
          { path: "/", message: "is required (the request has no body)" },
        ]);
      }
    }
    // A method without a body has nothing for the schema to check; a service without a schema
    // takes a POST without a body as it is.
    expect((await call(`${roles.sluice.url}/rest/echo`, { method: "GET" })).status).to.equal(202);
    const bare = await call(`${roles.sluice.url}/rest/lookup`, {
      method: "POST",
      headers: { prefer: "respond-async" },
    });
    expect(bare.status).to.equal(202);
    await eventually(async () => (harness.sim.calls().length >= before + 2 ? true : undefined));
    expect(
      harness.sim
        .calls()
        .slice(before)
        .map((c) => c.method),
    ).to.have.members(["GET", "POST"]);
  });

  it("JSON nested deeper than the limit → 400, and the adapter keeps serving", async () => {
    const answer = await call(`${roles.sluice.url}/rest/lookup`, {
      body: "[".repeat(2000) + "]".repeat(2000),
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InvalidJson");
  });

  it("unknown service → 404 UnknownService", async () => {
    const answer = await call(`${roles.sluice.url}/rest/noSuchService`, { body: "{}" });
    expect(answer.status).to.equal(404);
    expect(answer.json.type).to.equal("UnknownService");
  });

  it("a name that is not a configured service (even Object.prototype's) → 404", async () => {
    for (const name of ["toString", "__proto__", "constructor"]) {
      const answer = await call(`${roles.sluice.url}/rest/${name}`, { body: "{}" });
      expect(answer.status, name).to.equal(404);
      expect(answer.json.type).to.equal("UnknownService");
    }
  });

  it("malformed percent-encoding in the path → 404, with the caller's X-Road-Id echoed", async () => {
    const answer = await call(`${roles.sluice.url}/rest/%E0%A4%A`, {
      body: "{}",
      headers: { "X-Road-Id": "bad-path" },
    });
    expect(answer.status).to.equal(404);
    expect(answer.json.type).to.equal("UnknownService");
    expect(answer.headers.get("x-road-id")).to.equal("bad-path");
  });

  it("status reads and errors echo the caller's own X-Road-Id", async () => {
    const sent = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "e" }),
      headers: { "X-Road-Id": "orig" },
    });
    const read = await call(`${roles.sluice.url}/messages/${sent.json.id}`, {
      headers: { "X-Road-Id": "poll-1" },
    });
    expect(read.headers.get("x-road-id")).to.equal("poll-1");
    const missing = await call(`${roles.sluice.url}/messages/nope`, {
      headers: { "X-Road-Id": "poll-2" },
    });
    expect(missing.status).to.equal(404);
    expect(missing.headers.get("x-road-id")).to.equal("poll-2");
  });

  it("Prefer: respond-async, wait=N answers within N seconds when the backend is fast", async () => {
    const fast = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "w" }),
      headers: { Prefer: "respond-async, wait=5" },
    });
    expect(fast.status).to.equal(200);
    expect(fast.headers.get("preference-applied")).to.equal("respond-async, wait=5");
    const slow = await call(`${roles.sluice.url}/rest/echo?sim-latency=2000`, {
      body: JSON.stringify({ name: "w" }),
      headers: { Prefer: "respond-async, wait=1" },
    });
    expect(slow.status).to.equal(202);
  });

  it("body over the service's limit → 413", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "x".repeat(10_000) }),
    });
    expect(answer.status).to.equal(413);
    expect(answer.json.type).to.equal("PayloadTooLarge");
  });

  it("a media type the service does not take → 415", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: "<a/>",
      headers: { "Content-Type": "application/xml" },
    });
    expect(answer.status).to.equal(415);
    expect(answer.json.type).to.equal("InvalidContentType");
  });

  it("a body in a content coding (gzip) → 415, whether it is encoded or only labelled so", async () => {
    const json = JSON.stringify({ name: "coded" });
    for (const body of [gzipSync(json), Buffer.from(json)]) {
      const answer = await call(`${roles.sluice.url}/rest/echo`, {
        body,
        headers: { "Content-Type": "application/json", "Content-Encoding": "gzip" },
      });
      expect(answer.status, answer.text).to.equal(415);
      expect(answer.json.type).to.equal("InvalidContentType");
      expect(answer.json.message).to.match(/Content-Encoding \(gzip\) is not supported/);
    }
    const identity = await call(`${roles.sluice.url}/rest/echo`, {
      body: json,
      headers: { "Content-Encoding": "identity" },
    });
    expect(identity.status, identity.text).to.be.oneOf([200, 202]);
  });

  it("missing or repeated X-Road-Client → 400; a client not allowed → 403", async () => {
    const missing = await call(`${roles.sluice.url}/rest/echo`, { body: "{}", client: null });
    expect(missing.status).to.equal(400);
    expect(missing.json.type).to.equal("MissingHeader");
    const repeated = await new Promise<number>((resolve, reject) => {
      const req = http.request(`${roles.sluice.url}/rest/echo`, { method: "POST" }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on("error", reject);
      req.setHeader("Content-Type", "application/json");
      req.setHeader("X-Road-Client", ["EE/GOV/1/a", "EE/GOV/2/b"]);
      req.end('{"name":"x"}');
    });
    expect(repeated).to.equal(400);
    const denied = await call(`${roles.sluice.url}/rest/restricted`, { body: "{}" });
    expect(denied.status).to.equal(403);
    expect(denied.json.type).to.equal("AccessDenied");
  });

  it("X-Road-Client is read part by part percent-decoded (PR-REST §4.3), as a SOAP caller's client is", async () => {
    // A client whose member code holds "+" (PR-REST §4.8), its parts encoded as PR-REST asks.
    const encoded = "EE/GOV/70%2B1/app";
    const accepted = await call(`${roles.sluice.url}/rest/restricted`, {
      body: "{}",
      client: encoded,
    });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    // The same client, written without encoding, owns the message; another does not.
    const own = await call(`${roles.sluice.url}/messages/${id}`, { client: "EE/GOV/70+1/app" });
    expect(own.status, own.text).to.equal(200);
    expect(
      (await call(`${roles.sluice.url}/messages/${id}`, { client: "EE/GOV/7001/app" })).status,
    ).to.equal(404);
    // Malformed encoding, or an encoded separator, names no client.
    for (const client of ["EE/GOV/70%2/app", "EE/GOV/70%2F1/app"]) {
      const refused = await call(`${roles.sluice.url}/rest/restricted`, { body: "{}", client });
      expect(refused.status, client).to.equal(400);
      expect(refused.json.type, client).to.equal("InvalidHeader");
    }
  });

  it("X-Road-Service naming another service → 400 InconsistentHeaders", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "x" }),
      headers: { "X-Road-Service": "EE/GOV/70000009/registry/otherService" },
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InconsistentHeaders");
  });

  it("a malformed X-Road-Service → 400 InvalidHeader, not a different service; a well-formed one passes", async () => {
    for (const value of [
      "echo",
      "EE/GOV/echo",
      "EE//70000009/registry/echo",
      "EE/GOV/1/a/b/c/echo",
      "EE/GOV/%zz/registry/echo",
      // Dot segments would make the Location's /r1/<provider>/… path name another resource.
      "EE/GOV/../registry/echo",
      "EE/./70000009/registry/echo",
      "EE/GOV/70000009/%2E%2E/echo",
      "EE/GOV/70000009/%2e/echo",
      "EE/GOV/70000009/registry/echo/..",
    ]) {
      const answer = await call(`${roles.sluice.url}/rest/echo`, {
        body: JSON.stringify({ name: "x" }),
        headers: { "X-Road-Service": value },
      });
      expect(answer.status, value).to.equal(400);
      expect(answer.json.type, value).to.equal("InvalidHeader");
    }
    for (const value of [
      "EE/GOV/70000009/registry/echo",
      "EE/GOV/70000009/registry/echo/v1",
      "EE/GOV/70000009/echo",
    ]) {
      const answer = await call(`${roles.sluice.url}/rest/echo`, {
        body: JSON.stringify({ name: "x" }),
        headers: { "X-Road-Service": value },
      });
      expect(answer.status, value).to.equal(202);
    }
  });

  it("a rejected message (backend 4xx) is never retried; sync callers get the backend's answer", async () => {
    const answer = await call(`${roles.sluice.url}/rest/lookup?sim-status=404`, { body: "{}" });
    expect(answer.status).to.equal(404);
    const id = answer.headers.get("x-sluice-id")!;
    const status = await call(`${roles.sluice.url}/messages/${id}`);
    expect(status.json.state).to.equal("rejected");
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("a transient failure is retried and then succeeds", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo?sim-fail-times=1`, {
      body: JSON.stringify({ name: "r" }),
    });
    const id = answer.json.id as string;
    const done = await untilState(roles.sluice, id, ["completed"], 15_000);
    expect(done.json.responses[0].status).to.equal(200);
    expect(harness.sim.calls({ id })).to.have.length(2);
  });

  it("DELETE of a message the backend already processed → 409 Conflict", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: JSON.stringify({ name: "c" }),
    });
    const id = answer.json.id as string;
    const done = await untilState(roles.sluice, id, ["completed"]);
    expect(done.status).to.equal(200);
    const late = await call(`${roles.sluice.url}/messages/${id}`, { method: "DELETE" });
    expect(late.status).to.equal(409);
    expect(late.json.type).to.equal("Conflict");
  });
});
