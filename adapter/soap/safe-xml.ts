// Parses untrusted XML into a small namespace-resolved tree that remembers where each element
// sits in the source text. DOCTYPE and oversize input are refused before reading; the reader
// enforces the structure limits (nesting, attributes, declarations) as it goes.

import { SluiceError } from "../../shared/protocol/errors";
import { NOT_XML_CHARACTER, shownCharacter } from "../../shared/protocol/character-reference";
import { readXml, XML_NS, type ReaderLimits, type XmlElement } from "./xml-reader";

export { decodeEntities, XML_NS } from "./xml-reader";

export interface XmlLimits extends ReaderLimits {
  /** Longest document accepted, in characters. */
  maxLength: number;
}

export const DEFAULT_XML_LIMITS: XmlLimits = {
  maxDepth: 64,
  maxLength: 10 * 1024 * 1024,
  maxAttributesPerElement: 256,
  maxAttributes: 50_000,
  maxNamespaceDeclarations: 256,
  maxElements: 250_000,
};

export type { XmlAttribute, XmlElement, XmlText } from "./xml-reader";

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidXml", message);
}

const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const ILLEGAL_CHARACTER = new RegExp(`${NOT_XML_CHARACTER.source}|${LONE_SURROGATE.source}`);

const MARKUP_DECLARATION = /<!(?:DOCTYPE|ENTITY)/i;

/** Either of the two above, found in one pass over the text. */
const REFUSED = new RegExp(`${ILLEGAL_CHARACTER.source}|${MARKUP_DECLARATION.source}`, "i");

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
  // One scan finds a declaration or a character XML does not allow; which of them decides the
  // message only when there is one, and is then looked for on its own.
  if (REFUSED.test(text)) {
    const declares = MARKUP_DECLARATION.test(text);
    if (declares && /<!DOCTYPE/i.test(text)) throw invalid("a DOCTYPE declaration is not allowed");
    // Searched for again only now that the document is refused: the words name the character
    // and where it is, as the REST body's and the worker's readers do.
    const illegal = ILLEGAL_CHARACTER.exec(text);
    if (illegal !== null) {
      throw invalid(
        `the XML holds a character XML does not allow (${shownCharacter(illegal[0].charCodeAt(0))}) at offset ${illegal.index}`,
      );
    }
    if (declares) throw invalid("entity declarations are not allowed");
  }
  // One strict pass: well-formedness, namespaces, limits and offsets together (xml-reader.ts).
  return readXml(text, limits, ROOT_SCOPE);
}

/** Element children only, skipping text. */
export function childElements(element: XmlElement): XmlElement[] {
  const elements: XmlElement[] = [];
  for (const child of element.children) if (child.kind === "element") elements.push(child);
  return elements;
}

/** True when the element has a child element. */
export function hasChildElements(element: XmlElement): boolean {
  for (const child of element.children) if (child.kind === "element") return true;
  return false;
}

/** The concatenated text content of an element's direct text children. */
export function directText(element: XmlElement): string {
  let text = "";
  for (const child of element.children) if (child.kind === "text") text += child.value;
  return text;
}

/** True when the element has non-whitespace text beside its child elements. */
export function hasSignificantText(element: XmlElement): boolean {
  for (const child of element.children) {
    if (child.kind === "text" && !isLayout(child.value)) return true;
  }
  return false;
}

/** True for text that is only white space (what `trim()` removes, without building a string). */
export function isLayout(text: string): boolean {
  for (let i = 0; i < text.length; i += 1) {
    const c = text.charCodeAt(i);
    if (c === 0x20 || c === 0x0a || c === 0x09 || c === 0x0d) continue;
    return text.trim() === "";
  }
  return true;
}
