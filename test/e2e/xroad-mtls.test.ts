// Sluice behind a security server, as deployed: the project's xroad-sim in front, mutual TLS
// between them (Sluice accepts only the security server's internal TLS certificate), callers
// reaching everything through /r1/… — ack, poll, sync, cancel, hub, the SOAP status operation,
// the OpenAPI descriptions — and certificates rotated by SIGHUP under a waiting caller.

import * as amqplib from "amqplib";
import { expect } from "chai";
import { assertValidOpenApi } from "../support/openapi-check";
import { spawnSync } from "node:child_process";
import { randomBytes, X509Certificate } from "node:crypto";
import { chmodSync, copyFileSync, writeFileSync } from "node:fs";
import https from "node:https";
import path from "node:path";
import tls from "node:tls";
import * as soap from "soap";
import { Agent, request } from "undici";
import { CallbackReceiver } from "../integration/callback-receiver";
import {
  AMQP_URL,
  eventually,
  Harness,
  type SluiceProcess,
  START_TIMEOUT_MS,
} from "../support/harness";
import { metricValue } from "./ops-support";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import {
  CLIENT_HEADER,
  IDS,
  idHeader,
  PROTOCOL_VERSION_HEADER,
  serviceHeader,
  XRD,
} from "../support/xroad-soap-headers";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";
const OTHER = "EE/COM/70000009/other-app";
/** The provider subsystems, as registered in the security server (one per service kind). */
const REST_PROVIDER = "EE/GOV/70000002/sluice";
const SOAP_PROVIDER = "EE/GOV/70000002/sluice-soap";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

describe("behind a security server over mTLS (xroad-sim in front of Sluice)", function () {
  // "REST ack" starts a worker: a start takes up to START_TIMEOUT_MS on a loaded machine.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let pki: TestPki; // Sluice's server certificates, the information systems, an attacker
  let ssPki: TestPki; // the security server's internal TLS CA
  let internal: KeyPair;
  let nextSluiceCert: KeyPair; // the certificate the rotation test moves Sluice to
  let soapApp: KeyPair; // a second information system of the same client subsystem
  let receiver: CallbackReceiver;
  let adapter: SluiceProcess;
  let sluiceUrl = "";
  let sim: XroadSim;
  let consumer: Agent; // an information system with its certificate, calling the security server
  let sluiceCa = "";

  /** A call through the security server, as a consumer information system makes it. */
  async function viaXroad(
    pathAndQuery: string,
    options: {
      method?: string;
      body?: string;
      client?: string;
      headers?: Record<string, string>;
    } = {},
  ): Promise<Answer> {
    const answer = await request(`${sim.url}${pathAndQuery}`, {
      method: (options.method ?? (options.body ? "POST" : "GET")) as "GET",
      dispatcher: consumer,
      headers: {
        "x-road-client": options.client ?? CLIENT,
        ...(options.body ? { "content-type": "application/json" } : {}),
        ...(options.headers ?? {}),
      },
      body: options.body,
    });
    const text = await answer.body.text();
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    return { status: answer.statusCode, headers: answer.headers, text, json };
  }

  /** A direct connection to Sluice's service port with the given client certificate. */
  // A connection per request (pipelining 0): a kept-alive one left idle while a test validates a
  // document on a loaded machine can be closed by the adapter's keep-alive timeout just as undici
  // sends on it ("other side closed"), a race of the test's own making.
  const direct = (pair?: { cert: string; key: string }): Agent =>
    new Agent({
      pipelining: 0,
      connect: { ca: sluiceCa, ...(pair ? { cert: pair.cert, key: pair.key } : {}) },
    });

  before(async () => {
    pki = createTestPki();
    ssPki = createTestPki();
    const sluiceCert = pki.ca.issue("sluice", { cn: "localhost" });
    // The certificate the rotation test below moves to, listed beforehand as an administrator
    // adds it to the security server before the SIGHUP.
    nextSluiceCert = pki.ca.issue("sluice-next", { cn: "localhost" });
    internal = ssPki.ca.issue("ss-internal", { cn: "security-server-internal" });
    const simServer = pki.ca.issue("ss-consumer-port", { cn: "localhost" });
    const isClient = pki.ca.issue("case-app", { cn: "case-app" });
    soapApp = pki.ca.issue("soap-app", { cn: "soap-app" });
    sluiceCa = pki.ca.cert;
    // Sluice reads its certificate from files the test can replace (rotation below).
    copyFileSync(sluiceCert.certFile, path.join(harness.dir, "sluice.crt"));
    copyFileSync(sluiceCert.keyFile, path.join(harness.dir, "sluice.key"));

    receiver = await CallbackReceiver.start({ tls: false });
    await harness.startSim({ latencyMs: 10 });
    harness.writeConfig({
      adapter: {
        port: 0,
        tls: { cert: "sluice.crt", key: "sluice.key", clientCa: ssPki.ca.certFile },
      },
      services: {
        personSearch: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
        personLookup: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "20s", maxWait: "25s" },
          backend: "legacy",
        },
        getState: {
          protocols: ["soap"],
          namespace: XRD,
          reply: { mode: "ack" },
          backend: "legacy-soap",
        },
      },
      backends: {
        legacy: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } },
        "legacy-soap": { translator: "soap", retry: { attempts: 2, backoff: ["1s"] } },
      },
      callbacks: receiver.loopbackCallbacks(SECRET),
      // A security server never tells the provider under which subsystem it was called
      // (X-Road-Service travels on answers only): the operator names it.
      xroad: { provider: REST_PROVIDER },
    });
    await harness.spawn("response-worker");
    adapter = await harness.spawn("adapter");
    sluiceUrl = `https://127.0.0.1:${adapter.port}`;

    // The security server: HTTPS with client authentication towards the information systems,
    // its internal TLS certificate towards Sluice, Sluice's own certificates (not its CA, which
    // a security server does not take) as the subsystem's "Information System TLS certificates".
    const toSluice = { ca: [sluiceCert.cert, nextSluiceCert.cert] };
    sim = await startXroadSim({
      tls: { cert: simServer.cert, key: simServer.key },
      // The calling information systems' own certificates as their subsystem's "Information
      // System TLS certificates" (a security server takes no CA for its clients). OTHER is a
      // second subsystem the same information system may speak as: the security server
      // refuses a client it does not have, so Sluice's own refusal of it is seen only so.
      clients: {
        [CLIENT]: { certificates: [isClient.cert, soapApp.cert] },
        [OTHER]: { certificates: [isClient.cert] },
      },
      internalTls: { cert: internal.cert, key: internal.key },
      services: {
        // Registered as "OpenAPI 3 Description" services, with both of Sluice's description URLs.
        [`${REST_PROVIDER}/personSearch`]: {
          url: `${sluiceUrl}/rest/personSearch`,
          descriptionUrl: `${sluiceUrl}/rest/personSearch/openapi.json`,
          tls: toSluice,
        },
        [`${REST_PROVIDER}/personLookup`]: { url: `${sluiceUrl}/rest/personLookup`, tls: toSluice },
        [`${REST_PROVIDER}/messages`]: {
          url: `${sluiceUrl}/rest/messages`,
          descriptionUrl: `${sluiceUrl}/rest/messages/openapi.json`,
          tls: toSluice,
        },
        // The WSDL, as "ADD WSDL" registers it for each of its services.
        [`${SOAP_PROVIDER}/getState`]: {
          url: `${sluiceUrl}/soap`,
          type: "soap",
          descriptionUrl: `${sluiceUrl}/soap?wsdl`,
          tls: toSluice,
        },
        [`${SOAP_PROVIDER}/messages`]: {
          url: `${sluiceUrl}/soap`,
          type: "soap",
          descriptionUrl: `${sluiceUrl}/soap?wsdl`,
          tls: toSluice,
        },
      },
    });
    // A connection per call, as `direct` above: the suite's calls through the security server
    // come seconds apart, between certificates issued and reloads that stall a loaded machine.
    consumer = new Agent({
      pipelining: 0,
      connect: { ca: pki.ca.cert, cert: isClient.cert, key: isClient.key },
    });
  });

  after(async () => {
    await sim?.close();
    await consumer?.close();
    await receiver?.close();
    await harness.cleanup();
    pki?.cleanup();
    ssPki?.cleanup();
  });

  it("refuses a connection without the security server's certificate at the handshake", async () => {
    const expired = ssPki.ca.issue("ss-expired", { cn: "security-server-internal", expired: true });
    const attacker = pki.otherCa.issue("attacker", { cn: "security-server-internal" });
    // An information system's own certificate is valid, but not the security server's.
    const bystander = pki.ca.issue("bystander", { cn: "bystander" });
    for (const [what, pair] of [
      ["no certificate", undefined],
      ["an expired certificate of the right CA", expired],
      ["a certificate of another CA", attacker],
      ["another valid certificate", bystander],
    ] as const) {
      // A forged X-Road-Client sent straight to the port never reaches a route.
      const outcome = await request(`${sluiceUrl}/rest/personSearch`, {
        method: "POST",
        dispatcher: direct(pair),
        headers: { "x-road-client": CLIENT, "content-type": "application/json" },
        body: "{}",
      }).then(
        async (answer) => `HTTP ${answer.statusCode}: ${await answer.body.text()}`,
        (error: Error) => error,
      );
      expect(outcome, what).to.be.instanceOf(Error);
    }
    // Someone other than the security server knocked: the operator hears of it, by reason.
    const refusals = async (reason: string) =>
      (await metricValue(adapter.adminUrl, "sluice_tls_handshake_refusals_total", { reason })) ?? 0;
    const counted = await eventually(
      async () => {
        const all = await Promise.all(
          ["no_certificate", "expired_certificate", "untrusted_certificate"].map(refusals),
        );
        return all.reduce((a, b) => a + b) === 4 ? all : undefined;
      },
      10_000,
      "the refused handshakes counted",
    );
    expect(counted).to.deep.equal([1, 1, 2]);
    const warned = await eventually(
      async () => {
        const lines = adapter.lines.filter((line) => line.msg === "TLS handshakes refused");
        return new Set(lines.map((line) => line.reason)).size >= 3 ? lines : undefined;
      },
      10_000,
      "a warning of each reason",
    );
    for (const reason of ["no_certificate", "expired_certificate", "untrusted_certificate"]) {
      const line = warned.find((one) => one.reason === reason);
      expect(line, reason).to.include({ level: "warn", count: 1, remote: "127.0.0.1" });
    }
    expect(warned.find((line) => line.reason === "expired_certificate")).to.include({
      code: "CERT_HAS_EXPIRED",
    });
    // The security server's own certificate is let in.
    const allowed = await request(`${sluiceUrl}/openapi/messages`, {
      dispatcher: direct(internal),
    });
    expect(allowed.statusCode).to.equal(200);
    await allowed.body.text();
    expect(harness.sim.calls()).to.have.length(0);
  });

  let hubLocation = "";

  it("registers a hub listener through the status service", async () => {
    const answer = await viaXroad(`/r1/${REST_PROVIDER}/messages/hub`, {
      body: JSON.stringify({ callback: receiver.url("/events") }),
    });
    expect(answer.status, answer.text).to.equal(201);
    expect(answer.json.id).to.be.a("string");
    hubLocation = String(answer.headers.location);
    expect(hubLocation).to.equal(`/r1/${REST_PROVIDER}/messages/hub/${answer.json.id}`);
  });

  it("cancels through X-Road: ack's Location, GET and DELETE via /r1/…, the listener hears it", async () => {
    // No worker runs yet, so the message waits in the queue and can be cancelled.
    const accepted = await viaXroad(`/r1/${REST_PROVIDER}/personSearch`, {
      body: '{"personalCode":"38002242718"}',
      headers: { "x-road-id": "cancel-me-1" },
    });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const location = `/r1/${REST_PROVIDER}/messages/${id}`;
    expect(accepted.headers.location).to.equal(location);
    expect(accepted.json.statusUrl).to.equal(location);
    expect(accepted.headers["x-road-id"]).to.equal("cancel-me-1");

    const status = await viaXroad(location);
    expect(status.status).to.equal(200);
    expect(status.json.state).to.equal("accepted");
    expect((await viaXroad(location, { client: OTHER })).status).to.equal(404);

    const cancelled = await viaXroad(location, { method: "DELETE" });
    expect(cancelled.status, cancelled.text).to.equal(200);
    expect(cancelled.json.state).to.equal("cancelled");
    await eventually(
      async () =>
        receiver.calls.find((c) => c.path === "/events" && JSON.parse(c.body).correlationId === id)
          ? true
          : undefined,
      15_000,
      "the hub event of the cancel",
    );
    const removed = await viaXroad(hubLocation, { method: "DELETE" });
    expect(removed.status).to.equal(204);
  });

  it("REST ack: the Location polled through /r1/… reaches completed", async () => {
    await harness.spawn("worker");
    const body = { personalCode: "49403136526", purpose: "case-handling" };
    const accepted = await viaXroad(`/r1/${REST_PROVIDER}/personSearch/v1/search?kind=full`, {
      body: JSON.stringify(body),
    });
    expect(accepted.status, accepted.text).to.equal(202);
    const location = String(accepted.headers.location);
    const done = await eventually(
      async () => {
        const answer = await viaXroad(location);
        return answer.json?.state === "completed" ? answer : undefined;
      },
      20_000,
      "completed",
    );
    const echo = done.json.responses[0].body;
    expect(echo.received).to.deep.equal(body);
    expect(echo.path).to.equal("/v1/search");
    expect(echo.query).to.deep.equal({ kind: "full" });
    // The backend saw the client the security server vouched for.
    const [call] = harness.sim.calls({ id: accepted.json.id });
    expect(call.xroadClient).to.equal(CLIENT);
  });

  it("REST sync: the backend's answer through the security server", async () => {
    const answer = await viaXroad(`/r1/${REST_PROVIDER}/personLookup`, {
      body: '{"personalCode":"38002242718"}',
    });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.json.received).to.deep.equal({ personalCode: "38002242718" });
    expect(answer.headers["x-road-request-hash"]).to.be.a("string");
  });

  it("a forged X-Road-Client before the caller's own: the security server passes both, Sluice refuses", async () => {
    // The security server authorises the last line and passes every line on (PR-REST §4.3).
    const answer = await request(`${sim.url}/r1/${REST_PROVIDER}/personLookup`, {
      method: "POST",
      dispatcher: consumer,
      headers: [
        "x-road-client",
        OTHER,
        "x-road-client",
        CLIENT,
        "content-type",
        "application/json",
      ],
      body: '{"personalCode":"38002242718"}',
    });
    const body = (await answer.body.json()) as { type: string };
    expect(answer.statusCode).to.equal(400);
    expect(body.type).to.equal("DuplicateHeaderField");
    // Sluice's own refusal, passed on as the provider's answer, not an X-Road error.
    expect(answer.headers["x-road-error"]).to.equal(undefined);
  });

  it("SOAP ack, then the SOAP status operation, with a `soap` client built from the WSDL", async () => {
    // The security server reads the WSDL from Sluice; the caller sends to its security server.
    const wsdlAgent = new https.Agent({ ca: sluiceCa, cert: internal.cert, key: internal.key });
    const client = await soap.createClientAsync(`${sluiceUrl}/soap?wsdl`, {
      wsdl_options: { httpsAgent: wsdlAgent },
      endpoint: `${sim.url}/`,
    });
    wsdlAgent.destroy();
    const callerAgent = new https.Agent({ ca: pki.ca.cert, cert: soapApp.cert, key: soapApp.key });
    const headers = (serviceCode: string, xroadId: string): void => {
      client.clearSoapHeaders();
      client.addSoapHeader(CLIENT_HEADER);
      client.addSoapHeader(serviceHeader("sluice-soap", serviceCode));
      client.addSoapHeader(idHeader(xroadId));
      client.addSoapHeader(PROTOCOL_VERSION_HEADER);
    };
    try {
      headers("getState", "soap-ack-1");
      const [ack] = (await client.getStateAsync(
        { $value: "Õun" },
        { httpsAgent: callerAgent },
      )) as [{ id: string; state: string; statusUrl: string }];
      expect(ack.state).to.equal("accepted");
      expect(ack.id).to.match(/^[0-9a-f-]{36}$/);

      const status = await eventually(
        async () => {
          headers("messages", `soap-poll-${Date.now()}`);
          const [result] = (await client.messagesAsync(
            { id: ack.id },
            { httpsAgent: callerAgent },
          )) as [
            { state: string; responses: { response: Array<{ body: string; status: number }> } },
          ];
          return result.state === "completed" ? result : undefined;
        },
        20_000,
        "the SOAP status operation to say completed",
      );
      const [response] = [status.responses.response].flat();
      expect(response.status).to.equal(200);
      expect(response.body).to.contain("Õun");
    } finally {
      callerAgent.destroy();
    }
  });

  it("serves valid OpenAPI 3 documents; nothing but business calls reaches the backend", async () => {
    const internalAgent = direct(internal);
    for (const code of ["personSearch", "personLookup", "messages"]) {
      const answer = await request(`${sluiceUrl}/openapi/${code}`, { dispatcher: internalAgent });
      expect(answer.statusCode).to.equal(200);
      const doc = (await answer.body.json()) as { servers: Array<{ url: string }> };
      // Relative (no adapter.publicUrl): resolved against the description URL by its reader.
      expect(doc.servers[0].url).to.equal(`/rest/${code}`);
      await assertValidOpenApi(doc);
      // Where a consumer (or a security server's getOpenAPI) looks for it: the same document,
      // its service URL relative to where it is served, so that it names the service through
      // X-Road's path mapping too (docs/xroad-deployment.md).
      const beside = await request(`${sluiceUrl}/rest/${code}/openapi.json`, {
        dispatcher: internalAgent,
      });
      expect(beside.statusCode, code).to.equal(200);
      expect(await beside.body.json()).to.deep.equal({ ...doc, servers: [{ url: `../${code}` }] });
    }
    const before = harness.sim.calls().length;
    const viaOpenApi = await viaXroad(`/r1/${REST_PROVIDER}/personSearch/openapi.json`);
    expect(viaOpenApi.status).to.equal(200);
    expect(viaOpenApi.json.openapi).to.equal("3.1.0");
    const elsewhere = await viaXroad(`/r1/${REST_PROVIDER}/messages/hub/extra/path`, {
      body: "{}",
    });
    expect(elsewhere.status).to.equal(404);
    expect(elsewhere.headers["x-road-error"]).to.equal(undefined);
    expect(harness.sim.calls().length).to.equal(before);
  });

  it("a consumer discovers the services and their OpenAPI descriptions through the security server's metaservices", async () => {
    const before = harness.sim.calls().length;
    const listed = await viaXroad(`/r1/${REST_PROVIDER}/listMethods`);
    expect(listed.status, listed.text).to.equal(200);
    const services = listed.json.service as Array<{ service_code: string; service_type: string }>;
    expect(services.map((s) => [s.service_code, s.service_type])).to.deep.equal([
      ["personSearch", "OPENAPI"],
      ["personLookup", "REST"],
      ["messages", "OPENAPI"],
    ]);

    // The description the security server reads from Sluice over mTLS, with the service URL's
    // host taken out: everything else is Sluice's own document.
    const viaMeta = await viaXroad(`/r1/${REST_PROVIDER}/getOpenAPI?serviceCode=personSearch`);
    expect(viaMeta.status, viaMeta.text).to.equal(200);
    expect(viaMeta.headers["content-type"]).to.match(/^application\/json/);
    const doc = viaMeta.json as { openapi: string; servers: unknown; paths: object };
    expect(doc.openapi).to.equal("3.1.0");
    // Registered by the document beside the service, whose relative URL has no host to take out.
    expect(doc.servers).to.deep.equal([{ url: "../personSearch" }]);
    expect(doc.paths).to.have.keys(["/", "/{path}"]);
    await assertValidOpenApi(doc);
    const direct_ = await request(`${sluiceUrl}/openapi/personSearch`, {
      dispatcher: direct(internal),
    });
    const own = (await direct_.body.json()) as Record<string, unknown>;
    expect({ ...own, servers: doc.servers }).to.deep.equal(doc);

    const status = await viaXroad(`/r1/${REST_PROVIDER}/getOpenAPI?serviceCode=messages`);
    expect(status.status, status.text).to.equal(200);
    expect(status.json.servers).to.deep.equal([{ url: "../messages" }]);
    expect(status.json.paths).to.have.property("/{id}");

    const unknown = await viaXroad(`/r1/${REST_PROVIDER}/getOpenAPI?serviceCode=nothing`);
    expect(unknown.status).to.equal(500);
    expect(unknown.headers["x-road-error"]).to.equal("Server.ServerProxy.InternalError");
    const nobody = await viaXroad(`/r1/EE/GOV/70000002/nobody/listMethods`);
    expect(nobody.status).to.equal(500);
    expect(nobody.headers["x-road-error"]).to.equal("Server.ServerProxy.UnknownMember");
    // Discovery never reaches a backend.
    expect(harness.sim.calls().length).to.equal(before);
  });

  it("a SOAP consumer lists the services and builds a `soap` client from the WSDL getWsdl answers", async () => {
    const before = harness.sim.calls().length;
    const header = (id: string, serviceCode: string): string =>
      `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" ` +
      `xmlns:xrd="${XRD}" xmlns:id="${IDS}"><SOAP-ENV:Header>` +
      '<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance>' +
      "<id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode>" +
      "<id:subsystemCode>case-app</id:subsystemCode></xrd:client>" +
      '<xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance>' +
      "<id:memberClass>GOV</id:memberClass><id:memberCode>70000002</id:memberCode>" +
      `<id:subsystemCode>sluice-soap</id:subsystemCode><id:serviceCode>${serviceCode}</id:serviceCode>` +
      `</xrd:service><xrd:id>${id}</xrd:id><xrd:protocolVersion>4.0</xrd:protocolVersion>` +
      "</SOAP-ENV:Header><SOAP-ENV:Body>";
    const post = async (xml: string): Promise<{ type: string; text: string }> => {
      const answer = await request(`${sim.url}/`, {
        method: "POST",
        dispatcher: consumer,
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: xml,
      });
      expect(answer.statusCode).to.equal(200);
      return { type: String(answer.headers["content-type"]), text: await answer.body.text() };
    };

    const listed = await post(
      `${header("meta-1", "listMethods")}<xrd:listMethods/></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
    );
    const codes = [...listed.text.matchAll(/<id:serviceCode>([^<]+)<\/id:serviceCode>/g)].map(
      (m) => m[1],
    );
    // The header's own serviceCode first, then the listed services.
    expect(codes).to.deep.equal(["listMethods", "getState", "messages"]);

    const wsdlAnswer = await post(
      `${header("meta-2", "getWsdl")}<xrd:getWsdl><xrd:serviceCode>getState</xrd:serviceCode>` +
        "</xrd:getWsdl></SOAP-ENV:Body></SOAP-ENV:Envelope>",
    );
    const boundary = /boundary=([^;\s]+)/.exec(wsdlAnswer.type)?.[1];
    expect(boundary, wsdlAnswer.type).to.be.a("string");
    const attachment = wsdlAnswer.text.split(`--${boundary}`)[2];
    const wsdl = attachment.slice(attachment.indexOf("\r\n\r\n") + 4, -2);
    // Sluice's WSDL, its endpoint hidden: a consumer sends to its own security server.
    expect(wsdl).to.contain('location="http://example.org/xroad-endpoint"');
    expect(wsdl).to.not.contain(sluiceUrl);
    const file = path.join(harness.dir, "getState.wsdl");
    writeFileSync(file, wsdl);
    const client = await soap.createClientAsync(file, { endpoint: `${sim.url}/` });
    const operations = Object.values(client.describe() as Record<string, Record<string, object>>)
      .flatMap((service) => Object.values(service))
      .flatMap((port) => Object.keys(port));
    expect(operations).to.include.members(["getState", "messages"]);
    expect(harness.sim.calls().length).to.equal(before);
  });

  it("speaks TLS 1.2 only with ECDHE and an AEAD cipher, TLS 1.3 as usual", async () => {
    const tls12 = { minVersion: "TLSv1.2", maxVersion: "TLSv1.2" } as const;
    // CBC with SHA-1, CBC with SHA-2, and no forward secrecy: Node's own default offered them.
    for (const ciphers of [
      "ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES128-SHA",
      "ECDHE-RSA-AES256-SHA384:ECDHE-ECDSA-AES256-SHA384",
      "AES128-GCM-SHA256",
    ]) {
      const refused = await handshake(sluiceUrl, internal, { ...tls12, ciphers }).then(
        (socket) => socket.destroy(),
        (error: Error) => error,
      );
      expect(refused, ciphers).to.be.instanceOf(Error);
    }
    // The security server's default suites (ECDHE-RSA with AES-GCM first), and TLS 1.3.
    const gcm = await handshake(sluiceUrl, internal, {
      ...tls12,
      ciphers: "ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES128-GCM-SHA256",
    });
    expect(gcm.getCipher().name).to.match(/AES128-GCM-SHA256$/);
    gcm.destroy();
    const tls13 = await handshake(sluiceUrl, internal, { minVersion: "TLSv1.3" });
    expect(tls13.getProtocol()).to.equal("TLSv1.3");
    tls13.destroy();
  });

  it("SIGHUP: a new certificate for new connections while a sync caller keeps its connection", async () => {
    const first = await serverCertificate(sluiceUrl, internal);
    harness.sim.update({ paused: true });
    const before = harness.sim.calls().length;
    const waiting = viaXroad(`/r1/${REST_PROVIDER}/personLookup`, {
      body: '{"personalCode":"38002242718"}',
    });
    await eventually(
      async () => (harness.sim.calls().length > before ? true : undefined),
      15_000,
      "the sync call to reach the backend",
    );
    const next = nextSluiceCert;
    const keyFile = path.join(harness.dir, "sluice.key");
    writeFileSync(path.join(harness.dir, "sluice.crt"), next.cert);
    writeFileSync(keyFile, next.key);
    // Rotated in place with the default umask's mode: every user of the machine may read it.
    chmodSync(keyFile, 0o644);
    const exposed = (l: { msg?: string }) =>
      l.msg?.includes(`${keyFile} is a private key that every user of this machine may read`);
    const warnedBefore = adapter.lines.filter(exposed).length;
    adapter.child.kill("SIGHUP");
    await eventually(
      async () => (adapter.lines.some((l) => l.msg === "certificates reloaded") ? true : undefined),
      10_000,
      "the reload",
    );
    await eventually(
      async () => (adapter.lines.filter(exposed).length > warnedBefore ? true : undefined),
      10_000,
      "the warning about the exposed key",
    );
    chmodSync(keyFile, 0o600);
    const second = await serverCertificate(sluiceUrl, internal);
    expect(second).to.equal(new X509Certificate(next.cert).fingerprint256);
    expect(second).to.not.equal(first);
    harness.sim.update({ paused: false });
    const answer = await waiting;
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.json.received).to.deep.equal({ personalCode: "38002242718" });
  });

  it("SIGHUP with a certificate chain caught half-written: logged, the previous certificate stays, the process serves", async () => {
    const current = await serverCertificate(sluiceUrl, internal);
    const half = pki.ca.issue("sluice-half", { cn: "localhost" });
    // The leaf, then an intermediate cut short: node:tls threw on it from the SIGHUP handler.
    writeFileSync(path.join(harness.dir, "sluice.crt"), half.cert + pki.ca.cert.slice(0, 300));
    writeFileSync(path.join(harness.dir, "sluice.key"), half.key);
    adapter.child.kill("SIGHUP");
    const failed = await eventually(
      async () =>
        adapter.lines.find(
          (l) => l.msg === "certificate reload failed; the previous certificates stay in use",
        ),
      10_000,
      "the refused reload",
    );
    expect(JSON.stringify(failed.problems)).to.include("certificate 2 of 2 has no end");
    expect(adapter.child.exitCode).to.equal(null);
    expect(await serverCertificate(sluiceUrl, internal)).to.equal(current);
  });

  it("a malformed certificate or key in the configuration stops the start with one line naming the file, before declaring anything", async () => {
    const bad = path.join(harness.dir, "broken.crt");
    writeFileSync(bad, "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n");
    const file = path.join(harness.dir, "broken.json");
    writeFileSync(
      file,
      JSON.stringify({
        prefix: harness.prefix,
        adapter: { port: 0, tls: { cert: bad, key: path.join(harness.dir, "sluice.key") } },
        admin: { port: 0 },
        services: { s: { backend: "b" } },
        backends: { b: { url: harness.sim.url } },
      }),
    );
    const run = spawnSync(process.execPath, [BIN, "adapter", "--config", file], {
      encoding: "utf8",
      timeout: 30_000,
      env: { ...process.env, LOG_LEVEL: "silent" },
    });
    expect(run.status).to.not.equal(0);
    const lines = run.stderr.trim().split("\n");
    expect(lines, run.stderr).to.have.length(1);
    expect(lines[0]).to.equal(
      `sluice: adapter.tls.cert: certificate file ${bad} does not hold a PEM certificate`,
    );
    // Backend b is this configuration's alone: no queue of it was left on the broker.
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      channel.on("error", () => undefined);
      const found = await channel.checkQueue(`${harness.prefix}requests.b`).then(
        () => true,
        () => false,
      );
      expect(found, "requests.b declared by the failed start").to.equal(false);
    } finally {
      await connection.close().catch(() => undefined);
    }
  });
});

/** The SHA-256 fingerprint of the certificate a new TLS connection to `url` is shown. */
function serverCertificate(url: string, client: KeyPair): Promise<string> {
  return handshake(url, client).then((socket) => {
    const fingerprint = socket.getPeerCertificate().fingerprint256;
    socket.end();
    return fingerprint;
  });
}

/** A finished TLS handshake with the port at `url` as `client`, with `options` of its own. */
function handshake(
  url: string,
  client: KeyPair,
  options: tls.ConnectionOptions = {},
): Promise<tls.TLSSocket> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      {
        host: hostname,
        port: Number(port),
        cert: client.cert,
        key: client.key,
        rejectUnauthorized: false,
        ...options,
      },
      () => resolve(socket),
    );
    socket.on("error", reject);
  });
}
