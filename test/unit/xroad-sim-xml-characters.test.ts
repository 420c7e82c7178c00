// The simulated security server reads a SOAP message as X-Road's SAX parser does: a character
// XML does not allow, written as itself or referred to, makes the message not well-formed, in a
// client's request (Client.InvalidSoap) and a provider's answer (…ServiceFailed.InvalidSoap) alike.

import { expect } from "chai";
import { readSoapMessage } from "../../xroad-sim/soap-message";

const envelope = (inner: string) =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Header/><s:Body>${inner}</s:Body></s:Envelope>`;

function refusal(xml: string, prefix: string): { code: string; message: string } {
  try {
    readSoapMessage(xml, prefix);
  } catch (error) {
    const { type, message } = error as { type: string; message: string };
    return { code: type, message };
  }
  throw new Error(`expected ${JSON.stringify(xml)} to be refused`);
}

describe("xroad-sim: characters XML does not allow in a SOAP message", () => {
  for (const prefix of ["Client.", "Server.ServerProxy.ServiceFailed."]) {
    it(`refuses them as ${prefix}InvalidSoap, written as themselves or referred to`, () => {
      for (const [inner, words] of [
        ["<r>a\u0001b</r>", "an invalid XML character (U+0001) at offset "],
        ['<r a="\u000B"/>', "an invalid XML character (U+000B) at offset "],
        ["<r><!-- \uFFFF --></r>", "an invalid XML character (U+FFFF) at offset "],
        ["<r>&#0;</r>", "character reference &#0; is an invalid XML character"],
        ['<r a="&#xD800;"/>', "character reference &#xD800; is an invalid XML character"],
      ]) {
        const { code, message } = refusal(envelope(inner), prefix);
        expect(code, inner).to.equal(`${prefix}InvalidSoap`);
        expect(message, inner).to.contain(`Malformed XML: ${words}`);
      }
    });
  }

  it("reads a reference to such a character in a comment, CDATA or a PI as the characters written", () => {
    for (const inner of [
      "<r><![CDATA[&#0; &#xD800;]]></r>",
      "<r><!-- &#0; --></r>",
      "<?pi &#xFFFF;?><r/>",
      "<r><![CDATA[x]]>a<!--&#0;-->b</r>",
    ]) {
      for (const prefix of ["Client.", "Server.ServerProxy.ServiceFailed."]) {
        expect(() => readSoapMessage(envelope(inner), prefix), inner).not.to.throw();
      }
    }
    // Outside them, before or after, it is still a reference.
    for (const inner of ["<r>&#0;<![CDATA[x]]></r>", "<r><!-- x -->&#0;</r>"]) {
      expect(refusal(envelope(inner), "Client.").message, inner).to.contain(
        "character reference &#0; is an invalid XML character",
      );
    }
  });

  it("reads tab, line ends, sound references and characters beyond the BMP", () => {
    const message = readSoapMessage(
      envelope("<r a='\t&#9;'>\r\n&#x10FFFF; \uD83D\uDE00 &#65;</r>"),
      "Client.",
    );
    expect(message.bodyElement).to.equal("r");
  });
});
