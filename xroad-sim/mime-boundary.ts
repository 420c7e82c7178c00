// The boundary of a multipart SOAP message as X-Road 7.4 reads it: its SoapMessageDecoder hands
// the request's Content-Type to mime4j 0.8.7 (headless parsing), not to a parser of its own.

/** mime4j's CharsetUtil.isWhitespace. */
const WHITESPACE = new Set([" ", "\t", "\r", "\n"]);

/** A read position in a header value, as mime4j's ParserCursor. */
export interface Cursor {
  pos: number;
}

/** RawFieldParser.skipComment: past a `(…)` comment, nested ones and `\` escapes included. */
function skipComment(text: string, at: Cursor): void {
  let level = 0;
  let escaped = false;
  while (at.pos < text.length) {
    const c = text[at.pos++];
    if (escaped) escaped = false;
    else if (c === "\\") escaped = true;
    else if (c === "(") level++;
    else if (c === ")" && --level <= 0) return;
  }
}

/** RawFieldParser.copyQuotedContent: a quoted string's content, `\"` and `\\` unescaped. */
function quoted(text: string, at: Cursor): string {
  let out = "";
  let escaped = false;
  for (at.pos++; at.pos < text.length; at.pos++) {
    const c = text[at.pos];
    if (escaped) {
      out += c === '"' || c === "\\" ? c : `\\${c}`;
      escaped = false;
    } else if (c === '"') {
      at.pos++;
      break;
    } else if (c === "\\") escaped = true;
    else if (c !== "\r" && c !== "\n") out += c;
  }
  return out;
}

/**
 * RawFieldParser.parseToken (`quotes` false) and parseValue (`quotes` true): the words up to one
 * of `delimiters`, comments dropped, each run of whitespace between two words one space.
 */
export function words(text: string, at: Cursor, delimiters: string, quotes: boolean): string {
  let out = "";
  let space = false;
  while (at.pos < text.length) {
    const c = text[at.pos];
    if (delimiters.includes(c)) break;
    if (WHITESPACE.has(c)) {
      while (at.pos < text.length && WHITESPACE.has(text[at.pos])) at.pos++;
      space = true;
      continue;
    }
    if (c === "(") {
      skipComment(text, at);
      continue;
    }
    if (out.length > 0 && space) out += " ";
    space = false;
    if (quotes && c === '"') {
      out += quoted(text, at);
      continue;
    }
    const start = at.pos;
    while (
      at.pos < text.length &&
      !delimiters.includes(text[at.pos]) &&
      !WHITESPACE.has(text[at.pos]) &&
      text[at.pos] !== "(" &&
      !(quotes && text[at.pos] === '"')
    ) {
      at.pos++;
    }
    out += text.slice(start, at.pos);
  }
  return out;
}

/**
 * The boundary mime4j 0.8.7 takes from `contentType` (FallbackBodyDescriptorBuilder
 * .parseContentType over RawFieldParser.parseRawBody), or null where it takes none and so reads
 * no parts: the type must be `multipart/…`; parameter names are matched in any case, the last
 * one of a name counts, whitespace around `=` and `(comments)` are dropped, a quoted value is
 * unquoted, and an unquoted value runs to the next `;`, inner whitespace kept as one space.
 */
export function mime4jBoundary(contentType: string): string | null {
  const at: Cursor = { pos: 0 };
  const type = words(contentType, at, ";", false).toLowerCase().trim();
  const params = new Map<string, string | null>();
  if (at.pos < contentType.length) {
    at.pos++;
    while (at.pos < contentType.length && WHITESPACE.has(contentType[at.pos])) at.pos++;
    while (at.pos < contentType.length) {
      const name = words(contentType, at, "=;", false).toLowerCase();
      let value: string | null = null;
      if (at.pos < contentType.length && contentType[at.pos++] === "=") {
        value = words(contentType, at, ";", true);
        if (at.pos < contentType.length) at.pos++;
      }
      params.set(name, value);
    }
  }
  const slash = type.indexOf("/");
  const valid = slash > 0 && type.slice(0, slash).trim() !== "" && type.slice(slash + 1).trim();
  if (!valid || type.slice(0, slash).trim() !== "multipart") return null;
  return params.get("boundary") ?? null;
}
