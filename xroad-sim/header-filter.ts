// Which HTTP headers a security server passes through, per PR-REST §4.3 (REST: all but the
// filtered ones, X-Road's own set anew) and PR-MESS §2.2 (SOAP: Content-Type and SOAPAction only).

import type { IncomingHttpHeaders } from "node:http";

/**
 * The headers a security server never passes on, in either direction: PR-REST §4.3's
 * "Filtered headers" (hop-by-hop: Connection, Keep-Alive, Proxy-Authenticate,
 * Proxy-Authorization, TE, Trailer, Transfer-Encoding, Upgrade; leaking the origin host: Host,
 * User-Agent, Server) and its "specially handled" Expect and Content-Length, exactly X-Road's
 * RestMessage.SKIPPED_HEADERS. Nothing else: not the names a `Connection` header lists, nor
 * `Proxy-Connection`, which X-Road passes as any other header.
 */
const FILTERED = new Set([
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "host",
  "user-agent",
  "server",
  "expect",
  "content-length",
]);

export type HeaderList = Array<[string, string]>;

/**
 * `raw`'s headers as a list of name/value pairs, in order, repeated ones kept apart: all but
 * the filtered ones and those named in `dropped`.
 */
function keptHeaders(raw: string[], dropped: ReadonlySet<string>): HeaderList {
  const kept: HeaderList = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i].toLowerCase();
    if (FILTERED.has(name) || dropped.has(name)) continue;
    kept.push([raw[i], raw[i + 1]]);
  }
  return kept;
}

/**
 * The X-Road headers of a provider's answer that X-Road's RestResponse drops before it adds its
 * own: the id, request hash, client and request id. Any other the provider sets, its own
 * `X-Road-Service` or `X-Road-Error` among them, passes on, ahead of the security server's.
 */
const REPLACED_ON_ANSWER = new Set([
  "x-road-id",
  "x-road-request-hash",
  "x-road-client",
  "x-road-request-id",
]);

/** X-Road's own headers a caller may not set: the security server makes them for each call. */
const PER_CALL = new Set(["x-road-request-id", "x-road-request-hash"]);

/**
 * A caller's headers as X-Road's security server passes them to the provider: all but the
 * filtered ones, and `X-Road-Request-Id`/`-Hash`. Its other X-Road-*
 * headers pass as written (RestRequest), a repeated `X-Road-Client` included.
 */
export function callerHeaders(raw: string[]): HeaderList {
  return keptHeaders(raw, PER_CALL);
}

/** The last value of a header that may be repeated (PR-REST §4.3: the last X-Road-Client counts). */
export function lastHeader(raw: string[], name: string): string | null {
  let value: string | null = null;
  for (let i = 0; i < raw.length; i += 2) if (raw[i].toLowerCase() === name) value = raw[i + 1];
  return value;
}

/** SOAP: only Content-Type and SOAPAction cross a security server (PR-MESS §2.2). */
export function soapRequestHeaders(headers: IncomingHttpHeaders): Record<string, string> {
  const kept: Record<string, string> = {};
  if (headers["content-type"]) kept["content-type"] = headers["content-type"];
  const action = headers["soapaction"];
  if (action !== undefined) kept["soapaction"] = Array.isArray(action) ? action[0] : action;
  // ServerMessageProcessor sets an empty one, so Apache's RequestAcceptEncoding adds no
  // `gzip,deflate` to a SOAP call (a gzip answer is still decoded).
  kept["accept-encoding"] = "";
  return kept;
}

/**
 * A provider's answer headers (undici's) as the security server passes them back: all but the
 * filtered ones and those of REPLACED_ON_ANSWER.
 */
export function responseHeaderList(
  headers: Record<string, string | string[] | undefined>,
): HeaderList {
  const raw: string[] = [];
  for (const [name, value] of Object.entries(headers)) {
    if (value === undefined) continue;
    for (const one of Array.isArray(value) ? value : [value]) raw.push(name, one);
  }
  return keptHeaders(raw, REPLACED_ON_ANSWER);
}
