// multipart/related bodies (SOAP with Attachments and MTOM), read and written: the reader is
// small and bounded, finds the root part holding the envelope and returns the other parts as
// attachments, bytes untouched; the writer packs an envelope and such parts the same way.

import { randomUUID } from "node:crypto";
import { isPaddedBase64 } from "./base64";
import { SluiceError } from "./errors";

export interface MultipartLimits {
  /** Most parts accepted, root included. */
  maxParts: number;
  /** Largest header block of one part, in bytes. */
  maxHeaderBytes: number;
  /** Largest single part, in bytes. */
  maxPartBytes: number;
}

export const DEFAULT_MULTIPART_LIMITS: MultipartLimits = {
  maxParts: 100,
  maxHeaderBytes: 16 * 1024,
  maxPartBytes: 10 * 1024 * 1024,
};

export interface MimePart {
  /** Content-ID without the angle brackets, when the part has one. */
  contentId?: string;
  contentType: string;
  /** The part's headers, names lower-cased. */
  headers: Record<string, string>;
  /** The part's bytes exactly as received (any Content-Transfer-Encoding left as it is). */
  data: Buffer;
}

export interface MultipartRelated {
  /** The root part (the SOAP envelope). */
  root: MimePart;
  /** True when the root is `application/xop+xml` (MTOM). */
  mtom: boolean;
  attachments: MimePart[];
}

/**
 * One `; name=value` parameter of a Content-Type (global: reset `lastIndex` before a scan). A
 * quoted value is read whole (group 2, quoted-pairs still escaped), so what a quoted parameter
 * holds (`type="text/xml; charset=utf-8"`, MTOM's root part) is no parameter itself; else the
 * value runs to the next `;` (group 3). Group 1 is the name.
 */
export const CONTENT_TYPE_PARAMETER = /;\s*([^=;\s]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^;]*))/g;

/**
 * Media type (lower-case, no parameters) and parameters (names lower-cased, quotes removed; the
 * last of a name given twice), with `repeated`: the first parameter name given more than once
 * (RFC 6838 §4.3 calls that an error), else undefined.
 */
export function parseContentType(value: string): {
  type: string;
  params: Record<string, string>;
  repeated?: string;
} {
  const semicolon = value.indexOf(";");
  const type = (semicolon === -1 ? value : value.slice(0, semicolon)).trim().toLowerCase();
  const params: Record<string, string> = {};
  let repeated: string | undefined;
  const rest = semicolon === -1 ? "" : value.slice(semicolon);
  const pattern = CONTENT_TYPE_PARAMETER;
  pattern.lastIndex = 0;
  for (let match = pattern.exec(rest); match !== null; match = pattern.exec(rest)) {
    const raw = match[2] !== undefined ? match[2].replace(/\\(.)/g, "$1") : match[3].trim();
    const name = match[1].toLowerCase();
    if (repeated === undefined && Object.hasOwn(params, name)) repeated = name;
    params[name] = raw;
  }
  return repeated === undefined ? { type, params } : { type, params, repeated };
}

/**
 * Refuses a request's Content-Type that names a parameter twice: which of the two a reader
 * takes is its own choice (the last, here), so the refusal says why, where the body read by the
 * other boundary or charset would fail with words that do not.
 */
export function refuseRepeatedParameter(repeated: string | undefined): void {
  if (repeated !== undefined) {
    throw invalid(`the Content-Type names its ${repeated} parameter more than once`);
  }
}

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidContentType", message);
}

function stripAngles(id: string): string {
  const trimmed = id.trim();
  return trimmed.startsWith("<") && trimmed.endsWith(">") ? trimmed.slice(1, -1) : trimmed;
}

/**
 * A part's headers that hold one value, not a list (RFC 2045 §5, §6, §7): a second line was
 * joined to the first with ", ", so a part read as `application/xop+xml; type="text/xml", text/plain`
 * was taken by its first type while another reader could take the second (as two Content-Type
 * lines of the request itself, which adapter/server.ts refuses).
 */
const SINGLE_HEADERS = new Map([
  ["content-type", "Content-Type"],
  ["content-id", "Content-ID"],
  ["content-transfer-encoding", "Content-Transfer-Encoding"],
]);

function parseHeaders(block: string): Record<string, string> {
  const headers: Record<string, string> = {};
  let last: string | undefined;
  for (const line of block.split(/\r?\n/)) {
    if (line === "") continue;
    if ((line.startsWith(" ") || line.startsWith("\t")) && last !== undefined) {
      headers[last] += ` ${line.trim()}`;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon <= 0) throw invalid(`malformed MIME part header "${line.slice(0, 60)}"`);
    last = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    if (headers[last] !== undefined && SINGLE_HEADERS.has(last)) {
      throw invalid(
        `a MIME part has 2 ${SINGLE_HEADERS.get(last)} headers; a part has at most one`,
      );
    }
    headers[last] = headers[last] === undefined ? value : `${headers[last]}, ${value}`;
  }
  return headers;
}

/** Index just past the line end at `at` (CRLF or LF), or -1 when there is none. */
function lineEnd(body: Buffer, at: number): number {
  if (body[at] === 0x0d && body[at + 1] === 0x0a) return at + 2;
  if (body[at] === 0x0a) return at + 1;
  return -1;
}

/**
 * Splits a multipart/related body. `contentType` is the request's Content-Type header; its
 * `boundary` is required, `start` picks the root part (else the first part). Accepts CRLF or
 * bare LF line ends. Throws Client.InvalidContentType for anything malformed or over a limit.
 */
export function parseMultipartRelated(
  body: Buffer,
  contentType: string,
  limits: MultipartLimits = DEFAULT_MULTIPART_LIMITS,
): MultipartRelated {
  const { type, params, repeated } = parseContentType(contentType);
  if (type !== "multipart/related") throw invalid(`expected multipart/related, got "${type}"`);
  refuseRepeatedParameter(repeated);
  const boundary = params.boundary;
  if (!boundary) throw invalid("multipart/related needs a boundary parameter");
  // RFC 2046 §5.1.1 allows 70; 200 leaves room for senders that overstep it a little.
  if (boundary.length > 200) {
    throw invalid(`the multipart/related boundary is ${boundary.length} characters long, over 200`);
  }
  const delimiter = Buffer.from(`--${boundary}`);

  // The first delimiter line opens the first part; anything before it is a preamble, a line
  // that only starts with the delimiter ("--b-c" for boundary "b") included, as findDelimiter
  // reads such a line inside a part (RFC 2046 §5.1.1; X-Road's mime4j the same).
  let position = body.indexOf(delimiter);
  while (
    position !== -1 &&
    ((position > 0 && body[position - 1] !== 0x0a) ||
      !endsDelimiterLine(body, position + delimiter.length))
  )
    position = body.indexOf(delimiter, position + 1);
  if (position === -1) throw invalid("the multipart body has no part with the declared boundary");

  const parts: MimePart[] = [];
  for (;;) {
    let cursor = position + delimiter.length;
    if (body[cursor] === 0x2d && body[cursor + 1] === 0x2d) break; // closing "--boundary--"
    while (body[cursor] === 0x20 || body[cursor] === 0x09) cursor += 1; // transport padding
    const afterDelimiter = lineEnd(body, cursor);
    if (afterDelimiter === -1) throw invalid("a multipart boundary line is malformed");
    if (parts.length >= limits.maxParts) throw invalid(`more than ${limits.maxParts} MIME parts`);

    const headerEnd = findHeaderEnd(body, afterDelimiter, limits.maxHeaderBytes);
    const headers = parseHeaders(body.subarray(afterDelimiter, headerEnd.at).toString("latin1"));
    const next = findDelimiter(body, delimiter, headerEnd.next);
    if (next === undefined) throw invalid("the multipart body ends before its closing boundary");
    if (next.dataEnd - headerEnd.next > limits.maxPartBytes) {
      throw new SluiceError(
        "PayloadTooLarge",
        `a MIME part is larger than ${limits.maxPartBytes} bytes`,
      );
    }
    const part: MimePart = {
      contentType: headers["content-type"] ?? "text/plain",
      headers,
      data: body.subarray(headerEnd.next, next.dataEnd),
    };
    if (headers["content-id"] !== undefined) part.contentId = stripAngles(headers["content-id"]);
    parts.push(part);
    position = next.delimiterAt;
  }
  if (parts.length === 0) throw invalid("the multipart body has no parts");

  const start = params.start === undefined ? undefined : stripAngles(params.start);
  const rootIndex = start === undefined ? 0 : parts.findIndex((part) => part.contentId === start);
  if (rootIndex === -1) throw invalid(`no MIME part has the start Content-ID <${start}>`);
  const root = parts[rootIndex];
  const rootType = parseContentType(root.contentType).type;
  if (rootType !== "text/xml" && rootType !== "application/xop+xml") {
    throw invalid(`the root MIME part must be text/xml or application/xop+xml, not "${rootType}"`);
  }
  return {
    root: { ...root, data: rootBytes(root) },
    mtom: rootType === "application/xop+xml",
    attachments: parts.filter((_, index) => index !== rootIndex),
  };
}

/**
 * The root part's envelope bytes: a quoted-printable or base64 Content-Transfer-Encoding
 * decoded (RFC 2045 §6), so the envelope is read as the sender meant it. PR-MESS §2.4 asks
 * senders for 8bit, but MIME allows either, and read as they came, `=3D` and soft line breaks
 * became the envelope's own characters (a Body value changed after the acknowledgement). Any
 * other encoding than these and 7bit, 8bit or binary is refused: nothing to read it by.
 * Attachments stay as they came (their encoding stated in their headers).
 */
function rootBytes(root: MimePart): Buffer {
  const encoding = (root.headers["content-transfer-encoding"] ?? "8bit").trim().toLowerCase();
  switch (encoding) {
    case "7bit":
    case "8bit":
    case "binary":
      return root.data;
    case "base64": {
      const text = root.data.toString("latin1").replace(/[\r\n\t ]/g, "");
      if (!isPaddedBase64(text)) {
        throw invalid("the root MIME part is not valid base64");
      }
      return Buffer.from(text, "base64");
    }
    case "quoted-printable":
      return quotedPrintable(root.data);
    default:
      throw invalid(
        `the root MIME part's Content-Transfer-Encoding "${encoding.slice(0, 40)}" is not one of 7bit, 8bit, binary, quoted-printable, base64`,
      );
  }
}

/** RFC 2045 §6.7: `=XX` is a byte, `=` at a line's end a soft line break; else as it is. */
function quotedPrintable(data: Buffer): Buffer {
  const out = Buffer.alloc(data.length);
  let length = 0;
  for (let i = 0; i < data.length; i += 1) {
    const byte = data[i];
    if (byte !== 0x3d /* = */) {
      out[length++] = byte;
      continue;
    }
    // A soft line break, its trailing white space allowed (§6.7 rule 3).
    let j = i + 1;
    while (data[j] === 0x20 || data[j] === 0x09) j += 1;
    const after = lineEnd(data, j);
    if (after !== -1 || j === data.length) {
      i = (after === -1 ? j : after) - 1;
      continue;
    }
    const hex = data.toString("latin1", i + 1, i + 3);
    if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
      throw invalid("the root MIME part is not valid quoted-printable");
    }
    out[length++] = parseInt(hex, 16);
    i += 2;
  }
  return out.subarray(0, length);
}

function findHeaderEnd(body: Buffer, from: number, maxBytes: number): { at: number; next: number } {
  // An empty header block: the part starts with its blank line.
  const immediate = lineEnd(body, from);
  if (immediate !== -1) return { at: from, next: immediate };
  const limit = Math.min(body.length, from + maxBytes);
  for (let i = from; i < limit; i += 1) {
    if (body[i] !== 0x0a) continue;
    const blank = lineEnd(body, i + 1);
    if (blank !== -1) return { at: i + 1, next: blank };
  }
  throw invalid(
    limit === body.length
      ? "a MIME part has no end of headers"
      : `a MIME part's headers exceed ${maxBytes} bytes`,
  );
}

/** The next delimiter line: data ends before the line break that precedes it. */
function findDelimiter(
  body: Buffer,
  delimiter: Buffer,
  from: number,
): { dataEnd: number; delimiterAt: number } | undefined {
  let at = body.indexOf(delimiter, from);
  while (at !== -1) {
    if (!endsDelimiterLine(body, at + delimiter.length)) {
      at = body.indexOf(delimiter, at + 1);
      continue;
    }
    if (at === from) return { dataEnd: at, delimiterAt: at };
    if (body[at - 1] === 0x0a) {
      const dataEnd = at >= 2 && body[at - 2] === 0x0d ? at - 2 : at - 1;
      return { dataEnd: Math.max(dataEnd, from), delimiterAt: at };
    }
    at = body.indexOf(delimiter, at + 1);
  }
  return undefined;
}

/** A delimiter is only one when "--" (the close) or padding and a line end follow it. */
function endsDelimiterLine(body: Buffer, at: number): boolean {
  if (body[at] === 0x2d && body[at + 1] === 0x2d) return true;
  let i = at;
  while (body[i] === 0x20 || body[i] === 0x09) i += 1;
  return lineEnd(body, i) !== -1;
}

/** A part to write: its headers (any case; Content-Type and Content-ID included) and bytes. */
export interface OutgoingPart {
  headers: Record<string, string>;
  data: Buffer;
}

const CRLF = "\r\n";
/** Header values that could end the header block or start another header are refused. */
const HEADER_VALUE = /^[^\r\n]*$/;

/**
 * Packs `envelope` (UTF-8 SOAP 1.1) as the root part followed by `attachments`, each with its
 * own headers and bytes unchanged, as SwA (`text/xml` root) or MTOM (`application/xop+xml`
 * root). Returns the body and the Content-Type naming its boundary and root part.
 */
export function buildMultipartRelated(
  envelope: string,
  attachments: OutgoingPart[],
  mtom: boolean,
): { contentType: string; body: Buffer } {
  const rootId = `root.${randomUUID()}@sluice`;
  const rootType = mtom
    ? 'application/xop+xml; charset=utf-8; type="text/xml"'
    : "text/xml; charset=utf-8";
  const parts: OutgoingPart[] = [
    {
      // PR-MESS §2.4: the SOAP part's Content-Transfer-Encoding MUST be 8bit (UTF-8 as is).
      headers: {
        "Content-Type": rootType,
        "Content-Transfer-Encoding": "8bit",
        "Content-ID": `<${rootId}>`,
      },
      data: Buffer.from(envelope, "utf8"),
    },
    ...attachments,
  ];
  // A boundary that occurs in no part (RFC 2046 §5.1.1); a random one virtually never does.
  let boundary = `sluice-${randomUUID()}`;
  while (parts.some((part) => part.data.includes(boundary))) boundary = `sluice-${randomUUID()}`;
  const chunks: Buffer[] = [];
  for (const part of parts) {
    let head = `--${boundary}${CRLF}`;
    for (const [name, value] of Object.entries(part.headers)) {
      if (!HEADER_VALUE.test(value) || !/^[!#$%&'*+.^_`|~\w-]+$/.test(name)) {
        throw new SluiceError("InvalidContentType", `MIME part header ${name} is malformed`);
      }
      head += `${name}: ${value}${CRLF}`;
    }
    chunks.push(Buffer.from(head + CRLF, "latin1"), part.data, Buffer.from(CRLF, "latin1"));
  }
  chunks.push(Buffer.from(`--${boundary}--${CRLF}`, "latin1"));
  const type = mtom
    ? `multipart/related; type="application/xop+xml"; start="<${rootId}>"; start-info="text/xml"; boundary="${boundary}"`
    : `multipart/related; type="text/xml"; start="<${rootId}>"; boundary="${boundary}"`;
  return { contentType: type, body: Buffer.concat(chunks) };
}
