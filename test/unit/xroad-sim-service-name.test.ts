// The simulated security server compares a request's Body element with its service code as
// X-Road does (SoapUtils.validateServiceName, called by SaxSoapParserImpl for a request and an
// answer alike): the element's local name must begin with the code, so `testQueryRequest`
// passes for `testQuery` and `testFoo` does not.

import { expect } from "chai";
import { checkSoapAnswer, checkSoapRequest, readSoapMessage } from "../../xroad-sim/soap-message";
import { fixture } from "../fixtures/xroad-soap/outcomes";

const query = fixture("simple.query").toString("utf8");
const withBody = (name: string): string => query.replace(/ns1:testQuery\b/g, `ns1:${name}`);

function refusal(check: () => unknown): { type: string; message: string } | null {
  try {
    check();
  } catch (error) {
    const { type, message } = error as { type: string; message: string };
    return { type, message };
  }
  return null;
}

describe("xroad-sim: the Body element and the service code", () => {
  for (const name of ["testQuery", "testQueryRequest", "testQuery2", "testQuery.v1"]) {
    it(`takes a request whose Body element is ${name} for service code testQuery`, () => {
      expect(checkSoapRequest(withBody(name)).bodyElement).to.equal(name);
    });
  }

  for (const name of ["testFoo", "testQuer", "TestQuery", "mytestQuery"]) {
    it(`refuses a request whose Body element is ${name} as X-Road does`, () => {
      expect(refusal(() => checkSoapRequest(withBody(name)))).to.deep.equal({
        type: "Client.InconsistentHeaders",
        message: "Malformed SOAP message: service code does not match in header and body",
      });
    });
  }

  it("holds an answer to the same rule under the server proxy's prefix", () => {
    const prefix = "Server.ServerProxy.ServiceFailed.";
    const answer = (name: string) => readSoapMessage(withBody(name), prefix);
    expect(refusal(() => checkSoapAnswer(answer("testQueryResponse"), prefix))).to.equal(null);
    expect(refusal(() => checkSoapAnswer(answer("otherResponse"), prefix))?.type).to.equal(
      `${prefix}InconsistentHeaders`,
    );
  });
});

describe("xroad-sim: a request's protocolVersion and required fields", () => {
  const client = /<xroad:client[\s\S]*?<\/xroad:client>/;
  const service = /<xroad:service[\s\S]*?<\/xroad:service>/;

  it("refuses a protocolVersion other than 4.x first, with X-Road's words", () => {
    // ProtocolVersion.validate throws as the header is read, before any field is found missing.
    const old = query.replace(">4.0<", ">3.1<").replace(client, "");
    expect(refusal(() => checkSoapRequest(old))).to.deep.equal({
      type: "Client.InvalidProtocolVersion",
      message: "Invalid protocol version (supported: 4.x, provided: 3.1)",
    });
  });

  it("names the missing fields in SaxSoapParserImpl.validateHeader's order", () => {
    expect(
      refusal(() => checkSoapRequest(query.replace(client, "").replace(service, ""))),
    ).to.deep.equal({
      type: "Client.MissingHeaderField",
      message: "Required field 'client' is missing",
    });
    expect(refusal(() => checkSoapRequest(query.replace(service, "")))).to.deep.equal({
      type: "Client.MissingHeaderField",
      message: "Message header must contain service id",
    });
  });
});
