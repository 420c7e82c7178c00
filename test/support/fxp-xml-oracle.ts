// The adapter's former XML reading, on fast-xml-parser (validation pass, ordered parse with
// offsets, tree rebuilt): the oracle the one-pass reader (adapter/soap/xml-reader.ts) is
// checked against in test/unit/xml-reader.test.ts. Not used by Sluice itself.

import { XMLParser } from "fast-xml-parser";
import { SluiceError } from "../../shared/protocol/errors";
import type { XmlAttribute, XmlElement, XmlLimits, XmlText } from "../../adapter/soap/safe-xml";
import { DEFAULT_XML_LIMITS } from "../../adapter/soap/safe-xml";
import { XML_NAME } from "../../shared/protocol/xml-tokens";

const XML_NS = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

const META = XMLParser.getMetaDataSymbol();

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  allowBooleanAttributes: false,
  parseTagValue: false,
  parseAttributeValue: false,
  processEntities: false,
  htmlEntities: false,
  trimValues: false,
  cdataPropName: "#cdata",
  commentPropName: false,
  ignoreDeclaration: true,
  ignorePiTags: true,
  removeNSPrefix: false,
  captureMetaData: true,
  maxNestedTags: DEFAULT_XML_LIMITS.maxDepth + 1,
  // Names such as "toString" are legal XML; the parser marks them and buildElement restores
  // them (it keeps names as data only). "__proto__", "constructor" and "prototype" it refuses.
  onDangerousProperty: (name) => `${MARK}${name}`,
});

const MARK = "\u0001";

function unmark(name: string): string {
  return name.startsWith(MARK) ? name.slice(MARK.length) : name;
}

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidXml", message);
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

/**
 * Replaces the five predefined entities and character references; anything else is refused.
 * One regular expression: the reference the reader's own scan is checked against.
 */
export function decodeEntities(raw: string): string {
  if (!raw.includes("&")) return raw;
  return raw.replace(
    /&#x([0-9a-fA-F]+);|&#([0-9]+);|&(#[^;]{0,29};|#[^;]{0,30}|[^;&\s<]{0,32};?)/g,
    (whole, hex?: string, dec?: string, name?: string) => {
      if (name === undefined) {
        // Any number of digits (XML 1.0 §4.1): the value is what counts, read without rounding.
        const code = hex !== undefined ? BigInt(`0x${hex}`) : BigInt(dec as string);
        const allowed =
          code === 0x9n ||
          code === 0xan ||
          code === 0xdn ||
          (code >= 0x20n && code <= 0xd7ffn) ||
          (code >= 0xe000n && code <= 0xfffdn) ||
          (code >= 0x10000n && code <= 0x10ffffn);
        if (!allowed) {
          const shown = whole.length <= 32 ? whole : `${whole.slice(0, 16)}…${whole.slice(-15)}`;
          throw invalid(`character reference ${shown} is not allowed in XML`);
        }
        return String.fromCodePoint(Number(code));
      }
      if (name.startsWith("#")) {
        throw invalid(
          `malformed character reference "${whole}" (XML writes one as &#65; or &#x41;)`,
        );
      }
      if (!whole.endsWith(";")) throw invalid(`a bare "&" is not allowed in XML text`);
      const known = ENTITIES[name.slice(0, -1)];
      if (known !== undefined) return known;
      throw invalid(`undefined entity ${whole} (only the predefined XML entities are allowed)`);
    },
  );
}

function splitName(qname: string): [prefix: string, local: string] {
  const colon = qname.indexOf(":");
  if (colon === -1) return ["", qname];
  if (colon === 0 || colon === qname.length - 1 || qname.indexOf(":", colon + 1) !== -1) {
    throw invalid(`"${qname}" is not a valid namespace-qualified name`);
  }
  return [qname.slice(0, colon), qname.slice(colon + 1)];
}

type FxpNode = Record<string, unknown>;

function nameOf(node: FxpNode): string | undefined {
  return Object.keys(node).find((key) => key !== ":@");
}

function textOf(nodes: unknown): string {
  if (!Array.isArray(nodes)) return "";
  return nodes.map((n: FxpNode) => (typeof n["#text"] === "string" ? n["#text"] : "")).join("");
}

function buildElement(
  node: FxpNode,
  key: string,
  parentScope: ReadonlyMap<string, string>,
): XmlElement {
  const qname = unmark(key);
  const rawAttributes = (node[":@"] ?? {}) as Record<string, unknown>;
  const declarations: Array<[string, string]> = [];
  const plain: Array<[string, string]> = [];
  for (const [markedName, rawValue] of Object.entries(rawAttributes)) {
    const name = unmark(markedName);
    const value = decodeEntities(normaliseAttribute(String(rawValue)));
    if (name === "xmlns") {
      declarations.push(["", value]);
    } else if (name.startsWith("xmlns:")) {
      const prefix = name.slice(6);
      if (value === "") throw invalid(`namespace prefix "${prefix}" cannot be bound to ""`);
      if (prefix === "xmlns" || (prefix === "xml") !== (value === XML_NS) || value === XMLNS_NS) {
        throw invalid(`reserved namespace binding ${name}="${value}"`);
      }
      declarations.push([prefix, value]);
    } else {
      plain.push([name, value]);
    }
  }
  let inScope = parentScope;
  if (declarations.length > 0) {
    const scope = new Map(parentScope);
    for (const [prefix, uri] of declarations) scope.set(prefix, uri);
    inScope = scope;
  }
  const [prefix, local] = splitName(qname);
  const resolve = (p: string, forAttribute: boolean): string | null => {
    if (p === "") return forAttribute ? null : (inScope.get("") ?? null) || null;
    const uri = inScope.get(p);
    if (uri === undefined) throw invalid(`namespace prefix "${p}" is not declared`);
    return uri;
  };
  const attributes: XmlAttribute[] = plain.map(([attrName, value]) => {
    const [attrPrefix, attrLocal] = splitName(attrName);
    return { qname: attrName, local: attrLocal, namespace: resolve(attrPrefix, true), value };
  });
  const seen = new Set<string>();
  for (const attribute of attributes) {
    const key = `${attribute.namespace ?? ""} ${attribute.local}`;
    if (seen.has(key)) throw invalid(`attribute "${attribute.qname}" is repeated`);
    seen.add(key);
  }
  const meta = node[META as unknown as string] as { startIndex: number; endIndex: number };
  const children: Array<XmlElement | XmlText> = [];
  const element: XmlElement = {
    kind: "element",
    qname,
    prefix,
    local,
    namespace: resolve(prefix, false),
    attributes,
    declarations,
    inScope,
    children,
    start: meta.startIndex,
    end: meta.endIndex,
  };
  for (const child of (node[key] ?? []) as FxpNode[]) {
    const childName = nameOf(child);
    if (childName === undefined || childName.startsWith("?")) continue;
    if (childName === "#text") {
      children.push({
        kind: "text",
        value: decodeEntities(String(child["#text"])),
        cdata: false,
      });
    } else if (childName === "#cdata") {
      children.push({ kind: "text", value: textOf(child["#cdata"]), cdata: true });
    } else {
      children.push(buildElement(child, childName, inScope));
    }
  }
  return element;
}

/** XML attribute-value normalisation: literal tabs and line ends read as spaces. */
function normaliseAttribute(raw: string): string {
  if (raw.includes("<")) throw invalid(`"<" is not allowed in an attribute value`);
  return raw.replace(/[\t\n\r]/g, " ");
}

// Control characters other than tab and line ends, U+FFFE/U+FFFF, and lone surrogates.
/**
 * The linear nesting pre-scan the adapter ran before its one-pass reader took the limits over:
 * fast-xml-parser recurses, so a 10 000-deep document must fail before it is parsed.
 */
function checkDepth(text: string, maxDepth: number): void {
  let depth = 0;
  let i = text.indexOf("<");
  const skipPast = (marker: string, from: number): number => {
    const at = text.indexOf(marker, from);
    return at === -1 ? -1 : at + marker.length;
  };
  while (i !== -1 && i < text.length) {
    if (text.startsWith("<!--", i)) {
      i = skipPast("-->", i + 4);
    } else if (text.startsWith("<![CDATA[", i)) {
      i = skipPast("]]>", i + 9);
    } else if (text.startsWith("<?", i)) {
      i = skipPast("?>", i + 2);
    } else if (text.startsWith("</", i)) {
      depth -= 1;
      i = skipPast(">", i + 2);
    } else {
      // A start tag: its ">" is the first one outside quoted attribute values.
      let j = i + 1;
      let quote = 0;
      for (; j < text.length; j += 1) {
        const c = text.charCodeAt(j);
        if (quote !== 0) {
          if (c === quote) quote = 0;
        } else if (c === 34 || c === 39) {
          quote = c;
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

const ILLEGAL_CHARACTER =
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  /[\u0000-\u0008\u000B\u000C\u000E-\u001F\uFFFE\uFFFF]|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

const ROOT_SCOPE: ReadonlyMap<string, string> = new Map([["xml", XML_NS]]);

const XML_DECLARATION =
  /^<\?xml[ \t\r\n]+version[ \t\r\n]*=[ \t\r\n]*(?:"1\.[0-9]+"|'1\.[0-9]+')(?:[ \t\r\n]+encoding[ \t\r\n]*=[ \t\r\n]*(?:"[A-Za-z][-A-Za-z0-9._]*"|'[A-Za-z][-A-Za-z0-9._]*'))?(?:[ \t\r\n]+standalone[ \t\r\n]*=[ \t\r\n]*(?:"(?:yes|no)"|'(?:yes|no)'))?[ \t\r\n]*\?>/;

/**
 * Parses a whole XML document and returns its root element. Every failure is a
 * Client.InvalidXml (PayloadTooLarge for oversize input) with a message fit for the caller.
 */
export function parseXmlWithFastXmlParser(
  text: string,
  limits: XmlLimits = DEFAULT_XML_LIMITS,
): XmlElement {
  if (text.length > limits.maxLength) {
    throw new SluiceError(
      "PayloadTooLarge",
      `the XML is larger than ${limits.maxLength} characters`,
    );
  }
  if (/<!DOCTYPE/i.test(text)) throw invalid("a DOCTYPE declaration is not allowed");
  // fast-xml-parser skips the declaration unread: XML 1.0 §2.8's XMLDecl, as one expression.
  if (/^<\?[Xx][Mm][Ll](?=[ \t\r\n?]|$)/.test(text) && !XML_DECLARATION.test(text)) {
    throw invalid("the XML declaration is not XML's");
  }
  const illegal = ILLEGAL_CHARACTER.exec(text);
  if (illegal !== null) {
    const code = illegal[0].charCodeAt(0).toString(16).toUpperCase().padStart(4, "0");
    throw invalid(
      `the XML holds a character XML does not allow (U+${code}) at offset ${illegal.index}`,
    );
  }
  if (/<!ENTITY/i.test(text)) throw invalid("entity declarations are not allowed");
  // fast-xml-parser reads a processing instruction's target unchecked: XML 1.0 §2.6 names it.
  const outsideSections = text.replace(/<!--[\s\S]*?-->|<!\[CDATA\[[\s\S]*?\]\]>/g, "");
  for (const match of outsideSections.matchAll(
    /<\?([^ \t\r\n]*?)(?=[ \t\r\n]|\?>|$)(?:[\s\S]*?\?>)?/g,
  )) {
    if (!XML_NAME.test(match[1]) || match[1].includes(":")) {
      throw invalid("a processing instruction's target is no XML name");
    }
  }
  checkDepth(text, limits.maxDepth);
  let document: FxpNode[];
  try {
    document = parser.parse(text, true) as FxpNode[];
  } catch (error) {
    throw invalid(`the XML is not well-formed: ${describe(error)}`);
  }
  for (const node of document) {
    if (typeof node["#text"] === "string" && node["#text"].trim() !== "") {
      throw invalid("the XML has text outside its root element");
    }
  }
  const roots = document.filter((node) => {
    const name = nameOf(node);
    return name !== undefined && !name.startsWith("?") && name !== "#text";
  });
  if (roots.length !== 1) throw invalid("the XML has no root element");
  const root = buildElement(roots[0], nameOf(roots[0]) as string, ROOT_SCOPE);
  // The parser drops what follows the root; only comments, instructions and space may.
  const tail = text.slice(root.end).replace(/<!--[\s\S]*?-->|<\?[\s\S]*?\?>/g, "");
  if (tail.trim() !== "") throw invalid("the XML has content after its root element");
  return root;
}

function describe(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  // Parser messages are short and positional; keep the first line only.
  return text.split("\n")[0].slice(0, 200);
}
