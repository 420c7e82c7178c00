// A SOAP backend answering its own Fault through the `soap` translator. An application faultcode
// (the security server's customfault.answer: foo:FOOCODE, an actor, a foo:detail) is retried, and
// once the retries are spent the SOAP caller's Server.BackendFailed carries the backend's Fault
// whole in its detail, its foo: prefix declared. A Fault whose text refers to characters XML does
// not allow (`&#0;`, `&#xD800;`) was read as those characters: a NUL and a lone surrogate went
// into the Fault Sluice wrote back (which a strict reader then refuses whole) and into the status
// document (`\u0000`, `\ud800`, which a strict JSON reader refuses). It is the backend's
// malformed answer, unreadable as any broken 500 (retried, then Server.BackendFailed), naming the
// reference, in XML and JSON any reader reads.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { call, Harness } from "../support/harness";
import { startLegacySim } from "../../legacy-sim/legacy-sim";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import { freshConnectionPerFetch } from "../support/fresh-connections";
import { TRANSLATOR_FAILED } from "../../worker/processing/call-decision";

const CLIENT = "EE/BUSINESS/consumer";
// Outside XML's characters: C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const NOT_XML = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;

/**
 * Sluice with a sync SOAP service whose backend serves the simulator's WSDL, its address the
 * backend's own, and answers every call with `answer` as a `status` (500 unless given); `posts`
 * counts the calls.
 */
class FaultingStack {
  readonly harness = new Harness();
  posts = 0;
  sluiceUrl = "";
  private backend: Server | null = null;

  async start(
    answer: Buffer | string,
    retry: Record<string, unknown>,
    status = 500,
  ): Promise<void> {
    const sim = await startLegacySim({ port: 0 });
    const wsdl = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    const backend = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/xml" }).end(wsdl.split(sim.url).join(url()));
          return;
        }
        this.posts += 1;
        res.writeHead(status, { "content-type": "text/xml; charset=UTF-8" }).end(answer);
      });
    });
    this.backend = backend;
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const url = () => `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    this.harness.writeConfig({
      services: {
        getState: {
          protocols: ["soap"],
          namespace: "http://x-road.eu/xsd/xroad.xsd",
          reply: { mode: "sync", wait: "20s" },
          backend: "legacy",
        },
      },
      backends: { legacy: { translator: "soap", url: url(), retry } },
    });
    this.sluiceUrl = (await this.harness.spawn("all")).url;
  }

  async stop(): Promise<void> {
    await this.harness.cleanup();
    const backend = this.backend;
    if (backend === null) return;
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  }

  /** Sends the getState query under a fresh X-Road id; the answer and its text. */
  async ask(idPrefix: string): Promise<{ response: Response; text: string }> {
    const request = fixture("getstate.query")
      .toString("utf8")
      .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${idPrefix}-${Date.now()}</xroad:id>`);
    const response = await fetch(`${this.sluiceUrl}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: request,
    });
    return { response, text: await response.text() };
  }
}

const child = (e: XmlElement, local: string) =>
  childElements(e).find((c) => c.local === local) as XmlElement;

/** The Fault of a SOAP answer, read with namespaces: every prefix in it is declared. */
function faultOf(text: string): XmlElement {
  const root = parseXml(text);
  return childElements(child(root, "Body"))[0];
}

describe("SOAP: a backend's own application Fault after the retries (customfault.answer)", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  const stack = new FaultingStack();

  before(() => stack.start(fixture("customfault.answer"), { attempts: 2, backoff: ["1s"] }));
  after(() => stack.stop());

  it("reaches the caller as Server.BackendFailed with foo:FOOCODE, the actor and the detail", async () => {
    const { response, text } = await stack.ask("customfault");
    expect(response.status).to.equal(500);
    expect(stack.posts, "the application Fault is retried").to.equal(2);
    const id = response.headers.get("x-sluice-id") as string;
    expect(id).to.match(/^[0-9a-f-]{36}$/);

    const fault = faultOf(text);
    expect(fault.local).to.equal("Fault");
    // The contract's own code stays outside; the backend's Fault is inside its detail.
    expect(directText(child(fault, "faultcode"))).to.equal("Server.BackendFailed");
    expect(text, "the backend's Fault in the detail").to.include(
      "<faultcode>foo:FOOCODE</faultcode>",
    );
    const detail = child(fault, "detail");
    expect(directText(child(detail, "id"))).to.equal(id);
    expect(directText(child(detail, "status"))).to.equal("500");
    const own = child(child(detail, "response"), "Fault");
    expect(own.namespace).to.equal("http://schemas.xmlsoap.org/soap/envelope/");
    expect(directText(child(own, "faultcode"))).to.equal("foo:FOOCODE");
    expect(own.inScope.get("foo")).to.equal("http://example.org/foo");
    expect(directText(child(own, "faultstring"))).to.equal("STRING");
    expect(directText(child(own, "faultactor"))).to.equal("ACTOR");
    const ownDetail = child(child(own, "detail"), "detail");
    expect(ownDetail.namespace).to.equal("http://example.org/foo");
    expect(directText(ownDetail)).to.equal("DETAIL");

    // The status document kept the same answer: a REST reader of the message sees it too.
    const status = await call(`${stack.sluiceUrl}/messages/${id}`, { client: CLIENT });
    expect(status.json.state).to.equal("failed");
    const last = status.json.responses[status.json.responses.length - 1];
    expect(last.status).to.equal(500);
    expect(String(last.body)).to.contain("<faultcode>foo:FOOCODE</faultcode>");
    expect(String(last.body)).to.contain("<foo:detail>DETAIL</foo:detail>");
  });
});

describe("SOAP: a backend's Fault referring to characters XML does not allow", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  const stack = new FaultingStack();

  before(() =>
    stack.start(
      fixture("customfault.answer")
        .toString("utf8")
        .replace(
          "<faultstring>STRING</faultstring>",
          "<faultstring>bad &#0; and &#xD800;</faultstring>",
        ),
      { attempts: 1 },
    ),
  );
  after(() => stack.stop());

  it("reaches the caller as Server.BackendFailed naming the reference, in well-formed XML and strict JSON", async () => {
    const { response, text } = await stack.ask("forbidden");
    expect(response.status).to.equal(500);
    expect(NOT_XML.exec(text), "a character XML does not allow in the answer").to.equal(null);
    const fault = faultOf(text);
    expect(directText(child(fault, "faultcode"))).to.equal("Server.BackendFailed");
    expect(directText(child(fault, "faultstring"))).to.contain(
      "character reference &#0; is not allowed in XML",
    );

    const id = response.headers.get("x-sluice-id") as string;
    const status = await call(`${stack.sluiceUrl}/messages/${id}`, { client: CLIENT });
    expect(status.json.state).to.equal("failed");
    // JSON.parse takes "\ud800" and "\u0000"; a strict reader refuses the first.
    expect(status.text).to.not.match(/\\u0000|\\ud[89a-f][0-9a-f]{2}/i);
    expect(JSON.stringify(status.json.error)).to.contain("&#0; is not allowed in XML");
  });
});

describe("SOAP: a backend's answer holding characters XML does not allow, written as themselves", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);

  /**
   * The caller's answer and the status document: Server.BackendFailed with `words`, no raw
   * character in either.
   */
  async function expectRefused(stack: FaultingStack, words: string): Promise<void> {
    const { response, text } = await stack.ask("raw-character");
    expect(response.status).to.equal(500);
    expect(NOT_XML.exec(text), "a character XML does not allow in the answer").to.equal(null);
    const fault = faultOf(text);
    expect(directText(child(fault, "faultcode"))).to.equal("Server.BackendFailed");
    expect(directText(child(fault, "faultstring"))).to.contain(words);
    const id = response.headers.get("x-sluice-id") as string;
    const status = await call(`${stack.sluiceUrl}/messages/${id}`, { client: CLIENT });
    expect(status.json.state).to.equal("failed");
    // Every string of the document as read: JSON writes a control character escaped.
    const strings: string[] = [];
    JSON.parse(status.text, (_key, value: unknown) => {
      if (typeof value === "string") strings.push(value);
      return value;
    });
    expect(NOT_XML.exec(strings.join(" ")), "in the status document").to.equal(null);
    expect((status.json.error as { message: string }).message).to.contain(words);
  }

  describe("a Fault whose text holds a raw 0x01", () => {
    const stack = new FaultingStack();
    before(() =>
      stack.start(
        fixture("customfault.answer")
          .toString("utf8")
          .replace(
            "<faultstring>STRING</faultstring>",
            "<faultstring>bad \u0001 text</faultstring>",
          ),
        { attempts: 1 },
      ),
    );
    after(() => stack.stop());

    it("reaches the caller as Server.BackendFailed naming U+0001, the backend's Fault not passed on", async () => {
      await expectRefused(
        stack,
        "without a readable SOAP envelope (a character XML does not allow (U+0001) at offset ",
      );
    });
  });

  describe("a 200 answer with a raw 0x0B in an attribute value and a raw U+FFFF in a comment", () => {
    const stack = new FaultingStack();
    before(() =>
      stack.start(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' +
          '<getStateResponse xmlns="http://x-road.eu/xsd/xroad.xsd" note="a\u000Bb">' +
          "<!-- \uFFFF --><state>ok</state></getStateResponse></s:Body></s:Envelope>",
        { attempts: 1 },
        200,
      ),
    );
    after(() => stack.stop());

    // A 2xx that cannot be read is the translator's failure: the caller is told so, the
    // reason (the character, named) goes to the operator.
    it("reaches the caller as Server.BackendFailed, never as the backend's answer", async () => {
      await expectRefused(stack, TRANSLATOR_FAILED);
    });
  });

  describe('a 200 answer with a bare "&" in an attribute value', () => {
    const stack = new FaultingStack();
    before(() =>
      stack.start(
        '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>' +
          '<getStateResponse xmlns="http://x-road.eu/xsd/xroad.xsd" note="fish & chips">' +
          "<state>ok</state></getStateResponse></s:Body></s:Envelope>",
        { attempts: 1 },
        200,
      ),
    );
    after(() => stack.stop());

    // Passed on inside Sluice's envelope, it made the whole answer unreadable to the caller's
    // parser under a message shown completed.
    it("reaches the caller as Server.BackendFailed, never as the backend's answer", async () => {
      await expectRefused(stack, TRANSLATOR_FAILED);
    });
  });
});
