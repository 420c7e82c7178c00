// The X-Road SOAP path end to end on the real broker, Redis and HTTP: the security server's own
// fixtures POSTed to a running Sluice, every reply mode, faults, attachments, backpressure and
// the WSDL used by the `soap` package as a real client.

import { gzipSync } from "node:zlib";
import { expect } from "chai";
import * as soap from "soap";
import { call, eventually, Harness } from "../support/harness";
import { parseXml, childElements, directText, type XmlElement } from "../../adapter/soap/safe-xml";
import { untilDepth } from "./ops-support";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";

import {
  FAULT_FIXTURES,
  fixture,
  MULTIPART_FIXTURES,
  TEST_QUERY_SCHEMA,
} from "../fixtures/xroad-soap/outcomes";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";

const MULTIPART = MULTIPART_FIXTURES[0][1];

/** A fixture with another service code in its `service` header and Body element. */
function asService(name: string, from: string, to: string): Buffer {
  const text = fixture(name).toString("utf8");
  return Buffer.from(
    text
      .replace(`<id:serviceCode>${from}</id:serviceCode>`, `<id:serviceCode>${to}</id:serviceCode>`)
      .replace(new RegExp(`(</?[\\w-]+:)${from}\\b`, "g"), `$1${to}`),
  );
}

let counter = 0;

/** The fixture (or text) with a fresh X-Road id, so that no two tests share a message. */
function fresh(request: Buffer | string): string {
  const text = typeof request === "string" ? request : request.toString("utf8");
  counter += 1;
  return text.replace(
    /<xroad:id>[^<]*<\/xroad:id>/,
    `<xroad:id>e2e-${Date.now()}-${counter}</xroad:id>`,
  );
}

interface SoapAnswer {
  status: number;
  headers: Headers;
  text: string;
  root: XmlElement;
  /** The single Body element. */
  body: XmlElement;
}

async function post(
  url: string,
  body: Buffer | string,
  contentType = "text/xml; charset=utf-8",
): Promise<SoapAnswer> {
  const response = await fetch(`${url}/soap`, {
    method: "POST",
    headers: { "Content-Type": contentType },
    body,
  });
  const text = await response.text();
  const root = parseXml(text);
  const bodyElement = childElements(root).find((e) => e.local === "Body") as XmlElement;
  return {
    status: response.status,
    headers: response.headers,
    text,
    root,
    body: childElements(bodyElement)[0],
  };
}

function headerXml(text: string): string {
  const root = parseXml(text);
  const header = childElements(root).find((e) => e.local === "Header");
  return header ? text.slice(header.start, header.end) : "";
}

function child(element: XmlElement, local: string): XmlElement | undefined {
  return childElements(element).find((e) => e.local === local);
}

function faultCode(answer: SoapAnswer): string {
  expect(answer.body.local).to.equal("Fault");
  return directText(child(answer.body, "faultcode") as XmlElement);
}

describe("SOAP end to end (all roles in one process)", function () {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  this.timeout(30_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20 },
    config: {
      services: {
        testQuery: {
          protocols: ["soap", "rest"],
          namespace: "http://cosumer.ee.xroad.net",
          schema: TEST_QUERY_SCHEMA,
          reply: { mode: "sync", wait: "5s", maxWait: "10s" },
          backend: "sim",
        },
        getState: { protocols: ["soap"], reply: { mode: "ack" }, backend: "sim" },
        test: { protocols: ["soap"], reply: { mode: "ack" }, backend: "sim", attachments: true },
        restOnly: { protocols: ["rest"], backend: "sim" },
        private: { protocols: ["soap"], backend: "sim", allowedClients: ["EE/GOV/1/other"] },
      },
      backends: {
        sim: { translator: "rest-json", retry: { attempts: 2, backoff: ["1s"] } },
      },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("sync: simple.query gets the backend's answer, every header echoed byte for byte", async () => {
    const request = fresh(fixture("simple.query"));
    const answer = await post(roles.sluice.url, request);
    expect(answer.status).to.equal(200);
    expect(answer.headers.get("content-type")).to.match(/^text\/xml/);
    expect(headerXml(answer.text)).to.equal(headerXml(request));
    expect(answer.body.qname).to.equal("ns1:testQueryResponse");
    expect(answer.body.namespace).to.equal("http://cosumer.ee.xroad.net");
    // The sim echoes the JSON it received: the Body as JSON, typed by the service's schema.
    const received = child(answer.body, "received") as XmlElement;
    const req = child(received, "request") as XmlElement;
    expect(directText(child(req, "name") as XmlElement)).to.equal("foo");
    expect(directText(child(req, "age") as XmlElement)).to.equal("35");
    const id = answer.headers.get("x-sluice-id") as string;
    expect(directText(child(answer.body, "idempotencyKey") as XmlElement)).to.equal(id);
    const calls = harness.sim.calls({ id });
    expect(calls).to.have.length(1);
  });

  it("sync: the JSON backend got the typed body and the X-Road headers", async () => {
    const answer = await post(roles.sluice.url, fresh(fixture("simple-representedparty.query")));
    expect(answer.status).to.equal(200);
    const id = answer.headers.get("x-sluice-id") as string;
    const [record] = harness.sim.calls({ id });
    expect(record.xroadClient).to.equal("EE/BUSINESS/consumer");
    expect(record.method).to.equal("POST");
    expect(headerXml(answer.text)).to.include("<repr:partyCode>MEMBER3</repr:partyCode>");
  });

  it("ack: getstate-subsystem.query is acknowledged with the id; the status is readable", async () => {
    const request = fresh(fixture("getstate-subsystem.query"));
    const answer = await post(roles.sluice.url, request);
    expect(answer.status).to.equal(200);
    expect(headerXml(answer.text)).to.equal(headerXml(request));
    expect(answer.body.local).to.equal("getStateResponse");
    const id = directText(child(answer.body, "id") as XmlElement);
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    expect(directText(child(answer.body, "state") as XmlElement)).to.equal("accepted");
    expect(answer.headers.get("x-sluice-id")).to.equal(id);
    const status = await eventually(async () => {
      const s = await call(`${roles.sluice.url}/messages/${id}`, {
        client: "EE/BUSINESS/consumer/subsys1",
      });
      return s.json?.state === "completed" ? s : undefined;
    });
    expect(status.json.xroadId).to.equal(/<xroad:id>([^<]*)</.exec(request)?.[1]);
    expect(status.json.responses[0].body.received).to.equal("aäõ");
    const stranger = await call(`${roles.sluice.url}/messages/${id}`, {
      client: "EE/BUSINESS/consumer",
    });
    expect(stranger.status).to.equal(404);
  });

  it("the same X-Road id from the same client is one message", async () => {
    const request = asService("cdata.query", "getState", "getState").toString("utf8");
    const unique = request.replace(
      /411d6755661409fed365ad8135f8210be07613da/g,
      `dup-${Date.now()}`,
    );
    const first = await post(roles.sluice.url, unique);
    const second = await post(roles.sluice.url, unique);
    const firstId = directText(child(first.body, "id") as XmlElement);
    expect(directText(child(second.body, "id") as XmlElement)).to.equal(firstId);
  });

  it("MissingBody, InvalidBody and InconsistentHeaders faults echo the request's header", async () => {
    for (const [name, code] of [
      ["missing-body.query", "Client.MissingBody"],
      ["malformed-body1.query", "Client.InvalidBody"],
      ["malformed-body2.query", "Client.InvalidBody"],
      ["inconsistent-headers.query", "Client.InconsistentHeaders"],
    ]) {
      const request = fresh(fixture(name));
      const answer = await post(roles.sluice.url, request);
      expect(answer.status, name).to.equal(500);
      expect(faultCode(answer), name).to.equal(code);
      expect(headerXml(answer.text), name).to.equal(headerXml(request));
      expect(headerXml(answer.text), name).to.include("<xroad:protocolVersion>");
    }
  });

  it("attachments: SwA and MTOM requests are accepted with their parts", async () => {
    for (const [name, type] of MULTIPART_FIXTURES) {
      const answer = await post(roles.sluice.url, fresh(fixture(name)), type);
      expect(answer.status, name).to.equal(200);
      expect(answer.body.local, name).to.equal("testResponse");
      expect(directText(child(answer.body, "state") as XmlElement)).to.equal("accepted");
    }
  });

  it("attachments to a service that takes none are refused", async () => {
    const answer = await post(
      roles.sluice.url,
      fresh(asService("attachments.query", "test", "getState")),
      MULTIPART,
    );
    expect(answer.status).to.equal(500);
    expect(faultCode(answer)).to.equal("Client.InvalidContentType");
  });

  it("an envelope in a content coding (gzip) gets Client.InvalidContentType", async () => {
    const response = await fetch(`${roles.sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8", "Content-Encoding": "gzip" },
      body: gzipSync(fresh(fixture("simple.query"))),
    });
    expect(response.status).to.equal(500);
    const text = await response.text();
    expect(text).to.include("Client.InvalidContentType");
    expect(text).to.include("Content-Encoding (gzip) is not supported");
  });

  it("each faulty fixture gets HTTP 500 and its SOAP fault, and no message is created", async () => {
    for (const [name, code] of FAULT_FIXTURES) {
      const answer = await post(roles.sluice.url, fixture(name));
      expect(answer.status, name).to.equal(500);
      expect(faultCode(answer), name).to.equal(code);
      expect(directText(child(answer.body, "faultstring") as XmlElement)).to.not.equal("");
      expect(answer.text).to.not.match(/at .*\.js:\d+/);
      // A gateway id exists only for a message the intake accepted.
      expect(answer.headers.get("x-sluice-id"), name).to.equal(null);
      expect(child(answer.body, "detail"), name).to.equal(undefined);
    }
  });

  it("refuses DOCTYPE, other content types, unknown and REST-only services", async () => {
    const doctype = `<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>${fixture(
      "simple.query",
    )
      .toString("utf8")
      .replace(/^<\?xml[^>]*>/, "")}`;
    expect(faultCode(await post(roles.sluice.url, doctype))).to.equal("Client.InvalidXml");
    expect(
      faultCode(await post(roles.sluice.url, fixture("simple.query"), "application/soap+xml")),
    ).to.equal("Client.InvalidContentType");
    expect(
      faultCode(await post(roles.sluice.url, fixture("simple.query"), "application/json")),
    ).to.equal("Client.InvalidContentType");
    expect(
      faultCode(await post(roles.sluice.url, asService("simple.query", "testQuery", "nothing"))),
    ).to.equal("Client.UnknownService");
    expect(
      faultCode(await post(roles.sluice.url, asService("simple.query", "testQuery", "restOnly"))),
    ).to.equal("Client.UnknownService");
    // A name every JavaScript object has is no service either.
    expect(
      faultCode(await post(roles.sluice.url, asService("simple.query", "testQuery", "toString"))),
    ).to.equal("Client.UnknownService");
    expect(
      faultCode(await post(roles.sluice.url, asService("simple.query", "testQuery", "private"))),
    ).to.equal("Client.AccessDenied");
  });

  it("a Body that breaks the schema is Client.ValidationFailed", async () => {
    const bad = fresh(fixture("simple.query")).replace("<age>35</age>", "<age>old</age>");
    const answer = await post(roles.sluice.url, bad);
    expect(answer.status).to.equal(500);
    expect(faultCode(answer)).to.equal("Client.ValidationFailed");
    expect(directText(child(answer.body, "faultstring") as XmlElement)).to.include("/request/age");
    expect(headerXml(answer.text)).to.equal(headerXml(bad));
  });

  it("a number the schema expects, written as XML writes none (0x10, 0b101), is Client.ValidationFailed", async () => {
    // JavaScript's Number() reads these as 16 and 5 (>= 0, an integer); the backend would get
    // the XML as sent, which no xs:integer reader takes.
    for (const age of ["0x10", "0b101", "0o7"]) {
      const bad = fresh(fixture("simple.query")).replace("<age>35</age>", `<age>${age}</age>`);
      const answer = await post(roles.sluice.url, bad);
      expect(faultCode(answer), age).to.equal("Client.ValidationFailed");
      expect(directText(child(answer.body, "faultstring") as XmlElement)).to.include(
        `/request/age must be a number as XML writes one`,
      );
    }
    // XML Schema's own forms stay numbers: white space around it, a sign.
    const spaced = fresh(fixture("simple.query")).replace("<age>35</age>", "<age> +35\n</age>");
    const answer = await post(roles.sluice.url, spaced);
    expect(answer.status, answer.text).to.equal(200);
  });

  it("GET /soap?wsdl describes the services; the soap package calls through it", async () => {
    const wsdlAnswer = await fetch(`${roles.sluice.url}/soap?wsdl`);
    expect(wsdlAnswer.status).to.equal(200);
    const wsdl = await wsdlAnswer.text();
    expect(wsdl).to.include('<wsdl:operation name="testQuery">');
    expect(wsdl).to.include('<wsdl:operation name="getState">');
    expect(wsdl).to.not.include('name="restOnly"');
    const one = await (await fetch(`${roles.sluice.url}/soap/getState?wsdl`)).text();
    expect(one).to.include('<wsdl:operation name="getState">');
    expect(one).to.not.include('<wsdl:operation name="testQuery">');
    expect((await fetch(`${roles.sluice.url}/soap/nothing?wsdl`)).status).to.equal(404);
    // The query name is matched in any case: many SOAP tools ask for ?WSDL.
    const upper = await fetch(`${roles.sluice.url}/soap?WSDL`);
    expect(upper.status).to.equal(200);
    expect(await upper.text()).to.equal(wsdl);
    const upperOne = await fetch(`${roles.sluice.url}/soap/getState?Wsdl`);
    expect(upperOne.status).to.equal(200);
    expect(await upperOne.text()).to.equal(one);

    // The WSDL's address is relative without adapter.publicUrl: the client names the endpoint.
    const client = await soap.createClientAsync(`${roles.sluice.url}/soap?wsdl`, {
      endpoint: `${roles.sluice.url}/soap`,
    });
    const xrd = "http://x-road.eu/xsd/xroad.xsd";
    const ids = "http://x-road.eu/xsd/identifiers";
    client.addSoapHeader(
      `<xrd:client xmlns:xrd="${xrd}" xmlns:id="${ids}" id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>7</id:memberCode></xrd:client>`,
    );
    client.addSoapHeader(
      `<xrd:service xmlns:xrd="${xrd}" xmlns:id="${ids}" id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>8</id:memberCode><id:serviceCode>testQuery</id:serviceCode></xrd:service>`,
    );
    client.addSoapHeader(`<xrd:id xmlns:xrd="${xrd}">wsdl-${Date.now()}</xrd:id>`);
    client.addSoapHeader(`<xrd:protocolVersion xmlns:xrd="${xrd}">4.0</xrd:protocolVersion>`);
    const [result] = (await client.testQueryAsync({ request: { name: "Mari", age: 41 } })) as [
      { received: { request: { name: string; age: string } }; answer: string },
    ];
    expect(result.received.request).to.deep.equal({ name: "Mari", age: "41" });
    expect(result.answer).to.equal("42");
    expect(String(client.lastResponse)).to.include("<xrd:protocolVersion");
  });

  it("GET /soap or /soap/<serviceCode> without ?wsdl is refused", async () => {
    for (const [path, allow] of [
      ["/soap", "GET, POST"],
      ["/soap/testQuery", "GET"],
    ]) {
      const answer = await fetch(`${roles.sluice.url}${path}`);
      expect(answer.status, path).to.equal(405);
      expect(answer.headers.get("allow"), path).to.equal(allow);
      expect(await answer.text()).to.include("<faultcode>Client.MethodNotAllowed</faultcode>");
    }
  });

  it("another method on /soap or a WSDL's path is a 405 SOAP fault, not a JSON 404", async () => {
    for (const [method, path, allow] of [
      ["PUT", "/soap", "GET, POST"],
      ["DELETE", "/soap", "GET, POST"],
      ["POST", "/soap/testQuery", "GET"],
      ["PATCH", "/soap/testQuery", "GET"],
    ]) {
      const answer = await fetch(`${roles.sluice.url}${path}`, { method, body: "<x/>" });
      expect(answer.status, `${method} ${path}`).to.equal(405);
      expect(answer.headers.get("allow")).to.equal(allow);
      expect(await answer.text()).to.include("<faultcode>Client.MethodNotAllowed</faultcode>");
    }
  });
});

describe("SOAP end to end: backpressure", function () {
  freshConnectionPerFetch();
  this.timeout(30_000);
  const harness = Harness.suite({
    config: {
      services: { getState: { protocols: ["soap"], reply: { mode: "ack" }, backend: "held" } },
      backends: { held: { translator: "rest-json", queue: { highWater: 2, maxLength: 100 } } },
    },
    // The adapter alone: nothing drains the queue, so it fills up to its high-water mark.
    roles: ["adapter"],
  });
  const { roles } = harness;

  it("a full backlog answers 503 with Retry-After and Server.Busy, never an acknowledgement", async () => {
    const request = (i: number) =>
      fixture("getstate.query")
        .toString("utf8")
        .replace("411d6755661409fed365ad8135f8210be07613da", `bp-${i}-${Date.now()}`);
    // Up to the high-water mark: acknowledged.
    for (let i = 0; i < 2; i++)
      expect((await post(roles.adapter.url, request(i))).status).to.equal(200);
    // Once the adapter's queue monitor has seen the mark reached (however late a loaded machine
    // makes its sample), the next request is refused.
    await untilDepth(
      roles.adapter.adminUrl,
      `${harness.prefix}requests.held`,
      (depth) => depth >= 2,
    );
    const answer = await post(roles.adapter.url, request(2));
    expect(answer.status, answer.text).to.equal(503);
    expect(faultCode(answer)).to.equal("Server.Busy");
    expect(Number(answer.headers.get("retry-after"))).to.be.within(1, 300);
    expect(headerXml(answer.text)).to.include("<xroad:protocolVersion>4.0</xroad:protocolVersion>");
  });
});

/**
 * A full backlog as a consumer behind a security server sees it: the security server reads a
 * SOAP service's answer only with 200 or 500 (xroad-sim as X-Road's AbstractHttpSender), so a
 * 503 reaches the consumer as the security server's own HttpError, and with
 * adapter.soapBusyStatus 500 as Sluice's Server.Busy with its retryAfter.
 */
function busyBehindSecurityServer(soapBusyStatus: 503 | 500 | undefined): void {
  describe(`SOAP end to end: backpressure behind a security server, soapBusyStatus ${soapBusyStatus ?? "unset"}`, function () {
    freshConnectionPerFetch();
    this.timeout(30_000);
    const harness = Harness.suite({
      config: {
        adapter: soapBusyStatus === undefined ? {} : { soapBusyStatus },
        services: { getState: { protocols: ["soap"], reply: { mode: "ack" }, backend: "held" } },
        backends: { held: { translator: "rest-json", queue: { highWater: 1, maxLength: 100 } } },
      },
      roles: ["adapter"],
    });
    const { roles } = harness;
    let sim: XroadSim;
    before(async () => {
      sim = await startXroadSim({
        services: {
          "EE/BUSINESS/producer/getState": { url: `${roles.adapter.url}/soap`, type: "soap" },
        },
      });
    });
    after(async () => sim?.close());

    const request = (name: string) =>
      fixture("getstate.query")
        .toString("utf8")
        .replace("411d6755661409fed365ad8135f8210be07613da", `${name}-${Date.now()}`);
    const viaSecurityServer = async (body: string) => {
      const response = await fetch(`${sim.url}/`, {
        method: "POST",
        headers: { "Content-Type": "text/xml; charset=utf-8" },
        body,
      });
      return { status: response.status, text: await response.text() };
    };

    it(
      soapBusyStatus === 500
        ? "answers Server.Busy with 500, which reaches the consumer with its retryAfter"
        : "answers Server.Busy with 503, which the consumer gets as the security server's HttpError",
      async () => {
        expect((await viaSecurityServer(request("first"))).status).to.equal(200);
        await untilDepth(
          roles.adapter.adminUrl,
          `${harness.prefix}requests.held`,
          (depth) => depth >= 1,
        );
        const direct = await post(roles.adapter.url, request("direct"));
        expect(direct.status, direct.text).to.equal(soapBusyStatus ?? 503);
        expect(faultCode(direct)).to.equal("Server.Busy");
        expect(Number(direct.headers.get("retry-after"))).to.be.within(1, 300);

        const answer = await viaSecurityServer(request("through"));
        if (soapBusyStatus === 500) {
          // As the security server passes a provider's fault on: its XML, with 200 OK.
          expect(answer.status, answer.text).to.equal(200);
          expect(answer.text).to.include("<faultcode>Server.Busy</faultcode>");
          expect(answer.text).to.match(/<retryAfter>\d+<\/retryAfter>/);
        } else {
          expect(answer.text).to.include("Server.ServerProxy.ServiceFailed.HttpError");
          expect(answer.text).to.not.include("Server.Busy");
        }
      },
    );
  });
}

busyBehindSecurityServer(undefined);
busyBehindSecurityServer(500);

describe("SOAP end to end: a backend that refuses", function () {
  freshConnectionPerFetch();
  this.timeout(30_000);
  const harness = Harness.suite({
    config: ({ sim }) => ({
      services: {
        refused: { protocols: ["soap"], reply: { mode: "sync", wait: "5s" }, backend: "rejecting" },
      },
      // The sim answers 404 to every call under /status/404: a business "no", never retried.
      backends: { rejecting: { translator: "rest-json", url: `${sim.url}/status/404` } },
    }),
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("a backend's business refusal is Server.BackendRejected with the gateway id", async () => {
    const answer = await post(
      roles.sluice.url,
      fresh(asService("simple.query", "testQuery", "refused")),
    );
    expect(answer.status).to.equal(500);
    expect(faultCode(answer)).to.equal("Server.BackendRejected");
    const detail = child(answer.body, "detail") as XmlElement;
    expect(directText(child(detail, "id") as XmlElement)).to.equal(
      answer.headers.get("x-sluice-id"),
    );
    expect(directText(child(detail, "status") as XmlElement)).to.equal("404");
  });
});

describe("SOAP end to end: a SOAP backend behind Sluice", function () {
  freshConnectionPerFetch();
  this.timeout(30_000);
  const harness = Harness.suite({
    config: {
      services: {
        testQuery: { protocols: ["soap"], reply: { mode: "sync", wait: "5s" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "soap", retry: { attempts: 2, backoff: ["1s"] } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("sync: the backend's testQueryResponse content comes back under the caller's headers", async () => {
    const request = fresh(fixture("simple.query"));
    const answer = await post(roles.sluice.url, request);
    expect(answer.status).to.equal(200);
    expect(headerXml(answer.text)).to.equal(headerXml(request));
    expect(answer.body.qname).to.equal("ns1:testQueryResponse");
    expect(directText(child(answer.body, "answer") as XmlElement)).to.equal("42");
    expect(directText(child(answer.body, "echo") as XmlElement)).to.equal("foo");
    const [record] = harness.sim.calls({ id: answer.headers.get("x-sluice-id") as string });
    expect(record.path).to.equal("/soap");
    expect(record.xroadClient).to.equal("EE/BUSINESS/consumer");
  });

  it("a backend's SOAP Fault reaches the caller whole, inside Server.BackendRejected", async () => {
    const request = fresh(fixture("simple.query")).replace(
      "<name>foo</name>",
      "<name>FAULT-CLIENT</name>",
    );
    const answer = await post(roles.sluice.url, request);
    expect(answer.status).to.equal(500);
    // Processed and refused, never to be read as Sluice's own Client.* "not accepted".
    expect(faultCode(answer)).to.equal("Server.BackendRejected");
    const detail = child(answer.body, "detail") as XmlElement;
    expect(directText(child(detail, "id") as XmlElement)).to.equal(
      answer.headers.get("x-sluice-id"),
    );
    const backendFault = child(child(detail, "response") as XmlElement, "Fault") as XmlElement;
    expect(directText(child(backendFault, "faultcode") as XmlElement)).to.match(/:Client$/);
    expect(directText(child(backendFault, "faultstring") as XmlElement)).to.equal(
      "the legacy system rejected the request",
    );
    expect(headerXml(answer.text)).to.equal(headerXml(request));
  });
});
