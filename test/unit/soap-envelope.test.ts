import { expect } from "chai";
import { readdirSync } from "node:fs";
import { SluiceError } from "../../shared/protocol/errors";
import { DEFAULT_XML_LIMITS, parseXml } from "../../adapter/soap/safe-xml";
import {
  parseSoapEnvelope,
  soapMessageOf,
  xroadHeadersOf,
  type SoapRequest,
} from "../../adapter/soap/soap-envelope";

import {
  ACCEPTED_FIXTURES,
  FAULT_FIXTURES,
  fixture as fixtureBytes,
  FIXTURES_DIR,
  MULTIPART_FIXTURES,
} from "../fixtures/xroad-soap/outcomes";

function fixture(name: string): string {
  return fixtureBytes(name).toString("utf8");
}

function parse(text: string): SoapRequest {
  return parseSoapEnvelope(text);
}

function faultOf(text: string): string {
  try {
    parse(text);
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    const fault = (error as SluiceError).faultCode;
    expect((error as Error).message).to.not.match(/\n\s+at /);
    return fault;
  }
  throw new Error("expected a fault");
}

/** An envelope with the usual X-Road headers; parts can be replaced for each test. */
function envelope(options: { header?: string; body?: string; extraHeader?: string } = {}): string {
  const header =
    options.header ??
    `<xroad:client id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>consumer</id:memberCode></xroad:client>` +
      `<xroad:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>producer</id:memberCode><id:serviceCode>testQuery</id:serviceCode></xroad:service>` +
      `<xroad:id>abc-1</xroad:id><xroad:protocolVersion>4.0</xroad:protocolVersion>` +
      (options.extraHeader ?? "");
  const body =
    options.body ??
    `<ns1:testQuery xmlns:ns1="urn:t"><request><name>foo</name></request></ns1:testQuery>`;
  return (
    `<?xml version="1.0" encoding="utf-8"?>` +
    `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xroad="http://x-road.eu/xsd/xroad.xsd" xmlns:id="http://x-road.eu/xsd/identifiers">` +
    `<SOAP-ENV:Header>${header}</SOAP-ENV:Header><SOAP-ENV:Body>${body}</SOAP-ENV:Body></SOAP-ENV:Envelope>`
  );
}

describe("SOAP envelope: the X-Road fixtures", () => {
  it("simple.query is accepted with its X-Road fields and body JSON", () => {
    const request = parse(fixture("simple.query"));
    expect(request.clientId).to.equal("EE/BUSINESS/consumer");
    expect(request.client).to.deep.equal({
      objectType: "MEMBER",
      xRoadInstance: "EE",
      memberClass: "BUSINESS",
      memberCode: "consumer",
    });
    expect(request.service).to.deep.equal({
      xRoadInstance: "EE",
      memberClass: "BUSINESS",
      memberCode: "producer",
      serviceCode: "testQuery",
    });
    expect(request.serviceCode).to.equal("testQuery");
    expect(request.xroadId).to.equal("1234567890");
    expect(request.userId).to.equal("EE37702211234");
    expect(request.issue).to.equal(null);
    expect(request.representedParty).to.equal(null);
    expect(request.protocolVersion).to.equal("4.0");
    expect(request.envelopePrefix).to.equal("SOAP-ENV");
    expect(request.bodyLocalName).to.equal("testQuery");
    expect(request.bodyNamespace).to.equal("http://cosumer.ee.xroad.net");
    expect(request.bodyPrefix).to.equal("ns1");
    expect(request.bodyJson).to.deep.equal({ request: { name: "foo", age: "35" } });
    expect(request.bodyXml).to.match(/^<ns1:testQuery xmlns:ns1="http:\/\/cosumer.ee.xroad.net">/);
    expect(request.bodyXml).to.match(/<\/ns1:testQuery>$/);
    expect(request.headers.map((h) => h.name)).to.deep.equal([
      "client",
      "service",
      "userId",
      "id",
      "protocolVersion",
    ]);
    expect(request.headers[2]).to.deep.equal({
      name: "userId",
      namespace: "http://x-road.eu/xsd/xroad.xsd",
      xml: "<xroad:userId>EE37702211234</xroad:userId>",
    });
  });

  it("simple-representedparty.query keeps representedParty and issue", () => {
    const request = parse(fixture("simple-representedparty.query"));
    expect(request.representedParty).to.deep.equal({ partyClass: "COM", partyCode: "MEMBER3" });
    expect(request.issue).to.equal("issue-1");
    const party = request.headers.find((h) => h.name === "representedParty");
    expect(party?.namespace).to.equal("http://x-road.eu/xsd/representation.xsd");
    expect(party?.xml).to.match(/^<repr:representedParty>[\s\S]*<\/repr:representedParty>$/);
    expect(xroadHeadersOf(request)["x-road-represented-party"]).to.equal("COM/MEMBER3");
  });

  it("getstate.query is accepted and its non-ASCII body survives", () => {
    const request = parse(fixture("getstate.query"));
    expect(request.serviceCode).to.equal("getState");
    expect(request.bodyJson).to.equal("aäõ");
    expect(request.bodyXml).to.equal("<xroad:getState>aäõ</xroad:getState>");
    expect(request.bodyNamespace).to.equal("http://x-road.eu/xsd/xroad.xsd");
  });

  it("getstate-subsystem.query: SUBSYSTEM client, empty issue, byte-exact non-ASCII", () => {
    const text = fixture("getstate-subsystem.query");
    const request = parse(text);
    expect(request.clientId).to.equal("EE/BUSINESS/consumer/subsys1");
    expect(request.client.objectType).to.equal("SUBSYSTEM");
    expect(request.service.subsystemCode).to.equal("subsys2");
    expect(request.issue).to.equal("");
    expect(Buffer.from(request.bodyXml, "utf8").toString("hex")).to.equal(
      Buffer.from("<xroad:getState>aäõ</xroad:getState>", "utf8").toString("hex"),
    );
    expect(xroadHeadersOf(request)).to.include({
      "x-road-client": "EE/BUSINESS/consumer/subsys1",
      "x-road-service": "EE/BUSINESS/producer/subsys2/getState",
      "x-road-id": "411d6755661409fed365ad8135f8210be07613da",
    });
  });

  it("cdata.query keeps CDATA content and extra header fields", () => {
    const request = parse(fixture("cdata.query"));
    expect(request.bodyJson).to.equal("<a><b><c>12345678</c></b></a>");
    expect(request.bodyXml).to.equal(
      "<xroad:getState><![CDATA[<a><b><c>12345678</c></b></a>]]></xroad:getState>",
    );
    const extra = request.headers[request.headers.length - 1];
    expect(extra.name).to.equal("xml");
    expect(extra.xml).to.equal("<xroad:xml><![CDATA[<a><b><c>12345678</c></b></a>]]></xroad:xml>");
  });

  it("missing-userId.query is accepted without userId", () => {
    const request = parse(fixture("missing-userId.query"));
    expect(request.userId).to.equal(null);
    expect(request.serviceCode).to.equal("testQuery");
  });

  for (const [file, code] of FAULT_FIXTURES) {
    it(`${file} → ${code}`, () => {
      expect(faultOf(fixture(file))).to.equal(code);
    });
  }

  it("every fixture of the X-Road suite is covered above", () => {
    const covered = new Set([
      ...FAULT_FIXTURES.map(([file]) => file),
      ...ACCEPTED_FIXTURES,
      ...MULTIPART_FIXTURES.map(([file]) => file),
    ]);
    const queries = readdirSync(FIXTURES_DIR).filter((f) => f.endsWith(".query"));
    for (const file of queries) expect(covered.has(file), file).to.equal(true);
  });

  it("soapMessageOf gives the RequestMessage.soap shape, the header fields once", () => {
    const request = parse(fixture("simple.query"));
    const soap = soapMessageOf(request);
    expect(soap.headers).to.equal(request.headers);
    expect(soap.bodyXml).to.equal(request.bodyXml);
    expect(soap.bodyNamespace).to.equal("http://cosumer.ee.xroad.net");
    expect(soap.envelopePrefix).to.equal("SOAP-ENV");
    expect(soap.envelopeDeclarations).to.equal(request.envelopeDeclarations);
    // The Header's text is its fields again; only the adapter's echo needs it.
    expect(soap).to.not.have.any.keys("headerXml", "bodyPrefix", "mtom");
    expect(soapMessageOf(request, true).mtom).to.equal(true);
    expect(JSON.parse(JSON.stringify(soap))).to.deep.equal(soap);
  });
});

describe("SOAP envelope: namespaces, not prefixes", () => {
  it("accepts any prefixes, including a default SOAP namespace", () => {
    const text =
      `<Envelope xmlns="http://schemas.xmlsoap.org/soap/envelope/" xmlns:x="http://x-road.eu/xsd/xroad.xsd" xmlns:i="http://x-road.eu/xsd/identifiers">` +
      `<Header><x:client i:objectType="MEMBER"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>1</i:memberCode></x:client>` +
      `<x:service i:objectType="SERVICE"><i:xRoadInstance>EE</i:xRoadInstance><i:memberClass>GOV</i:memberClass><i:memberCode>2</i:memberCode><i:serviceCode>q</i:serviceCode><i:serviceVersion>v1</i:serviceVersion></x:service>` +
      `<x:id>1</x:id><x:protocolVersion>4.0</x:protocolVersion></Header>` +
      `<Body><q xmlns="urn:q"><a>1</a></q></Body></Envelope>`;
    const request = parse(text);
    expect(request.envelopePrefix).to.equal("");
    expect(request.service.serviceVersion).to.equal("v1");
    expect(request.bodyNamespace).to.equal("urn:q");
    expect(request.bodyPrefix).to.equal("");
    expect(request.bodyJson).to.deep.equal({ a: "1" });
  });

  it("accepts namespaces declared on the header fields themselves", () => {
    const text =
      `<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Header>` +
      `<c:client xmlns:c="http://x-road.eu/xsd/xroad.xsd" xmlns:k="http://x-road.eu/xsd/identifiers" k:objectType="MEMBER"><k:xRoadInstance>EE</k:xRoadInstance><k:memberClass>GOV</k:memberClass><k:memberCode>1</k:memberCode></c:client>` +
      `<service xmlns="http://x-road.eu/xsd/xroad.xsd" xmlns:k="http://x-road.eu/xsd/identifiers" k:objectType="SERVICE"><k:xRoadInstance>EE</k:xRoadInstance><k:memberClass>GOV</k:memberClass><k:memberCode>2</k:memberCode><k:serviceCode>q</k:serviceCode></service>` +
      `<id xmlns="http://x-road.eu/xsd/xroad.xsd">7</id><protocolVersion xmlns="http://x-road.eu/xsd/xroad.xsd">4.0</protocolVersion>` +
      `</e:Header><e:Body><q/></e:Body></e:Envelope>`;
    const request = parse(text);
    expect(request.clientId).to.equal("EE/GOV/1");
    expect(request.xroadId).to.equal("7");
    expect(request.bodyNamespace).to.equal(null);
    expect(request.bodyJson).to.equal("");
  });

  it("refuses a SOAP 1.2 envelope and a document without one", () => {
    const soap12 = envelope().replace(
      'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"',
      'xmlns:SOAP-ENV="http://www.w3.org/2003/05/soap-envelope"',
    );
    expect(faultOf(soap12)).to.equal("Client.InvalidSoap");
    expect(faultOf("<Envelope><Body/></Envelope>")).to.equal("Client.InvalidSoap");
    expect(faultOf("<order><id>1</id></order>")).to.equal("Client.InvalidSoap");
    expect(faultOf("   \n")).to.equal("Client.InvalidSoap");
  });

  it("headers in the wrong namespace are not X-Road headers", () => {
    const text = envelope().replace(
      'xmlns:xroad="http://x-road.eu/xsd/xroad.xsd"',
      'xmlns:xroad="http://x-road.eu/xsd/other.xsd"',
    );
    expect(faultOf(text)).to.equal("Client.MissingHeaderField");
  });

  it("an undeclared prefix is malformed XML", () => {
    expect(faultOf(envelope({ body: "<zz:testQuery/>" }))).to.equal("Client.InvalidXml");
  });

  it("refuses a second Header, a Body before the Header and stray elements", () => {
    expect(
      faultOf(envelope().replace("<SOAP-ENV:Body>", "<SOAP-ENV:Header/><SOAP-ENV:Body>")),
    ).to.equal("Client.InvalidSoap");
    expect(
      faultOf(envelope().replace("</SOAP-ENV:Envelope>", "<x/></SOAP-ENV:Envelope>")),
    ).to.equal("Client.InvalidSoap");
  });
});

describe("SOAP envelope: X-Road header rules", () => {
  const client = `<xroad:client id:objectType="MEMBER"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>consumer</id:memberCode></xroad:client>`;
  const service = `<xroad:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>BUSINESS</id:memberClass><id:memberCode>producer</id:memberCode><id:serviceCode>testQuery</id:serviceCode></xroad:service>`;
  const rest = `<xroad:id>abc-1</xroad:id><xroad:protocolVersion>4.0</xroad:protocolVersion>`;

  it("accepts the base envelope", () => {
    expect(parse(envelope()).xroadId).to.equal("abc-1");
  });

  it("takes the whitespace around id, userId and issue as layout, not as part of the value", () => {
    const pretty = envelope({
      header:
        `${client}\n  ${service}\n  <xroad:id>\n    abc-1\n  </xroad:id>\n  ` +
        `<xroad:protocolVersion>4.0</xroad:protocolVersion>\n  ` +
        `<xroad:userId>\n    EE37702211234\n  </xroad:userId>\n  <xroad:issue> 12 </xroad:issue>\n`,
    });
    const request = parse(pretty);
    expect(request.xroadId).to.equal("abc-1");
    expect(request.userId).to.equal("EE37702211234");
    expect(request.issue).to.equal("12");
    // Inside the value a line break is still refused: it cannot travel on as a header.
    expect(faultOf(envelope({ extraHeader: "<xroad:userId>\n a\nb \n</xroad:userId>" }))).to.equal(
      "Client.InvalidSoap",
    );
  });

  it("an identifier part with an invisible format character is InvalidSoap: it shows as another id", () => {
    // U+202E shows "\u202Eevil" as "live"; U+200B, U+2066 and U+FEFF are as invisible.
    for (const code of ["\u202Eevil", "con\u200Bsumer", "\u2066x\u2069", "a\uFEFFb"]) {
      const header = envelope().replace(
        "<id:memberCode>consumer</id:memberCode>",
        `<id:memberCode>${code}</id:memberCode>`,
      );
      expect(faultOf(header), JSON.stringify(code)).to.equal("Client.InvalidSoap");
    }
    // In free text (the Body, a user id) such characters are the caller's data.
    const inBody = envelope({
      body: `<ns1:testQuery xmlns:ns1="urn:t"><request><name>\u202Efoo</name></request></ns1:testQuery>`,
    });
    expect(parse(inBody).xroadId).to.equal("abc-1");
  });

  it("an identifier part with a space inside is InvalidSoap, as in a REST caller's X-Road-Client", () => {
    for (const code of ["my code", "a\u00a0b", "a\u2003b"]) {
      const header = envelope().replace(
        "<id:memberCode>consumer</id:memberCode>",
        `<id:memberCode>${code}</id:memberCode>`,
      );
      expect(faultOf(header), JSON.stringify(code)).to.equal("Client.InvalidSoap");
    }
    // Around the part it is layout.
    const padded = envelope().replace(
      "<id:memberCode>consumer</id:memberCode>",
      "<id:memberCode> consumer\n</id:memberCode>",
    );
    expect(parse(padded).clientId).to.equal("EE/BUSINESS/consumer");
  });

  it("a repeated field is DuplicateHeaderField", () => {
    expect(faultOf(envelope({ extraHeader: "<xroad:id>again</xroad:id>" }))).to.equal(
      "Client.DuplicateHeaderField",
    );
    expect(
      faultOf(
        envelope({ extraHeader: "<xroad:userId>a</xroad:userId><xroad:userId>b</xroad:userId>" }),
      ),
    ).to.equal("Client.DuplicateHeaderField");
  });

  it("a header entry for this node with mustUnderstand that Sluice does not process is refused", () => {
    const security = (attributes: string) =>
      `<wsse:Security xmlns:wsse="urn:wsse"${attributes}><wsse:Token>t</wsse:Token></wsse:Security>`;
    for (const attributes of [
      ' SOAP-ENV:mustUnderstand="1"',
      ' SOAP-ENV:mustUnderstand="true"',
      ' SOAP-ENV:mustUnderstand="1" SOAP-ENV:actor="http://schemas.xmlsoap.org/soap/actor/next"',
    ]) {
      let message = "";
      try {
        parse(envelope({ extraHeader: security(attributes) }));
      } catch (error) {
        expect((error as SluiceError).faultCode, attributes).to.equal("Client.InvalidSoap");
        message = (error as Error).message;
      }
      expect(message, attributes).to.contain("{urn:wsse}Security has mustUnderstand");
    }
    // Not demanded, or addressed to another node: kept and echoed as any other entry.
    for (const attributes of [
      "",
      ' SOAP-ENV:mustUnderstand="0"',
      ' mustUnderstand="1"',
      ' SOAP-ENV:mustUnderstand="1" SOAP-ENV:actor="urn:some-other-node"',
    ]) {
      const request = parse(envelope({ extraHeader: security(attributes) }));
      expect(
        request.headers.map((h) => h.name),
        attributes,
      ).to.include("Security");
    }
    // The X-Road fields Sluice reads are understood; requestHash is X-Road's to ignore.
    const marked = envelope().replace(
      "<xroad:id>abc-1</xroad:id>",
      '<xroad:id SOAP-ENV:mustUnderstand="1">abc-1</xroad:id>' +
        '<xroad:requestHash SOAP-ENV:mustUnderstand="1" algorithmId="urn:a">aGFzaA==</xroad:requestHash>',
    );
    expect(parse(marked).xroadId).to.equal("abc-1");
  });

  it("each required field missing is MissingHeaderField", () => {
    expect(faultOf(envelope({ header: service + rest }))).to.equal("Client.MissingHeaderField");
    expect(faultOf(envelope({ header: client + rest }))).to.equal("Client.MissingHeaderField");
    expect(
      faultOf(
        envelope({
          header: client + service + "<xroad:protocolVersion>4.0</xroad:protocolVersion>",
        }),
      ),
    ).to.equal("Client.MissingHeaderField");
    expect(
      faultOf(
        envelope({
          header:
            client +
            service +
            "<xroad:id> </xroad:id><xroad:protocolVersion>4.0</xroad:protocolVersion>",
        }),
      ),
    ).to.equal("Client.MissingHeaderField");
  });

  it("protocolVersion must be of major version 4, as X-Road's security server reads it", () => {
    const withVersion = (v: string) =>
      envelope({
        header:
          client +
          service +
          `<xroad:id>1</xroad:id><xroad:protocolVersion>${v}</xroad:protocolVersion>`,
      });
    for (const refused of ["", "3.5", "4", "40", "5.0", "foo", " 4.0"]) {
      expect(faultOf(withVersion(refused)), refused).to.equal("Client.InvalidProtocolVersion");
    }
    // PR-MESS §2.2: versions of one major version are compatible.
    for (const taken of ["4.0", "4.1", "4.00"]) {
      expect(parse(withVersion(taken)).protocolVersion).to.equal(taken);
    }
  });

  it("client identifiers are checked by object type", () => {
    const noMemberCode = client.replace("<id:memberCode>consumer</id:memberCode>", "");
    expect(faultOf(envelope({ header: noMemberCode + service + rest }))).to.equal(
      "Client.MissingHeaderField",
    );
    const subsystemWithout = client.replace('"MEMBER"', '"SUBSYSTEM"');
    expect(faultOf(envelope({ header: subsystemWithout + service + rest }))).to.equal(
      "Client.MissingHeaderField",
    );
    const badType = client.replace('"MEMBER"', '"SERVICE"');
    expect(faultOf(envelope({ header: badType + service + rest }))).to.equal("Client.InvalidSoap");
    const slash = client.replace(">consumer<", ">a/b<");
    expect(faultOf(envelope({ header: slash + service + rest }))).to.equal("Client.InvalidSoap");
    const wrongNs = client.replace(/id:memberClass/g, "xroad:memberClass");
    expect(faultOf(envelope({ header: wrongNs + service + rest }))).to.equal(
      "Client.MissingHeaderField",
    );
  });

  it("service needs objectType SERVICE and a serviceCode", () => {
    expect(
      faultOf(envelope({ header: client + service.replace('"SERVICE"', '"MEMBER"') + rest })),
    ).to.equal("Client.InvalidSoap");
    const noCode = service.replace("<id:serviceCode>testQuery</id:serviceCode>", "");
    expect(faultOf(envelope({ header: client + noCode + rest }))).to.equal(
      "Client.MissingHeaderField",
    );
  });

  it("representedParty needs a partyCode", () => {
    const party = `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyClass>COM</repr:partyClass></repr:representedParty>`;
    expect(faultOf(envelope({ extraHeader: party }))).to.equal("Client.MissingHeaderField");
    const ok = party.replace(
      "</repr:representedParty>",
      "<repr:partyCode>P1</repr:partyCode></repr:representedParty>",
    );
    expect(parse(envelope({ extraHeader: ok })).representedParty).to.deep.equal({
      partyClass: "COM",
      partyCode: "P1",
    });
  });

  it("refuses a represented party whose class or code holds a /, which its slash-separated form would misread", () => {
    const party = (inner: string) =>
      `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd">${inner}</repr:representedParty>`;
    for (const inner of [
      "<repr:partyCode>12/34</repr:partyCode>",
      "<repr:partyClass>C/O</repr:partyClass><repr:partyCode>34</repr:partyCode>",
    ]) {
      expect(faultOf(envelope({ extraHeader: party(inner) })), inner).to.equal(
        "Client.InvalidSoap",
      );
    }
    // A "%" is the code's own: carried as written.
    const percent = party("<repr:partyCode>12%34</repr:partyCode>");
    expect(parse(envelope({ extraHeader: percent })).representedParty).to.deep.equal({
      partyCode: "12%34",
    });
  });

  it("refuses header fields too long to travel on as HTTP headers, as a REST caller's are", () => {
    // Acknowledged, they reached the backend as X-Road-* headers over its header limit, and the
    // backend's 400 made the message "rejected" although the backend never read it.
    const long = (length: number) => "c".repeat(length);
    const refused = [
      envelope().replace(">consumer<", `>${long(256)}<`),
      envelope().replace(">testQuery</id:serviceCode>", `>${long(256)}</id:serviceCode>`),
      envelope({ extraHeader: `<xroad:userId>${long(1025)}</xroad:userId>` }),
      envelope({ extraHeader: `<xroad:issue>${long(1025)}</xroad:issue>` }),
      envelope({
        extraHeader: `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyCode>${long(256)}</repr:partyCode></repr:representedParty>`,
      }),
    ];
    for (const text of refused) expect(faultOf(text)).to.equal("Client.InvalidSoap");
    const longest = parse(
      envelope({ extraHeader: `<xroad:userId>${long(1024)}</xroad:userId>` }).replace(
        ">consumer<",
        `>${long(255)}<`,
      ),
    );
    expect(longest.clientId).to.equal(`EE/BUSINESS/${long(255)}`);
    expect(longest.userId).to.equal(long(1024));
  });

  it("keeps unknown header fields in order", () => {
    const request = parse(
      envelope({ extraHeader: `<my:trace xmlns:my="urn:my" a="1">t &amp; u</my:trace>` }),
    );
    const last = request.headers[request.headers.length - 1];
    expect(last).to.deep.equal({
      name: "trace",
      namespace: "urn:my",
      xml: `<my:trace xmlns:my="urn:my" a="1">t &amp; u</my:trace>`,
    });
  });

  it("decodes entity and character references in header values", () => {
    const request = parse(
      envelope({ extraHeader: "<xroad:userId>A&amp;B&#228;&#x00F5;</xroad:userId>" }),
    );
    expect(request.userId).to.equal("A&Bäõ");
  });

  it("text beside the Body element is InvalidBody", () => {
    expect(faultOf(envelope({ body: "text<ns1:testQuery xmlns:ns1='urn:t'/>" }))).to.equal(
      "Client.InvalidBody",
    );
  });
});

describe("SOAP envelope: hostile input fails fast and cleanly", () => {
  it("refuses any DOCTYPE, so billion laughs never expands", () => {
    const laughs =
      `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">` +
      Array.from(
        { length: 9 },
        (_, i) => `<!ENTITY lol${i + 1} "${`&lol${i === 0 ? "" : i};`.repeat(10)}">`,
      ).join("") +
      `]>` +
      envelope({ extraHeader: "<xroad:userId>&lol9;</xroad:userId>" }).replace(
        '<?xml version="1.0" encoding="utf-8"?>',
        "",
      );
    expect(faultOf(laughs)).to.equal("Client.InvalidXml");
    expect(() => parse(laughs)).to.throw(/DOCTYPE declaration is not allowed/);
  });

  it("refuses external entities (DOCTYPE) and a lowercase doctype", () => {
    const xxe = `<?xml version="1.0"?><!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>${envelope({ extraHeader: "<xroad:userId>&xxe;</xroad:userId>" }).replace(/^<\?xml[^>]*>/, "")}`;
    expect(faultOf(xxe)).to.equal("Client.InvalidXml");
    expect(faultOf(`<!doctype x>${envelope()}`)).to.equal("Client.InvalidXml");
  });

  it("names the first refused thing: a DOCTYPE, then a character XML forbids, then an entity declaration", () => {
    const refusal = (text: string): string => {
      try {
        parse(text);
      } catch (caught) {
        return (caught as Error).message;
      }
      return "accepted";
    };
    const entityInComment = envelope({ extraHeader: "<!-- <!ENTITY x 'y'> -->" });
    expect(refusal(entityInComment)).to.match(/entity declarations are not allowed/);
    expect(refusal(`${entityInComment}\u0001`)).to.match(/a character XML does not allow/);
    expect(refusal(`<!DOCTYPE x>${entityInComment}\u0001`)).to.match(/DOCTYPE/);
    expect(refusal(envelope({ extraHeader: "<!-- fine -->" }))).to.equal("accepted");
  });

  it("an undefined entity is refused, not kept", () => {
    expect(faultOf(envelope({ extraHeader: "<xroad:userId>&xxe;</xroad:userId>" }))).to.equal(
      "Client.InvalidXml",
    );
  });

  it("10 000-deep nesting is refused without recursing", () => {
    const deep = envelope({
      body: `<ns1:testQuery xmlns:ns1="urn:t">${"<a>".repeat(10_000)}${"</a>".repeat(10_000)}</ns1:testQuery>`,
    });
    let error: unknown;
    try {
      parse(deep);
    } catch (caught) {
      error = caught;
    }
    expect((error as SluiceError).faultCode).to.equal("Client.InvalidXml");
    // The reader refuses it at the 65th level, without walking the rest.
    expect((error as SluiceError).message).to.match(/deeper than 64/);
  });

  it("nesting of 60 levels is still fine", () => {
    const body = `<ns1:testQuery xmlns:ns1="urn:t">${"<a>".repeat(55)}x${"</a>".repeat(55)}</ns1:testQuery>`;
    expect(parse(envelope({ body })).bodyLocalName).to.equal("testQuery");
  });

  it("truncated XML is InvalidXml at every cut", () => {
    const whole = fixture("simple.query");
    for (const cut of [
      10,
      60,
      200,
      whole.indexOf("<SOAP-ENV:Body>") + 5,
      whole.length - 5,
      whole.length - 25,
    ]) {
      expect(faultOf(whole.slice(0, cut)), `cut at ${cut}`).to.equal("Client.InvalidXml");
    }
  });

  it("garbage, mismatched tags and two roots are InvalidXml", () => {
    expect(faultOf("this is not xml")).to.equal("Client.InvalidXml");
    expect(faultOf('{"json": true}')).to.equal("Client.InvalidXml");
    expect(faultOf(envelope().replace("</SOAP-ENV:Body>", "</SOAP-ENV:Bod>"))).to.equal(
      "Client.InvalidXml",
    );
    expect(faultOf(envelope() + "<again/>")).to.equal("Client.InvalidXml");
    expect(faultOf(envelope() + "trailing text")).to.equal("Client.InvalidXml");
    expect(parse(envelope() + "\n<!-- done -->\n").xroadId).to.equal("abc-1");
    expect(faultOf(envelope({ extraHeader: "<xroad:userId>a\u0001b</xroad:userId>" }))).to.equal(
      "Client.InvalidXml",
    );
    expect(faultOf(envelope({ extraHeader: '<xroad:userId x="a<b">u</xroad:userId>' }))).to.equal(
      "Client.InvalidXml",
    );
    expect(faultOf(envelope().replace("<xroad:id>", "<xroad:id a='1' a='2'>"))).to.equal(
      "Client.InvalidXml",
    );
  });

  it("an oversize document is PayloadTooLarge", () => {
    let error: unknown;
    try {
      parseSoapEnvelope(envelope(), { ...DEFAULT_XML_LIMITS, maxLength: 100 });
    } catch (caught) {
      error = caught;
    }
    expect((error as SluiceError).faultCode).to.equal("Client.PayloadTooLarge");
  });

  it("attributes and namespace declarations are counted as they are read, per element and in all", () => {
    const limits = {
      ...DEFAULT_XML_LIMITS,
      maxAttributesPerElement: 4,
      maxAttributes: 6,
      maxNamespaceDeclarations: 5,
    };
    const faultWith = (text: string): string => {
      try {
        parseXml(text, limits);
        return "none";
      } catch (caught) {
        return `${(caught as SluiceError).faultCode}: ${(caught as Error).message}`;
      }
    };
    expect(faultWith('<a x="1" y=\'2\' z = "3" w="=4>"/>')).to.equal("none");
    expect(faultWith('<a v="1" w="2" x="3" y="4" z="5"/>')).to.match(
      /InvalidXml: an element has more than 4/,
    );
    expect(
      faultWith('<a><b x="1" y="2" z="3"/><c x="1" y="2" z="3" w="4"/><!-- a="1" --></a>'),
    ).to.match(/more than 6 attributes/);
    expect(
      faultWith('<a x="1" y="2" z="3"/>'.replace("/>", "><![CDATA[ q=1 r=2 s=3 t=4 ]]></a>")),
    ).to.equal("none");
    const declarations = Array.from({ length: 6 }, (_, i) => `<p:e xmlns:p="u${i}"/>`).join("");
    expect(faultWith(`<a>${declarations}</a>`)).to.match(/more than 5 namespace declarations/);
    expect(faultWith('<a xmlns="u" xmlns:p="v"><p:b xmlns:q = "w"/></a>')).to.equal("none");
  });
});
