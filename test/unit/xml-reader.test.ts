// The one-pass XML reader against fast-xml-parser as the oracle: on every X-Road fixture and
// thousands of truncated and mutated variants both give the same tree, offsets and verdict.

import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import { parseXmlWithFastXmlParser } from "../support/fxp-xml-oracle";
import { FIXTURES_DIR } from "../fixtures/xroad-soap/outcomes";

type Verdict = { tree: unknown } | { code: string };

/** The tree as plain data (scopes as entry lists), or the error code. */
function verdict(read: (text: string) => XmlElement, text: string): Verdict {
  try {
    const tree = read(text);
    return {
      tree: JSON.parse(
        JSON.stringify(tree, (_key, value: unknown) =>
          value instanceof Map ? [...(value as Map<string, string>)] : value,
        ),
      ) as unknown,
    };
  } catch (error) {
    return { code: String((error as { code?: unknown }).code ?? (error as Error).message) };
  }
}

/** The fixture documents: every request and answer of the X-Road suite. */
function documents(): Array<[name: string, text: string]> {
  return readdirSync(FIXTURES_DIR)
    .filter((file) => /\.(query|answer)$/.test(file))
    .map((file) => [file, readFileSync(path.join(FIXTURES_DIR, file), "utf8")]);
}

/** Each document cut short every 7 characters, and broken in the ways callers break XML. */
function variants(name: string, text: string): Array<[name: string, text: string]> {
  const out: Array<[string, string]> = [[name, text]];
  for (let cut = 0; cut < text.length; cut += 7)
    out.push([`${name} cut at ${cut}`, text.slice(0, cut)]);
  const edits: Array<[string, (t: string) => string]> = [
    ["another root after it", (t) => `${t}<again/>`],
    ["text after it", (t) => `${t}x`],
    ["a comment after it", (t) => `${t}<!-- c -->\n`],
    ["spaces around =", (t) => t.replace(/="/, ' = "')],
    ["an unquoted value", (t) => t.replace(/="([^"]*)"/, "=$1")],
    ["attributes run together", (t) => t.replace(/" /, '"')],
    ["a space in an end tag", (t) => t.replace(/<\/([^>]+)>/, "</$1 >")],
    ["a mismatched end tag", (t) => t.replace(/<\/([^>]+)>/, "</$1x>")],
    ["a bare &", (t) => t.replace(/>([^<\s]+)</, ">$1 & x<")],
    ["< in a value", (t) => t.replace(/="/, '="<')],
    ["a __proto__ element", (t) => t.replace(/<([a-zA-Z]+:)?([a-zA-Z]+)([ >])/, "<__proto__$3")],
    ["a stray /", (t) => t.replace(/<([a-zA-Z:]+) /, "<$1 / ")],
    ["an undeclared prefix", (t) => t.replace(/<\/?([a-zA-Z]+):/g, (m) => m.replace(/:$/, "x:"))],
    ["a repeated attribute", (t) => t.replace(/ ([a-zA-Z:]+)="([^"]*)"/, ' $1="$2" $1="$2"')],
    ["an undefined entity", (t) => t.replace(/>([^<\s]+)</, ">&nope;$1<")],
    ["a character reference", (t) => t.replace(/>([^<\s]+)</, ">&#x263A;&amp;$1<")],
    ["CDATA", (t) => t.replace(/>([^<\s]+)</, "><![CDATA[<raw>&]]>$1<")],
    ["a processing instruction", (t) => t.replace(/>([^<\s]+)</, "><?pi x?>$1<")],
    ["a self-closed element", (t) => t.replace(/<([a-zA-Z:]+)>([^<]*)<\/\1>/, "<$1/>")],
  ];
  for (const [what, edit] of edits) out.push([`${name} with ${what}`, edit(text)]);
  return out;
}

describe("one-pass XML reader vs fast-xml-parser", () => {
  it("gives the same tree, offsets and verdict on every fixture and its variants", () => {
    let compared = 0;
    for (const [name, text] of documents()) {
      for (const [variant, body] of variants(name, text)) {
        expect(verdict(parseXml, body), variant).to.deep.equal(
          verdict(parseXmlWithFastXmlParser, body),
        );
        compared += 1;
      }
    }
    expect(compared).to.be.above(3000);
  });

  it("offsets give each element's exact XML", () => {
    const text = readFileSync(path.join(FIXTURES_DIR, "simple.query"), "utf8");
    const root = parseXml(text);
    expect(text.slice(root.start, root.end)).to.equal(
      text.trim().replace(/^<\?xml[^>]*\?>\s*/, ""),
    );
    const walk = (element: XmlElement): void => {
      const xml = text.slice(element.start, element.end);
      expect(xml.startsWith(`<${element.qname}`), element.qname).to.equal(true);
      expect(xml.endsWith(`</${element.qname}>`) || xml.endsWith("/>"), element.qname).to.equal(
        true,
      );
      for (const child of element.children) if (child.kind === "element") walk(child);
    };
    walk(root);
  });
});

describe("XML reader: repeated namespace declarations", () => {
  it("refuses an element that declares one prefix (or the default namespace) twice", () => {
    for (const xml of [
      '<p:a xmlns:p="urn:x" xmlns:p="http://x-road.eu/xsd/xroad.xsd"/>',
      '<a xmlns="urn:x" xmlns="urn:y"/>',
    ]) {
      expect(() => parseXml(xml), xml).to.throw(/is repeated/);
    }
    // The same prefix declared again on a child is an ordinary redeclaration.
    expect(parseXml('<p:a xmlns:p="urn:x"><p:b xmlns:p="urn:y"/></p:a>').local).to.equal("a");
  });
});
