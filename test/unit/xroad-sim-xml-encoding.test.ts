// The simulated security server reads a SOAP message's bytes as X-Road's SaxSoapParserImpl does:
// Xerces takes the encoding from a byte order mark or the XML declaration, else UTF-8; the
// Content-Type charset only has to name a charset Java can write.

import { expect } from "chai";
import { soapBytes, soapText } from "../../xroad-sim/soap-message";

const ENVELOPE =
  "<s:Envelope xmlns:s='http://schemas.xmlsoap.org/soap/envelope/'>Jõgi</s:Envelope>";

function read(contentType: string, bytes: Buffer, prefix = "Client."): string {
  try {
    const text = soapText(soapBytes(bytes, contentType, prefix), prefix);
    return `${text.encoding}:${text.xml}`;
  } catch (error) {
    return (error as { type: string }).type;
  }
}

const declared = (encoding: string): string =>
  `<?xml version="1.0" encoding="${encoding}"?>${ENVELOPE}`;

describe("xroad-sim: the encoding a SOAP message is read in", () => {
  it("reads UTF-8 without a declaration, whatever charset the Content-Type names", () => {
    const utf8 = Buffer.from(ENVELOPE, "utf8");
    expect(read("text/xml", utf8)).to.equal(`utf8:${ENVELOPE}`);
    expect(read("text/xml; charset=ISO-8859-1", utf8)).to.equal(`utf8:${ENVELOPE}`);
  });

  it("refuses ISO-8859-1 bytes without a declaration, labelled ISO-8859-1 or not", () => {
    const latin1 = Buffer.from(ENVELOPE, "latin1");
    expect(read('text/xml; charset="ISO-8859-1"', latin1)).to.equal("Client.InvalidSoap");
    expect(read("text/xml", latin1, "Server.ServerProxy.ServiceFailed.")).to.equal(
      "Server.ServerProxy.ServiceFailed.InvalidSoap",
    );
  });

  it("reads the encoding the XML declaration names over the Content-Type's", () => {
    const xml = declared("ISO-8859-1");
    expect(read("text/xml; charset=utf-8", Buffer.from(xml, "latin1"))).to.equal(`latin1:${xml}`);
    const ascii = declared("US-ASCII");
    expect(read("text/xml", Buffer.from(ascii, "latin1"))).to.equal("Client.InvalidSoap");
    expect(read("text/xml", Buffer.from(declared("x-unknown"), "utf8"))).to.equal(
      "Client.InvalidSoap",
    );
  });

  it("reads UTF-16 by its byte order mark or its first bytes, and skips a UTF-8 one", () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(ENVELOPE, "utf16le")]);
    expect(read("text/xml; charset=utf-8", le)).to.equal(`utf16le:${ENVELOPE}`);
    const be = Buffer.from(declared("UTF-16"), "utf16le").swap16();
    expect(read("text/xml", be)).to.equal(`utf16be:${declared("UTF-16")}`);
    const bom = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(ENVELOPE)]);
    expect(read("text/xml; charset=ISO-8859-1", bom)).to.equal(`utf8:${ENVELOPE}`);
  });

  it("refuses a charset Java has no writer for as IOError, and takes one it has", () => {
    const utf8 = Buffer.from(ENVELOPE, "utf8");
    expect(read("text/xml; charset=no-such-charset", utf8)).to.equal("Client.IOError");
    expect(read("text/xml; charset=windows-1252", utf8)).to.equal(`utf8:${ENVELOPE}`);
    expect(read("text/xml; charset=UTF-16", utf8)).to.equal(`utf8:${ENVELOPE}`);
  });
});
