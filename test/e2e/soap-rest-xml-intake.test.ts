// A REST caller's XML body for a service whose backend wraps it in a SOAP Body (the soap
// translator to the legacy system, xroad-soap to a remote provider), on real processes: one that
// is not one element (it would close the Body and write envelope parts of its own) is refused at
// intake with 400 InvalidXml, nothing recorded or sent; a sound one is taken and sent as ever.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { call, Harness, type SluiceProcess, untilState } from "../support/harness";

const CONSUMER = "EE/GOV/70000001/sluice-consumer";
const CLIENT = "EE/GOV/70000001/case-app";
/** The legacy-sim's SOAP namespace, and the remote provider's. */
const NS = "http://legacy.sluice.example/";
const SOAP_ENV = 'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"';
/** The X-Road namespaces of the request header the stub security server echoes. */
const XROAD_NS =
  'xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers"';

/**
 * Bodies that are not one sound element: each as a caller could send it to break out of the
 * Body, or one the backend's parser would refuse after the 202.
 */
const BROKEN: Array<[what: string, body: string]> = [
  ["closes an element it did not open", `</x><b/>`],
  [
    "closes the Body it goes into and writes a Header and Body of its own",
    `<getState xmlns="${NS}">1</getState></SOAP-ENV:Body><SOAP-ENV:Header ${SOAP_ENV}><x/></SOAP-ENV:Header><SOAP-ENV:Body ${SOAP_ENV}><getState xmlns="${NS}">2</getState>`,
  ],
  [
    "balances by count but closes the Body with end tags naming other elements",
    // Balanced by count (the old check's only test): it closes the Body it goes into and
    // opens a second one of its own.
    `<getState xmlns="${NS}"><p></SOAP-ENV:Body><SOAP-ENV:Body ${SOAP_ENV}></p></getState>`,
  ],
  [
    "holds an entity reference no parser knows without a DTD",
    `<getState xmlns="${NS}">a&nbsp;b</getState>`,
  ],
  [
    "has two root elements",
    `<getState xmlns="${NS}">1</getState><getState xmlns="${NS}">2</getState>`,
  ],
  [
    // XML allows these nowhere, not even as references: the backend's parser refuses them.
    "holds raw control characters in an attribute value and in text",
    `<getState xmlns="${NS}" note="a\u000Bb">a\u0001b</getState>`,
  ],
];

describe("A REST caller's XML body bound for a SOAP Body is refused at intake unless it is one element", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let stub: http.Server;
  /** Every envelope the stub security server was sent. */
  const remoteCalls: string[] = [];

  before(async () => {
    // The security server (and the remote provider behind it): echoes the request's header.
    stub = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString("utf8");
        remoteCalls.push(body);
        const header = /<SOAP-ENV:Header>([\s\S]*)<\/SOAP-ENV:Header>/.exec(body)?.[1] ?? "";
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(
          `<SOAP-ENV:Envelope ${SOAP_ENV} ${XROAD_NS}><SOAP-ENV:Header>${header}</SOAP-ENV:Header><SOAP-ENV:Body><st:getStateResponse xmlns:st="${NS}"><st:state>ok</st:state></st:getStateResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
        );
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
    await harness.startSim({ recordDetails: true });
    const xml = ["application/xml", "text/xml"];
    const once = { retry: { attempts: 1, backoff: ["1s"] } };
    const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    harness.writeConfig({
      securityServer: { url: stubUrl, client: CONSUMER },
      services: {
        getState: {
          protocols: ["rest"],
          contentTypes: xml,
          reply: { mode: "ack" },
          backend: "legacy-soap",
        },
        remoteState: {
          protocols: ["rest"],
          contentTypes: xml,
          reply: { mode: "ack" },
          backend: "registry-soap",
        },
        // A schema describes the Body element as JSON, for REST callers as for SOAP ones.
        checkedState: {
          protocols: ["rest"],
          contentTypes: xml,
          reply: { mode: "ack" },
          backend: "legacy-soap",
          schema: {
            type: "object",
            required: ["id"],
            properties: { id: { type: "integer", minimum: 1 } },
          },
        },
        passThrough: {
          protocols: ["rest"],
          contentTypes: xml,
          reply: { mode: "ack" },
          backend: "legacy",
        },
      },
      backends: {
        "legacy-soap": { translator: "soap", ...once },
        // Its url named: the harness gives a backend without one the legacy-sim's.
        "registry-soap": {
          translator: "xroad-soap",
          url: stubUrl,
          service: "EE/GOV/70000002/registry-soap/getState",
          ...once,
        },
        legacy: { translator: "rest-json", ...once },
      },
    });
    sluice = await harness.spawn("all");
  });

  after(async () => {
    await harness.cleanup();
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve));
  });

  /** A REST call to `service` with `body` of `contentType`, under a fresh X-Road id. */
  let sent = 0;
  async function post(service: string, body: string | Buffer, contentType = "application/xml") {
    const xroadId = `xml-intake-${++sent}-${Date.now()}`;
    const answer = await call(`${sluice.url}/rest/${service}`, {
      client: CLIENT,
      body,
      headers: { "Content-Type": contentType, "X-Road-Id": xroadId },
    });
    return { answer, xroadId };
  }
  /** The operator's look-up of a caller's X-Road id: 404 when no record was written. */
  const recorded = async (xroadId: string) =>
    (await harness.admin(sluice, `/admin/messages?client=${CLIENT}&xroadId=${xroadId}`)).status;
  /** The SOAP calls the legacy-sim got (its WSDL read aside). */
  const soapCalls = () =>
    harness.sim.calls().filter((c) => c.method === "POST" && c.path === "/soap");

  async function expectRefused(service: string, body: string | Buffer, contentType?: string) {
    const { answer, xroadId } = await post(service, body, contentType);
    expect(answer.status, answer.text).to.equal(400);
    expect(answer.json.type, answer.text).to.equal("InvalidXml");
    expect(answer.json.detail, "no message id: none was made").to.equal(null);
    expect(await recorded(xroadId), "a record was written").to.equal(404);
    return String(answer.json.message);
  }

  it("soap translator: 400 InvalidXml at once, nothing recorded or sent; a sound body is still 202 and reaches the backend", async () => {
    for (const [what, body] of BROKEN) {
      const message = await expectRefused("getState", body);
      expect(message, what).to.match(/^the XML body is not one element: /);
    }
    expect(
      await expectRefused("getState", BROKEN[0][1], "application/xml; charset=iso-8859-1"),
    ).to.equal("the XML body is not one element: </x> closes an element it did not open");
    const control = `<getState xmlns="${NS}">a\u0001b</getState>`;
    expect(await expectRefused("getState", control)).to.equal(
      `the XML body is not one element: a character XML does not allow (U+0001) at offset ${control.indexOf("\u0001")}`,
    );
    expect(soapCalls(), "SOAP calls sent").to.have.length(0);

    // ISO-8859-1, read by its charset as the worker reads it.
    const sound = Buffer.from(`<getState xmlns="${NS}">M\u00e4ger</getState>`, "latin1");
    const { answer } = await post("getState", sound, "application/xml; charset=iso-8859-1");
    expect(answer.status, answer.text).to.equal(202);
    const done = await untilState(
      sluice,
      answer.json.id,
      ["completed", "failed", "rejected"],
      30_000,
    );
    expect(done.json.state, done.text).to.equal("completed");
    const calls = soapCalls();
    expect(calls).to.have.length(1);
    expect(calls[0].body?.toString("utf8")).to.contain("M\u00e4ger</getState></soap:Body>");
  });

  it("soap translator: bytes not valid in the body's charset are 400 InvalidXml at intake", async () => {
    const before = soapCalls().length;
    const message = await expectRefused("getState", Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]));
    expect(message).to.match(/^the XML body cannot be read in its charset \(.*UTF-8/);
    expect(soapCalls()).to.have.length(before);
  });

  it("xroad-soap translator: 400 InvalidXml at once, nothing sent to the security server; a sound body is still sent", async () => {
    for (const [what, body] of BROKEN) {
      const message = await expectRefused("remoteState", body, "text/xml; charset=utf-8");
      expect(message, what).to.match(/^the XML body is not one element: /);
    }
    expect(remoteCalls, "calls sent").to.have.length(0);

    const { answer } = await post(
      "remoteState",
      `<getState xmlns="${NS}"><case>1</case></getState>`,
    );
    expect(answer.status, answer.text).to.equal(202);
    const done = await untilState(
      sluice,
      answer.json.id,
      ["completed", "failed", "rejected"],
      30_000,
    );
    expect(done.json.state, done.text).to.equal("completed");
    expect(remoteCalls).to.have.length(1);
    expect(remoteCalls[0]).to.contain("<case>1</case></getState></SOAP-ENV:Body>");
  });

  it("names that do not resolve are 400 InvalidXml at intake, for both translators; nothing sent", async () => {
    const soapBefore = soapCalls().length;
    const remoteBefore = remoteCalls.length;
    for (const service of ["getState", "remoteState"]) {
      // Declared on a sibling only, so unbound where used: the backend's parser refuses it.
      expect(
        await expectRefused(
          service,
          `<getState xmlns="${NS}"><a xmlns:p="urn:p"/><p:case/></getState>`,
        ),
      ).to.equal(
        `the XML body names do not resolve: the prefix "p" of <p:case> at offset ${39 + NS.length} is not declared`,
      );
      // One attribute under two of X-Road's conventional prefixes, which the worker declares.
      expect(
        await expectRefused(service, `<getState xmlns="${NS}" xrd:case="1" xroad:case="2"/>`),
      ).to.match(/^the XML body names do not resolve: a start tag at offset 0 names the attribute/);
    }
    expect(soapCalls(), "SOAP calls sent").to.have.length(soapBefore);
    expect(remoteCalls, "calls sent").to.have.length(remoteBefore);
  });

  it("a JSON body, or none, to the soap service is 415 at once: the translator could only fail it", async () => {
    const before = soapCalls().length;
    const { answer } = await post("getState", '{"case":1}', "application/json");
    expect(answer.status, answer.text).to.equal(415);
    expect(answer.json.type).to.equal("InvalidContentType");
    expect(answer.json.message).to.equal(
      "getState's backend sends the request as the element of a SOAP Body: it takes an XML body, not application/json",
    );
    const none = await call(`${sluice.url}/rest/getState`, { client: CLIENT, method: "POST" });
    expect(none.status, none.text).to.equal(415);
    expect((none.json as { message: string }).message).to.match(/it takes an XML body, not none$/);
    expect(soapCalls()).to.have.length(before);
  });

  it("an XML body to a rest-json service is not checked: any bytes reach the backend", async () => {
    for (const [, body] of BROKEN) {
      const { answer } = await post("passThrough", body);
      expect(answer.status, answer.text).to.equal(202);
      const done = await untilState(
        sluice,
        answer.json.id,
        ["completed", "failed", "rejected"],
        30_000,
      );
      expect(done.json.state, done.text).to.equal("completed");
      const reached = harness.sim
        .calls()
        .filter((c) => c.path.endsWith("/passThrough") && c.body?.toString("utf8") === body);
      expect(reached, "the backend got the body as sent").to.have.length(1);
    }
  });

  it("an XML body to a soap service with a schema is checked by it: 400 ValidationFailed, nothing recorded or sent", async () => {
    const before = soapCalls().length;
    for (const [what, id] of [
      ["below its minimum", "0"],
      ["no number as XML writes one", "0x10"],
    ]) {
      const { answer, xroadId } = await post(
        "checkedState",
        `<getState xmlns="${NS}"><id>${id}</id></getState>`,
      );
      expect(`${answer.status} ${answer.json.type}`, `${what}: ${answer.text}`).to.equal(
        "400 ValidationFailed",
      );
      expect(String(answer.json.message), what).to.include("/id");
      expect(await recorded(xroadId), "a record was written").to.equal(404);
    }
    const missing = await post("checkedState", `<getState xmlns="${NS}"><other/></getState>`);
    expect(missing.answer.status, missing.answer.text).to.equal(400);
    expect(soapCalls(), "SOAP calls sent").to.have.length(before);
    // What the schema takes is accepted, as from a SOAP caller.
    const sound = await post("checkedState", `<getState xmlns="${NS}"><id>7</id></getState>`);
    expect(sound.answer.status, sound.answer.text).to.equal(202);
  });
});
