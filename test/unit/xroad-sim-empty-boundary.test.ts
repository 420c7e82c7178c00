// The simulated security server reads an empty boundary parameter as X-Road's mime4j 0.8.7 does:
// a boundary of no characters, whose delimiter lines are "--" alone, not a missing one.

import { expect } from "chai";
import { soapBytes } from "../../xroad-sim/soap-message";

const SOAP = "<s:Envelope/>";

describe("xroad-sim: an empty multipart boundary", () => {
  for (const contentType of ["multipart/related; boundary=", 'multipart/related; boundary=""']) {
    it(`reads the parts of ${contentType}`, () => {
      const body = Buffer.from(`--\r\nContent-Type: text/xml\r\n\r\n${SOAP}\r\n----\r\n`);
      const read = soapBytes(body, contentType, "Client.");
      expect(read.bytes.toString()).to.equal(SOAP);
      expect(read.contentType).to.equal("text/xml");
    });
  }

  it("still refuses a multipart type without a boundary parameter", () => {
    const body = Buffer.from(`--\r\nContent-Type: text/xml\r\n\r\n${SOAP}\r\n----\r\n`);
    expect(() => soapBytes(body, "multipart/related; boundary", "Client."))
      .to.throw()
      .with.property("type", "Client.InvalidContentType");
  });
});
