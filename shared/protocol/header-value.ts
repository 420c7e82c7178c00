// X-Road header fields as HTTP header values. A SOAP header field is XML text, any Unicode; an
// HTTP field value is octets, and Node refuses one holding a character beyond ISO-8859-1 or a
// control character. Such a value is sent in RFC 8187's ext-value form, `UTF-8''` + percent-
// encoded UTF-8, which a backend decodes back to the exact text (docs/translators.md).

/** What starts an encoded value (RFC 8187 ext-value, charset UTF-8, no language). */
export const ENCODED_VALUE_MARKER = "UTF-8''";

/** Characters Node (and undici) refuse in a header value: beyond ISO-8859-1, or control. */
const NOT_SENDABLE = /[^\t\x20-\x7e\x80-\xff]/;

/** Whether Node sends `value` as a header value as it is. */
export function isSendableHeaderValue(value: string): boolean {
  return !NOT_SENDABLE.test(value);
}

/**
 * RFC 8187 attr-char, sent as is; every other octet of the UTF-8 is %XX. Less "+", which form
 * decoders (Java's URLDecoder) would read as a space.
 */
const ATTR_CHAR = /^[A-Za-z0-9!#$&\-.^_`|~]$/;

/**
 * `value` as an HTTP header value: unchanged when it can be sent as it is (ASCII, or ISO-8859-1
 * as before), else `UTF-8''<percent-encoded UTF-8>`. A value that itself starts with the marker
 * is encoded too, so a value is encoded exactly when it starts with the marker.
 */
export function httpHeaderValue(value: string): string {
  if (!NOT_SENDABLE.test(value) && !startsWithMarker(value)) return value;
  let encoded = ENCODED_VALUE_MARKER;
  for (const byte of Buffer.from(value, "utf8")) {
    const char = String.fromCharCode(byte);
    encoded += byte < 0x80 && ATTR_CHAR.test(char) ? char : `%${hex(byte)}`;
  }
  return encoded;
}

/** The text a header value stands for: the inverse of httpHeaderValue, for a backend's side. */
export function decodeHttpHeaderValue(value: string): string {
  if (!startsWithMarker(value)) return value;
  return Buffer.from(
    value
      .slice(ENCODED_VALUE_MARKER.length)
      .replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16))),
    "latin1",
  ).toString("utf8");
}

/** Each value of `headers` through httpHeaderValue. */
export function httpHeaderValues(headers: Record<string, string>): Record<string, string> {
  const sendable: Record<string, string> = {};
  for (const [name, value] of Object.entries(headers)) sendable[name] = httpHeaderValue(value);
  return sendable;
}

const startsWithMarker = (value: string): boolean =>
  value.slice(0, ENCODED_VALUE_MARKER.length).toUpperCase() === ENCODED_VALUE_MARKER;

const hex = (byte: number): string => byte.toString(16).toUpperCase().padStart(2, "0");
