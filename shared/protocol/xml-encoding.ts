// Turns the bytes of an XML message into text: byte-order mark first, then the HTTP charset,
// then the XML declaration, as RFC 7303 orders them. Unknown charsets are refused, never guessed.
// The adapter reads callers' SOAP requests with it, the worker its SOAP backends' answers and
// REST callers' XML bodies.

import { SluiceError } from "./errors";
import { CONTENT_TYPE_PARAMETER as PARAMETER } from "./multipart-related";
import { decodeWindows1252, WINDOWS_1252_LABELS } from "./windows-1252";

type Decoder = (bytes: Buffer) => string;

const utf8: Decoder = (bytes) => strictDecode("utf-8", bytes);
// Node's TextDecoder maps the "latin1" labels to windows-1252; Buffer's latin1 is the real
// ISO-8859-1 (each byte is the code point of the same value).
const latin1: Decoder = (bytes) => bytes.toString("latin1");
const windows1252: Decoder = decodeWindows1252;
const utf16le: Decoder = (bytes) => strictDecode("utf-16le", bytes);
const utf16be: Decoder = (bytes) => strictDecode("utf-16be", bytes);

const DECODERS: Record<string, Decoder> = {
  "utf-8": utf8,
  utf8: utf8,
  "us-ascii": utf8,
  ascii: utf8,
  "iso-8859-1": latin1,
  "iso8859-1": latin1,
  "iso_8859-1": latin1,
  latin1: latin1,
  l1: latin1,
  ...Object.fromEntries([...WINDOWS_1252_LABELS].map((label) => [label, windows1252])),
  // Without a byte-order mark UTF-16 is big-endian (RFC 2781).
  "utf-16": utf16be,
  "utf-16be": utf16be,
  "utf-16le": utf16le,
};

/**
 * One strict decoder per encoding: a decode without `stream` keeps nothing for the next one.
 * Each keeps a byte-order mark (`ignoreBOM`): decodeXml takes the one a message may start
 * with, and TextDecoder taking another would let a second mark through as if never sent.
 */
const STRICT_DECODERS = new Map<string, InstanceType<typeof TextDecoder>>();

function strictDecode(encoding: string, bytes: Buffer): string {
  let decoder = STRICT_DECODERS.get(encoding);
  if (decoder === undefined) {
    decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true });
    STRICT_DECODERS.set(encoding, decoder);
  }
  try {
    return decoder.decode(bytes);
  } catch {
    throw new SluiceError("InvalidXml", `the message is not valid ${encoding.toUpperCase()}`);
  }
}

/**
 * A decoder for a charset outside DECODERS that the WHATWG Encoding Standard names (a backend
 * answering in windows-1257, say), or undefined.
 */
function namedDecoder(label: string): Decoder | undefined {
  try {
    new TextDecoder(label);
  } catch {
    return undefined;
  }
  return (bytes) => strictDecode(label.toLowerCase(), bytes);
}

/**
 * The (first) `charset` parameter of a Content-Type header value, lower-cased, if present; read
 * parameter by parameter, so a `charset=` inside another one's quoted value is none.
 */
export function charsetOf(contentType: string | undefined | null): string | undefined {
  if (!contentType) return undefined;
  PARAMETER.lastIndex = 0;
  for (let match = PARAMETER.exec(contentType); match; match = PARAMETER.exec(contentType)) {
    if (match[1].toLowerCase() !== "charset") continue;
    const raw = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3];
    const value = (match[2] !== undefined ? raw : (/^\s*([^\s]*)/.exec(raw)?.[1] ?? ""))
      .trim()
      .toLowerCase();
    return value === "" ? undefined : value;
  }
  return undefined;
}

/** The `encoding` of an XML declaration at the start of ASCII-compatible bytes. */
function declaredEncoding(bytes: Buffer): string | undefined {
  const head = bytes.subarray(0, 256).toString("latin1");
  if (!head.startsWith("<?xml")) return undefined;
  const end = head.indexOf("?>");
  const declaration = end === -1 ? head : head.slice(0, end);
  const match = /\sencoding\s*=\s*(?:"([^"]*)"|'([^']*)')/.exec(declaration);
  return match ? (match[1] ?? match[2]).trim().toLowerCase() : undefined;
}

/** Whether `bytes` begin with `prefix`. */
function begins(bytes: Buffer, ...prefix: number[]): boolean {
  return prefix.every((byte, at) => bytes[at] === byte);
}

/**
 * The encoding a byte-order mark at the start of `bytes` names, and the mark's length in bytes;
 * undefined without one. The mark decides the encoding for every reader, over any charset or
 * declaration.
 */
function markedEncoding(
  bytes: Buffer,
): { encoding: "utf-8" | "utf-16le" | "utf-16be"; length: number } | undefined {
  if (begins(bytes, 0xef, 0xbb, 0xbf)) return { encoding: "utf-8", length: 3 };
  if (begins(bytes, 0xff, 0xfe)) return { encoding: "utf-16le", length: 2 };
  if (begins(bytes, 0xfe, 0xff)) return { encoding: "utf-16be", length: 2 };
  return undefined;
}

/** UTF-16 without a byte-order mark, told by the byte order of the "<?" it starts with. */
function unmarkedUtf16(bytes: Buffer): "utf-16le" | "utf-16be" | undefined {
  if (begins(bytes, 0x3c, 0, 0x3f, 0)) return "utf-16le";
  if (begins(bytes, 0, 0x3c, 0, 0x3f)) return "utf-16be";
  return undefined;
}

/**
 * Decodes an XML message. `charset` is the Content-Type's charset parameter (it wins over the
 * XML declaration, RFC 7303 §3.2); a byte-order mark wins over both, and is not in the result
 * (a second one is: a character before the root element, which the XML reader refuses). Throws Client.InvalidContentType for an unknown HTTP charset and
 * Client.InvalidXml for an unknown declared encoding or bytes that do not decode.
 */
export function decodeXml(
  bytes: Buffer,
  charset?: string,
  /**
   * Also any charset the WHATWG Encoding Standard names, not only those callers are told to use
   * (UTF-8, UTF-16, ISO-8859-1): for what a backend answers, which Sluice reads as it comes.
   */
  anyCharset = false,
): string {
  const mark = markedEncoding(bytes);
  if (mark !== undefined) return DECODERS[mark.encoding](bytes.subarray(mark.length));
  // UTF-16 without a byte-order mark shows itself by the "<?" of its declaration, unless a
  // charset names another encoding: the charset outranks the declaration (RFC 7303 §3.2), and
  // reading the bytes as UTF-16 anyway accepted what a reader keeping that order refuses.
  // UTF-16LE and UTF-16BE name their byte order too (RFC 2781 §3.3): only "utf-16" leaves it open.
  if (charset === undefined || charset.toLowerCase() === "utf-16") {
    const unmarked = unmarkedUtf16(bytes);
    if (unmarked === "utf-16le") return utf16le(bytes);
    if (unmarked === "utf-16be") return utf16be(bytes);
  }
  if (charset !== undefined) {
    const decoder =
      DECODERS[charset.toLowerCase()] ?? (anyCharset ? namedDecoder(charset) : undefined);
    if (!decoder) {
      throw new SluiceError(
        "InvalidContentType",
        `unsupported charset "${charset}" (use UTF-8, UTF-16 or ISO-8859-1)`,
      );
    }
    return decoder(bytes);
  }
  const declared = declaredEncoding(bytes);
  // declaredEncoding read "<?xml" one byte per character: text UTF-16 does not write so (and
  // UTF-16 without a byte-order mark was recognised above). Decoded as UTF-16 anyway, the bytes
  // failed as "not valid UTF-16BE" or read as other text (XML 1.0 §4.3.3, Appendix F).
  if (declared !== undefined && declared.startsWith("utf-16")) {
    throw new SluiceError(
      "InvalidXml",
      `the XML declaration names "${declared}", but the message is not written in it (its "<?xml" is in single bytes)`,
    );
  }
  if (declared !== undefined) {
    const decoder = DECODERS[declared] ?? (anyCharset ? namedDecoder(declared) : undefined);
    if (!decoder) {
      throw new SluiceError(
        "InvalidXml",
        `unsupported XML encoding "${declared}" (use UTF-8, UTF-16 or ISO-8859-1)`,
      );
    }
    return decoder(bytes);
  }
  return utf8(bytes);
}

/**
 * The encoding X-Road's security server reads a SOAP message in when it has no byte-order mark
 * (SaxSoapParserImpl hands the bytes to Xerces, which never looks at the Content-Type): UTF-16
 * by the first bytes of its "<?", else the XML declaration's `encoding`, else UTF-8.
 */
function securityServerEncoding(bytes: Buffer): string {
  return unmarkedUtf16(bytes) ?? declaredEncoding(bytes) ?? "utf-8";
}

/**
 * Decodes a SOAP message as decodeXml does, and refuses (Client.InvalidXml) one that X-Road's
 * security server, which passed it on, read as other text: a Content-Type `charset` that names
 * one encoding while the XML declaration (or, without one, XML's UTF-8, or UTF-16 by its first
 * bytes) names another that reads the same bytes differently. Sluice takes the charset (RFC
 * 7303 §3.2) and the security server the declaration, so taking either would give the backend
 * text that the other reading, and perhaps the caller, never meant.
 */
export function decodeSoapXml(bytes: Buffer, charset?: string): string {
  const text = decodeXml(bytes, charset);
  if (charset === undefined) return text;
  // A byte-order mark decides for both readers.
  if (markedEncoding(bytes) !== undefined) return text;
  const theirs = securityServerEncoding(bytes);
  const ours = charset.toLowerCase();
  // A declaration naming UTF-16 on single-byte text: the security server refuses it.
  if (theirs.startsWith("utf-16") && bytes[0] !== 0 && bytes[1] !== 0) return text;
  const decoder = DECODERS[theirs] ?? namedDecoder(theirs);
  if (decoder === undefined || decoder === DECODERS[ours]) return text;
  let other: string;
  try {
    other = decoder(bytes);
  } catch {
    // Bytes the security server could not have read: the charset's reading stands.
    return text;
  }
  if (other === text) return text;
  const by = theirs.startsWith("utf-16")
    ? "its first bytes"
    : declaredEncoding(bytes) === undefined
      ? "XML's default"
      : "its XML declaration";
  throw new SluiceError(
    "InvalidXml",
    `the Content-Type names charset "${charset}", but the message reads otherwise in ${theirs.toUpperCase()}, which X-Road reads it in (${by})`,
  );
}
