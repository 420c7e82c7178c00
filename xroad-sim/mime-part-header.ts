// A part's Content-Type in a multipart SOAP message as X-Road 7.4 reads it: mime4j 0.8.7 splits
// the part's header into fields (MimeEntity.readRawField), names each (DefaultFieldBuilder.build
// over RawFieldParser.parseField) and SoapMessageDecoder.MultipartHandler.field keeps the body of
// the last field whose name equalsIgnoreCase "Content-Type".

import { type Cursor, words } from "./mime-boundary";

/** DefaultFieldBuilder.FIELD_CHARS: the characters of a field name, 0x21–0x7e but the colon. */
const isFieldName = (name: string): boolean =>
  [...name].every((c) => c >= "\x21" && c <= "\x7e" && c !== ":");

/**
 * The value of the last Content-Type field among `headers` (the part's header lines, without the
 * blank line), or null. A line starting with a space or a tab continues the field before it
 * (not the first line); the name is what RawFieldParser.parseToken reads up to the colon, so
 * whitespace and `(comments)` around it are dropped and `Content-Type :` is a Content-Type field;
 * a line without a colon, or a name holding another character (`Content Type:`), is no field:
 * mime4j's lenient (default) monitor skips it silently. The value is unfolded (MimeUtil.unfold).
 */
export function mime4jPartContentType(headers: string): string | null {
  const fields: string[] = [];
  for (const line of headers.split("\n")) {
    const text = line.endsWith("\r") ? line.slice(0, -1) : line;
    if (text === "") continue;
    if (fields.length > 0 && (text[0] === " " || text[0] === "\t")) {
      fields[fields.length - 1] += `\r\n${text}`;
    } else fields.push(text);
  }
  let contentType: string | null = null;
  for (const field of fields) {
    const at: Cursor = { pos: 0 };
    const name = words(field, at, ":", false).trim();
    if (at.pos >= field.length || !isFieldName(name)) continue;
    if (name.toLowerCase() === "content-type") {
      contentType = field.slice(at.pos + 1).replace(/[\r\n]/g, "");
    }
  }
  return contentType?.trim() ?? null;
}

/** MimeConfig's defaults, which SoapMessageDecoder.readMultipart leaves as they are. */
const MAX_HEADER_LEN = 10000;
const MAX_HEADER_COUNT = 1000;

/**
 * The MimeException mime4j 0.8.7 throws for a part's header past its default limits, or null:
 * a field of 10000 bytes or more, line ends and folded lines included (DefaultFieldBuilder
 * .append), or more than 1000 fields, lines that are no field counted (MimeEntity.nextField).
 * `headers` is the part's header as sent, up to its blank line.
 */
export function mime4jHeaderLimit(headers: string): string | null {
  // Each line with its line end, as mime4j's readLine hands it over.
  const lines = headers
    .split("\n")
    .map((line, i, all) => (i < all.length - 1 ? `${line}\n` : line));
  let count = 0;
  let length = 0;
  for (const line of lines) {
    if (line === "" || line === "\n" || line === "\r\n") break;
    const continues = count > 0 && (line[0] === " " || line[0] === "\t");
    if (!continues) {
      if (count >= MAX_HEADER_COUNT) {
        return `Maximum header limit (${MAX_HEADER_COUNT}) exceeded`;
      }
      count++;
      length = 0;
    }
    if (length + line.length >= MAX_HEADER_LEN) {
      return `Maximum header length limit (${MAX_HEADER_LEN}) exceeded`;
    }
    length += line.length;
  }
  return null;
}
