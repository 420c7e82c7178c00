// A real `soap` package client built from Sluice's served WSDL calls sync services whose backend
// is a SOAP legacy system: the legacy answer arrives, and the X-Road headers come back verbatim.

import { expect } from "chai";
import * as soap from "soap";
import { freshConnectionPerNodeRequest } from "../support/fresh-connections";
import { Harness, type SluiceProcess } from "../support/harness";
import { testQueryService } from "../fixtures/xroad-soap/outcomes";
import {
  CLIENT_HEADER,
  idHeader,
  PROTOCOL_VERSION_HEADER,
  serviceHeader,
  XRD,
} from "../support/xroad-soap-headers";
const EXT = "urn:example:trace";

/**
 * The inner XML of the envelope's Header, exactly as written. A regular expression on purpose:
 * the expectation must not lean on the adapter's own parser.
 */
function headerInner(xml: string): string {
  const match = /<([\w.-]+:)?Header\b[^>]*>([\s\S]*?)<\/\1Header>/.exec(xml);
  expect(match, `a SOAP Header in ${xml.slice(0, 300)}`).to.not.equal(null);
  return (match as RegExpExecArray)[2];
}

/** The names of the Header's child elements, in order. */
function headerFields(inner: string): string[] {
  const names: string[] = [];
  let depth = 0;
  for (const tag of inner.matchAll(/<(\/?)([\w.:-]+)[^>]*?(\/?)>/g)) {
    if (tag[1] === "/") depth--;
    else {
      if (depth === 0) names.push(tag[2]);
      if (tag[3] !== "/") depth++;
    }
  }
  return names;
}

/** The X-Road header fields of a call to `serviceCode`, plus a custom one Sluice must keep. */
function addXroadHeaders(client: soap.Client, serviceCode: string, xroadId: string): void {
  client.clearSoapHeaders();
  client.addSoapHeader(CLIENT_HEADER);
  client.addSoapHeader(serviceHeader("legacy", serviceCode, "v1"));
  client.addSoapHeader(`<xrd:userId xmlns:xrd="${XRD}">EE:PIN:38002242718</xrd:userId>`);
  client.addSoapHeader(idHeader(xroadId));
  client.addSoapHeader(PROTOCOL_VERSION_HEADER);
  client.addSoapHeader(
    `<ext:trace xmlns:ext="${EXT}" ext:hop="1">Tõnu &amp; Jüri  <ext:span>äö 😀</ext:span></ext:trace>`,
  );
}

describe("SOAP: a `soap` client from the served WSDL, legacy SOAP backend, sync", function () {
  this.timeout(30_000);
  freshConnectionPerNodeRequest();
  const harness = new Harness();
  let sluice: SluiceProcess;
  let client: soap.Client;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({
      services: {
        testQuery: testQueryService("legacy", { mode: "sync", wait: "10s" }),
        getState: {
          protocols: ["soap"],
          namespace: "http://x-road.eu/xsd/xroad.xsd",
          reply: { mode: "sync", wait: "10s" },
          backend: "legacy",
        },
      },
      backends: { legacy: { translator: "soap", retry: { attempts: 2, backoff: ["1s"] } } },
    });
    sluice = await harness.spawn("all");
    // The WSDL's address is relative without adapter.publicUrl: the client names the endpoint.
    client = await soap.createClientAsync(`${sluice.url}/soap?wsdl`, {
      endpoint: `${sluice.url}/soap`,
    });
  });

  after(async () => {
    await harness.cleanup();
  });

  it("testQuery: the legacy system's answer arrives; the Header comes back byte for byte", async () => {
    const xroadId = `client-tq-${Date.now()}`;
    addXroadHeaders(client, "testQuery", xroadId);
    const [result] = (await client.testQueryAsync({ request: { name: "Mari", age: 41 } })) as [
      { answer: string; echo: string },
    ];
    expect(result.answer).to.equal("42");
    expect(result.echo).to.equal("Mari");

    const requestHeader = headerInner(String(client.lastRequest));
    const responseHeader = headerInner(String(client.lastResponse));
    expect(headerFields(requestHeader)).to.deep.equal([
      "xrd:client",
      "xrd:service",
      "xrd:userId",
      "xrd:id",
      "xrd:protocolVersion",
      "ext:trace",
    ]);
    expect(responseHeader).to.equal(requestHeader);
    expect(responseHeader).to.include(`<xrd:id xmlns:xrd="${XRD}">${xroadId}</xrd:id>`);

    // The legacy system was called once, with the caller's X-Road client.
    const id = String(client.lastResponseHeaders?.["x-sluice-id"]);
    const calls = harness.sim.calls({ id });
    expect(calls).to.have.length(1);
    const [record] = calls;
    expect(record.path).to.equal("/soap");
    expect(record.xroadClient).to.equal("EE/GOV/70000001/case-app");
  });

  it("a backend's own Client fault reaches the caller as Server.BackendRejected, never as a Client.* refusal", async () => {
    addXroadHeaders(client, "getState", `client-fault-${Date.now()}`);
    const error = await client.getStateAsync({ $value: "please FAULT-CLIENT" }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(error, "a SOAP fault").to.not.equal(null);
    const body = String(client.lastResponse);
    // Processed and refused: Sluice's Server.BackendRejected, with the gateway id and the
    // backend's own Fault whole in the detail.
    expect(body).to.match(/<faultcode>Server\.BackendRejected<\/faultcode>/);
    const id = String(client.lastResponseHeaders?.["x-sluice-id"]);
    expect(body).to.include(`<id>${id}</id>`);
    expect(body).to.include("<faultcode>soap:Client</faultcode>");
    expect(body).to.include("<detail>FAULT-CLIENT</detail>");
    expect(harness.sim.calls({ id })).to.have.length(1);
    // Never accepted: Sluice's own Client.* fault, without an id.
    client.clearSoapHeaders();
    const refused = await client.getStateAsync({ $value: "no headers" }).then(
      () => null,
      (err: unknown) => err,
    );
    expect(refused).to.not.equal(null);
    expect(String(client.lastResponse)).to.match(/<faultcode>Client\.MissingHeader<\/faultcode>/);
    expect(String(client.lastResponse)).to.not.include("<id>");
  });

  it("getState: non-ASCII text travels both ways; the Header comes back byte for byte", async () => {
    addXroadHeaders(client, "getState", `client-gs-${Date.now()}`);
    const text = "Õun ja äädikas — Ühisõppe ŽŠ 😀 <&>";
    const [result] = (await client.getStateAsync({ $value: text })) as [{ response: string }];
    expect(result.response).to.equal(text);
    const requestHeader = headerInner(String(client.lastRequest));
    const responseHeader = headerInner(String(client.lastResponse));
    expect(responseHeader).to.equal(requestHeader);
    expect(responseHeader).to.include("Tõnu &amp; Jüri  <ext:span>äö 😀</ext:span>");
    const id = String(client.lastResponseHeaders?.["x-sluice-id"]);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });
});
