// Characters XML 1.0 does not allow (its Char production), written as themselves in a SOAP
// backend's or remote provider's answer: the answer is unreadable, as one referring to them
// (`&#0;`) is, and none of it is passed on.

import { expect } from "chai";
import { forbiddenCharacter } from "../../shared/protocol/character-reference";
import { XmlScanError } from "../../shared/protocol/xml-tokens";
import { findSoapBody } from "../../worker/translators/soap-xml";
import { interpretSoapAnswer } from "../../worker/translators/soap";
import { BackendUnavailableError, SluiceError } from "../../shared/protocol/errors";
import { buildSoapFault } from "../../adapter/soap/soap-fault";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";

const envelope = (inner: string) =>
  `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>${inner}</s:Body></s:Envelope>`;

/** Every character XML 1.0 refuses that a decoded message can hold (no lone surrogates). */
const FORBIDDEN = [
  ...Array.from({ length: 0x20 }, (_, c) => c).filter((c) => c !== 0x9 && c !== 0xa && c !== 0xd),
  0xfffe,
  0xffff,
];

function answer(status: number, xml: string) {
  return interpretSoapAnswer(
    { status, headers: { "content-type": "text/xml; charset=utf-8" }, data: Buffer.from(xml) },
    "legacy",
    { maxResponseBytes: 10_000_000, rejectFaultCodes: new Set() },
  );
}

describe("characters XML does not allow, written as themselves", () => {
  it("finds each of them, named as U+XXXX with its offset, and nothing XML allows", () => {
    for (const code of FORBIDDEN) {
      const character = String.fromCharCode(code);
      const shown = `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
      expect(forbiddenCharacter(`ab${character}c${character}`)).to.deep.equal({
        character: shown,
        at: 2,
      });
    }
    // Tab, line ends, the last characters before U+FFFE, a surrogate pair (U+1F600).
    expect(forbiddenCharacter("\t\n\r \u007F\u0085\uD7FF\uE000\uFFFD\uD83D\uDE00")).to.equal(null);
  });

  it("refuses a SOAP answer holding one anywhere: text, attribute value, comment, CDATA, PI, around the Envelope", () => {
    const places = [
      envelope("<r>a\u0001b</r>"),
      envelope('<r a="\u000B"/>'),
      envelope("<r><!-- \u001F --></r>"),
      envelope("<r><![CDATA[\u0000]]></r>"),
      envelope("<r><?pi \uFFFF?></r>"),
      envelope(
        "<s:Fault><faultcode>s:Server</faultcode><faultstring>\u0008</faultstring></s:Fault>",
      ),
      `<!-- \u000C -->${envelope("<r/>")}`,
      `${envelope("<r/>")}<!-- \uFFFE -->`,
    ];
    for (const xml of places) {
      expect(() => findSoapBody(xml), JSON.stringify(xml)).to.throw(
        XmlScanError,
        /^a character XML does not allow \(U\+[0-9A-F]{4}\) at offset \d+$/,
      );
    }
    expect(() => findSoapBody(envelope("<r>a\u0001b</r>"))).to.throw(
      "a character XML does not allow (U+0001) at offset 76",
    );
  });

  it("takes a 2xx holding one as no readable answer, the character named, never passed on", () => {
    expect(() => answer(200, envelope("<r>a\u0001b</r>")))
      .to.throw(SluiceError)
      .that.satisfies(
        (error: SluiceError) =>
          error.code === "BackendFailed" &&
          !(error instanceof BackendUnavailableError) &&
          error.message ===
            "backend legacy answered HTTP 200 without a readable SOAP envelope (a character XML does not allow (U+0001) at offset 76)",
      );
  });

  it("takes a 5xx Fault holding one as a broken 500, retried without the Fault as its response", () => {
    const fault = envelope(
      "<s:Fault><faultcode>s:Server</faultcode><faultstring>x\u0000y</faultstring></s:Fault>",
    );
    try {
      answer(500, fault);
    } catch (error) {
      expect(error).to.be.instanceOf(BackendUnavailableError);
      const unavailable = error as BackendUnavailableError;
      expect(unavailable.message).to.equal(
        "backend legacy answered HTTP 500 without a readable SOAP envelope (a character XML does not allow (U+0000) at offset 126)",
      );
      expect(unavailable.response).to.equal(undefined);
      return;
    }
    expect.fail("the Fault was read");
  });

  it("reads an answer with tab, line ends and characters beyond the BMP as before", () => {
    const xml = envelope("<r a='\t'>\r\n\uD83D\uDE00 \uFFFD</r>");
    expect(answer(200, xml).body).to.equal(xml);
  });
});

describe("a remote REST provider's error words in the SOAP Fault written back", () => {
  // A local SOAP caller's call went to an xroad-rest service; the provider's JSON error message
  // (raw controls, markup, a lone half of a pair) is the message's error and the faultstring.
  it("are written as XML any reader reads: forbidden characters as U+FFFD, markup as text", () => {
    const words =
      "Server.X: the security server answered: a\u0001b \u001b[31m <script>x</script> \uFFFD";
    const fault = buildSoapFault(
      new SluiceError("BackendFailed", words, { side: "Server", status: 500, messageId: "m-1" }),
    );
    const body = parseXml(fault.replace(/^<\?xml[^>]*\?>\n/, ""));
    const faultElement = childElements(childElements(body)[0])[0];
    const faultstring = childElements(faultElement).find((e) => e.local === "faultstring");
    expect(directText(faultstring as XmlElement)).to.equal(
      "Server.X: the security server answered: a\uFFFDb \uFFFD[31m <script>x</script> \uFFFD",
    );
    expect(fault).to.not.include("<script>");
  });
});
