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
