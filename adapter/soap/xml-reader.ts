// Reads a whole XML document in one strict pass into the namespace-resolved tree of safe-xml:
// well-formedness, namespaces, the structure limits and each element's source offsets, with no
// second walk. What callers repeat from one document to the next (names, namespace declarations,
// indentation, short text such as "1" or "true") is remembered and shared, not made again per
// document.

import { SluiceError } from "../../shared/protocol/errors";
import { detached } from "./detached";
import {
  characterCode,
  isXmlChar,
  shownReference,
} from "../../shared/protocol/character-reference";
import {
  reservedInstruction,
  XmlDeclarationError,
  xmlDeclarationEnd,
} from "../../shared/protocol/xml-declaration";

export const XML_NS = "http://www.w3.org/XML/1998/namespace";
const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

// XML 1.0 Name (fifth edition), colons included: prefixes are split off afterwards.
const NAME =
  /[:A-Z_a-z\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u02FF\u0370-\u037D\u037F-\u1FFF\u200C-\u200D\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\u{10000}-\u{EFFFF}][-.0-9:A-Z_a-z\u00B7\u00C0-\u00D6\u00D8-\u00F6\u00F8-\u037D\u037F-\u1FFF\u200C-\u200D\u203F\u2040\u2070-\u218F\u2C00-\u2FEF\u3001-\uD7FF\uF900-\uFDCF\uFDF0-\uFFFD\u{10000}-\u{EFFFF}]*/uy;

/**
 * The limits the reader enforces as it goes, each the moment it is crossed: a 10 000-deep
 * document, an element with 90 000 attributes or 40 000 namespace declarations fail after at
 * most the limit's worth of work, before anything beyond the limit is built.
 */
export interface ReaderLimits {
  /** Deepest element nesting accepted (root = 1). */
  maxDepth: number;
  /** Attributes on one element, namespace declarations included. */
  maxAttributesPerElement: number;
  /** Attributes in the whole document, namespace declarations included. */
  maxAttributes: number;
  /** Namespace declarations (`xmlns`, `xmlns:p`) in the whole document. */
  maxNamespaceDeclarations: number;
  /**
   * Elements in the whole document. Each costs an object and its namespace resolution, so a
   * document of a million empty elements, within the length limit, held the event loop for
   * seconds; the count bounds that the moment it is crossed.
   */
  maxElements: number;
}

// ASCII name characters, so that the common name is scanned without running NAME:
// bit 1 = may start a name, bit 2 = may continue one (NAME's ASCII classes exactly).
const ASCII_NAME = new Uint8Array(128);
for (let c = 0; c < 128; c += 1) {
  const ch = String.fromCharCode(c);
  if (/[:A-Z_a-z]/.test(ch)) ASCII_NAME[c] |= 1;
  if (/[-.0-9:A-Z_a-z]/.test(ch)) ASCII_NAME[c] |= 2;
}

/**
 * Namespace URIs that readers of the tree compare element namespaces with, each held as one
 * string: a declared URI equal to one of them is replaced by it, so those comparisons are an
 * identity check instead of a character-by-character one (several per X-Road header field).
 */
const KNOWN_NAMESPACES = new Map<string, string>();

/** Adds URIs to KNOWN_NAMESPACES; `===` on a namespace read from a document stays the same. */
export function registerKnownNamespaces(uris: readonly string[]): void {
  for (const uri of uris) KNOWN_NAMESPACES.set(uri, uri);
}

/** Shared by every element without attributes or declarations; never written to. */
const NO_ATTRIBUTES: readonly XmlAttribute[] = Object.freeze([]);
const NO_DECLARATIONS: ReadonlyArray<readonly [string, string]> = Object.freeze([]);

/** Shared by every element without children until its end tag gives it some; never written to. */
const NO_CHILDREN: XmlChildren = Object.freeze([]);

/**
 * A name read from a tag. Names that come again (every element of a caller's envelope does,
 * request after request) are found in NAMES, so a repeated name is split once, not per tag.
 */
interface TagName {
  /** The name as written. */
  qname: string;
  /** Its prefix and local part; null when it is not a namespace-qualified name (refused on use). */
  prefix: string | null;
  local: string;
  /** `xmlns` or `xmlns:…`: a namespace declaration when it names an attribute. */
  declares: boolean;
}

function tagName(qname: string): TagName {
  const colon = qname.indexOf(":");
  const declares = qname === "xmlns" || qname.startsWith("xmlns:");
  if (colon === -1) return { qname, prefix: "", local: qname, declares };
  if (colon === 0 || colon === qname.length - 1 || qname.indexOf(":", colon + 1) !== -1) {
    return { qname, prefix: null, local: qname, declares };
  }
  return { qname, prefix: qname.slice(0, colon), local: qname.slice(colon + 1), declares };
}

/** The name split at its colon; a name that is not namespace-qualified is refused here. */
function partsOf(name: TagName): [prefix: string, local: string] | never {
  if (name.prefix === null) {
    throw invalid(`"${name.qname}" is not a valid namespace-qualified name`);
  }
  return [name.prefix, name.local];
}

/**
 * Remembered names and indentation (white-space-only text between tags, shared as one text
 * node), each found by the string just read: V8 hashes and compares it natively, where doing
 * either in JavaScript over the source cost more than the objects it saved. Each memo is
 * emptied when full, so a document of ever new names costs what it did without them.
 */
const NAMES = new Map<string, TagName>();
const LAYOUT = new Map<string, SharedText>();
const MEMO_ENTRIES = 1024;
const MEMO_LENGTH = 256;

function nameOf(qname: string): TagName {
  const known = NAMES.get(qname);
  if (known !== undefined) return known;
  if (qname.length > MEMO_LENGTH) return tagName(qname);
  const name = tagName(detached(qname));
  if (NAMES.size >= MEMO_ENTRIES) NAMES.clear();
  NAMES.set(name.qname, name);
  return name;
}

/** A shared text node, and the children array of an element that holds only it. */
interface SharedText {
  node: XmlText;
  alone: XmlChildren;
}

/** Short text without references ("1", "true", "EE"), shared as layout is. */
const SHORT = new Map<string, SharedText>();
const SHORT_LENGTH = 12;

/**
 * Misses SHORT may still cost this document beyond its hits: text of ever new values (ids,
 * amounts) is not looked up once they outnumber the repeats by this many, so such a document
 * costs about what it did without the memo.
 */
const SHORT_CREDIT = 256;
let shortCredit = SHORT_CREDIT;

/** The SharedText textOf last returned: its `alone` serves the end tag that follows it. */
let lastShared: SharedText | null = null;

function share(raw: string, memo: Map<string, SharedText>): SharedText {
  const node: XmlText = Object.freeze({
    kind: "text" as const,
    value: detached(raw),
    cdata: false,
  });
  const shared = { node, alone: Object.freeze([node]) };
  if (memo.size >= MEMO_ENTRIES) memo.clear();
  memo.set(raw, shared);
  return shared;
}

/** A text node for `raw`, read between tags: shared when it is white space only or short. */
function textOf(raw: string): XmlText {
  if (isSpace(raw.charCodeAt(0))) {
    const known = LAYOUT.get(raw);
    if (known !== undefined) return (lastShared = known).node;
    if (raw.length <= MEMO_LENGTH && isBlank(raw, 0, raw.length)) {
      return (lastShared = share(raw, LAYOUT)).node;
    }
  } else if (raw.length <= SHORT_LENGTH && shortCredit > 0) {
    const known = SHORT.get(raw);
    if (known !== undefined) {
      shortCredit += 1;
      return (lastShared = known).node;
    }
    shortCredit -= 1;
    if (raw.indexOf("&") === -1) return (lastShared = share(raw, SHORT)).node;
  }
  return { kind: "text", value: decodeEntities(raw), cdata: false };
}

/**
 * The namespace declarations of a start tag and the scope they make, for a tag that declares
 * the same as one read before (every caller's Envelope does), under the same parent scope.
 * Both are shared by every element that repeats them: never written to.
 */
interface DeclaredScope {
  parent: ReadonlyMap<string, string>;
  /** The declaring attributes' names and raw values, in source order. */
  names: TagName[];
  raws: string[];
  declarations: ReadonlyArray<readonly [prefix: string, uri: string]>;
  scope: ReadonlyMap<string, string>;
}

const SCOPES: Array<DeclaredScope | undefined> = new Array<DeclaredScope | undefined>(16).fill(
  undefined,
);
let nextScope = 0;
/** Tags with more declarations, or longer values, are read as they come, not remembered. */
const MEMO_DECLARATIONS = 16;

export interface XmlAttribute {
  /** The name as written, e.g. "id:objectType". */
  readonly qname: string;
  readonly local: string;
  readonly namespace: string | null;
  /** Entity references decoded. */
  readonly value: string;
}

/** Short and layout text nodes are frozen and shared by every document that has them. */
export interface XmlText {
  readonly kind: "text";
  /** Entity references decoded (character data) or verbatim (CDATA). */
  readonly value: string;
  readonly cdata: boolean;
}

/**
 * An element's children. Readonly: an element holding one short text shares its children
 * array (frozen) with every element holding the same text, and empty elements share one.
 */
export type XmlChildren = ReadonlyArray<XmlElement | XmlText>;

export interface XmlElement {
  kind: "element";
  /** The name as written, e.g. "SOAP-ENV:Body". */
  qname: string;
  prefix: string;
  local: string;
  namespace: string | null;
  /** Attributes other than namespace declarations. */
  attributes: readonly XmlAttribute[];
  /** Namespace declarations made on this element, in source order ("" = default namespace). */
  declarations: ReadonlyArray<readonly [prefix: string, uri: string]>;
  /** Every binding in scope on this element, including its own declarations. */
  inScope: ReadonlyMap<string, string>;
  children: XmlChildren;
  /** Offsets of the element in the source text: `text.slice(start, end)` is its exact XML. */
  start: number;
  end: number;
}

/** Legal XML, but never keys of the JSON form: the JSON a Body becomes must stay plain data. */
const REFUSED_NAMES = new Set(["__proto__", "constructor", "prototype"]);

/** One of REFUSED_NAMES; their lengths (9, 11) spare every other name the hashing. */
function refused(local: string): boolean {
  return (local.length === 9 || local.length === 11) && REFUSED_NAMES.has(local);
}

const ENTITIES: Record<string, string> = { lt: "<", gt: ">", amp: "&", quot: '"', apos: "'" };

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidXml", message);
}

function malformed(what: string, at: number): SluiceError {
  return invalid(`the XML is not well-formed: ${what} (at character ${at})`);
}

/** White space beyond ASCII's (no-break space, line separator, …) also ends a reference's name. */
const WIDE_SPACE = /\s/;

/** Whether the character at `i` ends an entity reference's name: ";", "&", "<" or white space. */
function endsName(raw: string, i: number): boolean {
  const c = raw.charCodeAt(i);
  if (c === 0x3b || c === 0x26 || c === 0x3c) return true;
  return (c <= 0x20 || c >= 0x80) && WIDE_SPACE.test(raw[i]);
}

/**
 * Replaces the five predefined entities and character references; anything else is refused.
 * A scan from one "&" to the next, not a global `replace` with a callback: that costs V8 about
 * a microsecond per reference, so a megabyte of "&lt;" took half a second to read.
 */
export function decodeEntities(raw: string): string {
  let at = raw.indexOf("&");
  if (at < 0) return raw;
  let decoded = "";
  let from = 0;
  while (at >= 0) {
    if (raw.charCodeAt(at + 1) === 0x23 /* # */) {
      const end = characterReferenceEnd(raw, at);
      if (end === -1) {
        throw invalid(
          `malformed character reference "${malformedReference(raw, at)}" (XML writes one as &#65; or &#x41;)`,
        );
      }
      decoded += raw.slice(from, at) + characterOf(raw, at, end);
      from = end + 1;
      at = raw.indexOf("&", from);
      continue;
    }
    // A name of at most 32 characters, then ";": anything else is a bare "&".
    let end = at + 1;
    const last = Math.min(raw.length, at + 33);
    while (end < last && !endsName(raw, end)) end += 1;
    if (raw.charCodeAt(end) !== 0x3b) throw invalid(`a bare "&" is not allowed in XML text`);
    decoded += raw.slice(from, at) + referenced(raw.slice(at + 1, end));
    from = end + 1;
    at = raw.indexOf("&", from);
  }
  return decoded + raw.slice(from);
}

/** Whether `c` is a digit of a decimal (radix 10) or hexadecimal (16) character reference. */
function isDigit(c: number, radix: number): boolean {
  if (c >= 0x30 && c <= 0x39) return true;
  return radix === 16 && ((c >= 0x41 && c <= 0x46) || (c >= 0x61 && c <= 0x66));
}

/**
 * Where the ";" of the character reference at `at` is (`&#65;`, `&#x41;`), or -1 when none
 * begins there. Any number of digits: XML 1.0 §4.1 (CharRef) bounds neither them nor the
 * leading zeros among them, and the body's size limit bounds the scan.
 */
function characterReferenceEnd(raw: string, at: number): number {
  const radix = raw.charCodeAt(at + 2) === 0x78 /* x */ ? 16 : 10;
  const first = radix === 16 ? at + 3 : at + 2;
  let end = first;
  while (end < raw.length && isDigit(raw.charCodeAt(end), radix)) end += 1;
  return end > first && raw.charCodeAt(end) === 0x3b ? end : -1;
}

/** The character of the reference from `at` to its ";" at `end`. */
function characterOf(raw: string, at: number, end: number): string {
  const radix = raw.charCodeAt(at + 2) === 0x78 ? 16 : 10;
  const code = characterCode(raw, radix === 16 ? at + 3 : at + 2, end, radix);
  if (!isXmlChar(code)) {
    throw invalid(
      `character reference ${shownReference(raw.slice(at, end + 1))} is not allowed in XML`,
    );
  }
  return String.fromCodePoint(code);
}

/** What of a malformed reference at `at` a message shows: up to its ";", at most 32 characters. */
function malformedReference(raw: string, at: number): string {
  const semicolon = raw.indexOf(";", at);
  const end = semicolon === -1 ? raw.length : semicolon + 1;
  return raw.slice(at, Math.min(end, at + 32));
}

/** What the entity reference `&name;` stands for. */
function referenced(name: string): string {
  const known = ENTITIES[name];
  if (known !== undefined) return known;
  const whole = `&${name};`;
  throw invalid(`undefined entity ${whole} (only the predefined XML entities are allowed)`);
}

/** XML attribute-value normalisation: literal tabs and line ends read as spaces. */
function normaliseAttribute(raw: string): string {
  if (raw.includes("<")) throw invalid(`"<" is not allowed in an attribute value`);
  return raw.replace(/[\t\n\r]/g, " ");
}

/** An attribute's value: normalised, entities decoded; most values need neither. */
function attributeValue(raw: string): string {
  for (let i = 0; i < raw.length; i += 1) {
    const c = raw.charCodeAt(i);
    if (c === 0x3c || c === 0x26 || c === 0x09 || c === 0x0a || c === 0x0d) {
      return decodeEntities(normaliseAttribute(raw));
    }
  }
  return raw;
}

const isSpace = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;

function isBlank(text: string, from: number, to: number): boolean {
  for (let i = from; i < to; i += 1) if (!isSpace(text.charCodeAt(i))) return false;
  return true;
}

/** The namespace of `prefix` in `scope`; unprefixed attributes have none. */
function resolve(
  scope: ReadonlyMap<string, string>,
  prefix: string,
  forAttribute: boolean,
): string | null {
  if (prefix === "") return forAttribute ? null : (scope.get("") ?? null) || null;
  const uri = scope.get(prefix);
  if (uri === undefined) throw invalid(`namespace prefix "${prefix}" is not declared`);
  return uri;
}

/** A tag's attributes as read (`readXml`): name and raw value (quotes excluded), per attribute. */
type Attributes = Array<TagName | string>;

/** The remembered declarations of a tag that declares what one read before did, or null. */
function knownScope(
  read: Attributes,
  count: number,
  parent: ReadonlyMap<string, string>,
): DeclaredScope | null {
  for (const entry of SCOPES) {
    if (entry === undefined || entry.parent !== parent) continue;
    let matched = 0;
    for (let i = 0; i < count * 2; i += 2) {
      const name = read[i] as TagName;
      if (!name.declares) continue;
      if (
        matched === entry.names.length ||
        entry.names[matched] !== name ||
        entry.raws[matched] !== read[i + 1]
      ) {
        matched = -1;
        break;
      }
      matched += 1;
    }
    if (matched === entry.names.length) return entry;
  }
  return null;
}

/**
 * Keeps a tag's checked declarations and the scope they make for the tags that repeat them,
 * all of it copied out of the document, and returns what it kept; null when the tag is not
 * remembered (too many or too long values, or a parent scope that is the document's own).
 */
function rememberScope(
  read: Attributes,
  count: number,
  parent: ReadonlyMap<string, string>,
  rootScope: ReadonlyMap<string, string>,
  declarations: ReadonlyArray<readonly [prefix: string, uri: string]>,
): DeclaredScope | null {
  if (declarations.length > MEMO_DECLARATIONS) return null;
  if (parent !== rootScope && !SCOPES.some((entry) => entry?.scope === parent)) return null;
  const names: TagName[] = [];
  const raws: string[] = [];
  for (let i = 0; i < count * 2; i += 2) {
    const name = read[i] as TagName;
    if (!name.declares) continue;
    const raw = read[i + 1] as string;
    if (raw.length > MEMO_LENGTH || NAMES.get(name.qname) !== name) return null;
    names.push(name);
    raws.push(detached(raw));
  }
  // Frozen: shared by every document that repeats them (the XmlElement type says readonly).
  const kept = declarations.map(([prefix, uri]) =>
    Object.freeze([detached(prefix), KNOWN_NAMESPACES.get(uri) ?? detached(uri)] as const),
  );
  const scope = new Map(parent);
  for (const [prefix, uri] of kept) scope.set(prefix, uri);
  const entry: DeclaredScope = {
    parent,
    names,
    raws,
    declarations: Object.freeze(kept),
    scope,
  };
  SCOPES[nextScope] = entry;
  nextScope = (nextScope + 1) % SCOPES.length;
  return entry;
}

/**
 * The element of a start tag whose `count` attributes are in `read`: namespaces resolved,
 * checked. Its children are given at its end tag.
 */
function elementOf(
  name: TagName,
  read: Attributes,
  count: number,
  parentScope: ReadonlyMap<string, string>,
  rootScope: ReadonlyMap<string, string>,
  start: number,
): XmlElement {
  let declarations: ReadonlyArray<readonly [string, string]> = NO_DECLARATIONS;
  let inScope = parentScope;
  let plain: Array<TagName | string> | null = null;
  let declaring = false;
  for (let i = 0; i < count * 2; i += 2) declaring ||= (read[i] as TagName).declares;
  const known = declaring ? knownScope(read, count, parentScope) : null;
  if (known !== null) {
    // Declared as a tag read before: checked then. Only the other attributes' values are read.
    declarations = known.declarations;
    inScope = known.scope;
    for (let i = 0; i < count * 2; i += 2) {
      const attribute = read[i] as TagName;
      if (attribute.declares) continue;
      (plain ??= []).push(attribute, attributeValue(read[i + 1] as string));
    }
  } else {
    for (let i = 0; i < count * 2; i += 2) {
      const attribute = read[i] as TagName;
      const qname = attribute.qname;
      let value = attributeValue(read[i + 1] as string);
      if (attribute.declares) {
        value = KNOWN_NAMESPACES.get(value) ?? value;
        // The element's own array until it is kept (rememberScope): NO_DECLARATIONS is shared.
        if (declarations === NO_DECLARATIONS) declarations = [];
        const own = declarations as Array<readonly [string, string]>;
        if (qname === "xmlns") {
          own.push(["", value]);
          continue;
        }
        const prefix = qname.slice(6);
        if (value === "") throw invalid(`namespace prefix "${prefix}" cannot be bound to ""`);
        if (prefix === "xmlns" || (prefix === "xml") !== (value === XML_NS) || value === XMLNS_NS) {
          throw invalid(`reserved namespace binding ${qname}="${value}"`);
        }
        own.push([prefix, value]);
      } else {
        (plain ??= []).push(attribute, value);
      }
    }
    if (declarations.length > 0) {
      const scope = new Map(parentScope);
      const own = new Set<string>();
      for (const [prefix, uri] of declarations) {
        // A repeated declaration is a repeated attribute (not well-formed): parsers that keep
        // the first binding and those that keep the last would read the same element in
        // different namespaces, an X-Road header field included.
        if (own.has(prefix)) {
          throw invalid(`attribute "${prefix === "" ? "xmlns" : `xmlns:${prefix}`}" is repeated`);
        }
        own.add(prefix);
        scope.set(prefix, uri);
      }
      inScope = scope;
      const kept = rememberScope(read, count, parentScope, rootScope, declarations);
      if (kept !== null) {
        declarations = kept.declarations;
        inScope = kept.scope;
      }
    }
  }
  const [prefix, local] = partsOf(name);
  if (refused(local)) throw malformed(`the name "${name.qname}" is not accepted`, start);
  let attributes = NO_ATTRIBUTES;
  if (plain !== null) {
    const own: XmlAttribute[] = [];
    attributes = own;
    for (let i = 0; i < plain.length; i += 2) {
      const attribute = plain[i] as TagName;
      const [attrPrefix, attrLocal] = partsOf(attribute);
      if (refused(attrLocal)) {
        throw malformed(`the name "${attribute.qname}" is not accepted`, start);
      }
      own.push({
        qname: attribute.qname,
        local: attrLocal,
        namespace: resolve(inScope, attrPrefix, true),
        value: plain[i + 1] as string,
      });
    }
  }
  if (attributes.length > 1) {
    const seen = new Set<string>();
    for (const attribute of attributes) {
      const key = `${attribute.namespace ?? ""} ${attribute.local}`;
      if (seen.has(key)) throw invalid(`attribute "${attribute.qname}" is repeated`);
      seen.add(key);
    }
  }
  return {
    kind: "element",
    qname: name.qname,
    prefix,
    local,
    namespace: resolve(inScope, prefix, false),
    attributes,
    declarations,
    inScope,
    children: NO_CHILDREN,
    start,
    end: start,
  };
}

/**
 * Reads `text` as one XML document and returns its root element. Comments, processing
 * instructions and the XML declaration are skipped; DOCTYPE and any other `<!` markup is
 * refused (callers reject DOCTYPE with a clearer message first).
 */
export function readXml(
  text: string,
  limits: ReaderLimits,
  rootScope: ReadonlyMap<string, string>,
): XmlElement {
  const {
    maxDepth,
    maxAttributesPerElement,
    maxAttributes,
    maxNamespaceDeclarations,
    maxElements,
  } = limits;
  const length = text.length;
  const stack: XmlElement[] = [];
  // Every tag's attributes, read into one array the document's tags share.
  const read: Attributes = [];
  // The children of every open element, in order, and where those of each open element begin:
  // an element's are cut out as one array of their exact length at its end tag, instead of an
  // array per element grown child by child.
  const pending: Array<XmlElement | XmlText> = [];
  let pendingCount = 0;
  const firstChild: number[] = [];
  let root: XmlElement | null = null;
  // A byte-order mark is the decoder's (xml-encoding.ts strips it): one here is a character
  // outside the root element, so two marks, or one left by a decoder, are refused.
  let pos = 0;
  let attributeCount = 0;
  let declarationCount = 0;
  let elementCount = 0;
  shortCredit = SHORT_CREDIT;
  lastShared = null;

  const skipSpace = (): boolean => {
    const from = pos;
    while (pos < length && isSpace(text.charCodeAt(pos))) pos += 1;
    return pos > from;
  };
  const readName = (what: string): TagName => {
    const from = pos;
    if (from < length && (ASCII_NAME[text.charCodeAt(from)] & 1) !== 0) {
      let end = from + 1;
      while (end < length) {
        const c = text.charCodeAt(end);
        if (c >= 0x80) break;
        if ((ASCII_NAME[c] & 2) === 0) {
          pos = end;
          return nameOf(text.slice(from, end));
        }
        end += 1;
      }
      // At the end of the text, or at a character NAME must judge.
    }
    NAME.lastIndex = pos;
    const match = NAME.exec(text);
    if (!match) {
      if (pos >= length) throw invalid("the XML ends inside a tag");
      throw malformed(`${what} without a valid name`, pos);
    }
    pos = NAME.lastIndex;
    return nameOf(match[0]);
  };
  // The pending children from `from` on, as one array; a lone shared text node's is shared too.
  const childrenOf = (from: number): XmlChildren => {
    if (pendingCount === from + 1 && lastShared !== null && pending[from] === lastShared.node) {
      return lastShared.alone;
    }
    return pending.slice(from, pendingCount);
  };
  const skipPast = (marker: string, from: number, inside: string): number => {
    const at = text.indexOf(marker, from);
    if (at === -1) throw invalid(`the XML ends inside ${inside}`);
    return at + marker.length;
  };

  while (pos < length) {
    const lt = text.indexOf("<", pos);
    const textEnd = lt === -1 ? length : lt;
    if (textEnd > pos) {
      if (stack.length === 0) {
        if (!isBlank(text, pos, textEnd)) {
          throw invalid(
            root
              ? "the XML has content after its root element"
              : "the XML has text outside its root element",
          );
        }
      } else {
        pending[pendingCount++] = textOf(text.slice(pos, textEnd));
      }
      pos = textEnd;
    }
    if (lt === -1) break;
    const next = text.charCodeAt(lt + 1);
    if (next === 0x21 /* ! */) {
      if (text.startsWith("<!--", lt)) {
        pos = skipPast("-->", lt + 4, "a comment");
      } else if (text.startsWith("<![CDATA[", lt)) {
        if (stack.length === 0) throw malformed("CDATA outside the root element", lt);
        pos = skipPast("]]>", lt + 9, "a CDATA section");
        pending[pendingCount++] = { kind: "text", value: text.slice(lt + 9, pos - 3), cdata: true };
      } else {
        throw malformed("markup declarations are not allowed", lt);
      }
    } else if (next === 0x3f /* ? */) {
      // `<?xml` is the XML declaration, allowed only as the document's very first characters
      // and as XML 1.0 §2.8 writes it: elsewhere, or named "XML", it is a processing
      // instruction with a reserved name, which a strict reader such as the security server's
      // refuses.
      if (lt === 0) {
        try {
          pos = xmlDeclarationEnd(text);
        } catch (error) {
          if (!(error instanceof XmlDeclarationError)) throw error;
          throw malformed(error.message, 0);
        }
        if (pos > 0) continue;
      } else {
        const reserved = reservedInstruction(text, lt);
        if (reserved !== null) throw malformed(reserved, lt);
      }
      pos = skipPast("?>", lt + 2, "a processing instruction");
    } else if (next === 0x2f /* / */) {
      const open = stack.pop();
      pos = lt + 2;
      // The usual end tag names the open element exactly and ends at once: no name to read.
      // (indexOf, not startsWith: it is about twice as fast here, and with the ">" seen a
      // miss is a mismatched end tag, so it searches on at most once per document.)
      const after = open === undefined ? -1 : pos + open.qname.length;
      if (
        open !== undefined &&
        text.charCodeAt(after) === 0x3e &&
        text.indexOf(open.qname, pos) === pos
      ) {
        pos = after + 1;
        open.end = pos;
        // Its children are the pending ones from where it began: cut out at their exact length.
        const from = firstChild.pop() as number;
        if (pendingCount > from) open.children = childrenOf(from);
        pendingCount = from;
        continue;
      }
      const name = readName("an end tag").qname;
      skipSpace();
      if (pos >= length) throw invalid("the XML ends inside a tag");
      if (text.charCodeAt(pos) !== 0x3e) throw malformed(`end tag </${name}> is not closed`, lt);
      pos += 1;
      if (open === undefined || open.qname !== name) {
        throw malformed(
          open ? `</${name}> closes <${open.qname}>` : `</${name}> closes nothing`,
          lt,
        );
      }
      open.end = pos;
      const from = firstChild.pop() as number;
      if (pendingCount > from) open.children = childrenOf(from);
      pendingCount = from;
    } else {
      if (root !== null && stack.length === 0) {
        throw invalid("the XML has content after its root element");
      }
      pos = lt + 1;
      const tag = readName("a tag");
      const qname = tag.qname;
      // Attributes as read (Attributes); counted against the limits as they are read.
      let count = 0;
      let empty = false;
      for (;;) {
        const spaced = skipSpace();
        if (pos >= length) throw invalid("the XML ends inside a tag");
        const c = text.charCodeAt(pos);
        if (c === 0x3e /* > */) {
          pos += 1;
          break;
        }
        if (c === 0x2f /* / */) {
          if (text.charCodeAt(pos + 1) !== 0x3e) {
            if (pos + 1 >= length) throw invalid("the XML ends inside a tag");
            throw malformed(`"/" inside the tag <${qname}>`, pos);
          }
          pos += 2;
          empty = true;
          break;
        }
        if (!spaced) throw malformed(`attributes of <${qname}> run together`, pos);
        const name = readName("an attribute");
        skipSpace();
        if (text.charCodeAt(pos) !== 0x3d /* = */) {
          if (pos >= length) throw invalid("the XML ends inside a tag");
          throw malformed(`attribute "${name.qname}" has no value`, pos);
        }
        pos += 1;
        skipSpace();
        const quote = text.charCodeAt(pos);
        if (quote !== 0x22 && quote !== 0x27) {
          if (pos >= length) throw invalid("the XML ends inside a tag");
          throw malformed(`the value of attribute "${name.qname}" is not quoted`, pos);
        }
        const end = text.indexOf(quote === 0x22 ? '"' : "'", pos + 1);
        if (end === -1) throw invalid("the XML ends inside a tag");
        if (count >= maxAttributesPerElement) {
          throw invalid(`an element has more than ${maxAttributesPerElement} attributes`);
        }
        if (++attributeCount > maxAttributes) {
          throw invalid(`the XML has more than ${maxAttributes} attributes`);
        }
        if (name.declares && ++declarationCount > maxNamespaceDeclarations) {
          throw invalid(`the XML has more than ${maxNamespaceDeclarations} namespace declarations`);
        }
        read[count * 2] = name;
        read[count * 2 + 1] = text.slice(pos + 1, end);
        count += 1;
        pos = end + 1;
      }
      const parent = stack.length === 0 ? undefined : stack[stack.length - 1];
      if (stack.length + 1 > maxDepth) {
        throw invalid(`the XML nests deeper than ${maxDepth} elements`);
      }
      if (++elementCount > maxElements) {
        throw invalid(`the XML has more than ${maxElements} elements`);
      }
      const element = elementOf(tag, read, count, parent?.inScope ?? rootScope, rootScope, lt);
      if (parent) pending[pendingCount++] = element;
      else root = element;
      if (empty) {
        element.end = pos;
      } else {
        stack.push(element);
        firstChild.push(pendingCount);
      }
    }
  }
  if (stack.length > 0) {
    throw invalid(`the XML ends inside the element <${stack[stack.length - 1].qname}>`);
  }
  if (root === null) throw invalid("the XML has no root element");
  return root;
}
