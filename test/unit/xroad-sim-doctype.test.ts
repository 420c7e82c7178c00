// The simulated security server refuses a DOCTYPE declaration as X-Road's SAX parser does
// (disallow-doctype-decl), and reads `<!DOCTYPE` written inside a CDATA section, a comment or a
// PI as the characters it is.

import { expect } from "chai";
import { readSoapMessage } from "../../xroad-sim/soap-message";

const envelope = (inner: string) =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body>${inner}</s:Body></s:Envelope>`;

function refusal(xml: string): string | null {
  try {
    readSoapMessage(xml, "Client.");
  } catch (error) {
    return (error as { type: string }).type;
  }
  return null;
}

describe("xroad-sim: DOCTYPE declarations", () => {
  it("refuses a DOCTYPE declaration in the prolog", () => {
    expect(
      refusal(`<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>${envelope("<q/>")}`),
    ).to.equal("Client.InvalidSoap");
  });

  it("refuses a DOCTYPE declaration after a comment", () => {
    expect(refusal(`<!-- c --><!doctype x>${envelope("<q/>")}`)).to.equal("Client.InvalidSoap");
  });

  it("reads <!DOCTYPE inside a CDATA section as text", () => {
    const message = readSoapMessage(
      envelope("<q><t><![CDATA[<!DOCTYPE html>]]></t></q>"),
      "Client.",
    );
    expect(message.bodyElement).to.equal("q");
  });

  it("reads <!DOCTYPE inside a comment or a PI as characters", () => {
    expect(refusal(`<!-- <!DOCTYPE x> -->${envelope("<q/>")}`)).to.equal(null);
    expect(refusal(envelope("<q><?pi <!DOCTYPE x>?></q>"))).to.equal(null);
  });
});
