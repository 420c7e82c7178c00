// The soap translator against the legacy simulator's real SOAP service and against a recording
// SOAP backend: what reaches the backend, and how every kind of answer maps onto an outcome.

import { expect } from "chai";
import { once } from "node:events";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { answerContent, type AnswerContent } from "../../adapter/soap/soap-answer";
import type { RequestMessage, SoapHeaderField } from "../../shared/protocol/envelope";
import { SluiceError, type BackendResponse } from "../../shared/protocol/errors";
import { startLegacySim, type LegacySim } from "../../legacy-sim/legacy-sim";
import { freePort } from "../e2e/ops-support";
import { ReloadableTls } from "../../shared/config/tls-files";
import { createTestPki } from "../support/test-pki";
import { createTranslator } from "../../worker/translators/soap";
import { findSoapBody, SOAP11_NS, SOAP12_NS } from "../../worker/translators/soap-xml";
import {
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "../../worker/translators/translator";
import { endingDeadline } from "../support/ending-deadline";
import { rejectionOf } from "../support/rejection";
import { globalNodePools } from "../support/fresh-connections";
import { decideCall, type DecisionContext } from "../../worker/processing/call-decision";

const FIXTURES = join(__dirname, "..", "..", "..", "test", "fixtures", "xroad-soap");
const SIM_NS = "http://legacy.sluice.example/";
const XROAD_NS = "http://x-road.eu/xsd/xroad.xsd";

function fixture(name: string): string {
  return readFileSync(join(FIXTURES, name), "utf8");
}

/** A request message as the adapter builds it from an X-Road fixture. */
function fromFixture(
  name: string,
  edit: (xml: string) => string = (x) => x,
  options: { declarations?: boolean } = {},
): RequestMessage {
  const text = edit(fixture(name));
  const envelopeTag = /<SOAP-ENV:Envelope([^>]*)>/.exec(text)?.[1] ?? "";
  const declarations = [...envelopeTag.matchAll(/xmlns:([\w.-]+)="([^"]*)"/g)].map(
    (m): [string, string] => [m[1], m[2]],
  );
  const namespaceOf = (prefix: string) => declarations.find(([p]) => p === prefix)?.[1] ?? "";
  const header = /<SOAP-ENV:Header>([\s\S]*?)<\/SOAP-ENV:Header>/.exec(text)?.[1] ?? "";
  const headers: SoapHeaderField[] = [
    ...header.matchAll(/<(([\w.-]+):([\w.-]+))\b[^>]*?(?:\/>|>[\s\S]*?<\/\1>)/g),
  ].map((m) => ({ name: m[3], namespace: namespaceOf(m[2]), xml: m[0] }));
  const bodyXml = /<SOAP-ENV:Body>\s*([\s\S]*?)\s*<\/SOAP-ENV:Body>/.exec(text)?.[1] ?? "";
  const [, bodyPrefix, service] = /^<([\w.-]+):([\w.-]+)/.exec(bodyXml) ?? [];
  const inline = new RegExp(`^<${bodyPrefix}:\\w+[^>]*xmlns:${bodyPrefix}="([^"]*)"`).exec(bodyXml);
  const soap = {
    headers,
    bodyNamespace: inline?.[1] ?? namespaceOf(bodyPrefix),
    bodyXml,
    envelopePrefix: "SOAP-ENV",
    ...(options.declarations === false ? {} : { envelopeDeclarations: declarations }),
  };
  return {
    id: `msg-${Math.random().toString(36).slice(2, 10)}`,
    xroadId: "1234567890",
    service,
    backend: "legacy",
    protocol: "soap",
    client: "EE/BUSINESS/consumer",
    replyMode: "sync",
    method: "POST",
    path: "",
    query: "",
    xroadHeaders: {},
    contentType: "text/xml; charset=utf-8",
    body: text,
    bodyEncoding: "utf8",
    soap,
    createdAt: Date.now(),
    expiresAt: null,
  };
}

function callOf(request: RequestMessage, signal = new AbortController().signal): TranslatorCall {
  return { signal, idempotencyKey: request.id, attempt: 1 };
}

function backendAt(url: string, extra: Partial<TranslatorBackend> = {}): TranslatorBackend {
  return { name: "legacy", url, timeoutMs: 3000, options: {}, ...extra };
}

/** What the adapter's SOAP route makes of a response for a caller of `serviceCode`. */
function adapterView(response: BackendResponse, serviceCode: string): AnswerContent {
  return answerContent(response, serviceCode);
}

describe("soap translator against the legacy simulator", function () {
  let sim: LegacySim;
  let translator: Translator;

  before(async () => {
    sim = await startLegacySim({ port: 0 });
    translator = createTranslator(backendAt(sim.url));
  });

  after(async () => {
    await translator.close?.();
    await sim.close();
  });

  it("testQuery: answers the backend's envelope as text/xml, which the adapter unwraps", async () => {
    const request = fromFixture("simple.query");
    const [response, ...rest] = await translator.call(request, callOf(request));
    expect(rest).to.have.length(0);
    expect(response.status).to.equal(200);
    expect(response.contentType).to.equal("text/xml; charset=utf-8");
    expect(response.body).to.match(/^<soap:Envelope /);
    const body = findSoapBody(response.body);
    expect(body?.firstElement?.local).to.equal("testQueryResponse");
    expect(body?.firstElement?.namespace).to.equal(SIM_NS);
    expect(adapterView(response, "testQuery")).to.deep.equal({
      kind: "content",
      innerXml: "<answer>42</answer><echo>foo</echo>",
    });
  });

  it("getState: non-ASCII text passes byte-exact both ways", async () => {
    const request = fromFixture("getstate-subsystem.query");
    const [response] = await translator.call(request, callOf(request));
    const bytes = Buffer.from(response.body, "utf8");
    expect(bytes.includes(Buffer.from("<response>aäõ</response>", "utf8"))).to.equal(true);
    expect(adapterView(response, "getState")).to.deep.equal({
      kind: "content",
      innerXml: "<response>aäõ</response>",
    });
  });

  it("CDATA in the Body reaches the backend as character data", async () => {
    const request = fromFixture("cdata.query");
    const [response] = await translator.call(request, callOf(request));
    expect(response.body).to.contain("<response>&lt;a&gt;&lt;b&gt;&lt;c&gt;12345678");
  });

  it("sends Idempotency-Key and the X-Road headers as SOAP headers the backend reads", async () => {
    const request = fromFixture("getstate-subsystem.query");
    await translator.call(request, callOf(request));
    const calls = sim.calls({ id: request.id });
    expect(calls).to.have.length(1);
    expect(calls[0].path).to.equal("/soap");
    expect(calls[0].xroadClient).to.equal("EE/BUSINESS/consumer/subsys1");
  });

  it("works without the Envelope's declarations, from the conventional X-Road prefixes", async () => {
    const request = fromFixture("simple.query", undefined, { declarations: false });
    const [response] = await translator.call(request, callOf(request));
    expect(response.body).to.contain("<answer>42</answer>");
    expect(sim.calls({ id: request.id })[0].xroadClient).to.equal("EE/BUSINESS/consumer");
  });

  it("declares a Body prefix nothing declares from the Body's namespace, whatever letters the prefix has", async () => {
    const request = fromFixture("simple.query", undefined, { declarations: false });
    const soap = request.soap!;
    expect(soap.bodyNamespace).to.equal("http://cosumer.ee.xroad.net");
    // The Body as a caller may write it, under a non-ASCII prefix declared on the Envelope only.
    soap.bodyXml = soap.bodyXml
      .replace(' xmlns:ns1="http://cosumer.ee.xroad.net"', "")
      .replaceAll("ns1:", "ämber:");
    const [response] = await translator.call(request, callOf(request));
    // Sent with the prefix declared (refused as undeclared before it was read as a name), and
    // answered as the operation it names.
    expect(response.status).to.equal(200);
    expect(adapterView(response, "testQuery")).to.deep.equal({
      kind: "content",
      innerXml: "<answer>42</answer><echo>foo</echo>",
    });
  });

  it("a Client fault is a rejection carrying the Fault as a 500 text/xml answer", async () => {
    const request = fromFixture("getstate.query", (x) => x.replace("aäõ", "FAULT-CLIENT"));
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendRejectedError);
    const { response } = error as BackendRejectedError;
    expect(response.status).to.equal(500);
    expect(response.contentType).to.equal("text/xml; charset=utf-8");
    expect(findSoapBody(response.body)?.firstElement?.local).to.equal("Fault");
    const seen = adapterView(response, "getState");
    expect(seen.kind).to.equal("fault");
    const faultXml = seen.kind === "fault" ? seen.faultXml : "";
    expect(faultXml).to.match(/^<soap:Fault xmlns:soap="http:\/\/schemas.xmlsoap.org/);
    expect(faultXml).to.contain("<faultcode>soap:Client</faultcode>");
    expect(faultXml).to.contain("<detail>FAULT-CLIENT</detail>");
    expect((error as SluiceError).retryable).to.equal(false);
  });

  it("a Server fault is retryable and carries the Fault for the final answer", async () => {
    const request = fromFixture("getstate.query", (x) => x.replace("aäõ", "FAULT-SERVER"));
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    const { response } = error as BackendUnavailableError;
    expect(response?.status).to.equal(500);
    expect(response?.body).to.contain("<faultcode>soap:Server</faultcode>");
  });

  it("HTTP 503 with Retry-After is retryable and honours Retry-After", async () => {
    const request = fromFixture("getstate.query", (x) =>
      x.replace("aäõ", "sim-status=503 sim-retry-after=7 "),
    );
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).retryAfterMs).to.equal(7000);
  });

  it("a backend slower than the backend's timeout is retryable", async () => {
    const slow = createTranslator(backendAt(sim.url, { timeoutMs: 300 }));
    try {
      const warm = fromFixture("getstate.query");
      await slow.call(warm, callOf(warm));
      const request = fromFixture("getstate.query", (x) => x.replace("aäõ", "sim-latency=3000 "));
      const error = await rejectionOf(slow.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendTimeoutError);
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect((error as Error).message).to.contain("timed out after 300 ms");
    } finally {
      await slow.close?.();
    }
  });

  it("an aborted signal ends the call at once, retryable", async () => {
    // Neither the backend's answer nor the call's timeout comes within the test's time: only
    // the abort can end the call.
    const patient = createTranslator(backendAt(sim.url, { timeoutMs: 600_000 }));
    try {
      const request = fromFixture("getstate.query", (x) => x.replace("aäõ", "sim-latency=600000 "));
      const controller = new AbortController();
      setTimeout(() => controller.abort(new Error("shutting down")), 100);
      const error = await rejectionOf(patient.call(request, callOf(request, controller.signal)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect((error as Error).message).to.contain("call aborted");
    } finally {
      await patient.close?.();
    }
  });

  it("handed the worker's deadline, times the call with it: its time running out is a timeout", async () => {
    const patient = createTranslator(backendAt(sim.url, { timeoutMs: 600_000 }));
    try {
      const request = fromFixture("getstate.query", (x) => x.replace("aäõ", "sim-latency=600000 "));
      const { signal, deadline } = endingDeadline(100);
      const call = { ...callOf(request, signal), deadline };
      const error = await rejectionOf(patient.call(request, call));
      expect(error).to.be.instanceOf(BackendTimeoutError);
      expect((error as Error).message).to.contain("timed out after 600000 ms");
    } finally {
      await patient.close?.();
    }
  });

  it("a service the WSDL lacks is not retried (operator must map it)", async () => {
    const request = fromFixture("simple.query", (x) => x.replace(/testQuery/g, "emit"));
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect(error).not.to.be.instanceOf(BackendRejectedError);
    expect((error as Error).message).to.contain('no operation "emit"');
  });

  it("options choose the WSDL file, the port and the endpoint", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sluice-wsdl-"));
    const file = join(dir, "legacy.wsdl");
    writeFileSync(file, await (await fetch(`${sim.url}/soap?wsdl`)).text());
    const made: Translator[] = [];
    const make = (options: Record<string, unknown>) => {
      const t = createTranslator(backendAt(sim.url, { options }));
      made.push(t);
      return t;
    };
    try {
      const request = fromFixture("getstate.query");
      const fromFile = make({ wsdlFile: file, service: "LegacyService", port: "LegacyPort" });
      const [response] = await fromFile.call(request, callOf(request));
      expect(response.body).to.contain("<response>aäõ</response>");

      const noPort = make({ wsdlFile: file, port: "NoSuchPort" });
      const error = await rejectionOf(noPort.call(request, callOf(request)));
      expect(error).not.to.be.instanceOf(BackendUnavailableError);
      expect((error as Error).message).to.contain("no operations on NoSuchPort");

      // The simulator answers 503 on /status/503: proof the call went to the endpoint given.
      const elsewhere = make({ endpoint: "/status/503" });
      const moved = await rejectionOf(elsewhere.call(request, callOf(request)));
      expect(moved).to.be.instanceOf(BackendUnavailableError);
      expect((moved as Error).message).to.contain("HTTP 503");
      expect(() =>
        createTranslator(backendAt(sim.url, { options: { wsdlFile: "x.wsdl" } })),
      ).to.throw(/wsdlFile must be an absolute path/);
    } finally {
      await Promise.all(made.map((t) => t.close?.()));
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("a REST caller's XML document becomes the Body element; a JSON one is not translated", async () => {
    const base = fromFixture("getstate.query");
    const xml: RequestMessage = {
      ...base,
      protocol: "rest",
      soap: undefined,
      contentType: "application/xml",
      body: `<?xml version="1.0"?>\n<getState xmlns="${SIM_NS}">rest-ä</getState>`,
    };
    const [response] = await translator.call(xml, callOf(xml));
    expect(response.body).to.contain("<response>rest-ä</response>");

    const json: RequestMessage = { ...xml, contentType: "application/json", body: '{"a":1}' };
    const error = await rejectionOf(translator.call(json, callOf(json)));
    expect((error as SluiceError).retryable).to.equal(false);
    expect((error as Error).message).to.contain("needs a SOAP request or an XML body");
  });

  it("still fails, without a call, a REST caller's XML that is not one element (a replay, or an older adapter's message)", async () => {
    const base = fromFixture("getstate.query");
    const before = sim.calls().length;
    for (const body of [
      `</x><getState xmlns="${SIM_NS}">1</getState>`,
      `<getState xmlns="${SIM_NS}">1</getState><getState xmlns="${SIM_NS}">2</getState>`,
    ]) {
      const xml: RequestMessage = {
        ...base,
        protocol: "rest",
        soap: undefined,
        contentType: "application/xml",
        body,
      };
      const error = await rejectionOf(translator.call(xml, callOf(xml)));
      expect((error as SluiceError).code, body).to.equal("InvalidRequest");
      expect((error as SluiceError).retryCall).to.equal(false);
      expect((error as Error).message).to.match(/^the XML body is not one XML element: /);
    }
    expect(sim.calls(), "calls sent").to.have.length(before);
  });

  it("options.operations maps a service code onto another operation", async () => {
    const mapped = createTranslator(
      backendAt(sim.url, { options: { operations: { checkState: "getState" } } }),
    );
    try {
      const request = fromFixture("getstate.query");
      request.service = "checkState";
      const [response] = await mapped.call(request, callOf(request));
      expect(findSoapBody(response.body)?.firstElement?.local).to.equal("getStateResponse");
    } finally {
      await mapped.close?.();
    }
  });
});

describe("soap translator over TLS (backends.<name>.tls)", function () {
  this.timeout(20_000);

  it("reads the WSDL and calls the backend with Sluice's client certificate; fails retryably without it", async () => {
    const pki = createTestPki();
    const backendCert = pki.ca.issue("legacy", { cn: "localhost" });
    const sluice = pki.ca.issue("sluice", { cn: "sluice" });
    const sim = await startLegacySim({
      port: 0,
      tls: { cert: backendCert.cert, key: backendCert.key, ca: pki.ca.cert },
    });
    const clientTls = new ReloadableTls(
      { cert: sluice.certFile, key: sluice.keyFile, ca: [pki.ca.certFile] },
      "backends.legacy.tls",
    );
    const caOnly = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.legacy.tls",
    );
    const translator = createTranslator(backendAt(sim.url, { clientTls }));
    const refused = createTranslator(backendAt(sim.url, { clientTls: caOnly }));
    try {
      expect(sim.url).to.match(/^https:/);
      const request = fromFixture("simple.query");
      const [response] = await translator.call(request, callOf(request));
      expect(adapterView(response, "testQuery")).to.deep.equal({
        kind: "content",
        innerXml: "<answer>42</answer><echo>foo</echo>",
      });
      const error = await rejectionOf(refused.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
    } finally {
      await translator.close?.();
      await refused.close?.();
      clientTls.dispose();
      caOnly.dispose();
      await sim.close();
      pki.cleanup();
    }
  });
});

describe("soap translator when the backend is down", function () {
  it("a backend down at start is retryable, and the next call after it comes up works", async () => {
    // A port of its own, the same when the backend comes up (freePort: none of the kernel's).
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const translator = createTranslator(backendAt(url));
    let sim: LegacySim | null = null;
    try {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect((error as Error).message).to.match(/WSDL|ECONNREFUSED/);

      sim = await startLegacySim({ port });
      const [response] = await translator.call(request, callOf(request));
      expect(response.body).to.contain("<response>aäõ</response>");

      // The client exists now; the endpoint going away again is just as retryable (a kept-alive
      // socket may see the close as a reset rather than a refusal).
      await sim.close();
      sim = null;
      const again = await rejectionOf(translator.call(request, callOf(request)));
      expect(again).to.be.instanceOf(BackendUnavailableError);
      expect((again as Error).message).to.match(/ECONNREFUSED|ECONNRESET/);
    } finally {
      await translator.close?.();
      await sim?.close();
    }
  });
});

describe("soap translator in an environment with HTTP_PROXY / HTTPS_PROXY", function () {
  it("calls the backend at its url, never through the proxy, and sends the proxy nothing", async () => {
    const proxied: string[] = [];
    const proxy = createServer((req, res) => {
      proxied.push(`${req.method} ${req.url} authorization=${req.headers.authorization}`);
      res.writeHead(502).end();
    });
    await new Promise<void>((resolve) => proxy.listen(0, "127.0.0.1", resolve));
    const sim = await startLegacySim({ port: 0 });
    const saved = { http: process.env.HTTP_PROXY, https: process.env.HTTPS_PROXY };
    const proxyUrl = `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
    process.env.HTTP_PROXY = proxyUrl;
    process.env.HTTPS_PROXY = proxyUrl;
    const translator = createTranslator(
      backendAt(sim.url, { options: { headers: { Authorization: "Basic bGVnYWN5OnNlY3JldA==" } } }),
    );
    try {
      const request = fromFixture("simple.query");
      const [response] = await translator.call(request, callOf(request));
      expect(response.status).to.equal(200);
      expect(findSoapBody(response.body)?.firstElement?.local).to.equal("testQueryResponse");
      expect(proxied).to.deep.equal([]);
      expect(sim.calls().length).to.be.greaterThan(0);
    } finally {
      for (const [name, value] of [
        ["HTTP_PROXY", saved.http],
        ["HTTPS_PROXY", saved.https],
      ] as const) {
        if (value === undefined) delete process.env[name];
        else process.env[name] = value;
      }
      await translator.close?.();
      await sim.close();
      proxy.closeAllConnections();
      await new Promise<void>((resolve) => proxy.close(() => resolve()));
    }
  });
});

interface Recorded {
  headers: IncomingMessage["headers"];
  xml: string;
}

type Answer = (recorded: Recorded, res: ServerResponse) => void;

describe("soap translator against a recording SOAP backend", function () {
  let server: Server;
  let url: string;
  let wsdl: string;
  const recorded: Recorded[] = [];
  let answer: Answer;
  let translator: Translator;

  const envelope = (body: string) =>
    `<?xml version="1.0" encoding="utf-8"?><soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body>${body}</soap:Body></soap:Envelope>`;
  const send = (res: ServerResponse, status: number, type: string, body: string | Buffer) => {
    res.writeHead(status, { "content-type": type });
    res.end(body);
  };

  before(async () => {
    // The simulator's WSDL, pointing at this server instead.
    const sim = await startLegacySim({ port: 0 });
    const text = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        if (req.method === "GET") return send(res, 200, "text/xml", wsdl);
        const entry = { headers: req.headers, xml: Buffer.concat(chunks).toString("utf8") };
        recorded.push(entry);
        answer(entry, res);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    wsdl = text.replace(sim.url, url);
    translator = createTranslator(backendAt(url));
  });

  beforeEach(() => {
    recorded.length = 0;
    answer = (_r, res) =>
      send(res, 200, "text/xml; charset=utf-8", envelope("<tns:getStateResponse/>"));
  });

  after(async () => {
    await translator.close?.();
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("sends every header field in order as a SOAP header, each declaring its namespaces", async () => {
    const request = fromFixture("simple-representedparty.query");
    await translator.call(request, callOf(request));
    expect(recorded).to.have.length(1);
    const [{ headers, xml }] = recorded;
    expect(headers["idempotency-key"]).to.equal(request.id);
    expect(headers.soapaction).to.equal(`"${SIM_NS}testQuery"`);
    const header = /<soap:Header>([\s\S]*)<\/soap:Header>/.exec(xml)?.[1] ?? "";
    const undeclared = header.replace(/ xmlns(:[\w.-]+)?="[^"]*"/g, "");
    expect(undeclared).to.equal(request.soap?.headers.map((field) => field.xml).join(""));
    const starts = [...header.matchAll(/<(xroad|repr):(\w+)[^>]*>/g)].filter((m) =>
      /xmlns:/.test(m[0]),
    );
    expect(starts.map((m) => m[2])).to.deep.equal([
      "client",
      "service",
      "representedParty",
      "userId",
      "issue",
      "id",
      "protocolVersion",
    ]);
    for (const [start] of starts) expect(start).to.contain(`xmlns:xroad="${XROAD_NS}"`);
    expect(starts[0][0]).to.contain('xmlns:id="http://x-road.eu/xsd/identifiers"');
    expect(starts[2][0]).to.contain('xmlns:repr="http://x-road.eu/xsd/representation.xsd"');

    const body = findSoapBody(xml);
    expect(body?.firstElement?.local).to.equal("testQuery");
    expect(body?.firstElement?.namespace).to.equal("http://cosumer.ee.xroad.net");
    expect(body?.innerXml.replace(/ xmlns(:[\w.-]+)?="[^"]*"/g, "")).to.equal(
      request.soap?.bodyXml.replace(/ xmlns(:[\w.-]+)?="[^"]*"/g, ""),
    );
  });

  it("concurrent calls never mix headers or answers", async () => {
    answer = (entry, res) => {
      const id = [...entry.xml.matchAll(/<xroad:id[^>]*>([^<]*)</g)].map((m) => m[1]);
      const marker = /<xroad:getState[^>]*>([^<]*)</.exec(entry.xml)?.[1];
      const reply = envelope(
        `<tns:getStateResponse><response>${id.join(",")}|${marker}</response></tns:getStateResponse>`,
      );
      setTimeout(() => send(res, 200, "text/xml; charset=utf-8", reply), Math.random() * 30);
    };
    const requests = Array.from({ length: 25 }, (_, i) =>
      fromFixture("getstate.query", (x) =>
        x
          .replace("411d6755661409fed365ad8135f8210be07613da", `call-${i}`)
          .replace("aäõ", `body-${i}`),
      ),
    );
    const answers = await Promise.all(requests.map((r) => translator.call(r, callOf(r))));
    answers.forEach(([response], i) => {
      expect(response.body).to.contain(`<response>call-${i}|body-${i}</response>`);
    });
    expect(recorded).to.have.length(25);
    for (const entry of recorded) {
      const ids = [...entry.xml.matchAll(/<xroad:id[^>]*>call-(\d+)</g)].map((m) => m[1]);
      expect(ids).to.have.length(1);
      expect(entry.xml).to.contain(`>body-${ids[0]}</xroad:getState>`);
      expect(entry.headers["idempotency-key"]).to.equal(requests[Number(ids[0])].id);
    }
  });

  it("an application faultcode (customfault.answer) is retried by default and keeps the Fault", async () => {
    answer = (_r, res) => send(res, 500, "text/xml; charset=UTF-8", fixture("customfault.answer"));
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    const response = (error as BackendUnavailableError).response;
    expect(response?.status).to.equal(500);
    expect(response?.body).to.equal(
      fixture("customfault.answer")
        .replace(/^<\?xml[^>]*>\s*/, "")
        .trimEnd(),
    );
    // The failure keeps this answer: once the retries are spent, the adapter puts the Fault,
    // its foo: prefix declared, in the detail of the caller's Server.BackendFailed (the
    // caller's own view: test/e2e/soap-backend-fault.test.ts).
    const seen = response ? adapterView(response, "getState") : null;
    expect(seen?.kind).to.equal("fault");
    const fault = seen?.kind === "fault" ? seen.faultXml : "";
    expect(fault).to.match(/^<SOAP-ENV:Fault [^>]*xmlns:foo="http:\/\/example.org\/foo"/);
    expect(fault).to.contain("<faultcode>foo:FOOCODE</faultcode>");
    expect(fault).to.contain("<foo:detail>DETAIL</foo:detail>");
  });

  it("options.rejectFaultCodes turns an application faultcode into a rejection", async () => {
    answer = (_r, res) => send(res, 500, "text/xml", fixture("customfault.answer"));
    const strict = createTranslator(backendAt(url, { options: { rejectFaultCodes: ["FOOCODE"] } }));
    try {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(strict.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendRejectedError);
      expect((error as BackendRejectedError).response.body).to.contain("foo:FOOCODE");
    } finally {
      await strict.close?.();
    }
  });

  it("a prefixed, refined Client faultcode (SOAP-ENV:Client.Validation) is a rejection", async () => {
    answer = (_r, res) =>
      send(
        res,
        500,
        "text/xml",
        `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP11_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client.Validation</faultcode><faultstring>bad age</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
      );
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendRejectedError);
    expect((error as Error).message).to.contain("bad age");
  });

  it("a long fault text is cut to 500 characters, never between a surrogate pair's halves", async () => {
    // The message's head, then emoji of two units each: with or without one more character in
    // front, one of them straddles unit 500, which a plain slice left as a lone high surrogate.
    const request = fromFixture("getstate.query");
    for (const lead of ["x", "xy"]) {
      answer = (_r, res) =>
        send(
          res,
          500,
          "text/xml",
          `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP11_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Client</faultcode><faultstring>${lead}${"\u{1F600}".repeat(300)}</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
        );
      const { message } = (await rejectionOf(translator.call(request, callOf(request)))) as Error;
      expect(message.length).to.be.within(499, 500);
      expect(message).to.not.match(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
    }
  });

  it("a Client faultcode written in CDATA is a rejection too (SOAP 1.1 and 1.2)", async () => {
    const request = fromFixture("getstate.query");
    answer = (_r, res) =>
      send(
        res,
        500,
        "text/xml",
        `<SOAP-ENV:Envelope xmlns:SOAP-ENV="${SOAP11_NS}"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode><![CDATA[SOAP-ENV:Client.Validation]]></faultcode><faultstring><![CDATA[bad <age>]]></faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
      );
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendRejectedError);
    expect((error as Error).message).to.contain("bad <age>");

    answer = (_r, res) =>
      send(
        res,
        500,
        "application/soap+xml",
        `<env:Envelope xmlns:env="${SOAP12_NS}"><env:Body><env:Fault><env:Code><env:Value><![CDATA[env:Sender]]></env:Value></env:Code><env:Reason><env:Text xml:lang="en"><![CDATA[no such person]]></env:Text></env:Reason></env:Fault></env:Body></env:Envelope>`,
      );
    const error12 = await rejectionOf(translator.call(request, callOf(request)));
    expect(error12).to.be.instanceOf(BackendRejectedError);
    expect((error12 as Error).message).to.contain("no such person");
  });

  it("passes the answer on exactly, from its Envelope on, whatever the Body holds", async () => {
    const sent =
      `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}" xmlns:xsd="http://www.w3.org/2001/XMLSchema">` +
      `<soap:Header><tns:trace>t-1</tns:trace></soap:Header>` +
      `<soap:Body>\n  <tns:getStateResponse><r href="#id0"/></tns:getStateResponse>\n` +
      `  <tns:multiRef id="id0"><v type="xsd:string">x &amp; y</v></tns:multiRef>\n</soap:Body></soap:Envelope>`;
    answer = (_r, res) =>
      send(res, 200, "text/xml", `<?xml version="1.0" encoding="utf-8"?>\n<!-- c -->\n${sent}\n`);
    const request = fromFixture("getstate.query");
    const [response] = await translator.call(request, callOf(request));
    expect(response.body).to.equal(sent);
  });

  it("an answer with anything but white space or comments after its Envelope, or one not closed, is neither completed nor retried", async () => {
    const whole = `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`;
    const request = fromFixture("getstate.query");
    for (const [text, words] of [
      [`${whole}<extra/>garbage`, /content after the SOAP Envelope/],
      [`${whole}${whole}`, /content after the SOAP Envelope/],
      [`${whole}trailing text`, /content after the SOAP Envelope/],
      [whole.replace("</soap:Envelope>", ""), /the Envelope is not closed/],
    ] as const) {
      answer = (_r, res) => send(res, 200, "text/xml", text);
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error, text).to.be.instanceOf(SluiceError);
      expect(error, text).not.to.be.instanceOf(BackendRejectedError);
      expect((error as SluiceError).retryable, text).to.equal(false);
      expect((error as Error).message, text).to.match(words);
    }
    answer = (_r, res) => send(res, 200, "text/xml", `${whole}\n<!-- served by x -->\n`);
    const [response] = await translator.call(request, callOf(request));
    expect(response.body).to.equal(whole);
  });

  it("an answer using a prefix it never declares is refused, not passed on", async () => {
    answer = (_r, res) =>
      send(
        res,
        200,
        "text/xml",
        `<soap:Envelope xmlns:soap="${SOAP11_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
      );
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect((error as SluiceError).retryable).to.equal(false);
    expect((error as Error).message).to.contain("undeclared namespace prefixes: tns");
    // Declared on a sibling only: out of scope where it is used, as a caller's parser reads it.
    answer = (_r, res) =>
      send(
        res,
        200,
        "text/xml",
        `<soap:Envelope xmlns:soap="${SOAP11_NS}"><soap:Header><h xmlns:tns="urn:t"/></soap:Header><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
      );
    const sibling = await rejectionOf(translator.call(request, callOf(request)));
    expect((sibling as Error).message).to.contain("undeclared namespace prefixes: tns");
  });

  it("decodes an answer by its charset (ISO-8859-1) into the same text, as UTF-8", async () => {
    const latin1 = (text: string) => Buffer.from(text, "latin1");
    const inner = "<tns:getStateResponse><response>aäõ</response></tns:getStateResponse>";
    const request = fromFixture("getstate.query");
    // Said by the Content-Type, then only by the XML declaration.
    answer = (_r, res) => send(res, 200, "text/xml; charset=ISO-8859-1", latin1(envelope(inner)));
    const [byType] = await translator.call(request, callOf(request));
    expect(byType.body).to.contain("<response>aäõ</response>");
    answer = (_r, res) =>
      send(
        res,
        200,
        "text/xml",
        latin1(envelope(inner).replace('encoding="utf-8"', 'encoding="ISO-8859-1"')),
      );
    const [byDeclaration] = await translator.call(request, callOf(request));
    expect(byDeclaration.body).to.match(/^<soap:Envelope /);
    expect(byDeclaration.body).not.to.contain("ISO-8859-1");
    expect(adapterView(byDeclaration, "getState")).to.deep.equal({
      kind: "content",
      innerXml: "<response>aäõ</response>",
    });
  });

  it("decodes an answer by its byte-order mark over its charset, and by a charset callers are not offered", async () => {
    const inner = "<tns:getStateResponse><response>aäõ</response></tns:getStateResponse>";
    const request = fromFixture("getstate.query");
    // RFC 7303 §3.2: the byte-order mark wins over a Content-Type that says otherwise.
    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from(envelope(inner).replace('encoding="utf-8"', 'encoding="UTF-16"'), "utf16le"),
    ]);
    answer = (_r, res) => send(res, 200, "text/xml; charset=utf-8", utf16);
    const [byMark] = await translator.call(request, callOf(request));
    expect(byMark.body).to.contain("<response>aäõ</response>");
    // A Baltic backend's windows-1257 (õ is 0xF5, ä 0xE4): read, though callers must use
    // UTF-8, UTF-16 or ISO-8859-1.
    const baltic = Buffer.from(envelope(inner), "latin1");
    answer = (_r, res) => send(res, 200, "text/xml; charset=windows-1257", baltic);
    const [byName] = await translator.call(request, callOf(request));
    expect(byName.body).to.contain("<response>aäõ</response>");
  });

  it("HTTP 502 without an envelope is retryable", async () => {
    answer = (_r, res) => send(res, 502, "text/html", "<html><body>Bad gateway</body></html>");
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as Error).message).to.contain("HTTP 502");
  });

  it("an answer over maxResponseBytes is retried when its status is (a proxy's 503 page), else not", async () => {
    const bounded = createTranslator(backendAt(url, { options: { maxResponseBytes: 50_000 } }));
    const request = fromFixture("getstate.query");
    try {
      answer = (_r, res) => {
        res.writeHead(503, { "content-type": "text/html", "retry-after": "7" });
        res.end("x".repeat(100_000));
      };
      const busy = await rejectionOf(bounded.call(request, callOf(request)));
      expect(busy).to.be.instanceOf(BackendUnavailableError);
      expect(busy).to.include({ retryAfterMs: 7000 });
      expect((busy as Error).message).to.match(/HTTP 503 with more than 50000 bytes/);
      // A 200 that large is an answer too large to keep: calling again would meet the same.
      answer = (_r, res) => send(res, 200, "text/xml", envelope("x".repeat(100_000)));
      const large = await rejectionOf(bounded.call(request, callOf(request)));
      expect(large).not.to.be.instanceOf(BackendUnavailableError);
      expect(large).to.include({ retryCall: false });
      expect((large as Error).message).to.match(/HTTP 200 with more than 50000 bytes/);
    } finally {
      await bounded.close?.();
    }
  });

  it("a status of 600 or more is not a 5xx: not retried", async () => {
    answer = (_r, res) => send(res, 600, "text/xml", envelope("<tns:getStateResponse/>"));
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryCall).to.equal(false);
  });

  it("an answer whose headers are too large to read is not retried", async () => {
    // The backend did the work: calling again would do it again and meet the same answer.
    answer = (_r, res) => {
      res.writeHead(200, { "content-type": "text/xml", "x-debug": "z".repeat(20_000) });
      res.end(envelope("<tns:getStateResponse/>"));
    };
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryCall).to.equal(false);
    expect((error as Error).message).to.match(/headers/);
  });

  it("an answer that is not HTTP (a malformed chunk size) is not retried", async () => {
    // Written past the server's own framing, as a broken legacy stack or another protocol would.
    answer = (_r, res) =>
      res.socket?.end(
        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n<a/>\r\n0\r\n\r\n",
      );
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryCall).to.equal(false);
    expect((error as Error).message).to.match(/not an HTTP\/1.1 answer \(HPE_INVALID_CHUNK_SIZE\)/);
  });

  it("a 200 answer that is not SOAP is neither completed nor retried", async () => {
    answer = (_r, res) => send(res, 200, "text/html", "<html><body>login</body></html>");
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect(error).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).retryable).to.equal(false);
    expect(error).not.to.be.instanceOf(BackendRejectedError);
  });

  it("an answer with two Content-Type lines whose body would be read is neither completed nor retried", async () => {
    // RFC 9110 §8.3: one type; which of two the body is in (charset, MIME or not) is a guess.
    let status = 200;
    answer = (_r, res) => {
      res.setHeader("content-type", ["text/xml; charset=utf-8", "text/html"]);
      res.writeHead(status).end(envelope("<tns:getStateResponse/>"));
    };
    for (status of [200, 404]) {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error, String(status)).to.be.instanceOf(SluiceError);
      expect(error, String(status)).not.to.be.instanceOf(BackendRejectedError);
      expect((error as SluiceError).retryCall, String(status)).to.equal(false);
      expect((error as Error).message).to.equal(
        `backend legacy answered HTTP ${status}, not usable: it has 2 Content-Type headers, where an answer has at most one`,
      );
      // The operator's backend: dead-lettered with the reason, as an answer Sluice cannot read.
      expect(decideCall({ failure: error }, LAST_ATTEMPT)).to.deep.include({
        outcome: "poison",
        reason: "translator_error",
      });
    }
  });

  it("a transient answer with two Content-Type lines is retried by its status, its body unread", async () => {
    // A proxy's 503 in an outage: a dead letter would end a message the next call could serve.
    let status = 503;
    answer = (_r, res) => {
      res.setHeader("content-type", ["text/html", "text/plain"]);
      res.writeHead(status).end("<h1>down</h1>");
    };
    for (status of [500, 503, 429]) {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error, String(status)).to.be.instanceOf(BackendUnavailableError);
      expect((error as BackendUnavailableError).response, String(status)).to.equal(undefined);
      expect((error as Error).message).to.equal(
        `backend legacy answered HTTP ${status} (its body not read: it has 2 Content-Type headers, where an answer has at most one)`,
      );
      expect(decideCall({ failure: error }, LAST_ATTEMPT)).to.deep.include({
        outcome: "retryable_error",
        reason: "retries_exhausted",
      });
    }
  });

  it("an empty 2xx with two Content-Type lines is the empty answer it is: no type is read", async () => {
    // A one-way operation's answer: the backend did what was asked, and failing the message
    // would have its caller do it again.
    answer = (_r, res) => {
      res.setHeader("content-type", ["text/xml; charset=utf-8", "text/html"]);
      res.writeHead(202).end();
    };
    const request = fromFixture("getstate.query");
    const [response] = await translator.call(request, callOf(request));
    expect(response).to.include({ status: 200, body: "" });
  });

  it("an answer with a DOCTYPE is refused, not parsed", async () => {
    answer = (_r, res) =>
      send(
        res,
        200,
        "text/xml",
        `<!DOCTYPE x [<!ENTITY a "b">]>${envelope("<tns:getStateResponse/>")}`,
      );
    const request = fromFixture("getstate.query");
    const error = await rejectionOf(translator.call(request, callOf(request)));
    expect((error as SluiceError).retryable).to.equal(false);
    expect((error as Error).message).to.contain("DOCTYPE");
  });
});

describe("soap translator reading a WSDL that never finishes, or is too large", function () {
  // A backend that sends its WSDL a few bytes at a time and never ends it, until told to
  // serve it whole: a socket that is never idle, so only a deadline over the whole read ends it.
  let server: Server;
  let url: string;
  let wsdl: string;
  let trickle = true;
  let padding = "";
  const closedReads: Array<Promise<void>> = [];

  before(async () => {
    const sim = await startLegacySim({ port: 0 });
    const text = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    server = createServer((req, res) => {
      if (req.method !== "GET") {
        req.resume();
        res
          .writeHead(200, { "content-type": "text/xml; charset=utf-8" })
          .end(
            `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
          );
        return;
      }
      if (!trickle) {
        res.writeHead(200, { "content-type": "text/xml" }).end(wsdl + padding);
        return;
      }
      res.writeHead(200, { "content-type": "text/xml" });
      res.write('<?xml version="1.0"?>\n');
      const timer = setInterval(() => res.write(" "), 50);
      closedReads.push(
        new Promise<void>((resolve) =>
          res.once("close", () => {
            clearInterval(timer);
            resolve();
          }),
        ),
      );
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    wsdl = text.replace(sim.url, url);
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("gives the read up at the backend's timeout, so the next call reads the WSDL again", async () => {
    const translator = createTranslator(backendAt(url, { timeoutMs: 500 }));
    try {
      const request = fromFixture("getstate.query");
      const first = await rejectionOf(translator.call(request, callOf(request)));
      expect((first as SluiceError).retryCall).to.equal(true);
      // The trickled read is abandoned by the translator (the server sees it closed); bounded
      // here so that a translator that keeps reading fails below rather than hanging the test.
      await Promise.race([
        closedReads[0],
        new Promise((resolve) => setTimeout(resolve, 5000).unref()),
      ]);
      trickle = false;
      const [response] = await translator.call(request, callOf(request));
      expect(response.status).to.equal(200);
    } finally {
      await translator.close?.();
    }
  });

  it("refuses a WSDL larger than maxResponseBytes, retryably", async () => {
    trickle = false;
    padding = `<!--${"x".repeat(200_000)}-->`;
    const translator = createTranslator(backendAt(url, { options: { maxResponseBytes: 100_000 } }));
    try {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect((error as Error).message).to.match(/WSDL.*maxResponseBytes/);
    } finally {
      padding = "";
      await translator.close?.();
    }
  });
});

/** The worker's decision on a failed call with no attempt left: what the operator reads. */
const LAST_ATTEMPT: DecisionContext = {
  attempt: 1,
  retry: { attempts: 1, backoffMs: [] },
  ordered: false,
  shuttingDown: false,
  maxMessageBytes: 16 * 1024 * 1024,
};

describe("soap translator whose WSDL is not there", function () {
  let server: Server;
  let port = 0;
  const saw: Array<string | undefined> = [];

  before(async () => {
    server = createServer((req, res) => {
      req.resume();
      saw.push(req.headers.authorization);
      res.writeHead(404).end("no such document");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  });

  it("says so without the url's password or query key, which the read still sends", async () => {
    // The soap package's error quotes the URL it read whole; the message reaches the caller's
    // status document, and its cause the operator's log and dead letter.
    const translator = createTranslator(
      backendAt(`http://svc:S3cretPw@127.0.0.1:${port}`, {
        options: { wsdl: "/soap?wsdl&apikey=K3yK3y" },
      }),
    );
    try {
      const request = fromFixture("getstate.query");
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      // The caller's words name no URL (its host is the operator's network); the operator's
      // (the cause, shown by the worker's decision) name it without the secrets.
      expect((error as Error).message).to.equal(
        "backend legacy: could not read its WSDL: Invalid WSDL URL: <url>",
      );
      expect(decideCall({ failure: error }, LAST_ATTEMPT)).to.deep.include({
        cause: `backend legacy: could not read its WSDL: Invalid WSDL URL: <url> (Invalid WSDL URL: http://127.0.0.1:${port}/soap?[redacted]&apikey=[redacted])`,
      });
      expect(saw[0]).to.equal(`Basic ${Buffer.from("svc:S3cretPw").toString("base64")}`);
    } finally {
      await translator.close?.();
    }
  });
});

describe("soap translator reading a WSDL that imports a schema", function () {
  // The backend's WSDL imports a schema from wherever `importFrom` says; a second server, of
  // another origin, records what reaches it.
  const EXTRA_NS = "urn:sluice-test:extra";
  const schema = `<?xml version="1.0"?><xsd:schema xmlns:xsd="http://www.w3.org/2001/XMLSchema" targetNamespace="${EXTRA_NS}"><xsd:element name="note" type="xsd:string"/></xsd:schema>`;
  let backend: Server;
  let other: Server;
  let url: string;
  let otherUrl: string;
  let wsdl: string;
  let importFrom = "";
  /** The served WSDL's soap:address, when not the backend's own. */
  let addressAt: string | null = null;
  const otherSaw: IncomingHttpHeaders[] = [];

  const serve = (server: Server, handle: (req: IncomingMessage, res: ServerResponse) => void) =>
    new Promise<string>((resolve) => {
      server.on("request", handle);
      server.listen(0, "127.0.0.1", () =>
        resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
      );
    });

  before(async () => {
    const sim = await startLegacySim({ port: 0 });
    const text = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    backend = createServer();
    url = await serve(backend, (req, res) => {
      req.resume();
      if (req.method === "GET" && req.url === "/types.xsd") {
        res.writeHead(200, { "content-type": "text/xml" }).end(schema);
      } else if (req.method === "GET") {
        const imported = wsdl.replace(
          '<xsd:schema targetNamespace="http://legacy.sluice.example/" elementFormDefault="unqualified">',
          (open) => `${open}<xsd:import namespace="${EXTRA_NS}" schemaLocation="${importFrom}"/>`,
        );
        const addressed =
          addressAt === null
            ? imported
            : imported.replace(
                /<soap:address location="[^"]*"/,
                `<soap:address location="${addressAt}"`,
              );
        res.writeHead(200, { "content-type": "text/xml" }).end(addressed);
      } else {
        res
          .writeHead(200, { "content-type": "text/xml; charset=utf-8" })
          .end(
            `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
          );
      }
    });
    other = createServer();
    otherUrl = await serve(other, (req, res) => {
      req.resume();
      otherSaw.push(req.headers);
      res.writeHead(200, { "content-type": "text/xml" }).end(schema);
    });
    wsdl = text.replace(sim.url, url);
  });

  beforeEach(() => {
    otherSaw.length = 0;
    addressAt = null;
  });

  after(async () => {
    for (const server of [backend, other]) {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  async function callWith(options: Record<string, unknown>): Promise<unknown> {
    const translator = createTranslator(
      backendAt(url, {
        options: { headers: { Authorization: "Bearer backend-secret" }, ...options },
      }),
    );
    try {
      const request = fromFixture("getstate.query");
      return await translator.call(request, callOf(request)).catch((error: unknown) => error);
    } finally {
      await translator.close?.();
    }
  }

  it("reads an import from the WSDL's own origin", async () => {
    importFrom = "types.xsd";
    expect(await callWith({}))
      .to.be.an("array")
      .with.length(1);
  });

  it("refuses an import from another origin, sending it nothing (not the WSDL read's headers)", async () => {
    importFrom = `${otherUrl}/types.xsd`;
    const error = await callWith({});
    expect(error).to.be.instanceOf(BackendUnavailableError);
    // The caller's words leave the import's URL out; the operator's name it, to allow it.
    expect((error as Error).message).to.match(
      /could not read its WSDL: the WSDL imports <url>, outside its own origin; add the origin to options\.wsdlImportOrigins/,
    );
    const operators = decideCall({ failure: error }, LAST_ATTEMPT) as { cause: string };
    expect(operators.cause).to.match(
      /\(the WSDL imports http:\/\/127\.0\.0\.1:\d+\/types\.xsd, outside its own origin/,
    );
    expect(otherSaw).to.deep.equal([]);
  });

  it("refuses a soap:address at another origin, sending it nothing; options.endpoint sends calls there", async () => {
    importFrom = "types.xsd";
    addressAt = `${otherUrl}/soap`;
    const error = await callWith({});
    expect(error).to.be.instanceOf(BackendUnavailableError);
    // As for an import: the caller's words leave the address out, the operator's name it.
    expect((error as Error).message).to.match(
      /its WSDL sends calls to <url>, outside the WSDL's and the backend url's origin; set options\.endpoint/,
    );
    const operators = decideCall({ failure: error }, LAST_ATTEMPT) as { cause: string };
    expect(operators.cause).to.match(/\(its WSDL sends calls to http:\/\/127\.0\.0\.1:\d+\/soap\)/);
    expect(otherSaw).to.deep.equal([]);
    // The operator's own choice: the call goes there, with the backend's headers.
    await callWith({ endpoint: `${otherUrl}/soap` });
    expect(otherSaw).to.have.length(1);
    expect(otherSaw[0]!.authorization).to.equal("Bearer backend-secret");
  });

  it("calls a soap:address at the WSDL's own origin", async () => {
    importFrom = "types.xsd";
    addressAt = `${url}/elsewhere`;
    expect(await callWith({}))
      .to.be.an("array")
      .with.length(1);
    expect(otherSaw).to.deep.equal([]);
  });

  it("reads an import from an origin in wsdlImportOrigins", async () => {
    importFrom = `${otherUrl}/types.xsd`;
    expect(await callWith({ wsdlImportOrigins: [otherUrl] }))
      .to.be.an("array")
      .with.length(1);
    expect(otherSaw).to.have.length(1);
  });

  it("takes origins only in wsdlImportOrigins: a path, a user or another scheme is refused", () => {
    for (const bad of ["https://a.example/schemas", "https://u@a.example", "file:///etc", 7]) {
      expect(() =>
        createTranslator(backendAt(url, { options: { wsdlImportOrigins: [bad] } })),
      ).to.throw(/options\.wsdlImportOrigins must be a list of http\(s\) origins/);
    }
  });
});

/**
 * A SOAP backend that closes idle connections when the test says their idle time is up, as a
 * backend's close meets a call sent at that moment: the call arrives on a connection the backend
 * is closing and is reset, unanswered. It never closes one on its own, and announces no
 * `Keep-Alive` timeout a client could go by.
 */
interface IdleClosingBackend {
  url: string;
  /** Marks every connection open now as past its idle time; resolves once the client closed them. */
  idleTimeUp(): Promise<void>;
  /** Calls that arrived on a connection past its idle time. */
  resets(): number;
  close(): Promise<void>;
}

async function startIdleClosingBackend(tls?: {
  cert: string;
  key: string;
}): Promise<IdleClosingBackend> {
  const sim = await startLegacySim({ port: 0 });
  const text = await (await fetch(`${sim.url}/soap?wsdl`)).text();
  await sim.close();
  const open = new Set<Socket>();
  const closing = new WeakSet<Socket>();
  let resets = 0;
  let url = "";
  const handle = (req: IncomingMessage, res: ServerResponse) => {
    if (closing.has(req.socket)) {
      resets += 1;
      req.socket.destroy();
      return;
    }
    req.resume();
    req.on("end", () => {
      res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
      res.end(
        req.method === "GET"
          ? text.replace(sim.url, url)
          : `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
      );
    });
  };
  const server = tls ? https.createServer(tls, handle) : http.createServer(handle);
  server.keepAliveTimeout = 0;
  server.on(tls ? "secureConnection" : "connection", (socket: Socket) => {
    open.add(socket);
    socket.on("close", () => open.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  url = `${tls ? "https" : "http"}://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    async idleTimeUp() {
      const sockets = [...open];
      for (const socket of sockets) closing.add(socket);
      await Promise.all(sockets.map((socket) => (socket.closed ? null : once(socket, "close"))));
    },
    resets: () => resets,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    },
  };
}

describe("soap translator's kept-alive connections (keepAliveTimeoutMs)", function () {
  // The client's close of an idle connection is awaited up to the test's timeout, not a bound
  // of the test's own: a pool that keeps connections longer fails here, however late timers run.
  this.timeout(30_000);

  // Node's global pools, which the translator must not send through, keep connections without
  // an idle bound of their own here: a call that went through them fails, not only one sent
  // after Node's 5 s.
  globalNodePools({ keepAlive: true });

  it("a connection kept past the backend's idle time costs the call a retry (what the pool prevents)", async () => {
    const backend = await startIdleClosingBackend();
    const translator = createTranslator(
      backendAt(backend.url, { options: { keepAliveTimeoutMs: 600_000 } }),
    );
    try {
      const request = fromFixture("getstate.query");
      await translator.call(request, callOf(request));
      // The backend's idle time is up now, and the pool still holds the connection.
      void backend.idleTimeUp();
      const error = await rejectionOf(translator.call(request, callOf(request)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect(backend.resets()).to.equal(1);
    } finally {
      await translator.close?.();
      await backend.close();
    }
  });

  it("closes an idle connection after keepAliveTimeoutMs, before the backend does: the next call goes on a new one, no retry spent", async () => {
    const backend = await startIdleClosingBackend();
    const translator = createTranslator(
      backendAt(backend.url, { options: { keepAliveTimeoutMs: 100 } }),
    );
    try {
      const request = fromFixture("getstate.query");
      await translator.call(request, callOf(request));
      await backend.idleTimeUp();
      const [response] = await translator.call(request, callOf(request));
      expect(response.status).to.equal(200);
      expect(backend.resets()).to.equal(0);
    } finally {
      await translator.close?.();
      await backend.close();
    }
  });

  it("does the same for an https backend with a tls block (CA, client certificate)", async () => {
    const pki = createTestPki();
    const backendCert = pki.ca.issue("legacy", { cn: "localhost" });
    const sluice = pki.ca.issue("sluice", { cn: "sluice" });
    const backend = await startIdleClosingBackend({
      cert: backendCert.cert,
      key: backendCert.key,
    });
    const clientTls = new ReloadableTls(
      { cert: sluice.certFile, key: sluice.keyFile, ca: [pki.ca.certFile] },
      "backends.legacy.tls",
    );
    const translator = createTranslator(
      backendAt(backend.url, { clientTls, options: { keepAliveTimeoutMs: 100 } }),
    );
    try {
      const request = fromFixture("getstate.query");
      await translator.call(request, callOf(request));
      await backend.idleTimeUp();
      const [response] = await translator.call(request, callOf(request));
      expect(response.status).to.equal(200);
      expect(backend.resets()).to.equal(0);
    } finally {
      await translator.close?.();
      clientTls.dispose();
      await backend.close();
      pki.cleanup();
    }
  });
});

describe("soap translator's https connections when its certificates are read again (SIGHUP)", function () {
  this.timeout(30_000);

  it("lets a call in flight finish on its connection; the next goes out with the new certificates", async () => {
    const pki = createTestPki();
    const backendCert = pki.ca.issue("legacy", { cn: "localhost" });
    const sluice = pki.ca.issue("sluice", { cn: "sluice" });
    const sim = await startLegacySim({ port: 0 });
    const wsdl = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    // The backend holds the first call's answer until the test has reloaded the certificates.
    let arrived: () => void = () => undefined;
    const callArrived = new Promise<void>((resolve) => (arrived = resolve));
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let posts = 0;
    let url = "";
    const server = https.createServer(
      { cert: backendCert.cert, key: backendCert.key },
      (req: IncomingMessage, res: ServerResponse) => {
        req.resume();
        req.on("end", () => {
          if (req.method === "GET") {
            res.writeHead(200, { "content-type": "text/xml" }).end(wsdl.replace(sim.url, url));
            return;
          }
          posts += 1;
          const answer = () =>
            res
              .writeHead(200, { "content-type": "text/xml; charset=utf-8" })
              .end(
                `<soap:Envelope xmlns:soap="${SOAP11_NS}" xmlns:tns="${SIM_NS}"><soap:Body><tns:getStateResponse/></soap:Body></soap:Envelope>`,
              );
          if (posts > 1) return answer();
          arrived();
          void released.then(answer);
        });
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const clientTls = new ReloadableTls(
      { cert: sluice.certFile, key: sluice.keyFile, ca: [pki.ca.certFile] },
      "backends.legacy.tls",
    );
    const translator = createTranslator(backendAt(url, { clientTls }));
    try {
      const request = fromFixture("getstate.query");
      const inFlight = translator.call(request, callOf(request));
      await callArrived;
      expect(clientTls.reload()).to.equal(null);
      release();
      const [response] = await inFlight;
      expect(response.status).to.equal(200);
      const [next] = await translator.call(request, callOf(request));
      expect(next.status).to.equal(200);
      expect(posts).to.equal(2);
    } finally {
      release();
      await translator.close?.();
      clientTls.dispose();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      pki.cleanup();
    }
  });
});
