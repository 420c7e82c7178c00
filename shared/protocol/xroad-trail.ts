// The headers by which both security servers' message logs file one REST exchange (PR-REST
// §4.3): `X-Road-Request-Id`, made by the consumer's security server for each call, and
// `X-Road-Request-Hash`, its hash of the request it signed. The consumer direction keeps them
// with the answer, so a local caller can name the exchange when it has to be traced or disputed
// with the provider, as a caller of the security server itself could.

export const XROAD_TRAIL_HEADERS = ["x-road-request-id", "x-road-request-hash"] as const;

/** A request id is a UUID and a hash base64 of a SHA-512: anything longer is not one. */
const TRAIL_VALUE = /^[\x21-\x7e]{1,200}$/;

/**
 * The trail headers of a security server's answer, each by its last line (as X-Road reads a
 * repeated header), kept only when it looks like one: printable ASCII, without spaces, bounded.
 */
export function xroadTrailOf(
  headers: Record<string, string | string[] | undefined>,
): Record<string, string> {
  const trail: Record<string, string> = {};
  for (const name of XROAD_TRAIL_HEADERS) {
    const raw = headers[name];
    const value = Array.isArray(raw) ? raw[raw.length - 1] : raw;
    if (value !== undefined && TRAIL_VALUE.test(value.trim())) trail[name] = value.trim();
  }
  return trail;
}
