// The consumer direction end to end, on real processes: a local caller → Sluice (consumer side,
// xroad-rest / xroad-soap backends) → xroad-sim → Sluice (provider side) → legacy-sim, and the
// answer all the way back; a rate limit towards the remote service held by two workers; each
// error class of the security server ending in its documented outcome.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { maxInWindow } from "../../legacy-sim/arrival-windows";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import {
  call,
  eventually,
  Harness,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import { CallbackReceiver } from "../integration/callback-receiver";
import { childElements, parseXml } from "../../adapter/soap/safe-xml";
import {
  CONSUMER,
  LOCAL_APP,
  localSoapCall,
  REST_PROVIDER,
  SOAP_PROVIDER,
  TERMINAL,
  XRD,
  IDS,
  NS,
} from "./consumer-support";
import { freshConnectionPerFetch } from "../support/fresh-connections";

/** The client a service of its own names: taken for callers without X-Road-Client, and sent on. */
const REGISTRY_CLIENT = "EE/GOV/70000001/case-registry";
/** The parts of a status document these tests read. */
interface StatusDocument {
  state: string;
  error: { code: string; message: string } | null;
  responses: Array<{
    status: number;
    body: string;
    bodyEncoding?: string;
    headers?: Record<string, string>;
  }>;
}

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

describe("consumer direction end to end (local caller → Sluice → xroad-sim → Sluice → legacy-sim)", function () {
  freshConnectionPerFetch();
  // "holds the remote service's rate limit" starts a worker and waits up to 42 s besides.
  this.timeout(START_TIMEOUT_MS + 90_000);
  const provider = new Harness();
  const consumer = new Harness();
  let providerSluice: SluiceProcess;
  let local: SluiceProcess; // the consumer side's adapter (and response worker, worker)
  let sim: XroadSim;
  let echoStub: http.Server;
  /** A "security server" that answers every SOAP call 200 with no body; counts its calls. */
  let hollowStub: http.Server;
  let hollowCalls = 0;
  /** A "security server" that answers REST calls for another X-Road id; counts its calls. */
  let strayStub: http.Server;
  let strayCalls = 0;
  /** A remote provider that redirects (/moved) or answers 202 of its own (/later). */
  let answersStub: http.Server;
  /** The request headers each call of the remote provider's /headers got, in order. */
  const headersSeen: http.IncomingHttpHeaders[] = [];
  let receiver: CallbackReceiver;

  async function status(id: string): Promise<StatusDocument> {
    const answer = await call(`${local.url}/messages/${id}`, { client: LOCAL_APP });
    expect(answer.status, answer.text).to.equal(200);
    return answer.json as StatusDocument;
  }

  async function settled(id: string, timeoutMs = 30_000): Promise<StatusDocument> {
    return eventually(
      async () => {
        const doc = await status(id);
        return TERMINAL.includes(doc.state) ? doc : undefined;
      },
      timeoutMs,
      `message ${id} to settle`,
    );
  }

  const simCalls = (service: string) =>
    sim.calls().filter((c) => c.path === `/r1/${service}` || c.path.startsWith(`/r1/${service}/`));

  before(async () => {
    // The provider organisation: Sluice in front of its legacy system.
    await provider.startSim({ recordDetails: true });
    provider.writeConfig({
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "20s" }, backend: "legacy" },
        getState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync" },
          backend: "legacy-soap",
        },
      },
      backends: {
        legacy: { translator: "rest-json" },
        "legacy-soap": { translator: "soap" },
      },
    });
    providerSluice = await provider.spawn("all");

    // A provider that answers SOAP with someone else's header (another user id).
    echoStub = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        const header = /<SOAP-ENV:Header>([\s\S]*)<\/SOAP-ENV:Header>/.exec(body)?.[1] ?? "";
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(
          `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}"><SOAP-ENV:Header>${header.replace("EE12345678901", "EE00000000000")}</SOAP-ENV:Header><SOAP-ENV:Body><st:getStateResponse xmlns:st="${NS}"><st:state>someone else's</st:state></st:getStateResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
        );
      });
    });
    await new Promise<void>((resolve) => echoStub.listen(0, "127.0.0.1", resolve));
    const stubUrl = `http://127.0.0.1:${(echoStub.address() as AddressInfo).port}`;
    hollowStub = http.createServer((req, res) => {
      hollowCalls += 1;
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-length": "0" }).end());
    });
    await new Promise<void>((resolve) => hollowStub.listen(0, "127.0.0.1", resolve));
    const hollowUrl = `http://127.0.0.1:${(hollowStub.address() as AddressInfo).port}`;
    strayStub = http.createServer((req, res) => {
      strayCalls += 1;
      req.resume();
      req.on("end", () =>
        res
          .writeHead(200, {
            "content-type": "application/json",
            "x-road-client": String(req.headers["x-road-client"]),
            "x-road-service": `${REST_PROVIDER}/stray`,
            "x-road-id": "someone-elses-call",
          })
          .end('{"person":"someone else"}'),
      );
    });
    await new Promise<void>((resolve) => strayStub.listen(0, "127.0.0.1", resolve));
    const strayUrl = `http://127.0.0.1:${(strayStub.address() as AddressInfo).port}`;
    answersStub = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.url?.startsWith("/headers")) {
          headersSeen.push(req.headers);
          res.writeHead(200, { "content-type": "application/json" }).end('{"found":true}');
        } else if (req.url?.startsWith("/origin-bound")) {
          // What a browser or an HTTP client would take as Sluice's own, for Sluice's origin.
          res
            .writeHead(200, {
              "content-type": "application/json",
              "set-cookie": "remote-session=abc; Path=/",
              "strict-transport-security": "max-age=31536000; includeSubDomains",
              "access-control-allow-origin": "*",
              "access-control-allow-credentials": "true",
              "alt-svc": 'h3=":443"',
              "clear-site-data": '"cookies"',
              refresh: "0; url=/rest/lookup",
              link: "<https://tracker.example/>; rel=preconnect, <https://tracker.example/x.css>; rel=stylesheet",
              nel: '{"report_to":"remote","max_age":31536000,"include_subdomains":true}',
              "report-to":
                '{"group":"remote","max_age":31536000,"endpoints":[{"url":"https://tracker.example/r"}]}',
              "service-worker-allowed": "/",
              etag: '"v1"',
              "x-remote-note": "kept",
            })
            .end('{"found":true}');
        } else if (req.url?.startsWith("/page")) {
          // A page with a script, and the provider's own policy that would let it run.
          res
            .writeHead(200, {
              "content-type": "text/html; charset=utf-8",
              "content-security-policy": "script-src 'unsafe-inline'",
              "x-content-type-options": "sniff",
            })
            .end("<script>fetch('/messages/')</script>");
        } else if (req.url?.startsWith("/moved")) {
          res.writeHead(307, { location: "/rest/lookup?to=elsewhere" }).end("moved");
        } else {
          res
            .writeHead(202, {
              "content-type": "application/json",
              location: `/r1/${REST_PROVIDER}/messages/remote-1`,
              "retry-after": "1",
            })
            .end('{"id":"remote-1","state":"accepted"}');
        }
      });
    });
    await new Promise<void>((resolve) => answersStub.listen(0, "127.0.0.1", resolve));
    const answersUrl = `http://127.0.0.1:${(answersStub.address() as AddressInfo).port}`;
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve));
    const deadUrl = `http://127.0.0.1:${(spare.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => spare.close(() => resolve()));

    // The security server, in both roles (the consumer's and the provider's).
    const sluiceUrl = providerSluice.url;
    sim = await startXroadSim({
      services: {
        [`${REST_PROVIDER}/lookup`]: { url: `${sluiceUrl}/rest/lookup` },
        [`${SOAP_PROVIDER}/getState`]: { url: `${sluiceUrl}/soap`, type: "soap" },
        [`${REST_PROVIDER}/limited`]: { url: `${provider.sim.url}/limited` },
        [`${REST_PROVIDER}/denied`]: {
          url: `${sluiceUrl}/rest/lookup`,
          allowedClients: ["EE/GOV/70000009/someone-else"],
        },
        [`${REST_PROVIDER}/down`]: { url: deadUrl },
        [`${REST_PROVIDER}/slow`]: { url: `${provider.sim.url}/slow`, timeout: "300ms" },
        [`${SOAP_PROVIDER}/unreachable`]: { url: deadUrl, type: "soap" },
        [`${REST_PROVIDER}/moved`]: { url: `${answersUrl}/moved` },
        [`${REST_PROVIDER}/later`]: { url: `${answersUrl}/later` },
        [`${REST_PROVIDER}/originBound`]: { url: `${answersUrl}/origin-bound` },
        [`${REST_PROVIDER}/page`]: { url: `${answersUrl}/page` },
        [`${REST_PROVIDER}/headers`]: { url: `${answersUrl}/headers` },
        [`${REST_PROVIDER}/credentialDown`]: { url: deadUrl },
      },
    });

    receiver = await CallbackReceiver.start({ tls: false });
    // The consumer organisation: Sluice in front of its security server.
    const remote = (service: string, extra: Record<string, unknown> = {}) => ({
      translator: "xroad-rest",
      service,
      timeout: "10s",
      retry: { attempts: 2, backoff: ["200ms"] },
      ...extra,
    });
    const rest = (backend: string, mode = "ack", extra: Record<string, unknown> = {}) => ({
      protocols: ["rest"],
      reply: { mode, wait: "20s" },
      backend,
      ...extra,
    });
    consumer.writeConfig({
      callbacks: receiver.loopbackCallbacks(SECRET),
      securityServer: { url: sim.url, client: CONSUMER },
      services: {
        lookup: rest("registry", "sync", { client: REGISTRY_CLIENT }),
        lookupLater: rest("registry", "ack", { client: REGISTRY_CLIENT }),
        getState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync" },
          backend: "registry-soap",
        },
        // The same remote service under another local name.
        askState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync" },
          backend: "registry-soap",
        },
        getStateLater: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "ack" },
          backend: "registry-soap",
        },
        echoed: { protocols: ["soap"], namespace: NS, reply: { mode: "ack" }, backend: "echoed" },
        hollow: { protocols: ["soap"], namespace: NS, reply: { mode: "ack" }, backend: "hollow" },
        unreachable: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "ack" },
          backend: "unreachable",
        },
        limited: rest("limited"),
        denied: rest("denied"),
        ghost: rest("ghost"),
        down: rest("down"),
        stray: rest("stray"),
        slow: rest("slow"),
        moved: rest("moved", "sync"),
        later: rest("later", "sync"),
        originBound: rest("originBound", "sync"),
        page: rest("page", "sync"),
        headersDefault: rest("headersDefault", "sync"),
        headersNamed: rest("headersNamed", "sync"),
        headersCredential: rest("headersCredential", "sync"),
        credentialDown: rest("credentialDown"),
      },
      backends: {
        registry: remote(`${REST_PROVIDER}/lookup`),
        "registry-soap": { ...remote(`${SOAP_PROVIDER}/getState`), translator: "xroad-soap" },
        // Its own security server (a backend's url): one that does not check the answer's
        // header as X-Road's does, so Sluice's own check is what stops the stray answer.
        echoed: { ...remote(`${SOAP_PROVIDER}/echoed`), translator: "xroad-soap", url: stubUrl },
        unreachable: { ...remote(`${SOAP_PROVIDER}/unreachable`), translator: "xroad-soap" },
        // Its own security server (a backend's url): one that answers 200 with nothing.
        hollow: { ...remote(`${SOAP_PROVIDER}/hollow`), translator: "xroad-soap", url: hollowUrl },
        limited: remote(`${REST_PROVIDER}/limited`, {
          // Through two security servers a call's delay varies more than on a LAN: a wider guard.
          rate: { limit: 2, per: "1s", burst: 1, guard: "300ms" },
          maxInFlight: 4,
        }),
        denied: remote(`${REST_PROVIDER}/denied`),
        ghost: remote(`${REST_PROVIDER}/ghost`),
        down: remote(`${REST_PROVIDER}/down`),
        stray: remote(`${REST_PROVIDER}/stray`, { url: strayUrl }),
        slow: remote(`${REST_PROVIDER}/slow`, {
          options: { headers: { "x-sim-latency": "2000" } },
        }),
        moved: remote(`${REST_PROVIDER}/moved`),
        later: remote(`${REST_PROVIDER}/later`),
        originBound: remote(`${REST_PROVIDER}/originBound`),
        page: remote(`${REST_PROVIDER}/page`),
        // One remote service, called without and with a header of its own named.
        headersDefault: remote(`${REST_PROVIDER}/headers`),
        headersNamed: remote(`${REST_PROVIDER}/headers`, {
          options: { forwardHeaders: ["X-Case-Version"] },
        }),
        // The same service again, with the end user's token opted in.
        headersCredential: remote(`${REST_PROVIDER}/headers`, {
          options: { forwardCredentials: ["Authorization"] },
        }),
        credentialDown: remote(`${REST_PROVIDER}/credentialDown`, {
          options: { forwardCredentials: ["Authorization"] },
        }),
      },
    });
    local = await consumer.spawn("all");
  });

  after(async () => {
    await consumer.cleanup();
    await sim?.close();
    await new Promise<void>((resolve) => (echoStub ? echoStub.close(() => resolve()) : resolve()));
    await new Promise<void>((resolve) =>
      hollowStub ? hollowStub.close(() => resolve()) : resolve(),
    );
    answersStub?.closeAllConnections();
    await new Promise<void>((resolve) =>
      answersStub ? answersStub.close(() => resolve()) : resolve(),
    );
    strayStub?.closeAllConnections();
    await new Promise<void>((resolve) =>
      strayStub ? strayStub.close(() => resolve()) : resolve(),
    );
    await provider.cleanup();
    await receiver?.close();
  });

  it("REST sync: the answer comes back; the provider side sees the service's client, the service and the gateway id", async () => {
    // The local caller sends no X-Road-Client: the service's own client is taken.
    const answer = await call(`${local.url}/rest/lookup/persons/42?full=true`, {
      client: null,
      body: '{"name":"Mari"}',
      headers: { "X-Road-UserId": "EE12345678901" },
    });
    expect(answer.status, answer.text).to.equal(200);
    const gatewayId = answer.headers.get("x-sluice-id");
    const seen = provider.sim.calls().filter((c) => c.path === "/persons/42");
    expect(seen).to.have.length(1);
    const headers = seen[0].headers!;
    expect(headers["x-road-client"]).to.equal(REGISTRY_CLIENT);
    expect(sim.calls().map((c) => c.service)).to.include(`${REST_PROVIDER}/lookup`);
    // A security server tells the provider the client and the id, not the service.
    expect(headers["x-road-service"]).to.equal(undefined);
    expect(headers["x-road-id"]).to.equal(gatewayId);
    expect(headers["x-road-userid"]).to.equal("EE12345678901");
    expect(seen[0].body!.toString("utf8")).to.equal('{"name":"Mari"}');
    // The names both security servers' message logs file the exchange under (PR-REST §4.3).
    expect(answer.headers.get("x-road-request-id")).to.equal(headers["x-road-request-id"]);
    expect(answer.headers.get("x-road-request-hash")).to.match(/^[A-Za-z0-9+/]{20,}={0,2}$/);
    // The local caller reads its message as the service's client, without naming it.
    const doc = await call(`${local.url}/messages/${gatewayId}`, { client: null });
    expect(doc.status, doc.text).to.equal(200);
    expect(doc.json.state).to.equal("completed");
  });

  it("REST ack: 202 at once, then the provider's answer in the status document", async () => {
    const answer = await call(`${local.url}/rest/lookupLater/persons/7`, {
      client: LOCAL_APP,
      body: '{"name":"Jaan"}',
    });
    expect(answer.status, answer.text).to.equal(202);
    const doc = await settled(answer.json.id);
    expect(doc.state).to.equal("completed");
    expect(doc.responses[0].status).to.equal(200);
    const seen = provider.sim.calls().find((c) => c.path === "/persons/7");
    expect(seen?.headers?.["x-road-id"]).to.equal(answer.json.id);
    expect(doc.responses[0].headers?.["x-road-request-id"]).to.equal(
      seen?.headers?.["x-road-request-id"],
    );
    expect(doc.responses[0].headers?.["x-road-request-hash"]).to.be.a("string");
    // A local caller's own client is not sent on: Sluice calls as the client it is registered as.
    expect(seen?.headers?.["x-road-client"]).to.equal(REGISTRY_CLIENT);
  });

  it("callbacks and cancel work as in the provider direction, for a caller without X-Road-Client", async () => {
    // Callback: the outcome is POSTed, signed, to the caller's target.
    const submitted = await call(`${local.url}/rest/lookupLater/persons/8`, {
      client: null,
      body: "{}",
      headers: { Prefer: "respond-async", "X-Callback-Url": receiver.url("/hooks/lookup") },
    });
    expect(submitted.status, submitted.text).to.equal(202);
    const delivery = await eventually(
      async () =>
        receiver.calls.find(
          (c) => c.path === "/hooks/lookup" && JSON.parse(c.body).id === submitted.json.id,
        ),
      20_000,
      "the callback",
    );
    expect(JSON.parse(delivery.body).state).to.equal("completed");
    expect(delivery.headers["webhook-signature"]).to.match(/^v1,/);

    // Cancel: a message the remote service has not seen is withdrawn, and never sent.
    await call(`${local.adminUrl}/admin/backends/registry/pause`, {
      method: "POST",
      headers: consumer.adminHeaders(),
    });
    try {
      const held = await call(`${local.url}/rest/lookupLater/persons/9`, {
        client: null,
        body: "{}",
      });
      expect(held.status, held.text).to.equal(202);
      const cancelled = await call(`${local.url}/messages/${held.json.id}`, {
        method: "DELETE",
        client: null,
      });
      expect(cancelled.status, cancelled.text).to.equal(200);
      expect(cancelled.json.state).to.equal("cancelled");
      // Another client cannot see it.
      const other = await call(`${local.url}/messages/${held.json.id}`, { client: LOCAL_APP });
      expect(other.status).to.equal(404);
    } finally {
      await call(`${local.adminUrl}/admin/backends/registry/resume`, {
        method: "POST",
        headers: consumer.adminHeaders(),
      });
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(provider.sim.calls().some((c) => c.path === "/persons/9")).to.equal(false);
  });

  it("SOAP sync and ack: an X-Road envelope of Sluice's own reaches the provider, the answer comes back", async () => {
    const sync = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("getState", "local-soap-1", "EE12345678901"),
    });
    const text = await sync.text();
    expect(sync.status, text).to.equal(200);
    // The local caller's own header is echoed to it, the provider's answer inside.
    expect(text).to.contain("<xrd:id>local-soap-1</xrd:id>");
    expect(text).to.match(/getStateResponse/);
    const gatewayId = sync.headers.get("x-sluice-id");
    const soapCalls = provider.sim.calls().filter((c) => c.path.startsWith("/soap"));
    const sent = soapCalls[soapCalls.length - 1];
    expect(sent.xroadClient).to.equal(CONSUMER);
    const body = sent.body!.toString("utf8");
    // Header fields reach the legacy system each with its declarations (<xrd:id xmlns:…>).
    const field = (name: string, value: string) =>
      new RegExp(`<${name}(?:\\s[^>]*)?>${value}</${name}>`);
    expect(body).to.match(field("xrd:id", String(gatewayId)));
    expect(body).to.match(field("id:subsystemCode", "registry-soap"));
    expect(body).to.match(field("id:subsystemCode", "sluice-consumer"));
    expect(body).to.match(field("xrd:userId", "EE12345678901"));

    const ack = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("getStateLater", "local-soap-2", "EE12345678901"),
    });
    const ackText = await ack.text();
    expect(ack.status, ackText).to.equal(200);
    const id = /<id>([0-9a-f-]{36})<\/id>/.exec(ackText)?.[1] ?? ack.headers.get("x-sluice-id");
    const doc = await settled(String(id));
    expect(doc.state).to.equal("completed");
    expect(
      Buffer.from(
        doc.responses[0].body,
        doc.responses[0].bodyEncoding === "base64" ? "base64" : "utf8",
      ).toString(),
    ).to.match(/getStateResponse/);
    // The Body element was renamed to the remote service code on the way.
    const last = provider.sim
      .calls()
      .filter((c) => c.path.startsWith("/soap"))
      .pop();
    const lastBody = last!.body!.toString("utf8");
    expect(lastBody).to.match(/<st:getState[\s>]/);
    expect(lastBody).not.to.contain("getStateLater");
  });

  it("SOAP sync: the local service's Response element holds the remote answer's content, whatever the local name", async () => {
    const shapes: string[][] = [];
    for (const [code, id] of [
      ["getState", "local-soap-same"],
      ["askState", "local-soap-other"],
    ]) {
      const answer = await fetch(`${local.url}/soap`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: localSoapCall(code, id, "EE12345678901"),
      });
      const text = await answer.text();
      expect(answer.status, text).to.equal(200);
      const envelope = parseXml(text);
      const body = childElements(envelope).find((e) => e.local === "Body")!;
      const [response] = childElements(body);
      expect(response.local, text).to.equal(`${code}Response`);
      expect(response.namespace).to.equal(NS);
      shapes.push(childElements(response).map((e) => `${e.namespace} ${e.local}`));
    }
    // No <getStateResponse> inside <askStateResponse>: both hold the same elements.
    expect(shapes[0]).to.have.length.greaterThan(0);
    expect(shapes[1]).to.deep.equal(shapes[0]);
    expect(shapes[0].some((name) => name.endsWith("Response"))).to.equal(false);
  });

  it("leaves consumer-direction services out of the WSDL a security server registers, and describes each on its own path", async () => {
    const operations = async (path: string): Promise<string[]> => {
      const answer = await fetch(`${local.url}${path}`);
      const text = await answer.text();
      expect(answer.status, text).to.equal(200);
      const portType = childElements(parseXml(text)).find((e) => e.local === "portType")!;
      return childElements(portType).map(
        (operation) => operation.attributes.find((a) => a.local === "name")!.value,
      );
    };
    // Only the status operation: registered at a security server, a consumer-direction
    // operation would let its callers reach the remote service as Sluice's consumer subsystem.
    expect(await operations("/soap?wsdl")).to.deep.equal(["messages"]);
    // The local system reads a service's own description.
    expect(await operations("/soap/getState?wsdl")).to.deep.equal(["getState"]);
  });

  it("holds the remote service's rate limit across two workers", async () => {
    const extra = await consumer.spawn("worker");
    const total = 12;
    // The simulated security server opens its connection to a service on the first call (a real
    // one keeps it open): made before the count, and the limit left to recover for 2 s.
    const warmUp = await call(`${local.url}/rest/limited`, { client: LOCAL_APP, body: "{}" });
    expect((await settled(warmUp.json.id)).state).to.equal("completed");
    await new Promise((resolve) => setTimeout(resolve, 2000));
    const before = provider.sim.calls().filter((c) => c.path === "/limited").length;
    await call(`${local.adminUrl}/admin/backends/limited/pause`, {
      method: "POST",
      headers: consumer.adminHeaders(),
    });
    const ids: string[] = [];
    for (let i = 0; i < total; i++) {
      const answer = await call(`${local.url}/rest/limited`, { client: LOCAL_APP, body: "{}" });
      expect(answer.status, answer.text).to.equal(202);
      ids.push(answer.json.id);
    }
    await call(`${local.adminUrl}/admin/backends/limited/resume`, {
      method: "POST",
      headers: consumer.adminHeaders(),
    });
    // Counted where the remote provider receives them; nothing else runs here meanwhile.
    const limitedCalls = () =>
      provider.sim
        .calls()
        .filter((c) => c.path === "/limited")
        .slice(before);
    await eventually(
      async () => (limitedCalls().length >= total ? true : undefined),
      30_000,
      "every limited call at the provider",
    );
    const arrivals = limitedCalls().map((c) => c.startedAt);
    const atSim = simCalls(`${REST_PROVIDER}/limited`)
      .slice(before)
      .map((c) => c.at);
    const first = Math.min(...arrivals);
    const shown = `arrivals ${arrivals.map((a) => a - first).join(",")}; at the security server ${atSim.map((a) => a - first).join(",")}`;
    expect(arrivals, shown).to.have.length(total);
    for (const id of ids) expect((await settled(id)).state).to.equal("completed");
    const answered = (p: SluiceProcess) =>
      p.lines.filter((l) => l.msg === "backend answered" && l.backend === "limited");
    const answeredBy = (p: SluiceProcess) => answered(p).length;
    // A worker logs "backend answered" once the answer is recorded and published: after the
    // state reads completed, so maybe not yet.
    await eventually(
      async () => (answeredBy(local) + answeredBy(extra) >= total + 1 ? true : undefined),
      10_000,
      `${total + 1} "backend answered" lines`,
    );
    expect(answeredBy(local) + answeredBy(extra)).to.equal(total + 1);
    // limit 2 per second plus a burst of 1, guard 300 ms: any 4 grants span at least 1.3 s.
    // Judged on the limiter's own clock, each call's token grant time (Redis time) that its
    // worker logs: arrivals are those grants moved by each call's way through two security
    // servers, which on a loaded machine varies by more than the guard (4 arrivals in 976 ms
    // were seen with the limiter right).
    const grants = [...answered(local), ...answered(extra)].map((l) => Number(l.tokenAt));
    const granted = `grants ${grants.map((g) => Math.round(g - first)).join(",")}; ${shown}`;
    expect(grants.every(Number.isFinite), granted).to.equal(true);
    expect(maxInWindow(grants, 1000), granted).to.be.at.most(3);
    expect(answeredBy(extra), "the second worker took part").to.be.greaterThan(0);
    expect(answeredBy(local), "the first worker took part").to.be.greaterThan(0);
    await extra.stop();
  });

  for (const [service, code, state, calls] of [
    ["denied", "Server.ServerProxy.AccessDenied", "rejected", 1],
    ["ghost", "Server.ServerProxy.UnknownService", "rejected", 1],
    ["down", "Server.ServerProxy.ServiceFailed.NetworkError", "failed", 2],
    ["slow", "Server.ServerProxy.ServiceFailed.IOError", "failed", 2],
  ] as const) {
    it(`the security server's ${code} ends ${state} (${calls === 1 ? "not retried" : "retried"}), its code in the status document`, async () => {
      const answer = await call(`${local.url}/rest/${service}`, { client: LOCAL_APP, body: "{}" });
      expect(answer.status, answer.text).to.equal(202);
      const doc = await settled(answer.json.id);
      expect(doc.state).to.equal(state);
      expect(doc.error!.message).to.contain(code);
      expect(simCalls(`${REST_PROVIDER}/${service}`).every((c) => c.error === code)).to.equal(true);
      expect(simCalls(`${REST_PROVIDER}/${service}`)).to.have.length(calls);
      if (service === "slow") expect(doc.error!.code).to.equal("Timeout");
    });
  }

  it("a sync caller can tell the security server's refusal from the remote provider's answer (X-Road-Error)", async () => {
    // PR-REST §4.6: only X-Road-Error says an error came from X-Road, not from the provider.
    const answer = await call(`${local.url}/rest/denied`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { Prefer: "wait=10" },
    });
    expect(answer.status, answer.text).to.equal(500);
    expect(answer.json.type).to.equal("Server.ServerProxy.AccessDenied");
    expect(answer.headers.get("x-road-error")).to.equal("Server.ServerProxy.AccessDenied");
    // The remote provider's own answer carries none (the sync lookup above passes its 200).
    const own = await call(`${local.url}/rest/lookup/persons/1`, { client: null, body: "{}" });
    expect(own.status, own.text).to.equal(200);
    expect(own.headers.get("x-road-error")).to.equal(null);
  });

  it("fails, never completes, a SOAP answer whose header does not echo the request's", async () => {
    // The stub stands in for the security server and answers for another user.
    const ack = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("echoed", "local-soap-3", "EE12345678901"),
    });
    expect(ack.status).to.equal(200);
    const doc = await settled(String(ack.headers.get("x-sluice-id")));
    expect(doc.state).to.equal("failed");
    expect(doc.error!.message).to.contain("does not echo the request's X-Road header");
    expect(doc.error!.message).to.contain('userId is "EE00000000000"');
    expect(JSON.stringify(doc.responses)).not.to.contain("someone else");
  });

  it("fails, never completes, an empty 2xx SOAP answer: it echoes no X-Road header", async () => {
    const ack = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("hollow", "local-soap-4", "EE12345678901"),
    });
    expect(ack.status).to.equal(200);
    const doc = await settled(String(ack.headers.get("x-sluice-id")));
    expect(doc.state).to.equal("failed");
    expect(doc.error!.message).to.contain("does not echo the request's X-Road header");
    expect(doc.error!.message).to.contain("the answer is empty");
    // Its one response is Sluice's error, not an empty success.
    expect(doc.responses.every((r) => r.status >= 500)).to.equal(true);
    // Not retried: the call may have been served.
    expect(hollowCalls).to.equal(1);
  });

  it("a replay calls the remote service with its original's X-Road id, as its Idempotency-Key", async () => {
    // Through a security server a SOAP provider sees no HTTP header of ours: the X-Road id is
    // the one key by which it can recognise a message it served before the original failed.
    const ack = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("unreachable", "local-soap-5", "EE12345678901"),
    });
    expect(ack.status).to.equal(200);
    const original = String(ack.headers.get("x-sluice-id"));
    expect((await settled(original)).state).to.equal("failed");
    const admin = (path: string) =>
      call(`${local.adminUrl}${path}`, {
        client: null,
        method: "POST",
        headers: consumer.adminHeaders(),
      });
    const replayed = await eventually(async () => {
      const answer = await admin(`/admin/dead-letters/${original}/replay`);
      return answer.status === 200 ? answer : undefined;
    });
    expect(replayed.json.result, replayed.text).to.equal("replayed");
    const replay = replayed.json.replayedAs as string;
    expect(replay).to.be.a("string").and.not.equal(original);
    expect((await settled(replay)).state).to.equal("failed");
    const ids = sim
      .calls()
      .filter((c) => c.service === `${SOAP_PROVIDER}/unreachable`)
      .map((c) => c.xroadId);
    // Two calls of the original, two of the replay: one X-Road id.
    expect(ids).to.have.length(4);
    expect(new Set(ids)).to.deep.equal(new Set([original]));
  });

  it("keeps a remote provider's origin-bound headers (Set-Cookie, HSTS, CORS, …) off a sync answer; its other headers and the status document's copy stay", async () => {
    const answer = await call(`${local.url}/rest/originBound`, { client: LOCAL_APP, body: "{}" });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.text).to.equal('{"found":true}');
    for (const name of [
      "set-cookie",
      "strict-transport-security",
      "access-control-allow-origin",
      "access-control-allow-credentials",
      "alt-svc",
      "clear-site-data",
      "refresh",
      "link",
      "nel",
      "report-to",
      "service-worker-allowed",
    ]) {
      expect(answer.headers.get(name), name).to.equal(null);
    }
    expect(answer.headers.get("etag")).to.equal('"v1"');
    expect(answer.headers.get("x-remote-note")).to.equal("kept");
    // The status document is data, read by no browser: the provider's answer as it came.
    const doc = await status(String(answer.headers.get("x-sluice-id")));
    expect(doc.responses[0].headers?.["set-cookie"]).to.equal("remote-session=abc; Path=/");
    expect(doc.responses[0].headers?.link).to.contain("rel=preconnect");
  });

  it("serves a remote provider's answer sandboxed and unsniffed: its page runs no script in Sluice's origin", async () => {
    const answer = await call(`${local.url}/rest/page`, { client: LOCAL_APP, body: "{}" });
    expect(answer.status, answer.text).to.equal(200);
    // The answer itself as it came: a local system reads the page as data.
    expect(answer.text).to.equal("<script>fetch('/messages/')</script>");
    expect(answer.headers.get("content-type")).to.equal("text/html; charset=utf-8");
    // Opened in a browser it is an opaque origin's, not Sluice's: the provider's own policy
    // does not loosen it.
    expect(answer.headers.get("content-security-policy")).to.equal("sandbox");
    expect(answer.headers.get("x-content-type-options")).to.equal("nosniff");
  });

  it("serves a SOAP sync answer sandboxed and unsniffed: the remote content inside Sluice's envelope runs no script in Sluice's origin", async () => {
    const answer = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("getState", "local-soap-sandboxed"),
    });
    const text = await answer.text();
    expect(answer.status, text).to.equal(200);
    expect(text).to.match(/getStateResponse/);
    // XML a browser opens runs the scripts of XHTML elements in it: the provider's content is
    // another organisation's, as a REST answer's is.
    expect(answer.headers.get("content-security-policy")).to.equal("sandbox");
    expect(answer.headers.get("x-content-type-options")).to.equal("nosniff");
  });

  it("passes a remote provider's redirect where no client follows it, and marks its 202 completed, not Sluice's accepted", async () => {
    // `call` is fetch, which follows a Location: a relative one would have been Sluice's own
    // /rest/lookup, called as the organisation with this caller's body.
    const lookups = simCalls(`${REST_PROVIDER}/lookup`).length;
    const moved = await call(`${local.url}/rest/moved`, { client: LOCAL_APP, body: "{}" });
    expect(moved.status, moved.text).to.equal(307);
    expect(moved.text).to.equal("moved");
    expect(moved.headers.get("location")).to.equal(null);
    expect(moved.headers.get("x-sluice-provider-location")).to.equal("/rest/lookup?to=elsewhere");
    expect(moved.headers.get("x-sluice-state")).to.equal("completed");
    expect(simCalls(`${REST_PROVIDER}/lookup`)).to.have.length(lookups);

    const later = await call(`${local.url}/rest/later`, { client: LOCAL_APP, body: "{}" });
    expect(later.status, later.text).to.equal(202);
    expect(later.json).to.deep.equal({ id: "remote-1", state: "accepted" });
    expect(later.headers.get("x-sluice-state")).to.equal("completed");
    expect((await status(later.headers.get("x-sluice-id")!)).state).to.equal("completed");
    // Sluice's own 202: kept, not sent yet.
    const own = await call(`${local.url}/rest/lookupLater`, { client: LOCAL_APP, body: "{}" });
    expect(own.status, own.text).to.equal(202);
    expect(own.headers.get("x-sluice-state")).to.equal("accepted");
  });

  it("sends the remote provider only the caller's headers of the allowlist and options.forwardHeaders: a secret under a name no list holds stays home", async () => {
    const secrets = {
      "X-Internal-Token": "internal-s3cret",
      "X-Auth-Session": "session-s3cret",
      "Private-Token": "gitlab-s3cret",
      "X-Amz-Security-Token": "aws-s3cret",
    };
    const headers = {
      ...secrets,
      Accept: "application/json",
      "Accept-Language": "et",
      "If-None-Match": '"v1"',
      "X-Case-Version": "7",
    };
    const seen = async (service: string) => {
      headersSeen.length = 0;
      const answer = await call(`${local.url}/rest/${service}`, { headers });
      expect(answer.status, answer.text).to.equal(200);
      expect(headersSeen).to.have.length(1);
      return headersSeen[0];
    };

    const plain = await seen("headersDefault");
    expect(plain.accept).to.equal("application/json");
    expect(plain["accept-language"]).to.equal("et");
    expect(plain["if-none-match"]).to.equal('"v1"');
    expect(plain["x-case-version"], "not named by the backend").to.equal(undefined);
    for (const name of Object.keys(secrets)) {
      expect(plain[name.toLowerCase()], name).to.equal(undefined);
    }
    // The operator learns which name was withheld, once, and never its value.
    const logged = () =>
      local.lines.filter(
        (line) =>
          line.backend === "headersDefault" &&
          String(line.msg).startsWith("caller header withheld from the remote provider"),
      );
    const withheldNames = [
      "x-internal-token",
      "x-auth-session",
      "private-token",
      "x-amz-security-token",
      "x-case-version",
    ];
    await eventually(
      async () => {
        const names = logged().map((line) => line.header);
        return withheldNames.every((name) => names.includes(name)) ? true : undefined;
      },
      10_000,
      "the withheld names logged",
    );
    expect(JSON.stringify(logged())).not.to.include("s3cret");

    const named = await seen("headersNamed");
    expect(named["x-case-version"], "named in options.forwardHeaders").to.equal("7");
    expect(named.accept).to.equal("application/json");
    for (const name of Object.keys(secrets)) {
      expect(named[name.toLowerCase()], name).to.equal(undefined);
    }
  });

  it("sends the end user's credential only to a backend whose options.forwardCredentials names it, and never shows it to the operator", async () => {
    const token = `Bearer end-user-${randomBytes(12).toString("hex")}`;
    const cookie = `sid=${randomBytes(12).toString("hex")}`;
    const headers = { Authorization: token, Cookie: cookie, Accept: "application/json" };
    const seen = async (service: string) => {
      headersSeen.length = 0;
      const answer = await call(`${local.url}/rest/${service}`, { headers });
      expect(answer.status, answer.text).to.equal(200);
      expect(headersSeen).to.have.length(1);
      return { seen: headersSeen[0], id: String(answer.headers.get("x-sluice-id")) };
    };

    const plain = await seen("headersDefault");
    expect(plain.seen.authorization, "not opted in").to.equal(undefined);
    expect(plain.seen.cookie).to.equal(undefined);
    const opted = await seen("headersCredential");
    expect(opted.seen.authorization, "opted in").to.equal(token);
    expect(opted.seen.cookie, "not named").to.equal(undefined);
    expect(opted.seen.accept).to.equal("application/json");

    // One that waits in the dead letters holds the token too; the operator's views hide it.
    const ack = await call(`${local.url}/rest/credentialDown`, { headers, body: "{}" });
    expect(ack.status, ack.text).to.equal(202);
    const dead = ack.json.id as string;
    expect((await settled(dead)).state).to.equal("failed");
    const admin = (path: string) =>
      call(`${local.adminUrl}${path}`, { client: null, headers: consumer.adminHeaders() });
    const views = [
      await admin(`/admin/messages/${opted.id}`),
      await admin(`/admin/messages/${dead}`),
      await eventually(async () => {
        const answer = await admin(`/admin/dead-letters/${dead}`);
        return answer.status === 200 ? answer : undefined;
      }),
      await admin(`/admin/dead-letters?service=credentialDown`),
      await call(`${local.url}/messages/${dead}`),
    ];
    for (const view of views) {
      expect(view.status, view.text).to.equal(200);
      expect(view.text).not.to.include(token.slice("Bearer ".length));
      expect(view.text).not.to.include(cookie);
    }
    expect(views[2].json.request.headers).to.include({ authorization: "[redacted]" });
    const logged = local.output.join("\n") + local.stderr();
    expect(logged).not.to.include(token.slice("Bearer ".length));
    expect(logged).not.to.include(cookie);
  });

  it("fails, never completes, a REST answer whose X-Road headers name another call", async () => {
    const answer = await call(`${local.url}/rest/stray`, { client: LOCAL_APP, body: "{}" });
    expect(answer.status, answer.text).to.equal(202);
    const doc = await settled(answer.json.id as string);
    expect(doc.state).to.equal("failed");
    expect(doc.error!.message).to.contain("does not echo the request's X-Road headers");
    expect(doc.error!.message).to.contain('x-road-id is "someone-elses-call"');
    expect(JSON.stringify(doc.responses)).not.to.contain("someone else");
    expect(strayCalls).to.equal(1);
  });
});
