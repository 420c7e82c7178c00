// The simulated security server refuses a multipart SOAP part whose header is past mime4j
// 0.8.7's default limits, as X-Road's SoapMessageDecoder does (MimeParsingFailed): a field of
// 10000 bytes or more, or more than 1000 fields.

import { expect } from "chai";
import { soapBytes } from "../../xroad-sim/soap-message";

function read(header: string): string {
  const body = Buffer.from(`--b\r\n${header}\r\n\r\n<s:Envelope/>\r\n--b--\r\n`, "latin1");
  try {
    return soapBytes(body, "multipart/related; boundary=b", "Client.").contentType;
  } catch (error) {
    return (error as { type: string }).type;
  }
}

describe("xroad-sim: multipart part header limits", () => {
  it("refuses a field of 10000 bytes, its line end and folded lines included", () => {
    const value = `text/xml; x="${"a".repeat(9000)}"`;
    expect(read(`Content-Type: ${value}`)).to.equal("text/xml; x=" + `"${"a".repeat(9000)}"`);
    expect(read(`Content-Type: ${value}\r\n ${"b".repeat(1000)}`)).to.equal(
      "Client.MimeParsingFailed",
    );
  });

  it("refuses more than 1000 fields", () => {
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v`);
    expect(read([...fields(999), "Content-Type: text/xml"].join("\r\n"))).to.equal("text/xml");
    expect(read([...fields(1000), "Content-Type: text/xml"].join("\r\n"))).to.equal(
      "Client.MimeParsingFailed",
    );
  });
});
