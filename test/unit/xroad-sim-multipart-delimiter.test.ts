// The simulated security server finds a multipart SOAP message's delimiter lines as X-Road's
// mime4j 0.8.7 does: a delimiter is followed by whitespace, a "-" or the end of the body.

import { expect } from "chai";
import { soapBytes } from "../../xroad-sim/soap-message";

const SOAP = "<s:Envelope/>";

describe("xroad-sim: multipart delimiter lines", () => {
  it("reads a line that only starts with the delimiter as part of the content", () => {
    const soap = `${SOAP}\r\n--bc not a delimiter`;
    const body = Buffer.from(`--bc\r\n--b\r\nContent-Type: text/xml\r\n\r\n${soap}\r\n--b--\r\n`);
    const read = soapBytes(body, 'multipart/related; boundary="b"', "Client.");
    expect(read.bytes.toString()).to.equal(soap);
  });

  it("takes a delimiter followed by whitespace or a dash", () => {
    const body = Buffer.from(`--b \r\nContent-Type: text/xml\r\n\r\n${SOAP}\r\n--b-x\r\n\r\n`);
    const read = soapBytes(body, "multipart/related; boundary=b", "Client.");
    expect(read.bytes.toString()).to.equal(SOAP);
  });
});
