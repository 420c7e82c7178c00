// The simulated security server refuses a multipart message any of whose parts has a header
// past mime4j 0.8.7's default limits, as X-Road's SoapMessageDecoder does (MimeParsingFailed): a
// field of 10000 bytes or more, or more than 1000 fields. An attachment's is met only once the
// SOAP part has been read.

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

  it("holds an attachment's header to the same limits, after the SOAP part", () => {
    const attachment = (header: string): string | null => {
      const body = Buffer.from(
        `--b\r\nContent-Type: text/xml\r\n\r\n<s:Envelope/>\r\n` +
          `--b\r\n${header}\r\n\r\nbytes\r\n--b--\r\n`,
        "latin1",
      );
      const soap = soapBytes(body, "multipart/related; boundary=b", "Client.");
      expect(soap.contentType).to.equal("text/xml");
      return soap.attachmentError?.type ?? null;
    };
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-${i}: v`);
    expect(attachment([...fields(999), "Content-Type: text/plain"].join("\r\n"))).to.equal(null);
    expect(attachment([...fields(1000), "Content-Type: text/plain"].join("\r\n"))).to.equal(
      "Client.MimeParsingFailed",
    );
    expect(attachment(`Content-Type: text/plain; x="${"a".repeat(10000)}"`)).to.equal(
      "Client.MimeParsingFailed",
    );
    // Past the limit is refused before a missing Content-Type of the same part.
    expect(attachment(fields(1001).join("\r\n"))).to.equal("Client.MimeParsingFailed");
    expect(attachment("X-Other: v")).to.equal("Client.InvalidContentType");
  });
});
