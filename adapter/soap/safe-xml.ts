// Parses untrusted XML into a small namespace-resolved tree that remembers where each element
// sits in the source text. DOCTYPE, deep nesting and oversize input are refused before parsing.

import { SluiceError } from "../../shared/protocol/errors";
import { readXml, XML_NS, type XmlElement, type XmlText } from "./xml-reader";

export { decodeEntities, XML_NS } from "./xml-reader";

export interface XmlLimits {
  /** Deepest element nesting accepted (root = 1). */
  maxDepth: number;
  /** Longest document accepted, in characters. */
  maxLength: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = { maxDepth: 64, maxLength: 10 * 1024 * 1024 };

export type { XmlAttribute, XmlElement, XmlText } from "./xml-reader";

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidXml", message);
}

/**
 * Walks the tags once without building anything, so that a 10 000-deep document fails in
 * linear time before any parser recurses over it.
 */
export function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let i = text.indexOf("<");
  while (i !== -1 && i < text.length) {
    if (text.startsWith("<!--", i)) {
      i = skipPast(text, "-->", i + 4);
    } else if (text.startsWith("<![CDATA[", i)) {
      i = skipPast(text, "]]>", i + 9);
    } else if (text.startsWith("<?", i)) {
      i = skipPast(text, "?>", i + 2);
    } else if (text.startsWith("</", i)) {
      depth -= 1;
      i = skipPast(text, ">", i + 2);
    } else {
      // A start tag: find its ">" outside quoted attribute values.
      let j = i + 1;
      let quote = "";
      for (; j < text.length; j += 1) {
        const c = text[j];
        if (quote) {
          if (c === quote) quote = "";
        } else if (c === '"' || c === "'") {
          quote = c;
        } else if (c === ">") {
          break;
        }
      }
      if (j >= text.length) throw invalid("the XML ends inside a tag");
      if (text[j - 1] !== "/") {
        depth += 1;
        if (depth > maxDepth) throw invalid(`the XML nests deeper than ${maxDepth} elements`);
      }
      i = j + 1;
    }
    if (i === -1) throw invalid("the XML ends inside a comment, CDATA section or instruction");
    i = text.indexOf("<", i);
  }
}

function skipPast(text: string, marker: string, from: number): number {
  const at = text.indexOf(marker, from);
  return at === -1 ? -1 : at + marker.length;
}

// Control characters other than tab and line ends, U+FFFE/U+FFFF, and lone surrogates.
const ILLEGAL_CHARACTER =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const ROOT_SCOPE: ReadonlyMap<string, string> = new Map([["xml", XML_NS]]);

/**
 * Parses a whole XML document and returns its root element. Every failure is a
 * Client.InvalidXml (PayloadTooLarge for oversize input) with a message fit for the caller.
 */
export function parseXml(text: string, limits: XmlLimits = DEFAULT_XML_LIMITS): XmlElement {
  if (text.length > limits.maxLength) {
    throw new SluiceError(
      "PayloadTooLarge",
      `the XML is larger than ${limits.maxLength} characters`,
    );
  }
  if (/<!DOCTYPE/i.test(text)) throw invalid("a DOCTYPE declaration is not allowed");
  if (ILLEGAL_CHARACTER.test(text)) throw invalid("the XML holds a character XML does not allow");
  if (/<!ENTITY/i.test(text)) throw invalid("entity declarations are not allowed");
  checkDepth(text, limits.maxDepth);
  // One strict pass: well-formedness, namespaces and offsets together (xml-reader.ts).
  return readXml(text, limits.maxDepth, ROOT_SCOPE);
}

/** Element children only, skipping text. */
export function childElements(element: XmlElement): XmlElement[] {
  return element.children.filter((child): child is XmlElement => child.kind === "element");
}

/** The concatenated text content of an element's direct text children. */
export function directText(element: XmlElement): string {
  return element.children
    .filter((child): child is XmlText => child.kind === "text")
    .map((child) => child.value)
    .join("");
}

/** True when the element has non-whitespace text beside its child elements. */
export function hasSignificantText(element: XmlElement): boolean {
  return element.children.some((child) => child.kind === "text" && child.value.trim() !== "");
}
