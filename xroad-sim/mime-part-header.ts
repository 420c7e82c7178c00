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
