import { expect } from "chai";
import type { ServiceConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";
import { answerContent, standaloneXml } from "../../adapter/soap/soap-answer";
import {
  childElements,
  DEFAULT_XML_LIMITS,
  directText,
  parseXml,
} from "../../adapter/soap/safe-xml";
import { parseSoapEnvelope } from "../../adapter/soap/soap-envelope";
import { buildSoapResponse, soapEnvelope } from "../../adapter/soap/soap-response";
import { SoapBodyValidators } from "../../adapter/soap/soap-validation";
import { elementToJson } from "../../adapter/soap/xml-json";

import { fixture as fixtureBytes, TEST_QUERY_SCHEMA } from "../fixtures/xroad-soap/outcomes";

function fixture(name: string): string {
  return fixtureBytes(name).toString("utf8");
}

function xml(body: string) {
  return { status: 200, contentType: "text/xml; charset=utf-8", body };
}

describe("SOAP answer: what a backend said, placed in <serviceCode>Response", () => {
  it("simple.answer: the content of testQueryResponse, rewrapped with the request's headers", () => {
    const content = answerContent(xml(fixture("simple.answer")), "testQuery");
    expect(content.kind).to.equal("content");
    const inner = (content as { innerXml: string }).innerXml;
    expect(inner.trim()).to.equal("<answer>42</answer>");
    const request = parseSoapEnvelope(fixture("simple.query"));
    const answer = buildSoapResponse(request, inner);
    const body = childElements(childElements(parseXml(answer))[1])[0];
    expect(body.qname).to.equal("ns1:testQueryResponse");
    expect(directText(childElements(body)[0])).to.equal("42");
  });

  it("an answer led by a byte-order mark is read as the XML it is", () => {
    const content = answerContent(xml(`\ufeff${fixture("simple.answer")}`), "testQuery");
    expect((content as { innerXml: string }).innerXml.trim()).to.equal("<answer>42</answer>");
  });

  it("getstate-subsystem.answer and cdata.answer keep non-ASCII text and CDATA content", () => {
    const state = answerContent(xml(fixture("getstate-subsystem.answer")), "getState");
    expect((state as { innerXml: string }).innerXml).to.include("<response>aä</response>");
    const cdata = answerContent(xml(fixture("cdata.answer")), "getState") as { innerXml: string };
    const parsed = parseXml(`<r>${cdata.innerXml}</r>`);
    expect(directText(childElements(parsed)[0])).to.equal("<a><b><c>12345678</c></b></a>");
  });

  it("an answer in another charset is read in it, as the worker kept its bytes", () => {
    const latin1 = (text: string) => Buffer.from(text, "latin1").toString("base64");
    const envelope = `<?xml version="1.0" encoding="ISO-8859-1"?><e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body><ns1:testQueryResponse xmlns:ns1="urn:t"><r>aäõ</r></ns1:testQueryResponse></e:Body></e:Envelope>`;
    const inner = (contentType: string, body: string) =>
      (
        answerContent({ status: 200, contentType, body, bodyEncoding: "base64" }, "testQuery") as {
          innerXml: string;
        }
      ).innerXml;
    // Named by the Content-Type, or by the XML declaration alone.
    expect(inner("text/xml; charset=iso-8859-1", latin1(envelope))).to.equal("<r>aäõ</r>");
    expect(inner("text/xml", latin1(envelope))).to.equal("<r>aäõ</r>");
    expect(inner("text/plain; charset=ISO-8859-1", latin1("aäõ"))).to.equal("aäõ");
    // Bytes not valid in their charset are read as UTF-8, as before.
    const broken = Buffer.from([0x61, 0xe4]).toString("base64");
    expect(inner("text/plain; charset=utf-8", broken)).to.equal("a\ufffd");
  });

  it("customfault.answer: the backend's Fault passes through, namespaces and all", () => {
    const content = answerContent(
      { status: 500, contentType: "text/xml", body: fixture("customfault.answer") },
      "testQuery",
    );
    expect(content.kind).to.equal("fault");
    const faultXml = (content as { faultXml: string }).faultXml;
    const request = parseSoapEnvelope(fixture("simple.query"));
    const envelope = soapEnvelope(request, faultXml);
    const fault = childElements(childElements(parseXml(envelope))[1])[0];
    expect(fault.local).to.equal("Fault");
    const fields = Object.fromEntries(childElements(fault).map((e) => [e.local, e]));
    expect(directText(fields.faultcode)).to.equal("foo:FOOCODE");
    expect(directText(fields.faultstring)).to.equal("STRING");
    expect(childElements(fields.detail)[0].namespace).to.equal("http://example.org/foo");
  });

  it("a Body element of another name is kept whole; plain XML is kept whole", () => {
    const other = answerContent(
      xml(
        `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" xmlns:p="urn:p"><s:Body><p:result>1</p:result></s:Body></s:Envelope>`,
      ),
      "q",
    ) as { innerXml: string };
    expect(other.innerXml).to.equal('<p:result xmlns:p="urn:p">1</p:result>');
    const plain = answerContent(
      { status: 200, contentType: "application/xml", body: `<?xml version="1.0"?><doc a="1"/>` },
      "q",
    ) as { innerXml: string };
    expect(plain.innerXml).to.equal('<doc a="1"/>');
  });

  it("JSON becomes XML, text is escaped, bytes become base64, broken XML becomes text", () => {
    const json = answerContent(
      { status: 200, contentType: "application/json", body: '{"a":1,"b":["x","y"]}' },
      "q",
    ) as { innerXml: string };
    expect(json.innerXml).to.equal("<a>1</a><b>x</b><b>y</b>");
    // Attributes no element carries (one name twice, from a JSON view of namespaced ones):
    // the JSON as text, as JSON too deep is, where they became <_lang> elements.
    const twice = answerContent(
      { status: 200, contentType: "application/json", body: '{"p":{"@lang":["et","en"]}}' },
      "q",
    ) as { innerXml: string };
    expect(twice.innerXml).to.equal(
      "{&quot;p&quot;:{&quot;@lang&quot;:[&quot;et&quot;,&quot;en&quot;]}}",
    );
    // JSON refuses these runs, which quoted as strings would parse: the answer is text.
    for (const body of ['{"v":1.2.3.4.5.6.7.8.9}', "[0123456789012345678]", "[1e,2]"]) {
      const invalid = answerContent({ status: 200, contentType: "application/json", body }, "q");
      expect((invalid as { innerXml: string }).innerXml).to.equal(body.replace(/"/g, "&quot;"));
    }
    const text = answerContent({ status: 200, contentType: "text/plain", body: "a < b" }, "q");
    expect((text as { innerXml: string }).innerXml).to.equal("a &lt; b");
    const bytes = answerContent(
      { status: 200, contentType: "application/pdf", body: "AAEC", bodyEncoding: "base64" },
      "q",
    );
    expect((bytes as { innerXml: string }).innerXml).to.equal("AAEC");
    const broken = answerContent(xml("<a><b></a>"), "q");
    expect((broken as { innerXml: string }).innerXml).to.equal("&lt;a&gt;&lt;b&gt;&lt;/a&gt;");
    const deep = answerContent(
      {
        status: 200,
        contentType: "application/json",
        body: "[".repeat(20_000) + "]".repeat(20_000),
      },
      "q",
    );
    expect(deep.kind).to.equal("content");
    expect(answerContent({ status: 204, contentType: "", body: "" }, "q")).to.deep.equal({
      kind: "content",
      innerXml: "",
    });
  });

  it("XML is read with the limits it is given (adapter.xml), over them it is escaped text", () => {
    // 80 levels inside the Response: over the default depth of 64, within a raised one.
    const deep = "<d>".repeat(80) + "x" + "</d>".repeat(80);
    const envelope = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><q:getStateResponse xmlns:q="urn:q">${deep}</q:getStateResponse></s:Body></s:Envelope>`;
    const raised = { ...DEFAULT_XML_LIMITS, maxDepth: 100 };
    const read = answerContent(xml(envelope), "getState", raised) as { innerXml: string };
    expect(read.innerXml).to.equal(deep);
    const escaped = answerContent(xml(envelope), "getState") as { innerXml: string };
    expect(escaped.innerXml).to.match(/^&lt;s:Envelope /);
    // Lowered: a shallow answer over the operator's limit is escaped text too.
    const lowered = { ...DEFAULT_XML_LIMITS, maxAttributesPerElement: 1 };
    const plain = `<r:a xmlns:r="urn:r" x="1">y</r:a>`;
    expect(answerContent(xml(plain), "q").kind).to.equal("content");
    const flat = answerContent(xml(plain), "q", lowered) as { innerXml: string };
    expect(flat.innerXml).to.equal(
      "&lt;r:a xmlns:r=&quot;urn:r&quot; x=&quot;1&quot;&gt;y&lt;/r:a&gt;",
    );
    const multipart = answerContent(
      {
        status: 200,
        contentType: 'multipart/related; type="text/xml"; boundary=b',
        body: `--b\r\nContent-Type: text/xml\r\n\r\n${envelope}\r\n--b--\r\n`,
      },
      "getState",
      raised,
    ) as { innerXml: string };
    expect(multipart.innerXml).to.equal(deep);
  });

  it("an answer of more elements than adapter.xml.maxElements is escaped text, never a tree", () => {
    const items = "<i/>".repeat(1_000);
    const envelope = `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><q:getStateResponse xmlns:q="urn:q">${items}</q:getStateResponse></s:Body></s:Envelope>`;
    const within = { ...DEFAULT_XML_LIMITS, maxElements: 1_003 };
    expect(answerContent(xml(envelope), "getState", within)).to.deep.equal({
      kind: "content",
      innerXml: items,
    });
    const over = { ...DEFAULT_XML_LIMITS, maxElements: 1_002 };
    const escaped = answerContent(xml(envelope), "getState", over) as { innerXml: string };
    expect(escaped.innerXml).to.match(/^&lt;s:Envelope /);
    expect(escaped.innerXml).to.include("&lt;i/&gt;".repeat(1_000));
  });

  it("standaloneXml declares inherited bindings, not its own twice", () => {
    const text = `<a xmlns="urn:d" xmlns:p="urn:p" xmlns:q="urn:q" xmlns:t="urn:t" xmlns:u="urn:u"><p:b xmlns:p="urn:p2" t:x="u:v"><c>q:name</c></p:b></a>`;
    const b = childElements(parseXml(text))[0];
    expect(standaloneXml(text, b)).to.equal(
      '<p:b xmlns:t="urn:t" xmlns:u="urn:u" xmlns="urn:d" xmlns:q="urn:q" xmlns:p="urn:p2" t:x="u:v"><c>q:name</c></p:b>',
    );
  });

  it("a backend answer holding characters XML 1.0 cannot carry still makes a well-formed envelope", () => {
    // Legacy data with a form feed or an escape code: text, JSON, and XML that is not XML.
    const answers = [
      { status: 200, contentType: "text/plain", body: "page\u000c2 \u001b[1m" },
      { status: 200, contentType: "application/json", body: '{"name":"a\\u0001b","x":"\uffff"}' },
      { status: 200, contentType: "text/xml", body: "<a>\u0002</a>" },
    ];
    const request = parseSoapEnvelope(fixture("simple.query"));
    for (const response of answers) {
      const content = answerContent(response, "testQuery") as { innerXml: string };
      const envelope = buildSoapResponse(request, content.innerXml);
      expect(() => parseXml(envelope), response.contentType).to.not.throw();
      expect(envelope).to.include("\ufffd");
    }
  });
});

describe("SOAP Body validation", () => {
  const service = {
    code: "testQuery",
    schema: TEST_QUERY_SCHEMA,
  } as unknown as ServiceConfig;
  const validators = new SoapBodyValidators([service]);

  it("reads text through the schema's types and leaves the input as it was", () => {
    const body = { request: { name: "foo", age: "35", tags: "one" } };
    expect(validators.validate("testQuery", body)).to.deep.equal({
      request: { name: "foo", age: 35, tags: ["one"] },
    });
    expect(body.request.age).to.equal("35");
  });

  it("lists every problem with its path", () => {
    let error: SluiceError | undefined;
    try {
      validators.validate("testQuery", { request: { age: "old" } });
    } catch (caught) {
      error = caught as SluiceError;
    }
    expect(error?.faultCode).to.equal("Client.ValidationFailed");
    const paths = (error?.details as Array<{ path: string }>).map((p) => p.path);
    expect(paths).to.include.members(["/request/name", "/request/age"]);
  });

  it("a number a double does not hold is refused for a JSON backend, kept as XML for a SOAP one", () => {
    const body = { request: { name: "foo", age: " 12345678901234567890 " } };
    expect(() => validators.validate("testQuery", body))
      .to.throw(SluiceError, /\/request\/age must be a number a double holds exactly/)
      .with.property("faultCode", "Client.ValidationFailed");
    expect(validators.validate("testQuery", body, false)).to.have.nested.property("request.age");
    // Long text a double writes back with the same value is no loss.
    const exact = { request: { name: "foo", age: "9007199254740992" } };
    expect(validators.validate("testQuery", exact)).to.have.nested.property(
      "request.age",
      9007199254740992,
    );
  });

  it("a service without a schema takes any body", () => {
    expect(validators.validate("other", "anything")).to.equal("anything");
  });

  it("an attribute the schema bounds, sent twice in two namespaces, is checked in both", () => {
    const transfer = {
      code: "transfer",
      schema: {
        type: "object",
        properties: { "@amount": { type: "integer", maximum: 100 } },
      },
    } as unknown as ServiceConfig;
    const checks = new SoapBodyValidators([transfer]);
    const read = (body: string) => elementToJson(parseXml(body));
    expect(checks.validate("transfer", read(`<t amount="5"/>`))).to.deep.equal({ "@amount": 5 });
    // A SOAP backend may read either attribute: the schema must not see only the last one.
    let error: SluiceError | undefined;
    try {
      checks.validate(
        "transfer",
        read(`<t xmlns:p="urn:p" xmlns:q="urn:q" p:amount="100000" q:amount="5"/>`),
      );
    } catch (caught) {
      error = caught as SluiceError;
    }
    expect(error?.faultCode).to.equal("Client.ValidationFailed");
    expect((error?.details as Array<{ path: string }>)[0].path).to.equal("/@amount");
  });
});
