import { expect } from "chai";
import { rootElement, XmlScanError } from "../../shared/protocol/xml-tokens";

function refusal(content: string): string {
  try {
    rootElement(content);
  } catch (error) {
    expect(error).to.be.instanceOf(XmlScanError);
    return (error as XmlScanError).message;
  }
  throw new Error(`expected ${content.slice(0, 40)} to be refused`);
}

describe("XML tokens: rootElement (content that must be one element)", () => {
  it("gives the one element's start tag, comments, PIs and white space around it allowed", () => {
    const content =
      '<?xml version="1.0"?>\n<!-- c --><p:a xmlns:p="urn:p"><b/><p:c>x</p:c></p:a>\n';
    const tag = rootElement(content);
    expect(tag?.name).to.equal("p:a");
    expect(tag?.declarations.get("p")).to.equal("urn:p");
    expect(rootElement("<a/>")?.selfClosing).to.equal(true);
    expect(rootElement("<!-- nothing else -->")).to.equal(null);
  });

  it("refuses an end tag closing what the content did not open, and a second element", () => {
    expect(refusal("</a><b/>")).to.equal("</a> closes an element it did not open");
    expect(refusal("<a></a></Body><Body><a/>")).to.equal(
      "</Body> closes an element it did not open",
    );
    expect(refusal("<a/><b/>")).to.equal("it holds more than one element");
    expect(refusal("<a><x/></a> <!-- --> <a/>")).to.equal("it holds more than one element");
  });

  it("refuses an element left open, broken markup and a DOCTYPE", () => {
    expect(refusal("<a><b></b>")).to.equal("the XML is not balanced");
    expect(refusal("<a")).to.match(/^malformed start tag/);
    expect(refusal('<!DOCTYPE a [<!ENTITY x "y">]><a/>')).to.match(/DOCTYPE/);
  });

  it("reads 100 000 levels in one pass, without recursion", () => {
    const deep = "<a>".repeat(100_000) + "</a>".repeat(100_000);
    expect(rootElement(deep)?.name).to.equal("a");
    expect(refusal(deep + "</a><b/>")).to.equal("</a> closes an element it did not open");
    expect(refusal(deep + "<b/>")).to.equal("it holds more than one element");
  });
});
