// The consumer direction's reading of X-Road's own error codes (PR-REST §4.6, PR-MESS Annex D,
// X-Road's ErrorCodes in both spellings), the header echo check and the Body's renaming.

import { expect } from "chai";
import { classifyXroadError, isXroadTimeout } from "../../shared/protocol/xroad-error-code";
import { echoMismatch, requestEnvelope } from "../../worker/translators/xroad-soap-header";
import { childText, renamedElement } from "../../worker/translators/soap-xml";
import { XmlScanError } from "../../shared/protocol/xml-tokens";
import { parseClientId, parseServiceId } from "../../worker/translators/xroad-ids";
import { IDENTIFIERS_NS, XROAD_NS } from "../../shared/protocol/xroad-namespaces";

describe("X-Road error codes in the consumer direction", () => {
  const cases: Array<[string, string]> = [
    ["Server.ServerProxy.ServiceFailed.NetworkError", "retry"],
    ["Server.ServerProxy.NetworkError", "retry"],
    ["Server.ClientProxy.NetworkError", "retry"],
    ["Server.ServerProxy.ServiceFailed.IOError", "retry"],
    ["Server.ServerProxy.ServiceFailed.SslAuthenticationFailed", "retry"],
    ["Server.ServerProxy.ServiceDisabled", "retry"],
    // Sluice names no security server, so it is not expected; were it to come (docs/consumer.md).
    ["Server.ClientProxy.InvalidSecurityServer", "retry"],
    ["Server.ClientProxy.OutdatedGlobalConf", "retry"],
    ["Server.ServerProxy.DatabaseError", "retry"],
    ["server.clientproxy.network_error", "retry"],
    ["Server.ServerProxy.AccessDenied", "reject"],
    ["server.serverproxy.access_denied", "reject"],
    ["Server.ServerProxy.UnknownService", "reject"],
    ["Server.ClientProxy.UnknownMember", "reject"],
    // The codes X-Road answers for a service of the other protocol (X_INVALID_SERVICE_TYPE, in
    // both spellings) and X-Road 7.4's client proxy for a missing X-Road-Client; a refused
    // connection may pass once listed.
    ["Server.ServerProxy.ServiceType", "reject"],
    ["server.serverproxy.service_type", "reject"],
    ["Server.ServerProxy.InvalidServiceType", "reject"],
    ["Server.ClientProxy.InvalidClientIdentifier", "reject"],
    ["Server.ClientProxy.SslAuthenticationFailed", "retry"],
    ["Client.BadRequest", "reject"],
    ["Client.InvalidSoap", "reject"],
    ["Client.SomethingNew", "reject"],
    ["SOAP-ENV:Client.MissingHeaderField", "reject"],
    // A prefix of any letters an XML name may hold: left on, `é:client` read as no refusal.
    ["é:Client.Whatever", "reject"],
    ["sé:Server.ServerProxy.AccessDenied", "reject"],
    ["ü:Server.ServerProxy.ServiceFailed.InvalidSoap", "fail"],
    ["Server.ServerProxy.ServiceFailed.InvalidSoap", "fail"],
    ["Server.ServerProxy.ServiceFailed.InconsistentResponse", "fail"],
    // The consumer's security server finds the answer's requestHash missing or wrong
    // (ClientMessageProcessor.checkRequestHash): the provider served the call.
    ["Server.ClientProxy.InconsistentResponse", "fail"],
    ["server.clientproxy.inconsistent_response", "fail"],
    ["Server.ClientProxy.ServiceFailed.MissingBody", "fail"],
    // The consumer's security server found no message in the answer (checkResponse): the
    // provider was called. Under Client or ServerProxy the request had none, and is refused.
    ["Server.ClientProxy.MissingSoap", "fail"],
    ["Server.ClientProxy.MissingRest", "fail"],
    ["server.clientproxy.missing_rest", "fail"],
    ["SOAP-ENV:Server.ClientProxy.MissingSoap", "fail"],
    ["Client.MissingSoap", "reject"],
    ["Server.ServerProxy.MissingSoap", "reject"],
    ["Server.ServerProxy.MissingRest", "reject"],
  ];
  for (const [code, expected] of cases) {
    it(`${code} → ${expected}`, () => {
      expect(classifyXroadError(code)).to.equal(expected);
    });
  }

  it("tells a timeout by its code", () => {
    expect(isXroadTimeout("Server.ServerProxy.ServiceFailed.IOError")).to.equal(true);
    expect(isXroadTimeout("server.serverproxy.service_failed.io_error")).to.equal(true);
    expect(isXroadTimeout("Server.ServerProxy.ServiceFailed.NetworkError")).to.equal(false);
  });
});

describe("X-Road SOAP header echo", () => {
  const sent = {
    client: parseClientId("EE/GOV/1/consumer"),
    service: parseServiceId("EE/GOV/2/provider/getState/v1"),
    id: "id-1",
    userId: "EE1",
  };

  it("accepts the header sent, echoed with requestHash added", () => {
    const envelope = requestEnvelope(sent, "<x/>").replace(
      "</SOAP-ENV:Header>",
      '<xrd:requestHash algorithmId="sha512">abc</xrd:requestHash></SOAP-ENV:Header>',
    );
    expect(echoMismatch(envelope, sent)).to.equal("");
  });

  it("names the first field that differs, or is missing", () => {
    expect(echoMismatch(requestEnvelope({ ...sent, id: "id-2" }, "<x/>"), sent)).to.equal(
      'id is "id-2", sent "id-1"',
    );
    expect(echoMismatch(requestEnvelope({ ...sent, userId: undefined }, "<x/>"), sent)).to.equal(
      'userId is missing (sent "EE1")',
    );
    const otherVersion = { ...sent, service: parseServiceId("EE/GOV/2/provider/getState/v2") };
    expect(echoMismatch(requestEnvelope(otherVersion, "<x/>"), sent)).to.equal(
      'service/serviceVersion is "v2", sent "v1"',
    );
    expect(
      echoMismatch(
        '<e:Envelope xmlns:e="http://schemas.xmlsoap.org/soap/envelope/"><e:Body/></e:Envelope>',
        sent,
      ),
    ).to.equal("the answer has no X-Road header");
  });

  it("takes any 4.x protocolVersion in the answer, as X-Road's parser does, and names another", () => {
    const answer = requestEnvelope(sent, "<x/>");
    expect(answer).to.contain("<xrd:protocolVersion>4.0</xrd:protocolVersion>");
    const version = (value: string) =>
      answer.replace(
        "<xrd:protocolVersion>4.0</xrd:protocolVersion>",
        `<xrd:protocolVersion>${value}</xrd:protocolVersion>`,
      );
    expect(echoMismatch(version("4.1"), sent)).to.equal("");
    expect(echoMismatch(version("4.x"), sent)).to.equal("");
    expect(echoMismatch(version("5.0"), sent)).to.equal('protocolVersion is "5.0", not 4.x');
    expect(echoMismatch(version(""), sent)).to.equal('protocolVersion is "", not 4.x');
    const without = answer.replace("<xrd:protocolVersion>4.0</xrd:protocolVersion>", "");
    expect(echoMismatch(without, sent)).to.equal('protocolVersion is missing (sent "4.0")');
  });

  it("names an identifier part the answer adds: another subsystem or version is another id", () => {
    const member = { ...sent, client: parseClientId("EE/GOV/1") };
    const subsystem = { ...sent, client: parseClientId("EE/GOV/1/other") };
    expect(echoMismatch(requestEnvelope(subsystem, "<x/>"), member)).to.equal(
      'client/subsystemCode is "other", sent none',
    );
    const unversioned = { ...sent, service: parseServiceId("EE/GOV/2/provider/getState") };
    expect(echoMismatch(requestEnvelope(sent, "<x/>"), unversioned)).to.equal(
      'service/serviceVersion is "v1", sent none',
    );
    expect(echoMismatch(requestEnvelope(member, "<x/>"), member)).to.equal("");
  });

  it("names a userId, issue or representedParty the answer adds: X-Road compares them with none sent too", () => {
    const bare = { ...sent, userId: undefined };
    expect(echoMismatch(requestEnvelope(sent, "<x/>"), bare)).to.equal(
      'userId is "EE1", sent none',
    );
    expect(echoMismatch(requestEnvelope({ ...bare, issue: "case-9" }, "<x/>"), bare)).to.equal(
      'issue is "case-9", sent none',
    );
    const party = { ...bare, representedParty: { partyClass: "COM", partyCode: "12" } };
    expect(echoMismatch(requestEnvelope(party, "<x/>"), bare)).to.equal(
      "representedParty is present, sent none",
    );
    expect(echoMismatch(requestEnvelope(bare, "<x/>"), bare)).to.equal("");
  });

  it("names an identifier whose objectType differs or is missing: a member is not its subsystem", () => {
    const answer = requestEnvelope(sent, "<x/>");
    expect(
      echoMismatch(answer.replace('id:objectType="SUBSYSTEM"', 'id:objectType="MEMBER"'), sent),
    ).to.equal('client/objectType is "MEMBER", sent "SUBSYSTEM"');
    expect(echoMismatch(answer.replace(' id:objectType="SERVICE"', ""), sent)).to.equal(
      'service/objectType is missing (sent "SERVICE")',
    );
    // A field echoed with an attribute of its own is still read as its text.
    const typed = answer.replace("<xrd:userId>", '<xrd:userId xsi:type="xs:string">');
    expect(echoMismatch(typed, sent)).to.equal("");
  });

  it("reads the header alone: a Body of any depth is no reason to refuse an answer", () => {
    // The remote provider's Body is passed on as it is; parsing it too refused an answer whose
    // Body nested deeper than the parser's limit (100) as one that could not be read.
    const deep = `${"<x>".repeat(150)}1${"</x>".repeat(150)}`;
    expect(echoMismatch(requestEnvelope(sent, deep), sent)).to.equal("");
  });

  it("refuses a header over 64 KiB as not echoed, without reading it whole", () => {
    // An X-Road header is a few hundred bytes: megabytes of elements in one, from another
    // member's service, only cost the worker's event loop.
    const padded = requestEnvelope(sent, "<x/>").replace(
      "</SOAP-ENV:Header>",
      `${"<pad>x</pad>".repeat(6000)}</SOAP-ENV:Header>`,
    );
    expect(padded.length).to.be.greaterThan(64 * 1024);
    expect(echoMismatch(padded, sent)).to.equal(
      "the answer cannot be read (its header is larger than 65536 bytes)",
    );
  });

  it("reports a field with a character reference past U+10FFFF as not echoed, not as an error", () => {
    const envelope = requestEnvelope(sent, "<x/>").replace(">id-1<", ">id-&#x110000;<");
    expect(envelope).to.include("id-&#x110000;");
    expect(echoMismatch(envelope, sent)).to.equal('id is "id-&#x110000;", sent "id-1"');
  });

  it("reads the fields by namespace: another namespace's field of the same name is not X-Road's", () => {
    const answer = requestEnvelope(sent, "<x/>");
    const ext = (xml: string) => answer.replace("</SOAP-ENV:Header>", `${xml}</SOAP-ENV:Header>`);
    // An extension's own id beside X-Road's: X-Road's is compared, the other is not a second one.
    expect(echoMismatch(ext('<e:id xmlns:e="urn:ext">other</e:id>'), sent)).to.equal("");
    expect(echoMismatch(ext("<id>other</id>"), sent)).to.equal("");
    // X-Road's id only in another namespace is no id at all.
    const moved = answer.replace("<xrd:id>id-1</xrd:id>", '<e:id xmlns:e="urn:ext">id-1</e:id>');
    expect(echoMismatch(moved, sent)).to.equal('id is missing (sent "id-1")');
    // Any prefix bound to X-Road's namespace is X-Road's.
    const rebound = answer.replace(
      "<xrd:id>id-1</xrd:id>",
      `<x:id xmlns:x="${XROAD_NS}">id-1</x:id>`,
    );
    expect(echoMismatch(rebound, sent)).to.equal("");
  });

  it("names an identifier part or objectType in another namespace than the identifiers'", () => {
    const answer = requestEnvelope(sent, "<x/>");
    const foreign = answer.replace(
      "<id:memberCode>1</id:memberCode>",
      '<o:memberCode xmlns:o="urn:other">1</o:memberCode>',
    );
    expect(foreign).to.not.equal(answer);
    expect(echoMismatch(foreign, sent)).to.equal(
      `client/memberCode is in "urn:other", not ${IDENTIFIERS_NS}`,
    );
    const unqualified = answer
      .replace("<id:serviceCode>", "<serviceCode>")
      .replace("</id:serviceCode>", "</serviceCode>");
    expect(echoMismatch(unqualified, sent)).to.equal(
      `service/serviceCode is in no namespace, not ${IDENTIFIERS_NS}`,
    );
    expect(
      echoMismatch(answer.replace('id:objectType="SUBSYSTEM"', 'objectType="SUBSYSTEM"'), sent),
    ).to.equal(`client/objectType is not in the identifiers namespace (${IDENTIFIERS_NS})`);
  });

  it("renames the Body element to the remote service code, keeping prefix and content", () => {
    expect(renamedElement('<a:local xmlns:a="u"><a:x/></a:local>', "remote")).to.equal(
      '<a:remote xmlns:a="u"><a:x/></a:remote>',
    );
    expect(renamedElement('<local xmlns="u"/>', "remote")).to.equal('<remote xmlns="u"/>');
    expect(renamedElement("<same/>", "same")).to.equal("<same/>");
  });
});

describe("fault texts from remote providers", () => {
  it("refuses a reference to a character XML does not allow in the SOAP reader's words, never reading it as one", () => {
    expect(
      childText("<faultstring>&#0065;&#x00041;&#x1F600;</faultstring>", "faultstring"),
    ).to.equal("AA\u{1F600}");
    for (const reference of [
      "&#0;",
      "&#x0;",
      "&#xD800;",
      "&#56320;",
      "&#xFFFE;",
      "&#x110000;",
      "&#99999999999;",
      "&#4294967361;",
    ]) {
      expect(
        () => childText(`<faultstring>bad ${reference}</faultstring>`, "faultstring"),
        reference,
      ).to.throw(XmlScanError, `character reference ${reference} is not allowed in XML`);
    }
  });

  it("reads a 2 MB error text of unterminated tags in one pass", () => {
    // Each `<message ` once read on to the end of the text: hours for this one (no timing is
    // asserted; the test's own timeout is what such a read runs into).
    expect(childText("<message ".repeat(220_000), "message")).to.equal(null);
    expect(childText(`<x:message a="1">the text</x:message>`, "message")).to.equal("the text");
  });

  it("reads CDATA sections as the character data they are, alone or beside text", () => {
    const code = "Server.ServerProxy.AccessDenied";
    expect(childText(`<faultcode><![CDATA[${code}]]></faultcode>`, "faultcode")).to.equal(code);
    expect(childText(`<faultcode>\n  <![CDATA[${code}]]>\n</faultcode>`, "faultcode")).to.equal(
      code,
    );
    // Mixed: entities decoded in the text, CDATA kept as written ("<", "&amp;" stay).
    expect(
      childText(
        "<faultstring>a &amp; <![CDATA[<b> &amp; ]]>c<!-- why -->d</faultstring>",
        "faultstring",
      ),
    ).to.equal("a & <b> &amp; cd");
    // SOAP 1.2: Code/Value and Reason/Text; X-Road's REST error `message` in XML.
    const fault12 =
      "<env:Fault><env:Code><env:Value><![CDATA[env:Sender]]></env:Value></env:Code>" +
      '<env:Reason><env:Text xml:lang="en"><![CDATA[no such person]]></env:Text></env:Reason></env:Fault>';
    expect(childText(fault12, "Value")).to.equal("env:Sender");
    expect(childText(fault12, "Text")).to.equal("no such person");
    expect(childText("<error><message><![CDATA[denied]]></message></error>", "message")).to.equal(
      "denied",
    );
  });

  it("skips elements that hold elements, and reads a nested one of the same name", () => {
    expect(childText("<a><b/></a><a>second</a>", "a")).to.equal("second");
    expect(childText("<a/><a>x</a>", "a")).to.equal("x");
    expect(childText("<a><a><![CDATA[inner]]></a></a>", "a")).to.equal("inner");
  });

  it("reads only elements of the whole name, which it takes literally", () => {
    const fault =
      "<faultcode-x>Server</faultcode-x><faultcode.y>S</faultcode.y><faultcode>Client</faultcode>";
    expect(childText(fault, "faultcode")).to.equal("Client");
    expect(childText(`<faultcode\n  a="1">Client</faultcode>`, "faultcode")).to.equal("Client");
    expect(childText("<x:faultcode/><x:faultcode >Client</x:faultcode>", "faultcode")).to.equal(
      "Client",
    );
    expect(childText("<aXb>no</aXb><a.b>yes</a.b>", "a.b")).to.equal("yes");
  });

  it("reads 2 MB of unterminated CDATA sections and comments in one pass", () => {
    expect(childText("<message><![CDATA[".repeat(110_000), "message")).to.equal(null);
    expect(childText("<message><!--".repeat(150_000), "message")).to.equal(null);
  });
});
