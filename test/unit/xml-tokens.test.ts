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

  it("refuses an end tag that names another element than the one it closes", () => {
    // Balanced by count: without the names it passed, and closed the Body it is put in.
    expect(refusal("<a><p></Body></Envelope><Envelope><Body></p></a>")).to.equal(
      "</Body> closes <p>",
    );
    expect(refusal("<p:a><p:b></q:b></p:a>")).to.equal("</q:b> closes <p:b>");
    expect(rootElement("<p:a><b/><c></c></p:a>")?.name).to.equal("p:a");
  });

  it("refuses a '<' in an attribute value and an attribute named twice", () => {
    expect(refusal('<a x="<b/>"/>')).to.match(/^malformed start tag/);
    expect(refusal("<a><b x='<'></b></a>")).to.match(/^malformed start tag/);
    expect(refusal('<a x="1" y="2" x="3"/>')).to.equal(
      "a start tag at offset 0 names an attribute twice",
    );
    expect(rootElement('<a x="&lt;" y=">"/>')?.attributes).to.deep.equal([
      ["x", "<"],
      ["y", ">"],
    ]);
  });

  it("refuses an '&' that begins no known reference and characters XML does not allow", () => {
    // A backend's parser refuses each of these, after the caller was told 202.
    expect(refusal("<a>x&nbsp;y</a>")).to.equal(
      'an "&" at offset 4 begins no character or predefined entity reference',
    );
    expect(refusal("<a>fish & chips</a>")).to.match(/^an "&" at offset 8 /);
    expect(refusal('<a t="a&b"/>')).to.match(/^an "&" at offset 7 /);
    expect(refusal("<a>&amp</a>")).to.match(/^an "&"/);
    expect(refusal("<a>\u0001</a>")).to.equal(
      "a character XML does not allow (U+0001) at offset 3",
    );
    expect(refusal("<a>&#0;</a>")).to.equal(
      "&#0; at offset 3 refers to a character XML does not allow",
    );
    expect(refusal("<a>&#xD800;</a>")).to.match(/^&#xD800; at offset 3 refers/);
    expect(refusal(`<a>&#x${"1".repeat(100)};</a>`)).to.match(/refers to a character/);
    expect(refusal("&bad;<a/>")).to.match(/^an "&" at offset 0 /);
    // Every reference XML knows without a DTD, tabs and line ends, and anything in a comment,
    // CDATA section or PI (the parser does not read references there) pass.
    const sound =
      "<!-- & --><a x='&lt;&#x10FFFF;'>&amp;&lt;&gt;&quot;&apos;&#65;&#x41;\t\r\n" +
      "<![CDATA[ & \u0001 ]]><?pi & ?></a>";
    expect(rootElement(sound)?.name).to.equal("a");
  });

  it("refuses an element left open, broken markup and a DOCTYPE", () => {
    expect(refusal("<a><b></b>")).to.equal("the XML is not balanced");
    expect(refusal("<a")).to.match(/^malformed start tag/);
    expect(refusal('<!DOCTYPE a [<!ENTITY x "y">]><a/>')).to.match(/DOCTYPE/);
  });

  it("takes only XML's white space between a tag's parts, so no name can make it backtrack", () => {
    // U+1680 and U+FEFF are name characters that JavaScript's \s also matched: a name followed
    // by 16 000 of them and a stray character took 1.2 s, growing with the square and more.
    for (const space of ["\u1680", "\ufeff"]) {
      const run = space.repeat(100_000);
      expect(refusal(`<a${run}!`)).to.match(/^malformed start tag/);
      expect(refusal(`<a></a${run}!`)).to.match(/^malformed end tag/);
    }
    // Space, tab, CR and LF separate attributes; a no-break space does not (it is no XML S).
    expect(rootElement("<a\r\n\tx=\"1\"\ny='2' >t</a >")?.attributes).to.deep.equal([
      ["x", "1"],
      ["y", "2"],
    ]);
    expect(refusal('<a\u00a0x="1"/>')).to.match(/^malformed start tag/);
  });

  it("reads 100 000 levels in one pass, without recursion", () => {
    const deep = "<a>".repeat(100_000) + "</a>".repeat(100_000);
    expect(rootElement(deep)?.name).to.equal("a");
    expect(refusal(deep + "</a><b/>")).to.equal("</a> closes an element it did not open");
    expect(refusal(deep + "<b/>")).to.equal("it holds more than one element");
    expect(refusal("<a>".repeat(100_000) + "</b>")).to.equal("</b> closes <a>");
  });
});
