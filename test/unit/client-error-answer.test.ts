// The service port's answer to a request Node's parser refused after its head was read (a body
// not sent in time): the endpoint is told by the request's target, as the refused bytes hold
// no request line then.

import { expect } from "chai";
import type { IncomingMessage } from "node:http";
import { clientErrorAnswer } from "../../adapter/client-error";
import type { ParserError } from "../../shared/protocol/parser-refusal";

function timedOut(): ParserError {
  return Object.assign(new Error("Request timeout"), { code: "ERR_HTTP_REQUEST_TIMEOUT" });
}

function cut(url: string): IncomingMessage {
  return { url, headers: { "x-road-id": "cut-1" } } as unknown as IncomingMessage;
}

describe("clientErrorAnswer for a request cut after its head", () => {
  it("is the SOAP fault Client.InvalidRequest, 408, for a target on the SOAP endpoint", () => {
    for (const url of ["/soap", "/soap?x=1", "/soap/testQuery", "http://sluice.internal/soap"]) {
      const answer = clientErrorAnswer(timedOut(), undefined, cut(url)).toString("utf8");
      expect(answer, url).to.match(/^HTTP\/1\.1 408 /);
      expect(answer, url).to.include("Content-Type: text/xml; charset=utf-8\r\n");
      expect(answer, url).to.include("<faultcode>Client.InvalidRequest</faultcode>");
      expect(answer, url).to.include("X-Road-Id: cut-1\r\n");
    }
  });

  it("is JSON for any other target, one that only begins with /soap included", () => {
    for (const url of ["/rest/echo", "/soapy", "/rest/soap", "http://soap/rest/x"]) {
      const answer = clientErrorAnswer(timedOut(), undefined, cut(url)).toString("utf8");
      expect(answer, url).to.match(/^HTTP\/1\.1 408 /);
      expect(answer, url).to.include("Content-Type: application/json; charset=utf-8\r\n");
      expect(answer, url).to.include('"type":"InvalidRequest"');
    }
  });

  it("is JSON before any head was read, where no bytes name the endpoint", () => {
    const answer = clientErrorAnswer(timedOut()).toString("utf8");
    expect(answer).to.include("Content-Type: application/json; charset=utf-8\r\n");
  });
});
