// Reads what a security server needs from an X-Road SOAP 4.0 message (PR-MESS §2): the
// `client`, `service`, `id`, `protocolVersion`, `userId`, `issue` and `representedParty` header
// fields and the single Body element, refusing what a security server refuses with the same
// codes. Attachments: the SOAP part of a multipart/related message is the first part (PR-MESS
// §2.4).

import { XMLParser } from "fast-xml-parser";
import {
  IDENTIFIERS_NS as IDENTIFIERS,
  REPRESENTATION_NS as REPRESENTATION,
  XROAD_NS as XROAD,
} from "../shared/protocol/xroad-namespaces";
import { XroadError } from "./xroad-errors";
import { forbiddenCharacter, forbiddenReference } from "../shared/protocol/character-reference";
import { mime4jBoundary } from "./mime-boundary";
import { mime4jHeaderLimit, mime4jPartContentType } from "./mime-part-header";
import { JAVA_DECODE_ONLY_CHARSETS, JAVA_WRITABLE_CHARSETS } from "./java-charsets";
import { decodeWindows1252 } from "../shared/protocol/windows-1252";

export interface SoapMessage {
  /** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`. */
  client: string | null;
  /** `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]/serviceCode[/version]`. */
  service: string | null;
  serviceCode: string | null;
  /** The `service` header's provider: `INSTANCE/CLASS/MEMBER[/SUBSYSTEM]`. */
  provider: string | null;
  id: string | null;
  protocolVersion: string | null;
  userId: string | null;
  issue: string | null;
  /** PR-MESS Annex H `representedParty`: `partyClass/partyCode` (the class may be absent). */
  representedParty: string | null;
  /** `securityServer` (PR-MESS §2.4, optional): `INSTANCE/CLASS/MEMBER/SERVERCODE`. */
  securityServer: string | null;
  /** Whether the Envelope has a SOAP Header (a Fault answer may have none). */
  hasHeader: boolean;
  /** Local name of the Body's element; "Fault" for a SOAP Fault. */
  bodyElement: string;
  /** The text of the Body element's child elements by local name (a metaservice's arguments). */
  bodyFields: Record<string, string>;
}

type Node = Record<string, unknown>;

const parser = new XMLParser({
  preserveOrder: true,
  ignoreAttributes: false,
  attributeNamePrefix: "",
  processEntities: false,
  parseTagValue: false,
  parseAttributeValue: false,
  trimValues: true,
});

const MAX_SOAP_CHARS = 10 * 1024 * 1024;

const SOAP_ENV = "http://schemas.xmlsoap.org/soap/envelope/";

/** An element with its name resolved: namespace URI ("" for none) and local name. */
interface Element {
  node: Node;
  namespace: string;
  local: string;
  /** The namespace bindings in scope inside it, by prefix ("" for the default). */
  scope: ReadonlyMap<string, string>;
}

const nameOf = (node: Node): string | null =>
  Object.keys(node).find((k) => k !== ":@" && k !== "#text") ?? null;

/** The element nodes among `nodes`, their names resolved in `scope` (XML Namespaces §6). */
function elements(nodes: Node[], scope: ReadonlyMap<string, string>): Element[] {
  const found: Element[] = [];
  for (const node of nodes) {
    const name = nameOf(node);
    if (name === null || name.startsWith("?")) continue;
    let inner = scope;
    const attributes = (node[":@"] ?? {}) as Record<string, string>;
    for (const [attribute, value] of Object.entries(attributes)) {
      if (attribute !== "xmlns" && !attribute.startsWith("xmlns:")) continue;
      if (inner === scope) inner = new Map(scope);
      (inner as Map<string, string>).set(attribute === "xmlns" ? "" : attribute.slice(6), value);
    }
    const colon = name.indexOf(":");
    const prefix = colon < 0 ? "" : name.slice(0, colon);
    const namespace = inner.get(prefix);
    if (namespace === undefined && prefix !== "") {
      throw new Error(`undeclared namespace prefix "${prefix}"`);
    }
    found.push({ node, namespace: namespace ?? "", local: name.slice(colon + 1), scope: inner });
  }
  return found;
}

const childrenOf = (element: Element): Element[] =>
  elements((element.node[nameOf(element.node) as string] as Node[]) ?? [], element.scope);

const textOf = (element: Element): string =>
  ((element.node[nameOf(element.node) as string] as Node[]) ?? [])
    .map((c) => (typeof c["#text"] === "string" ? c["#text"] : ""))
    .join("");

/** The values of an element's children in `namespace`, by local name. */
function valuesIn(element: Element, namespace: string): Map<string, string> {
  return new Map(
    childrenOf(element)
      .filter((c) => c.namespace === namespace)
      .map((c) => [c.local, textOf(c)]),
  );
}

/** Joins an identifier's parts in X-Road's order, e.g. EE/GOV/MEMBER1/SUBSYSTEM1. */
function identifier(element: Element, withService: boolean): string {
  const fields = [
    "xRoadInstance",
    "memberClass",
    "memberCode",
    "subsystemCode",
    ...(withService ? ["serviceCode", "serviceVersion"] : []),
  ];
  const values = valuesIn(element, IDENTIFIERS);
  return fields
    .map((f) => values.get(f))
    .filter((v): v is string => v !== undefined && v !== "")
    .join("/");
}

/** A security server's id in X-Road's order: EE/GOV/MEMBER1/SERVER1. */
function serverIdentifier(element: Element): string {
  const values = valuesIn(element, IDENTIFIERS);
  return ["xRoadInstance", "memberClass", "memberCode", "serverCode"]
    .map((f) => values.get(f))
    .filter((v): v is string => v !== undefined && v !== "")
    .join("/");
}

function representedParty(element: Element): string {
  const values = valuesIn(element, REPRESENTATION);
  return [values.get("partyClass") ?? "", values.get("partyCode") ?? ""].join("/");
}

/**
 * The types X-Road reads as a plain SOAP message: SoapMessageDecoder.parse switches on
 * MimeTypes.TEXT_XML and MimeTypes.XOP_XML alike, so an MTOM-style root sent without its
 * multipart wrapper is a SOAP message too.
 */
const SOAP_TYPES = new Set(["text/xml", "application/xop+xml"]);

/**
 * The type before the parameters, as X-Road's MimeUtils.getBaseContentType reads it (Jetty's
 * HttpField.valueParameters): up to the first `;`, trimmed, in the case it was sent.
 */
const jettyBaseType = (contentType: string): string => {
  const semicolon = contentType.indexOf(";");
  return semicolon < 0 ? contentType : contentType.slice(0, semicolon).trim();
};

/** The SOAP message of a request or answer: its bytes and the Content-Type they are in. */
export interface SoapBytes {
  bytes: Buffer;
  /** The Content-Type of a plain message, or the first part's own Content-Type. */
  contentType: string;
  /** Where `bytes` start and end in the whole body (all of it for a plain message). */
  start: number;
  end: number;
  /**
   * The refusal of the first part after the SOAP part that X-Road refuses: a header past
   * mime4j's limits, or no Content-Type. X-Road meets it only once the SOAP part has been read
   * (mime4j hands over the parts in order), so the caller throws it after reading the SOAP
   * message; null when every attachment passes.
   */
  attachmentError: XroadError | null;
}

/**
 * What SoapMessageDecoder's mime4j handler throws for a part without a Content-Type line, the
 * SOAP part or any attachment (SoapMessageDecoder.MultipartHandler.body).
 */
const untypedPartError = (prefix: string): XroadError =>
  new XroadError(`${prefix}InvalidContentType`, "Could not get content type for part");

/**
 * The SOAP message's bytes: the whole body, or the first part of a multipart/related one
 * (PR-MESS §2.4), exactly as sent, so that `requestHash` covers them and Xerces' reading of
 * them (`soapText`) can be followed. Lines may end in CRLF or in LF alone: X-Road's MIME
 * parser (mime4j, not strict) takes both, and X-Road's own test messages use LF.
 */
export function soapBytes(body: Buffer, contentType: string, prefix: string): SoapBytes {
  const base = jettyBaseType(contentType);
  const type = base.toLowerCase();
  if (SOAP_TYPES.has(type)) {
    return { bytes: body, contentType, start: 0, end: body.length, attachmentError: null };
  }
  if (type !== "multipart/related") {
    throw new XroadError(`${prefix}InvalidContentType`, `Invalid content type: ${base}`);
  }
  // X-Road reads the type with Jetty's HttpField.valueParameters, the boundary with mime4j.
  const boundary = mime4jBoundary(contentType);
  // An empty `boundary=` is a boundary to mime4j (FallbackBodyDescriptorBuilder keeps any
  // non-null one): its delimiter lines are `--` alone.
  if (boundary === null) {
    // mime4j (FallbackBodyDescriptorBuilder.parseContentType) keeps no multipart type without a
    // boundary: the body is one text/plain entity, handed whole to SoapMessageDecoder's part
    // handler with the request's own Content-Type, which SaxSoapParserImpl.validateMimeType
    // then refuses as a SOAP part's type.
    throw new XroadError(`${prefix}InvalidContentType`, `Invalid content type: ${base}`);
  }
  const delimiter = Buffer.from(`--${boundary}`);
  const part = partAfter(body, delimiter, delimiterLine(body, delimiter, 0));
  if (part === null || part.start < 0 || part.next < 0) {
    throw new XroadError(`${prefix}MimeParsingFailed`, "Could not find the SOAP part");
  }
  const partType = partContentType(body.subarray(part.headersStart, part.start), prefix);
  if (partType instanceof XroadError) throw partType;
  // The SOAP part is read by the same SaxSoapParserImpl, whose validateMimeType takes the types
  // of a plain message only.
  const partBase = jettyBaseType(partType);
  if (!SOAP_TYPES.has(partBase.toLowerCase())) {
    throw new XroadError(`${prefix}InvalidContentType`, `Invalid content type: ${partBase}`);
  }
  let attachmentError: XroadError | null = null;
  for (let later = partAfter(body, delimiter, part.next); later && !attachmentError;) {
    const headersEnd = later.start >= 0 ? later.start : later.next >= 0 ? later.next : body.length;
    const type = partContentType(body.subarray(later.headersStart, headersEnd), prefix);
    if (type instanceof XroadError) attachmentError = type;
    later = later.next < 0 ? null : partAfter(body, delimiter, later.next);
  }
  const { start, end } = part;
  return { bytes: body.subarray(start, end), contentType: partType, start, end, attachmentError };
}

/**
 * A part's Content-Type, or how X-Road refuses the part: mime4j holds every part's header, the
 * SOAP part's and each attachment's, to the same MimeConfig limits (MimeEntity.nextMimeEntity
 * hands each part the parser's config), a MimeException coded MimeParsingFailed
 * (SoapMessageDecoder.readMultipart); then a part without a Content-Type is refused.
 */
function partContentType(headerBytes: Buffer, prefix: string): string | XroadError {
  const headers = headerBytes.toString("latin1");
  const limit = mime4jHeaderLimit(headers);
  if (limit !== null) return new XroadError(`${prefix}MimeParsingFailed`, limit);
  return mime4jPartContentType(headers) ?? untypedPartError(prefix);
}

const LF = 0x0a;
const CR = 0x0d;
const DASH = 0x2d;

/** mime4j's CharsetUtil.isWhitespace, for a byte. */
const isWhitespace = (byte: number | undefined): boolean =>
  byte === 0x20 || byte === 0x09 || byte === CR || byte === LF;

/**
 * Where the next delimiter line from `from` starts, or -1. As mime4j's MimeBoundaryInputStream
 * .fillBuffer finds one: the delimiter starts a line and is followed by whitespace, a `-` or the
 * end of the body, so `--b` is no delimiter of boundary `b` in a line `--bc`.
 */
function delimiterLine(body: Buffer, delimiter: Buffer, from: number): number {
  for (let at = body.indexOf(delimiter, from); at >= 0; at = body.indexOf(delimiter, at + 1)) {
    const after = at + delimiter.length;
    const ends = after >= body.length || isWhitespace(body[after]) || body[after] === DASH;
    if ((at === 0 || body[at - 1] === LF) && ends) return at;
  }
  return -1;
}

/**
 * The part that the delimiter line at `at` opens, or null past the close delimiter (`--` after
 * the boundary) or the end: where its headers start, where its content starts (after the blank
 * line; -1 without one) and ends (before the line break ahead of the next delimiter line), and
 * where that next delimiter line starts (-1: the part runs to the end of the body).
 */
function partAfter(
  body: Buffer,
  delimiter: Buffer,
  at: number,
): { headersStart: number; start: number; end: number; next: number } | null {
  if (at < 0) return null;
  const after = at + delimiter.length;
  if (body[after] === DASH && body[after + 1] === DASH) return null;
  const headersStart = body.indexOf(LF, after) + 1;
  if (headersStart === 0) return null;
  // The blank line: a line end right at the start (no headers), or two line ends in a row.
  let start = -1;
  for (let i = headersStart - 1; i >= 0 && i < body.length; i = body.indexOf(LF, i + 1)) {
    const next = body[i + 1] === CR ? i + 2 : i + 1;
    if (body[next] === LF) {
      start = next + 1;
      break;
    }
  }
  const next = delimiterLine(body, delimiter, start < 0 ? headersStart : start);
  const end = next < 0 ? body.length : next >= 2 && body[next - 2] === CR ? next - 2 : next - 1;
  return { headersStart, start, end: Math.max(end, start), next };
}

/**
 * The charset parameter of a Content-Type as X-Road reads it (MimeUtils.getCharset over Jetty's
 * HttpField.valueParameters: the value unquoted, the name in any case), or null.
 */
function contentTypeCharset(contentType: string): string | null {
  const match = /;\s*charset\s*=\s*("([^"]*)"|[^;]*)/i.exec(contentType);
  if (!match) return null;
  const value = (match[2] ?? match[1]).trim();
  return value === "" ? null : value;
}

/**
 * Refuses a Content-Type whose charset Java has no writer for, as X-Road does: `new
 * OutputStreamWriter(processedXml, charset)` throws UnsupportedEncodingException for a name the
 * JDK does not know (an illegal name too), an IOException, which translateException codes
 * `IOError` with the name as its message. A charset the JDK only decodes (ISO-2022-CN,
 * x-JISAutoDetect) gets that far and fails in `newEncoder()` with an
 * UnsupportedOperationException without a message: `InternalError`, whose fault string
 * SoapFault.createFaultXml writes as `null`. The names are the JDK's own (java-charsets.ts,
 * generated from Java 17's Charset.availableCharsets(), which X-Road 7.4 runs on), in any case.
 */
function checkContentTypeCharset(contentType: string, prefix: string): void {
  const charset = contentTypeCharset(contentType);
  if (charset === null || JAVA_WRITABLE_CHARSETS.has(charset.toLowerCase())) return;
  if (JAVA_DECODE_ONLY_CHARSETS.has(charset.toLowerCase())) {
    throw new XroadError(`${prefix}InternalError`, "null");
  }
  throw new XroadError(`${prefix}IOError`, charset);
}

/**
 * The single-byte encodings Xerces' EncodingMap names (IANA name to a Java charset) beyond
 * ISO-8859-1 and US-ASCII: Xerces reads them with Java's InputStreamReader. The simulator reads
 * them with the WHATWG table of the same name (a byte Java leaves unmapped may read otherwise).
 */
const SINGLE_BYTE = [
  ...["windows-1250", "windows-1251", "windows-1252", "windows-1253", "windows-1254"],
  ...["windows-1255", "windows-1256", "windows-1257", "windows-1258"],
  ...["iso-8859-2", "iso-8859-3", "iso-8859-4", "iso-8859-5", "iso-8859-6", "iso-8859-7"],
  ...["iso-8859-8", "iso-8859-9", "iso-8859-13", "iso-8859-15"],
] as const;
type SingleByte = (typeof SINGLE_BYTE)[number];

/** The encodings the simulator decodes, by the name an XML declaration may give them. */
type XmlEncoding = "utf8" | "latin1" | "ascii" | "utf16le" | "utf16be" | SingleByte;

const DECLARED_ENCODINGS: Record<string, XmlEncoding> = {
  "utf-8": "utf8",
  utf8: "utf8",
  "us-ascii": "ascii",
  ascii: "ascii",
  "iso-8859-1": "latin1",
  "iso_8859-1": "latin1",
  latin1: "latin1",
  l1: "latin1",
  "utf-16": "utf16le",
  "utf-16le": "utf16le",
  "utf-16be": "utf16be",
  ...Object.fromEntries(SINGLE_BYTE.map((name) => [name, name])),
  ...Object.fromEntries(SINGLE_BYTE.map((name) => [name.replace("iso-", "iso_"), name])),
  "latin-9": "iso-8859-15",
  "iso-8859-8-i": "iso-8859-8",
};

/** Each single-byte encoding's 256 characters, and the way back. */
const SINGLE_BYTE_TABLES = new Map<string, { chars: string[]; bytes: Map<string, number> }>(
  SINGLE_BYTE.map((name) => {
    // Node 20's TextDecoder reads windows-1252 as ISO-8859-1 (0x80 as U+0080, not "€").
    const decoder = new TextDecoder(name);
    const decode = (byte: number): string =>
      name === "windows-1252"
        ? decodeWindows1252(Buffer.of(byte))
        : decoder.decode(Uint8Array.of(byte));
    const chars = Array.from({ length: 256 }, (_, byte) => decode(byte));
    return [name, { chars, bytes: new Map(chars.map((char, byte) => [char, byte])) }];
  }),
);

/** The XML text and the encoding it was read in. */
export interface SoapText {
  xml: string;
  encoding: XmlEncoding;
  /** The byte order mark the bytes started with (empty without one). */
  bom: Buffer;
}

/** The `encoding` of an XML declaration at the very start of `head`, or null. */
function declaredEncoding(head: string): string | null {
  const decl = /^<\?xml[ \t\r\n][^>]*?\bencoding[ \t\r\n]*=[ \t\r\n]*(?:"([^"]*)"|'([^']*)')/.exec(
    head,
  );
  return decl ? (decl[1] ?? decl[2]) : null;
}

const invalidBytes = (prefix: string, encoding: string): XroadError =>
  // Xerces reports the MalformedByteSequenceException as a fatal error: the SAXParseException
  // becomes a SOAPException in SaxSoapParserImpl.handleSoap, which translateException codes
  // InvalidSoap.
  new XroadError(`${prefix}InvalidSoap`, `Invalid byte sequence for ${encoding}`);

/**
 * Decodes `bytes` as Xerces 2.12 reads an XML entity: the encoding is that of a byte order mark
 * (UTF-8, UTF-16BE, UTF-16LE), else of the first bytes of `<?` in UTF-16, else UTF-8; an XML
 * declaration's `encoding` then switches the rest (XMLEntityManager.getEncodingName,
 * XMLEntityScanner.setEncoding). A byte sequence the encoding does not allow is refused.
 */
function decodeXml(bytes: Buffer, prefix: string): SoapText {
  let encoding: XmlEncoding = "utf8";
  let bomLength = 0;
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) bomLength = 3;
  else if (bytes[0] === 0xfe && bytes[1] === 0xff) [encoding, bomLength] = ["utf16be", 2];
  else if (bytes[0] === 0xff && bytes[1] === 0xfe) [encoding, bomLength] = ["utf16le", 2];
  else if (bytes[0] === 0x00 && bytes[1] === 0x3c && bytes[2] === 0x00 && bytes[3] === 0x3f) {
    encoding = "utf16be";
  } else if (bytes[0] === 0x3c && bytes[1] === 0x00 && bytes[2] === 0x3f && bytes[3] === 0x00) {
    encoding = "utf16le";
  }
  const body = bytes.subarray(bomLength);
  const utf16 = encoding !== "utf8";
  const head = decode(body.subarray(0, 400), encoding, prefix, true);
  const declared = declaredEncoding(head);
  if (declared !== null) {
    const named = DECLARED_ENCODINGS[declared.toLowerCase()];
    // Xerces refuses a name it cannot map to a Java reader (EncodingDeclInvalid), a fatal error.
    if (named === undefined) {
      throw new XroadError(`${prefix}InvalidSoap`, `Invalid encoding name "${declared}".`);
    }
    // UTF-16 found by its byte order mark or its first bytes stays so under `UTF-16`.
    if (!utf16 || (declared.toLowerCase() !== "utf-16" && named !== encoding)) encoding = named;
  }
  return {
    xml: decode(body, encoding, prefix, false),
    encoding,
    bom: bytes.subarray(0, bomLength),
  };
}

function decode(bytes: Buffer, encoding: XmlEncoding, prefix: string, partial: boolean): string {
  if (encoding === "latin1") return bytes.toString("latin1");
  const table = SINGLE_BYTE_TABLES.get(encoding);
  // Java's InputStreamReader replaces what it cannot read: no byte is refused.
  if (table) return Array.from(bytes, (byte) => table.chars[byte]).join("");
  if (encoding === "ascii") {
    if (bytes.some((byte) => byte > 0x7f)) throw invalidBytes(prefix, "US-ASCII");
    return bytes.toString("latin1");
  }
  const label = encoding === "utf8" ? "utf-8" : encoding === "utf16le" ? "utf-16le" : "utf-16be";
  try {
    // A head cut inside a character is no error: only the whole message is checked.
    return new TextDecoder(label, { fatal: !partial, ignoreBOM: true }).decode(bytes);
  } catch {
    throw invalidBytes(prefix, label.toUpperCase());
  }
}

/**
 * The SOAP message as text, read as X-Road's SaxSoapParserImpl reads it: the bytes go to the
 * SAX parser, which takes the encoding from a byte order mark or the XML declaration, else
 * UTF-8 (PR-MESS §2.6 names UTF-8); the Content-Type charset only names the processed-output
 * writer (an unsupported one is refused) and whether a UTF-8 byte order mark is stripped first,
 * which Xerces skips anyway.
 */
export function soapText(soap: SoapBytes, prefix: string): SoapText {
  checkContentTypeCharset(soap.contentType, prefix);
  return decodeXml(soap.bytes, prefix);
}

/** `text` in `encoding`, as a message read by `soapText` is written back. */
export function encodeXml(text: string, encoding: XmlEncoding): Buffer {
  const table = SINGLE_BYTE_TABLES.get(encoding);
  if (table) return Buffer.from(Array.from(text, (char) => table.bytes.get(char) ?? 0x3f));
  if (encoding === "utf8" || encoding === "utf16le") return Buffer.from(text, encoding);
  if (encoding === "utf16be") return Buffer.from(text, "utf16le").swap16();
  return Buffer.from(text, "latin1");
}

/** Where a reference is no reference but the characters as written (XML 1.0 §2.5, §2.6, §2.7). */
const LITERAL_SECTIONS: ReadonlyArray<readonly [open: string, close: string]> = [
  ["<!--", "-->"],
  ["<![CDATA[", "]]>"],
  ["<?", "?>"],
];

/**
 * The stretches of `xml` outside comments, CDATA sections and PIs, as [start, end) in order:
 * there `&#0;` and `<!DOCTYPE` are only characters, which a SAX parser reads as they are. An
 * unterminated section ends them: what follows is left to the parser, which refuses it.
 */
function* outsideLiterals(xml: string): Generator<readonly [start: number, end: number]> {
  let from = 0;
  let at = xml.indexOf("<");
  while (at >= 0) {
    const section = LITERAL_SECTIONS.find(([open]) => xml.startsWith(open, at));
    if (section === undefined) {
      at = xml.indexOf("<", at + 1);
      continue;
    }
    yield [from, at];
    const close = xml.indexOf(section[1], at + section[0].length);
    if (close < 0) return;
    from = close + section[1].length;
    at = xml.indexOf("<", from);
  }
  yield [from, xml.length];
}

/** The first reference to a character XML does not allow in `xml`'s text and attribute values. */
function referenceOutsideLiterals(xml: string): { reference: string; at: number } | null {
  for (const [start, end] of outsideLiterals(xml)) {
    const found = forbiddenReference(xml, start, end);
    if (found !== null) return found;
  }
  return null;
}

/**
 * Whether `xml` declares a DOCTYPE. X-Road's SAX parser refuses the declaration itself
 * (SaxSoapParserImpl sets XmlUtils.FEATURE_DISALLOW_DOCTYPE, disallow-doctype-decl); anywhere
 * else than the prolog `<!DOCTYPE` is not well-formed, refused as InvalidSoap too. Each stretch
 * is searched once.
 */
function doctypeOutsideLiterals(xml: string): boolean {
  for (const [start, end] of outsideLiterals(xml)) {
    if (/<!DOCTYPE/i.test(xml.slice(start, end))) return true;
  }
  return false;
}

/**
 * Parses a SOAP message. `prefix` is `Client.` for a client's request, and
 * `Server.ServerProxy.ServiceFailed.` for a provider's answer; a request must have a SOAP Header.
 */
export function readSoapMessage(xml: string, prefix: string, requireHeader = false): SoapMessage {
  // X-Road's SAX handler leaves fatalError as DefaultHandler throws it: handleSoap wraps the
  // SAXParseException of XML that is not well-formed in a SOAPException, which
  // translateException codes InvalidSoap (only its `error`, for recoverable errors, is InvalidXml).
  if (xml.trim() === "") throw new XroadError(`${prefix}InvalidSoap`, "Empty SOAP message");
  if (xml.length > MAX_SOAP_CHARS) {
    throw new XroadError(`${prefix}InvalidSoap`, "SOAP message too large");
  }
  if (doctypeOutsideLiterals(xml)) {
    throw new XroadError(`${prefix}InvalidSoap`, "DOCTYPE is not allowed");
  }
  // X-Road's SAX parser refuses a character XML does not allow, written as itself or referred to
  // (`&#0;` outside comments, CDATA and PIs), as it refuses any XML that is not well-formed;
  // fast-xml-parser reads both.
  const character = forbiddenCharacter(xml);
  if (character !== null) {
    throw new XroadError(
      `${prefix}InvalidSoap`,
      `Malformed XML: an invalid XML character (${character.character}) at offset ${character.at}`,
    );
  }
  const reference = referenceOutsideLiterals(xml);
  if (reference !== null) {
    throw new XroadError(
      `${prefix}InvalidSoap`,
      `Malformed XML: character reference ${reference.reference} is an invalid XML character`,
    );
  }
  let envelope: Element | undefined;
  try {
    const doc = parser.parse(xml, true) as Node[];
    envelope = elements(doc, new Map()).find((n) => n.local === "Envelope");
  } catch (error) {
    throw new XroadError(`${prefix}InvalidSoap`, `Malformed XML: ${(error as Error).message}`);
  }
  if (!envelope || envelope.namespace !== SOAP_ENV)
    throw new XroadError(`${prefix}InvalidSoap`, "Malformed SOAP message: no Envelope");
  const parts = childrenOf(envelope).filter((n) => n.namespace === SOAP_ENV);
  const header = parts.find((n) => n.local === "Header");
  const body = parts.find((n) => n.local === "Body");
  // A request's Header is checked before its Body, as X-Road's parser does (SaxSoapParserImpl).
  if (requireHeader && !header) {
    throw new XroadError(`${prefix}MissingHeader`, "Malformed SOAP message: header missing");
  }
  if (!body) throw new XroadError(`${prefix}MissingBody`, "Malformed SOAP message: body missing");
  const bodyElements = childrenOf(body);
  if (bodyElements.length !== 1) {
    throw new XroadError(
      `${prefix}InvalidBody`,
      "Malformed SOAP message: body must contain exactly one element",
    );
  }
  const bodyElement = bodyElements[0].local;
  const bodyFields: Record<string, string> = {};
  for (const field of childrenOf(bodyElements[0])) {
    bodyFields[field.local] = textOf(field);
  }
  const message: SoapMessage = {
    client: null,
    service: null,
    serviceCode: null,
    provider: null,
    id: null,
    protocolVersion: null,
    userId: null,
    issue: null,
    representedParty: null,
    securityServer: null,
    hasHeader: header !== undefined,
    bodyElement,
    bodyFields,
  };
  if (!header) return message;
  // Only X-Road's own elements are its header fields, each at most once (SaxSoapParserImpl).
  const seen = new Set<string>();
  for (const field of childrenOf(header)) {
    const name = field.local;
    const isField =
      (field.namespace === XROAD && XROAD_FIELDS.has(name)) ||
      (field.namespace === REPRESENTATION && name === "representedParty");
    if (!isField) continue;
    if (seen.has(name)) {
      throw new XroadError(
        `${prefix}DuplicateHeaderField`,
        `Duplicate header field '${name}' in the SOAP header`,
      );
    }
    seen.add(name);
    if (name === "client") message.client = identifier(field, false);
    else if (name === "service") {
      message.service = identifier(field, true);
      message.provider = identifier(field, false);
      message.serviceCode = valuesIn(field, IDENTIFIERS).get("serviceCode") ?? null;
    } else if (name === "id") message.id = textOf(field);
    else if (name === "protocolVersion") message.protocolVersion = textOf(field);
    else if (name === "userId") message.userId = textOf(field);
    else if (name === "issue") message.issue = textOf(field);
    else if (name === "representedParty") message.representedParty = representedParty(field);
    else if (name === "securityServer") message.securityServer = serverIdentifier(field);
  }
  return message;
}

/** X-Road's header fields in its own namespace (PR-MESS Annex B). */
const XROAD_FIELDS = new Set([
  "client",
  "service",
  "id",
  "protocolVersion",
  "userId",
  "issue",
  "requestHash",
  "securityServer",
]);

/** Checks a client's request as a consumer security server does; throws the X-Road error. */
export function checkSoapRequest(xml: string): SoapMessage & { client: string; service: string } {
  const message = readSoapMessage(xml, "Client.", true);
  // X-Road's ProtocolVersion refuses anything but 4.x (PR-MESS §2.2: one major version is
  // compatible) as the header is read, before SaxSoapParserImpl.validateHeader looks for the
  // required fields in its order: protocolVersion, client, id, then service.
  const version = message.protocolVersion;
  if (version !== null && version !== "" && !version.startsWith("4.")) {
    throw new XroadError(
      "Client.InvalidProtocolVersion",
      `Invalid protocol version (supported: 4.x, provided: ${version})`,
    );
  }
  for (const field of ["protocolVersion", "client", "id"] as const) {
    if (!message[field]) {
      throw new XroadError("Client.MissingHeaderField", `Required field '${field}' is missing`);
    }
  }
  if (!message.service) {
    throw new XroadError("Client.MissingHeaderField", "Message header must contain service id");
  }
  checkServiceName(message, "Client.");
  return message as SoapMessage & { client: string; service: string };
}

/**
 * Checks a provider's answer as X-Road 7.4's server proxy parses it (ServerMessageProcessor
 * reads it with SaxSoapParserImpl, each error under `prefix`, its `ServiceFailed.`): the
 * protocolVersion as it is read, a Fault as it came, and any other answer as a request is
 * checked, its Header and required fields, and its Body element named for the answer's own
 * service code (`SoapUtils.validateServiceName`: PR-MESS §2.3's `fooResponse` for `foo`).
 */
export function checkSoapAnswer(message: SoapMessage, prefix: string): void {
  const version = message.protocolVersion;
  if (version !== null && !version.startsWith("4.")) {
    throw new XroadError(
      `${prefix}InvalidProtocolVersion`,
      `Invalid protocol version (supported: 4.x, provided: ${version})`,
    );
  }
  if (message.bodyElement === "Fault") return;
  if (!message.hasHeader) {
    throw new XroadError(`${prefix}MissingHeader`, "Malformed SOAP message: header missing");
  }
  for (const field of ["protocolVersion", "client", "id"] as const) {
    if (message[field] === null) {
      throw new XroadError(`${prefix}MissingHeaderField`, `Required field '${field}' is missing`);
    }
  }
  if (message.service === null) {
    throw new XroadError(`${prefix}MissingHeaderField`, "Message header must contain service id");
  }
  checkServiceName(message, prefix);
}

/**
 * X-Road's SoapUtils.validateServiceName, which SaxSoapParserImpl applies to a request and an
 * answer alike: the Body element's local name must begin with the header's service code, so
 * `testQueryRequest` or `testQueryResponse` passes for `testQuery` (PR-MESS §2.3 names neither
 * for a request), and only a name that does not start with it is refused.
 */
function checkServiceName(message: SoapMessage, prefix: string): void {
  if (!message.bodyElement.startsWith(message.serviceCode ?? "")) {
    throw new XroadError(
      `${prefix}InconsistentHeaders`,
      "Malformed SOAP message: service code does not match in header and body",
    );
  }
}

/**
 * Adds `requestHash` (PR-MESS §2.2: filled in by the provider's security server) to the
 * answer's header, replacing one the service may have sent.
 */
export function withRequestHash(xml: string, hashBase64: string): string {
  const cleaned = xml.replace(/<([\w.-]+:)?requestHash\b[^>]*>[\s\S]*?<\/\1?requestHash>/, "");
  const close = /<\/([\w.-]+:)?Header>/.exec(cleaned);
  if (!close) return cleaned;
  const field =
    '<xrd:requestHash xmlns:xrd="http://x-road.eu/xsd/xroad.xsd" ' +
    `algorithmId="http://www.w3.org/2001/04/xmlenc#sha512">${hashBase64}</xrd:requestHash>`;
  return cleaned.slice(0, close.index) + field + cleaned.slice(close.index);
}
