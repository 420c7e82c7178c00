// What a waiting SOAP sync caller keeps of its request: the echo its answer needs, with strings
// of their own, and none of the body, its JSON form or its attachments.

import { expect } from "chai";
import { SluiceError } from "../../shared/protocol/errors";
import { readSoapRequest } from "../../adapter/soap/soap-request";
import { buildSoapAck, buildSoapResponse } from "../../adapter/soap/soap-response";
import { buildSoapFault } from "../../adapter/soap/soap-fault";
import { echoOf } from "../../adapter/soap/soap-route";
import { fixture as bytes, MULTIPART_FIXTURES } from "../fixtures/xroad-soap/outcomes";

const XML = "text/xml; charset=utf-8";
const CASES: Array<[name: string, contentType: string]> = [
  ["simple.query", XML],
  ["simple-representedparty.query", XML],
  ["cdata.query", XML],
  ["getstate-subsystem.query", XML],
  ["attachm.query", MULTIPART_FIXTURES[0][1]],
  ["attachm-mtom.query", MULTIPART_FIXTURES[1][1]],
];

describe("the echo a waiting SOAP caller keeps", () => {
  for (const [name, contentType] of CASES) {
    it(`answers ${name} exactly as its whole request would`, () => {
      const request = readSoapRequest(bytes(name), contentType);
      const echo = echoOf(request);
      expect(buildSoapResponse(echo, "<a>1</a>")).to.equal(buildSoapResponse(request, "<a>1</a>"));
      expect(buildSoapResponse(echo, "")).to.equal(buildSoapResponse(request, ""));
      const ack = { id: "m-1", state: "accepted", statusUrl: "/messages/m-1" };
      expect(buildSoapAck(echo, ack)).to.equal(buildSoapAck(request, ack));
      const error = new SluiceError("Timeout", "late", { side: "Server", status: 500 });
      expect(buildSoapFault(error, echo, { detailXml: "<x/>" })).to.equal(
        buildSoapFault(error, request, { detailXml: "<x/>" }),
      );
    });
  }

  it("keeps none of the body, its JSON form or the attachments", () => {
    const request = readSoapRequest(bytes("attachm.query"), MULTIPART_FIXTURES[0][1]);
    const echo = echoOf(request) as unknown as Record<string, unknown>;
    for (const field of [
      "bodyXml",
      "bodyJson",
      "attachments",
      "xopIncludes",
      "client",
      "service",
    ]) {
      expect(echo, field).to.not.have.property(field);
    }
  });
});
