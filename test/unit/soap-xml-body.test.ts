import { expect } from "chai";
import { checkSoapXmlBody, goesInSoapBody } from "../../adapter/rest/soap-xml-body";
import { compileConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";

/** The status, code and message of the check's refusal of `bytes`, or null when it passes. */
function refusal(bytes: Buffer, contentType: string, asText = false): string | null {
  try {
    checkSoapXmlBody(bytes, asText ? bytes.toString("utf8") : null, contentType);
    return null;
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    const { status, code, message } = error as SluiceError;
    return `${status} ${code}: ${message}`;
  }
}

describe("REST XML body bound for a SOAP Body (adapter intake)", () => {
  it("is checked for services whose backend's translator is soap or xroad-soap, XML types only", () => {
    const config = compileConfig(
      {
        securityServer: { url: "http://127.0.0.1:9", client: "EE/GOV/70000001/sluice" },
        services: {
          soapy: { protocols: ["rest"], backend: "soap", contentTypes: ["application/xml"] },
          remote: { protocols: ["rest"], backend: "remote", contentTypes: ["text/xml"] },
          plain: { protocols: ["rest"], backend: "json", contentTypes: ["application/xml"] },
        },
        backends: {
          soap: { url: "http://127.0.0.1:9", translator: "soap" },
          remote: { translator: "xroad-soap", service: "EE/GOV/70000002/registry/getState" },
          json: { url: "http://127.0.0.1:9", translator: "rest-json" },
        },
      },
      ".",
    );
    const { soapy, remote, plain } = config.services;
    for (const type of ["application/xml", "text/xml; charset=utf-8", "application/case+xml"]) {
      expect(goesInSoapBody(config, soapy, type), type).to.equal(true);
      expect(goesInSoapBody(config, remote, type), type).to.equal(true);
      expect(goesInSoapBody(config, plain, type), type).to.equal(false);
    }
    expect(goesInSoapBody(config, soapy, "application/json")).to.equal(false);
    expect(goesInSoapBody(config, soapy, null)).to.equal(false);
  });

  it("refuses a body that is not one element with 400 InvalidXml, naming why", () => {
    const type = "application/xml";
    const utf8 = (text: string) => Buffer.from(text, "utf8");
    expect(refusal(utf8("</x><b/>"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: </x> closes an element it did not open",
    );
    expect(refusal(utf8("<a/><b/>"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds more than one element",
    );
    expect(refusal(utf8('<?xml version="1.0"?> text <a/>'), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it does not start with one",
    );
  });

  it("refuses text outside the element, as XML refuses it around a document's root", () => {
    const type = "application/xml";
    const utf8 = (text: string) => Buffer.from(text, "utf8");
    // Put in the Body, the text would be a character child of it, which SOAP does not allow.
    expect(refusal(utf8("<a/>text"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds text after its element (at offset 4)",
    );
    expect(refusal(utf8("<a/>&lt;/s:Body&gt;"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds text after its element (at offset 4)",
    );
    expect(refusal(utf8("<!-- c -->x<a/>"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds text before its element (at offset 10)",
    );
    // A CDATA section is text as well, an empty one too: XML allows it only inside an element.
    expect(refusal(utf8("<a/><![CDATA[</s:Body>]]>"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds a CDATA section after its element (at offset 4)",
    );
    expect(refusal(utf8("<!-- c --><![CDATA[]]><a/>"), type, true)).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds a CDATA section before its element (at offset 10)",
    );
    expect(refusal(utf8("<a><![CDATA[x]]></a>"), type, true)).to.equal(null);
    // White space, comments and processing instructions around it stay allowed.
    expect(refusal(utf8(" \r\n<!-- c --> <a>t</a>\n<?pi x?>\t\n"), type, true)).to.equal(null);
  });

  it("resolves its prefixes as the worker will: X-Road's conventional ones pass, others need a declaration", () => {
    const body = (root: string) =>
      Buffer.from(
        `\uFEFF<?xml version="1.0"?><!-- c --><${root}><st:case>1</st:case></st:getState>\n`,
      );
    expect(refusal(body('st:getState xmlns:st="urn:st"'), "text/xml", true)).to.equal(null);
    expect(refusal(body("st:getState"), "text/xml", true)).to.equal(
      '400 InvalidXml: the XML body names do not resolve: the prefix "st" of <st:getState> at offset 10 is not declared',
    );
    expect(refusal(Buffer.from("<xrd:a><id:b/></xrd:a>"), "text/xml", true)).to.equal(null);
  });

  it("takes off only an XML declaration XML allows, at the very start, and passes other instructions on", () => {
    const type = "application/xml";
    const markup = (xml: string) => checkSoapXmlBody(Buffer.from(xml), null, type);
    expect(markup('\uFEFF<?xml version="1.0"?><a/>')).to.equal("<a/>");
    expect(markup('<?xml version="1.1" encoding="UTF-8"?><a/>')).to.equal("<a/>");
    // Before, "<?xml[^>]*?>" took this instruction off as if it were the declaration.
    expect(markup('<?xml-stylesheet href="a.xsl"?><a/>')).to.equal(
      '<?xml-stylesheet href="a.xsl"?><a/>',
    );
    for (const [xml, words] of [
      [' <?xml version="1.0"?><a/>', "an XML declaration is allowed only at the very start"],
      ['<?xml version="1.0" standalone="maybe"?><a/>', 'standalone is "maybe"'],
      ['<?xml encoding="UTF-8"?><a/>', "does not begin with its version"],
      ['<?XML version="1.0"?><a/>', 'a processing instruction named "XML"'],
      ['<?xml version="1.0" encoding="UTF-16"?><a/>', 'names "utf-16"'],
    ]) {
      const refused = refusal(Buffer.from(xml), type);
      expect(refused, xml).to.match(/^400 InvalidXml: /);
      expect(refused, xml).to.include(words);
    }
  });

  it("reads bytes by the caller's charset, as the worker will, and refuses what it cannot read", () => {
    const latin1 = Buffer.from("<a>M\u00e4ger</a>", "latin1");
    expect(refusal(latin1, "application/xml; charset=iso-8859-1")).to.equal(null);
    // UTF-16 with a byte-order mark: read as UTF-8, a sound body would look like broken markup.
    const utf16 = (text: string) =>
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]);
    expect(refusal(utf16("<a><b/></a>"), "application/xml")).to.equal(null);
    expect(refusal(utf16("<a/><b/>"), "application/xml")).to.equal(
      "400 InvalidXml: the XML body is not one element: it holds more than one element",
    );
    expect(refusal(Buffer.from([0x3c, 0x61, 0xff, 0x2f, 0x3e]), "application/xml")).to.match(
      /^400 InvalidXml: the XML body cannot be read in its charset \(.*UTF-8/,
    );
    expect(refusal(Buffer.from("<a/>"), "application/xml; charset=x-nobody-knows")).to.match(
      /^415 InvalidContentType: the XML body cannot be read in its charset/,
    );
  });
});
