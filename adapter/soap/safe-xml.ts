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
  /** Attributes on one element, namespace declarations included. */
  maxAttributesPerElement: number;
  /** Attributes in the whole document, namespace declarations included. */
  maxAttributes: number;
  /** Namespace declarations (`xmlns`, `xmlns:p`) in the whole document. */
  maxNamespaceDeclarations: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxDepth: 64,
  maxLength: 10 * 1024 * 1024,
  maxAttributesPerElement: 256,
  maxAttributes: 50_000,
  maxNamespaceDeclarations: 256,
};

export type { XmlAttribute, XmlElement, XmlText } from "./xml-reader";

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidXml", message);
}

/**
 * Walks the tags once without building anything, so that a 10 000-deep document, an element
 * with 90 000 attributes or 40 000 namespace declarations fails in linear time (and without
 * allocating) before the reader builds objects for them.
 */
export function checkStructure(text: string, limits: XmlLimits): void {
  const { maxDepth, maxAttributesPerElement, maxAttributes, maxNamespaceDeclarations } = limits;
  let depth = 0;
  let attributes = 0;
  let declarations = 0;
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
      // A start tag: find its ">" outside quoted attribute values, counting the "=" of its
      // attributes on the way (an "=" outside quotes only ever follows an attribute name).
      let j = i + 1;
      let quote = 0;
      let own = 0;
      for (; j < text.length; j += 1) {
        const c = text.charCodeAt(j);
        if (quote !== 0) {
          if (c === quote) quote = 0;
        } else if (c === 34 || c === 39) {
          quote = c;
        } else if (c === 61) {
          own += 1;
          if (own > maxAttributesPerElement) {
            throw invalid(`an element has more than ${maxAttributesPerElement} attributes`);
          }
          if (++attributes > maxAttributes) {
            throw invalid(`the XML has more than ${maxAttributes} attributes`);
          }
          if (isDeclaration(text, j) && ++declarations > maxNamespaceDeclarations) {
            throw invalid(
              `the XML has more than ${maxNamespaceDeclarations} namespace declarations`,
            );
          }
        } else if (c === 62) {
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

/** Nesting only (see checkStructure). */
export function checkDepth(text: string, maxDepth: number): void {
  checkStructure(text, {
    ...DEFAULT_XML_LIMITS,
    maxDepth,
    maxAttributesPerElement: Infinity,
    maxAttributes: Infinity,
    maxNamespaceDeclarations: Infinity,
  });
}

/** True when the attribute whose "=" is at `at` is `xmlns` or `xmlns:<prefix>`. */
function isDeclaration(text: string, at: number): boolean {
  let end = at;
  while (end > 0 && isSpace(text.charCodeAt(end - 1))) end -= 1;
  let start = end;
  // Names are short; a long run is no declaration and the walk back stops there.
  while (start > 0 && end - start < 1024 && !isSpace(text.charCodeAt(start - 1))) start -= 1;
  const name = text.slice(start, end);
  return name === "xmlns" || name.startsWith("xmlns:");
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13;
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
  checkStructure(text, limits);
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
