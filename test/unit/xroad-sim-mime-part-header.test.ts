// The simulated security server reads a multipart SOAP message's part header as X-Road's mime4j
// 0.8.7 does: field names in any case, whitespace and comments before the colon dropped, folded
// lines joined, a line that is no field skipped.

import { expect } from "chai";
import { soapBytes } from "../../xroad-sim/soap-message";

const TYPE = 'multipart/related; boundary="b"; type="text/xml"';
const SOAP = "<s:Envelope/>";

function soapPartType(header: string): string {
  const body = Buffer.from(`--b\r\n${header}\r\n\r\n${SOAP}\r\n--b--\r\n`, "latin1");
  try {
    return soapBytes(body, TYPE, "Client.").contentType;
  } catch (error) {
    return (error as { type: string }).type;
  }
}

describe("xroad-sim: multipart part headers", () => {
  it("reads a Content-Type name in any case", () => {
    expect(soapPartType("CONTENT-TYPE: text/xml")).to.equal("text/xml");
  });

  it("reads whitespace before the colon as no part of the name", () => {
    expect(soapPartType("Content-Type : text/xml; charset=UTF-8")).to.equal(
      "text/xml; charset=UTF-8",
    );
    expect(soapPartType("Content-Type\t: text/xml")).to.equal("text/xml");
  });

  it("joins a folded value", () => {
    expect(soapPartType("Content-Type: text/xml;\r\n charset=UTF-8")).to.equal(
      "text/xml; charset=UTF-8",
    );
  });

  it("reads a name folded onto the next line", () => {
    expect(soapPartType("Content-Type\r\n : text/xml")).to.equal("text/xml");
  });

  it("keeps the last Content-Type field, a folded one too", () => {
    expect(soapPartType("Content-Type: text/plain\r\ncontent-type:\r\n\ttext/xml")).to.equal(
      "text/xml",
    );
  });

  it("skips a line that is no field", () => {
    expect(soapPartType("Content Type: text/xml")).to.equal("Client.InvalidContentType");
    expect(soapPartType("Content-Type: text/xml\r\nno colon here")).to.equal("text/xml");
  });
});
