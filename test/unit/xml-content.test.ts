import { expect } from "chai";
import { rootElement, XmlNamespaceError } from "../../shared/protocol/xml-content";
import { XROAD_PREFIXES } from "../../shared/protocol/xroad-namespaces";
import { XmlScanError } from "../../shared/protocol/xml-tokens";
import { childText, findSoapBody } from "../../worker/translators/soap-xml";

function refusal(content: string, outer?: ReadonlyMap<string, string>): string {
  try {
    rootElement(content, outer);
  } catch (error) {
    expect(error).to.be.instanceOf(XmlScanError);
    return (error as XmlScanError).message;
  }
  throw new Error(`expected ${content.slice(0, 40)} to be refused`);
}

describe("XML content: rootElement (content that must be one sound element)", () => {
  it("gives the one element's start tag, comments, PIs and white space around it allowed", () => {
    // (The body's reader takes an XML declaration off before: content put in a Body has none.)
    const content = '<?pi version="1.0"?>\n<!-- c --><p:a xmlns:p="urn:p"><b/><p:c>x</p:c></p:a>\n';
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
    // Shown as the SOAP reader shows it: whole up to 32 characters (cut to 16, this one read as
    // &#x0000000011000, a legal reference), else both ends.
    expect(refusal("<a>&#x00000000110000;</a>")).to.equal(
      "&#x00000000110000; at offset 3 refers to a character XML does not allow",
    );
    expect(refusal(`<a>&#x${"0".repeat(40)}110000;</a>`)).to.equal(
      "&#x0000000000000…00000000110000; at offset 3 refers to a character XML does not allow",
    );
    // Not in a CDATA section, a comment or a PI either: XML allows them nowhere.
    expect(refusal("<a><![CDATA[ \u0001 ]]></a>")).to.equal(
      "a character XML does not allow (U+0001) at offset 13",
    );
    expect(refusal("<a><!-- \uFFFE --></a>")).to.match(
      /^a character XML does not allow \(U\+FFFE\)/,
    );
    // Every reference XML knows without a DTD, tabs and line ends, and an "&" in a comment,
    // CDATA section or PI (the parser does not read references there) pass.
    const sound =
      "<!-- & --><a x='&lt;&#x10FFFF;' y=\"]]>\">&amp;&lt;&gt;&quot;&apos;&#65;&#x41;\t\r\n" +
      "<![CDATA[ & <b> ]] ]]><?pi & ?><?xml-stylesheet href='x'?></a>";
    expect(rootElement(sound)?.name).to.equal("a");
  });

  it("refuses markup a strict parser refuses: ]]> in text, -- in a comment, a declaration inside, bad attributes", () => {
    expect(refusal("<a>x ]]> y</a>")).to.equal('"]]>" in text at offset 5');
    expect(refusal("<a><!-- a -- b --></a>")).to.equal('a comment at offset 3 holds "--"');
    expect(refusal("<a><!-- a ---></a>")).to.equal('a comment at offset 3 holds "--"');
    expect(refusal('<a><?xml version="1.0"?></a>')).to.equal(
      "an XML declaration is allowed only at the very start (at offset 3)",
    );
    expect(refusal('<?XML version="1.0"?><a/>')).to.match(
      /^a processing instruction named "XML" \(the names xml in any case are reserved.*\(at offset 0\)$/,
    );
    expect(refusal("<a><?'pi x?></a>")).to.match(
      /^a processing instruction whose target is no XML name .*\(at offset 3\)$/,
    );
    for (const tag of ['<a 1="x"/>', '<a b<c="x"/>', "<a x\"y='1'/>", '<a :x="1"/>']) {
      expect(refusal(tag), tag).to.match(/attribute named no XML name|^malformed start tag/);
    }
    expect(refusal('<a xmlns:p=""/>')).to.equal(
      'xmlns:p="" at offset 0: a prefix cannot be undeclared',
    );
    // The default namespace may be undeclared; names with a prefix, dots and digits are names.
    expect(rootElement('<a xmlns="" p:x.1="v" xmlns:p="urn:p"/>')?.name).to.equal("a");
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

  describe("given the declarations it is put inside: its names resolved", () => {
    const namesRefusal = (content: string) => {
      const message = refusal(content, XROAD_PREFIXES);
      expect(() => rootElement(content, XROAD_PREFIXES)).to.throw(XmlNamespaceError);
      return message;
    };

    it("refuses a prefix nothing around its use declares", () => {
      expect(namesRefusal("<p:a/>")).to.equal(
        'the prefix "p" of <p:a> at offset 0 is not declared',
      );
      expect(namesRefusal('<a p:x="1"/>')).to.equal(
        'the prefix "p" of the attribute p:x at offset 0 is not declared',
      );
      // Declared on a sibling: out of scope where it is used.
      expect(namesRefusal('<a><b xmlns:p="urn:p"/><p:c/></a>')).to.match(
        /"p" of <p:c> at offset 23/,
      );
      expect(namesRefusal('<a><b xmlns:p="urn:p"></b><c p:x="1"/></a>')).to.match(/attribute p:x/);
      // Without the declarations it is put inside, prefixes are not looked at.
      expect(rootElement("<p:a/>")?.name).to.equal("p:a");
    });

    it("takes a prefix declared around its use, in the outer scope, or xml", () => {
      for (const content of [
        '<p:a xmlns:p="urn:p"><b><p:c p:x="1"/></b></p:a>',
        '<a><b xmlns:p="urn:p"><p:c/></b><b xmlns:p="urn:q"><p:c/></b></a>',
        '<xrd:a id:x="1"><repr:b/></xrd:a>',
        '<a xml:lang="et" xmlns="urn:d"><b/></a>',
      ]) {
        expect(rootElement(content, XROAD_PREFIXES), content).not.to.equal(null);
      }
    });

    it("refuses one attribute under two prefixes of one namespace", () => {
      expect(namesRefusal('<a xmlns:p="urn:n" xmlns:q="urn:n" p:x="1" q:x="2"/>')).to.equal(
        "a start tag at offset 0 names the attribute {urn:n}x twice",
      );
      expect(namesRefusal('<a xrd:x="1" xroad:x="2"/>')).to.match(/names the attribute/);
      // An unprefixed attribute is in no namespace: x and p:x are two names.
      expect(rootElement('<a xmlns:p="urn:n" x="1" p:x="2"/>', XROAD_PREFIXES)).not.to.equal(null);
    });

    it("reads 100 000 nested declarations in one pass", () => {
      const deep = '<p:a xmlns:p="urn:p">'.repeat(100_000) + "</p:a>".repeat(100_000);
      expect(rootElement(deep, XROAD_PREFIXES)?.name).to.equal("p:a");
    });
  });
});

describe("XML content: the check of character references, held to each run", () => {
  /**
   * How many characters `indexOf` scanned while `work` ran: from where a search starts to where
   * it finds what it looks for, or to its string's end. Counted rather than timed, so no machine
   * makes it pass.
   */
  function searchedWhile(work: () => void): number {
    const original = String.prototype.indexOf;
    let searched = 0;
    String.prototype.indexOf = function (this: string, what: string, from?: number): number {
      const start = Math.max(0, from ?? 0);
      const found = original.call(this, what, from);
      searched += (found < 0 ? this.length : found + what.length) - start;
      return found;
    };
    try {
      work();
    } finally {
      String.prototype.indexOf = original;
    }
    return searched;
  }

  it("searches a body of many runs in about its own length, not each run on to the end", () => {
    // 20 000 runs of text: searched on to the end from each, 20 000 × 80 KB.
    const content = `<r>${"<a>x</a>".repeat(20_000)}</r>`;
    const searched = searchedWhile(() => rootElement(content));
    expect(searched).to.be.below(content.length * 20);
  });

  it("searches a remote SOAP answer of many runs in about its own length too", () => {
    const envelope =
      '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r>' +
      `${"<a>x</a>".repeat(20_000)}</r></s:Body></s:Envelope>`;
    const searched = searchedWhile(() => findSoapBody(envelope));
    expect(searched).to.be.below(envelope.length * 20);
  });
});

describe("XML content: a SOAP answer's text (findSoapBody)", () => {
  const envelope = (content: string) =>
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body><r>${content}</r></s:Body></s:Envelope>`;

  it("refuses an entity no DTD declares, or a lone &: a SOAP caller's parser refuses the whole answer", () => {
    for (const content of ["&nbsp;", "a &e; b", "fish & chips"]) {
      expect(() => findSoapBody(envelope(content)), content)
        .to.throw(XmlScanError)
        .with.property("message")
        .that.matches(/begins no character or predefined entity reference/);
    }
  });

  it("takes the five predefined entities and character references", () => {
    expect(findSoapBody(envelope("&amp;&lt;&gt;&quot;&apos;&#233;&#xE9;"))).not.to.equal(null);
  });
});

describe("XML content: an attribute value of a SOAP answer (findSoapBody)", () => {
  const envelope = (element: string) =>
    `<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/"><s:Body>${element}</s:Body></s:Envelope>`;
  const refusal = (text: string): string => {
    try {
      findSoapBody(text);
    } catch (error) {
      expect(error).to.be.instanceOf(XmlScanError);
      return (error as XmlScanError).message;
    }
    throw new Error(`expected ${text.slice(0, 60)} to be refused`);
  };

  it("refuses an '&' in an attribute value that begins no known reference, in the text's words and offset", () => {
    // A strict parser (the SOAP caller's, the security server's) refuses the whole answer.
    const at = envelope("").indexOf("</s:Body>");
    expect(refusal(envelope('<x a="fish & chips"/>'))).to.equal(
      `an "&" at offset ${at + 11} begins no character or predefined entity reference`,
    );
    expect(refusal(envelope("<x b='1' a = '&nbsp;'/>"))).to.equal(
      `an "&" at offset ${at + 14} begins no character or predefined entity reference`,
    );
    expect(refusal(envelope('<x a="&amp"/>'))).to.match(/^an "&" at offset /);
    // On the Envelope's own start tag too, not only inside the Body.
    const open = '<s:Envelope xmlns:s="http://schemas.xmlsoap.org/soap/envelope/" v="&e;"/>';
    expect(refusal(open)).to.equal(
      `an "&" at offset ${open.indexOf("&")} begins no character or predefined entity reference`,
    );
  });

  it("refuses a '<' in an attribute value (XML 1.0 AttValue)", () => {
    expect(refusal(envelope('<x a="b<c"/>'))).to.match(/^malformed start tag at offset /);
  });

  it("takes every reference XML knows in an attribute value", () => {
    const found = findSoapBody(envelope(`<x a="&amp;&lt;&gt;&quot;&apos;&#233;&#xE9;" b='"'/>`));
    expect(found?.firstElement?.xml).to.equal(
      `<x a="&amp;&lt;&gt;&quot;&apos;&#233;&#xE9;" b='"'/>`,
    );
  });

  it("leaves an '&' of a fault's text as written where only the text is read (childText)", () => {
    expect(childText("<f><faultstring>fish & chips</faultstring></f>", "faultstring")).to.equal(
      "fish & chips",
    );
  });
});
