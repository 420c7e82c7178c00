import { expect } from "chai";
import { SluiceError } from "../../shared/protocol/errors";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import {
  parseSoapEnvelope,
  SOAP11_NS,
  soapMessageOf,
  type SoapRequest,
} from "../../adapter/soap/soap-envelope";
import { buildSoapAck, buildSoapResponse, envelopeStart } from "../../adapter/soap/soap-response";
import { buildSoapFault, faultHttpStatus } from "../../adapter/soap/soap-fault";
import { ACCEPTED_FIXTURES, fixture } from "../fixtures/xroad-soap/outcomes";

function request(name: string): SoapRequest {
  return parseSoapEnvelope(fixture(name).toString("utf8"));
}

/** The exact text of the Header element of an envelope, found by parsing it. */
function headerText(text: string): string {
  const root = parseXml(text);
  const header = childElements(root).find((e) => e.local === "Header") as XmlElement;
  return text.slice(header.start, header.end);
}

function bodyElement(text: string): XmlElement {
  const root = parseXml(text);
  expect(root.namespace).to.equal(SOAP11_NS);
  const body = childElements(root).find((e) => e.local === "Body") as XmlElement;
  const elements = childElements(body);
  expect(elements).to.have.length(1);
  return elements[0];
}

describe("SOAP response: headers echoed byte for byte", () => {
  for (const name of ACCEPTED_FIXTURES) {
    it(`${name}: the answer's Header is the request's Header, same bytes, same order`, () => {
      const text = fixture(name).toString("utf8");
      const parsed = parseSoapEnvelope(text);
      const answer = buildSoapResponse(parsed, "<response>ok</response>");
      expect(Buffer.from(headerText(answer))).to.deep.equal(Buffer.from(headerText(text)));
      // Each field in order, by position in the answer.
      let from = 0;
      for (const field of parsed.headers) {
        const at = answer.indexOf(field.xml, from);
        expect(at, field.name).to.be.greaterThan(-1);
        from = at + field.xml.length;
      }
      const response = bodyElement(answer);
      expect(response.local).to.equal(`${parsed.serviceCode}Response`);
      expect(response.namespace).to.equal(parsed.bodyNamespace);
    });
  }

  it("from the request message alone (JSON), the fields are echoed in order", () => {
    const parsed = request("simple-representedparty.query");
    const travelled = JSON.parse(JSON.stringify(soapMessageOf(parsed))) as ReturnType<
      typeof soapMessageOf
    >;
    const answer = buildSoapResponse({ ...travelled, serviceCode: "testQuery" }, "<r/>");
    expect(headerText(answer)).to.include(parsed.headers.map((h) => h.xml).join(""));
    expect(bodyElement(answer).namespace).to.equal(parsed.bodyNamespace);
  });

  it("without the Header's text, the fields are echoed in order and stay well-formed", () => {
    const parsed = request("getstate-subsystem.query");
    const answer = buildSoapResponse(
      {
        envelopePrefix: parsed.envelopePrefix,
        envelopeDeclarations: parsed.envelopeDeclarations,
        headers: parsed.headers,
        bodyNamespace: parsed.bodyNamespace,
        bodyPrefix: parsed.bodyPrefix,
        serviceCode: parsed.serviceCode,
      },
      "<response>aäõ</response>",
    );
    expect(headerText(answer)).to.include(parsed.headers.map((h) => h.xml).join(""));
    expect(directText(childElements(bodyElement(answer))[0])).to.equal("aäõ");
    expect(bodyElement(answer).qname).to.equal("xroad:getStateResponse");
  });

  it("the Envelope start tag declares the caller's prefix as SOAP 1.1 once, beside its other declarations", () => {
    const X = "http://x-road.eu/xsd/xroad.xsd";
    const start = (prefix: string, declarations: Array<[string, string]>): string =>
      envelopeStart({ envelopePrefix: prefix, envelopeDeclarations: declarations });
    expect(
      start("s", [
        ["s", SOAP11_NS],
        ["x", X],
      ]),
    ).to.equal(`<s:Envelope xmlns:s="${SOAP11_NS}" xmlns:x="${X}">`);
    expect(
      start("", [
        ["x", X],
        ["", SOAP11_NS],
      ]),
    ).to.equal(`<Envelope xmlns:x="${X}" xmlns="${SOAP11_NS}">`);
    expect(start("s", [])).to.equal(`<s:Envelope xmlns:s="${SOAP11_NS}">`);
    expect(
      start("s", [
        ["x", X],
        ["s", "urn:other"],
      ]),
    ).to.equal(`<s:Envelope xmlns:x="${X}" xmlns:s="${SOAP11_NS}">`);
    expect(
      start("s", [
        ["s", SOAP11_NS],
        ["x", "urn:a&b"],
        ["x", X],
      ]),
    ).to.equal(`<s:Envelope xmlns:s="${SOAP11_NS}" xmlns:x="${X}">`);
    expect(
      start("s", [
        ["s", SOAP11_NS],
        ["q", 'urn:"q"&<r>'],
      ]),
    ).to.equal(`<s:Envelope xmlns:s="${SOAP11_NS}" xmlns:q="urn:&quot;q&quot;&amp;&lt;r&gt;">`);
  });

  it("answers a default-namespace body in its namespace, holding unqualified elements, and an unqualified body unqualified", () => {
    const base =
      `<s:Envelope xmlns:s="${SOAP11_NS}" xmlns:x="http://x-road.eu/xsd/xroad.xsd" xmlns:i="http://x-road.eu/xsd/identifiers"><s:Header>` +
      `<x:client i:objectType="MEMBER"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>1</i:memberCode></x:client>` +
      `<x:service i:objectType="SERVICE"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>2</i:memberCode><i:serviceCode>q</i:serviceCode></x:service>` +
      `<x:id>1</x:id><x:protocolVersion>4.0</x:protocolVersion></s:Header><s:Body>BODY</s:Body></s:Envelope>`;
    const qualified = parseSoapEnvelope(base.replace("BODY", `<q xmlns="urn:q"><a>1</a></q>`));
    const answer = buildSoapResponse(qualified, "<a>2</a>");
    expect(bodyElement(answer).namespace).to.equal("urn:q");
    // The WSDL's elementFormDefault="unqualified": what the answer holds is in no namespace.
    expect(childElements(bodyElement(answer))[0].namespace).to.equal(null);
    const ack = buildSoapAck(qualified, { id: "a-1", state: "accepted" });
    expect(bodyElement(ack).namespace).to.equal("urn:q");
    expect(childElements(bodyElement(ack)).map((e) => e.namespace)).to.deep.equal([null, null]);
    const plain = parseSoapEnvelope(base.replace("BODY", `<q><a>1</a></q>`));
    expect(bodyElement(buildSoapResponse(plain, "<a>2</a>")).namespace).to.equal(null);
    expect(buildSoapResponse(plain, "")).to.include("<s:Body><qResponse/></s:Body>");
    // A default namespace the Envelope declares, and an `ns` prefix of its own, are not taken.
    const inherited = parseSoapEnvelope(
      base
        .replace("<s:Envelope ", `<s:Envelope xmlns="urn:q" xmlns:ns="urn:other" `)
        .replace("BODY", `<q><a>1</a></q>`),
    );
    const inheritedAnswer = buildSoapResponse(inherited, "<a>2</a>");
    expect(bodyElement(inheritedAnswer).namespace).to.equal("urn:q");
    expect(childElements(bodyElement(inheritedAnswer))[0].namespace).to.equal(null);
    expect(inheritedAnswer).to.include(`<ns1:qResponse xmlns:ns1="urn:q" xmlns="">`);
    const prefixed = parseSoapEnvelope(
      base
        .replace("<s:Envelope ", `<s:Envelope xmlns="urn:d" `)
        .replace("BODY", `<p:q xmlns:p="urn:q"/>`),
    );
    expect(
      childElements(bodyElement(buildSoapResponse(prefixed, "<a>2</a>")))[0].namespace,
    ).to.equal(null);
  });
});

describe("SOAP answers to requests that share an Envelope start tag", () => {
  it("each names its own service, body prefix and namespace, as an answer built afresh does", () => {
    const envelope = (serviceCode: string, body: string): string =>
      `<s:Envelope xmlns:s="${SOAP11_NS}" xmlns:x="http://x-road.eu/xsd/xroad.xsd" xmlns:i="http://x-road.eu/xsd/identifiers"><s:Header>` +
      `<x:client i:objectType="MEMBER"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>1</i:memberCode></x:client>` +
      `<x:service i:objectType="SERVICE"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>2</i:memberCode><i:serviceCode>${serviceCode}</i:serviceCode></x:service>` +
      `<x:id>1</x:id><x:protocolVersion>4.0</x:protocolVersion></s:Header><s:Body>${body}</s:Body></s:Envelope>`;
    const requests = [
      envelope("q", `<p:q xmlns:p="urn:one"/>`),
      envelope("q", `<p:q xmlns:p="urn:two"/>`),
      envelope("q", `<r:q xmlns:r="urn:one"/>`),
      envelope("other", `<p:other xmlns:p="urn:one"/>`),
      envelope("q", `<q/>`),
    ];
    const ack = { id: "a-1", state: "accepted", statusUrl: "/messages/a-1" };
    for (let round = 0; round < 2; round += 1) {
      for (const text of requests) {
        const parsed = parseSoapEnvelope(text);
        // Declarations the reader did not share: the answer is written from scratch.
        const fresh = {
          ...parsed,
          envelopeDeclarations: parsed.envelopeDeclarations.map(
            ([prefix, uri]): [string, string] => [prefix, uri],
          ),
        };
        expect(Object.isFrozen(parsed.envelopeDeclarations)).to.equal(true);
        expect(buildSoapAck(parsed, ack)).to.equal(buildSoapAck(fresh, ack));
        expect(buildSoapResponse(parsed, "")).to.equal(buildSoapResponse(fresh, ""));
        const response = bodyElement(buildSoapAck(parsed, ack));
        expect(response.local).to.equal(`${parsed.serviceCode}Response`);
        expect(response.namespace).to.equal(parsed.bodyNamespace);
      }
    }
  });
});

describe("SOAP acknowledgement", () => {
  it("holds the gateway id and state in <serviceCode>Response, headers echoed", () => {
    const parsed = request("simple.query");
    const answer = buildSoapAck(parsed, {
      id: "0b3c5c1e-0000-4000-8000-000000000001",
      state: "accepted",
      statusUrl: "/messages/0b3c5c1e-0000-4000-8000-000000000001",
    });
    const response = bodyElement(answer);
    expect(response.qname).to.equal("ns1:testQueryResponse");
    const fields = Object.fromEntries(childElements(response).map((e) => [e.local, directText(e)]));
    expect(fields).to.deep.equal({
      id: "0b3c5c1e-0000-4000-8000-000000000001",
      state: "accepted",
      statusUrl: "/messages/0b3c5c1e-0000-4000-8000-000000000001",
    });
    expect(headerText(answer)).to.equal(parsed.headerXml);
  });
});

describe("SOAP fault", () => {
  function faultFields(text: string): Record<string, string> {
    const fault = bodyElement(text);
    expect(fault.local).to.equal("Fault");
    expect(fault.namespace).to.equal(SOAP11_NS);
    const fields: Record<string, string> = {};
    for (const child of childElements(fault)) {
      fields[child.local] =
        child.local === "detail"
          ? childElements(child)
              .map((e) => `${e.local}=${directText(e)}`)
              .join(",")
          : directText(child);
    }
    return fields;
  }

  it("a client error is Client.<Code> with its message, no detail without an id", () => {
    const fields = faultFields(
      buildSoapFault(new SluiceError("MissingHeader", "the SOAP Header is missing")),
    );
    expect(fields).to.deep.equal({
      faultcode: "Client.MissingHeader",
      faultstring: "the SOAP Header is missing",
    });
  });

  it("a server error carries the gateway id and retry hint in detail", () => {
    const error = new SluiceError("Busy", "the backend queue is full", {
      retryAfter: 7,
      messageId: "m-1",
    });
    expect(faultFields(buildSoapFault(error))).to.deep.equal({
      faultcode: "Server.Busy",
      faultstring: "the backend queue is full",
      detail: "id=m-1,retryAfter=7",
    });
    expect(faultHttpStatus(error)).to.equal(503);
    expect(faultHttpStatus(new SluiceError("Timeout", "late"))).to.equal(500);
    expect(faultHttpStatus(new SluiceError("InvalidXml", "bad"))).to.equal(500);
  });

  it("an unexpected exception says 'internal error' and nothing of its stack", () => {
    const text = buildSoapFault(new TypeError("secret at /srv/app/x.js:1:2"));
    const fields = faultFields(text);
    expect(fields.faultcode).to.equal("Server.Internal");
    expect(fields.faultstring).to.equal("internal error");
    expect(text).to.not.include("secret");
    expect(text).to.not.include(".js");
  });

  it("with the request known, uses its prefix, echoes its headers and names the id", () => {
    const parsed = request("simple.query");
    const text = buildSoapFault(
      new SluiceError("ValidationFailed", "age <must> be a number"),
      parsed,
      { messageId: "g-1", detailXml: "<status>400</status>" },
    );
    expect(text).to.include("<SOAP-ENV:Fault>");
    expect(headerText(text)).to.equal(parsed.headerXml);
    expect(faultFields(text)).to.deep.equal({
      faultcode: "Client.ValidationFailed",
      faultstring: "age <must> be a number",
      detail: "id=g-1,status=400",
    });
  });
});
