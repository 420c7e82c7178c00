// The REST side of the simulated security server (PR-REST §4): maps
// `/r1/<INSTANCE>/<CLASS>/<MEMBER>/<SUBSYSTEM>/<serviceCode>/<path>` to `<service URL>/<path>`,
// passes headers as §4.3 says, sets X-Road's own headers on both directions.

import { createHash, randomUUID } from "node:crypto";
import type http from "node:http";
import { callerHeaders, responseHeaderList } from "./header-filter";
import type { ProviderClient } from "./provider-client";
import { readJettyTarget } from "./jetty-uri";
import { IDENTIFIER_PART, type CompiledService } from "./sim-options";
import { XroadError } from "./xroad-errors";

export interface RestTarget {
  service: CompiledService;
  /** The rest of the path after the service id, still percent-encoded, "" or starting with "/". */
  path: string;
  /** The query string as sent, without "?", or "". */
  search: string;
}

/** A `/r1/…` request target split, its identifier parts checked but not yet looked up. */
export interface RestPath {
  /** The path's segments after `/r1/`, still percent-encoded. */
  parts: string[];
  /** The first five segments percent-decoded ("" for one that does not decode). */
  decoded: string[];
  /** The query string as sent, without "?", or "". */
  search: string;
}

/**
 * Splits and decodes a REST request's raw path as X-Road 7.4's RestRequest.decodeIdentifiers
 * does, in the client proxy before anything else is read. Jetty routes on the decoded path
 * (pathInContext starting with `/r1/`), RestRequest reads the raw one: fewer than five parts
 * after its first ("Invalid request URI"), a first part that is not `r1` (`/r%31/…`,
 * `/x/../r1/…`: "Invalid protocol version r%31", `/r2/../r1/…`: "Unsupported protocol version
 * 2"), a part its UriUtils.uriSegmentPercentDecode refuses (a broken `%` escape, a
 * character outside RFC 3986's path characters) or an instance, class, member or service code
 * that is blank (ServiceId.Conf.create, Validation.validateArgument) is an
 * IllegalArgumentException, which AbstractClientProxyHandler answers 500
 * `Server.ClientProxy.InternalError` with its message. A member's own service (four parts, no
 * subsystem) is refused so too, registered or not: decodeIdentifiers always reads instance,
 * class, member, subsystem and service code (`requestPath.split("/", 8)`, fewer than seven
 * pieces "Invalid request URI"), though PR-REST §4.1 calls the subsystem optional. Only the
 * form is checked here; the service is looked up after the client (findRestTarget).
 */
export function parseRestPath({ path, query }: { path: string; query: string | null }): RestPath {
  // No length of its own: X-Road 7.4 has none (PR-REST §4.2 only allows one), so only Jetty's
  // 8 KiB request head limit applies (request-head-limit.ts).
  const search = query ?? "";
  const pieces = path.split("/");
  if (pieces.length < 7) {
    throw new XroadError("Server.ClientProxy.InternalError", "Invalid request URI");
  }
  checkProtocolVersion(pieces[1]);
  const parts = pieces.slice(2);
  // A `.` or `..` segment reaching here is read as X-Road reads it: Jetty refused the encoded
  // and parameterised ones and a `..` above the root (jetty-uri.ts), and hands X-Road the raw
  // path, so such a segment is an identifier part like any other, or part of the service path,
  // passed to the provider as written (Apache HttpClient 4.5.14 removes no dot segment).
  const decoded = parts.slice(0, 5).map(decodeIdPart);
  const blank = (["xRoadInstance", "memberClass", "memberCode"] as const).find((_, i) =>
    isBlank(decoded[i]),
  );
  if (blank !== undefined || isBlank(decoded[4])) {
    throw new XroadError(
      "Server.ClientProxy.InternalError",
      `'${blank ?? "serviceCode"}' must not be blank`,
    );
  }
  // Characters outside PR-REST §4.8 are not refused: X-Road's MessageProcessorBase
  // .checkIdentifier only logs a warning; such an id names no registered service (idKey).
  return { parts, decoded, search };
}

/**
 * RestRequest.decodeIdentifiers' reading of the raw path's first part: `r` and one digit
 * (Character.digit), which must be 1.
 */
function checkProtocolVersion(part: string): void {
  if (part.length === 2 && part[0] === "r" && /^\p{Nd}$/u.test(part[1])) {
    const version = Number.parseInt(part[1], 10);
    if (version === 1) return;
    throw new XroadError(
      "Server.ClientProxy.InternalError",
      `Unsupported protocol version ${version}`,
    );
  }
  throw new XroadError("Server.ClientProxy.InternalError", `Invalid protocol version ${part}`);
}

/**
 * One identifier part of a path or header, percent-decoded as X-Road's
 * UriUtils.uriSegmentPercentDecode does: `%XY` escapes and RFC 3986's unreserved, sub-delims,
 * `:` and `@` only, the bytes read as UTF-8; anything else is X-Road's
 * IllegalArgumentException, `Server.ClientProxy.InternalError` with its message.
 */
export function decodeIdPart(part: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < part.length;) {
    const ch = part[i];
    if (ch === "%") {
      if (i + 2 >= part.length) {
        throw new XroadError("Server.ClientProxy.InternalError", "Incomplete percent encoding");
      }
      const hex = part.slice(i + 1, i + 3);
      if (!/^[0-9A-Fa-f]{2}$/.test(hex)) {
        throw new XroadError("Server.ClientProxy.InternalError", "Invalid percent encoding");
      }
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else if (/^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/.test(ch)) {
      bytes.push(ch.charCodeAt(0));
      i += 1;
    } else {
      throw new XroadError("Server.ClientProxy.InternalError", "Invalid character in path segment");
    }
  }
  return Buffer.from(bytes).toString("utf8");
}

/** Apache's StringUtils.isBlank, as X-Road's Validation.validateArgument reads it. */
export const isBlank = (value: string | undefined): boolean =>
  value === undefined || value.trim() === "";

/**
 * The decoded parts of an id joined as the simulator keys ids (services, clients, members):
 * a part of PR-REST §4.8's characters as it is, any other escaped as a URL path segment (as
 * X-Road's RestResponse.encodeXRoadId writes it), so a `/` or `%` within a part never makes
 * the key of another id; registered ids are of §4.8's characters only (sim-options.ts).
 */
export const idKey = (parts: string[]): string =>
  parts.map((p) => (IDENTIFIER_PART.test(p) ? p : escapePathSegment(p))).join("/");

/** Guava's urlPathSegmentEscaper: all but unreserved, sub-delims, `:` and `@` as `%XX`. */
function escapePathSegment(part: string): string {
  let out = "";
  for (const byte of Buffer.from(part, "utf8")) {
    const ch = String.fromCharCode(byte);
    out += /^[A-Za-z0-9\-._~!$&'()*+,;=:@]$/.test(ch)
      ? ch
      : `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

/**
 * The registered service a parsed `/r1/…` path names. Otherwise `requireKnownProvider` is
 * given the path's provider first, as X-Road 7.4's server proxy checks it
 * (ServerRestMessageProcessor.readMessage → verifyClientStatus: the provider must be a
 * REGISTERED client of this security server, else `Server.ServerProxy.UnknownMember`) before
 * verifyAccess answers `Server.ServerProxy.UnknownService`.
 */
export function findRestTarget(
  restPath: RestPath,
  lookup: (id: string) => CompiledService | undefined,
  requireKnownProvider: (provider: string) => void,
): RestTarget {
  const { parts, decoded, search } = restPath;
  // Always a subsystem's service: X-Road reads no other from a path (parseRestPath).
  const service = lookup(idKey(decoded));
  if (service) return { service, path: rest(parts, 5), search };
  requireKnownProvider(restProvider(restPath));
  throw new XroadError(
    "Server.ServerProxy.UnknownService",
    `Unknown service: SERVICE:${idKey(decoded)}`,
  );
}

/**
 * The provider a parsed `/r1/…` path calls, as global configuration is asked for it: the
 * subsystem X-Road's RestRequest reads from the path's first four parts. X-Road looks the
 * provider up exactly (GlobalConfImpl.getProviderAddress by ServiceId.getClientId), so a
 * subsystem is not served because its member is. A blank subsystem is refused there, as
 * ServiceId.getClientId's ClientId.Conf.create refuses it: `Server.ClientProxy.InternalError`.
 */
export function restProvider({ decoded }: RestPath): string {
  if (isBlank(decoded[3])) {
    throw new XroadError("Server.ClientProxy.InternalError", "'subsystemCode' must not be blank");
  }
  return idKey(decoded.slice(0, 4));
}

const rest = (parts: string[], used: number): string =>
  parts.length > used ? `/${parts.slice(used).join("/")}` : "";

/**
 * Reads the caller's `X-Road-Client`, `X-Road-Security-Server` and `X-Road-Represented-Party`
 * as X-Road 7.4's client proxy does (RestRequest.decodeHeaders, then
 * AbstractClientMessageProcessor.verifyClientStatus): every line of them in the order sent, the
 * last one of each counting; a line of the wrong form is an IllegalArgumentException ("Invalid
 * Client Id", "Invalid SecurityServer Id", "Invalid RepresentedParty Id", or the decoding's)
 * that AbstractClientProxyHandler answers as `Server.ClientProxy.InternalError`, and only after
 * all are read is a missing `X-Road-Client` `Server.ClientProxy.InvalidClientIdentifier`. Both
 * are 500 (ClientRestMessageHandler.sendErrorResponse: every `Server.*` code).
 * `securityServer` is null when the caller named none. The represented party is only checked:
 * X-Road keeps it for operational monitoring, and passes the header on as it is.
 */
export function readCallerIds(rawHeaders: string[]): {
  client: string;
  securityServer: string | null;
} {
  let client: string | null = null;
  let securityServer: string | null = null;
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i].toLowerCase();
    const value = rawHeaders[i + 1];
    if (name === "x-road-client") client = parseClientHeader(value);
    else if (name === "x-road-security-server") securityServer = parseSecurityServerHeader(value);
    else if (name === "x-road-represented-party") checkRepresentedPartyHeader(value);
  }
  if (client === null) {
    throw new XroadError(
      "Server.ClientProxy.InvalidClientIdentifier",
      "The client identifier is missing",
    );
  }
  return { client, securityServer };
}

/**
 * Checks `X-Road-Represented-Party` as RestRequest.decodeRepresentedParty reads it: `[CLASS/]CODE`
 * split on `/` as Java's String.split does (trailing empty parts dropped), more than two parts
 * "Invalid RepresentedParty Id", each part percent-decoded (decodeIdPart); blank parts are taken.
 */
function checkRepresentedPartyHeader(value: string): void {
  const parts = value.split("/");
  while (parts.length > 0 && parts[parts.length - 1] === "") parts.pop();
  if (parts.length > 2) {
    throw new XroadError("Server.ClientProxy.InternalError", "Invalid RepresentedParty Id");
  }
  parts.forEach(decodeIdPart);
}

/**
 * Reads `X-Road-Client` as RestMessage.decodeClientId does: INSTANCE/CLASS/MEMBER[/SUBSYSTEM]
 * ("Invalid Client Id" for another number of parts), each part percent-decoded
 * (decodeIdPart) and not blank (ClientId.Conf.create). Characters outside PR-REST §4.8 are
 * taken, as X-Road only logs a warning (MessageProcessorBase.checkIdentifier).
 */
function parseClientHeader(value: string): string {
  const parts = value.split("/");
  if (parts.length < 3 || parts.length > 4) {
    throw new XroadError("Server.ClientProxy.InternalError", "Invalid Client Id");
  }
  return decodeId(parts, ["xRoadInstance", "memberClass", "memberCode", "subsystemCode"]);
}

/**
 * Reads `X-Road-Security-Server` (PR-REST §4.3, optional) as RestRequest.decodeServerId does:
 * INSTANCE/CLASS/MEMBER/SERVERCODE, each part percent-decoded and not blank
 * (SecurityServerId.Conf.create).
 */
function parseSecurityServerHeader(value: string): string {
  const parts = value.split("/");
  if (parts.length !== 4) {
    throw new XroadError("Server.ClientProxy.InternalError", "Invalid SecurityServer Id");
  }
  return decodeId(parts, ["xRoadInstance", "memberClass", "memberCode", "serverCode"]);
}

/** An id's parts decoded, each named by X-Road's field for its "must not be blank". */
function decodeId(parts: string[], names: string[]): string {
  const decoded = parts.map(decodeIdPart);
  const blank = decoded.findIndex(isBlank);
  if (blank >= 0) {
    throw new XroadError("Server.ClientProxy.InternalError", `'${names[blank]}' must not be blank`);
  }
  return idKey(decoded);
}

/**
 * `X-Road-Request-Hash` as X-Road's security servers compute it (RestMessage.getHash,
 * RestRequest.toByteArray, ServerRestMessageProcessor): SHA-512 over the request as the client
 * security server serialises it (the method, CRLF, the request target's path and query as
 * received, CRLF, then `name:value` and CRLF for each header passed on, names as written); with
 * a body, SHA-512 over that digest followed by the body's SHA-512. Base64.
 */
export function restRequestHash(request: ProviderRequest, body: Buffer): string {
  const { method, target, headers } = request;
  let front = `${method}\r\n${target}\r\n`;
  for (let i = 0; i < headers.length; i += 2) front += `${headers[i]}:${headers[i + 1]}\r\n`;
  const sha = (data: Buffer | string): Buffer => createHash("sha512").update(data).digest();
  const frontHash = sha(front);
  return (body.length > 0 ? sha(Buffer.concat([frontHash, sha(body)])) : frontHash).toString(
    "base64",
  );
}

/** A REST request as the provider side is sent it, and as its hash covers it. */
export interface ProviderRequest {
  method: string;
  /** The path and query the client security server was sent (`/r1/…?…`), as written. */
  target: string;
  /** Flat name/value list, names as written. */
  headers: string[];
}

/** The ids one REST call carries through the security server (§4.3). */
export interface XroadCallIds {
  client: string;
  serviceId: string;
  xroadId: string;
  /** Generated per call; unlike `X-Road-Id` never taken from the caller. */
  requestId: string;
}

/**
 * The request the provider side gets, as X-Road's security server sends it: every header of
 * the caller's as written (RestRequest keeps them all, its X-Road-* headers included, every
 * repeated `X-Road-Client` line too), less the hop-by-hop and host-leaking ones (§4.3
 * "Filtered headers") and a caller's `X-Road-Request-Id` and `X-Road-Request-Hash`; then
 * `x-road-request-id`, and `x-road-id` when the caller sent none (RestRequest adds them in that
 * order, named so). `X-Road-Service` is set on the answer only (§4.3 "returned in the
 * response"). Also what `X-Road-Request-Hash` is computed over, for forwarded calls and
 * metaservices alike.
 */
export function providerRequest(req: http.IncomingMessage, ids: XroadCallIds): ProviderRequest {
  const headers: string[] = [];
  let sentId = false;
  for (const [name, value] of callerHeaders(req.rawHeaders)) {
    headers.push(name, value);
    if (name.toLowerCase() === "x-road-id") sentId = true;
  }
  headers.push("x-road-request-id", ids.requestId);
  if (!sentId) headers.push("x-road-id", ids.xroadId);
  return { method: req.method ?? "GET", target: requestTarget(req.url ?? "/"), headers };
}

/**
 * The path and query of a request line's target as RestRequest.toByteArray writes them: the
 * raw path (getRequestURI), then `?` and the raw query when there is one (getQueryString), an
 * absolute-form target's path too, as written (no dot segment resolved).
 */
function requestTarget(url: string): string {
  const { path, query } = readJettyTarget(url);
  return query === null ? path : `${path}?${query}`;
}

/**
 * An identifier as X-Road writes it in an answer's header (RestResponse.encodeXRoadId): each
 * part escaped as a URL path segment. Of the characters a part may hold (sim-options.ts
 * IDENTIFIER_PART) only `?` is escaped so; `/` separates the parts.
 */
function encodedId(id: string): string {
  return id.replaceAll("?", "%3F");
}

/**
 * X-Road's headers on every answer the security server passes back (§4.3), after the
 * provider's and in the order X-Road's RestResponse adds them: `X-Road-Id`, `X-Road-Client`,
 * `X-Road-Service`, `X-Road-Request-Id` (the client proxy's own, the one the provider was
 * sent), `X-Road-Request-Hash`.
 */
export function xroadAnswerHeaders(
  ids: XroadCallIds,
  request: ProviderRequest,
  body: Buffer,
  answerLength: number,
): Array<[string, string]> {
  return [
    ["x-road-id", ids.xroadId],
    ["x-road-client", encodedId(ids.client)],
    ["x-road-service", encodedId(ids.serviceId)],
    ["x-road-request-id", ids.requestId],
    ["x-road-request-hash", restRequestHash(request, body)],
    ["content-length", String(answerLength)],
  ];
}

/**
 * The service URL with the call's path appended as X-Road's security server does it
 * (ServerRestMessageProcessor.concatPath): the URL as registered when there is no path (a
 * trailing slash kept), else one slash between the two.
 */
export function withServicePath(serviceUrl: string, path: string): string {
  if (path === "") return serviceUrl;
  return serviceUrl.endsWith("/") && path.startsWith("/")
    ? serviceUrl + path.slice(1)
    : serviceUrl + path;
}

/**
 * X-Road's client proxy clears the Date its Jetty puts on every answer before it writes a REST
 * answer's headers (ClientRestMessageProcessor.sendResponse, `setHeader("Date", null)`), and
 * RestMessage.SKIPPED_HEADERS does not name Date: a REST answer carries the provider's Date when
 * it sent one, and none otherwise. Node would add its own, as Jetty does to any other answer.
 */
export function withoutOwnDate(res: http.ServerResponse): void {
  res.sendDate = false;
}

/** Forwards one REST call and writes the provider's answer; throws an XroadError before writing. */
export async function forwardRest(
  req: http.IncomingMessage,
  res: http.ServerResponse,
  target: RestTarget,
  body: Buffer,
  client: string,
  xroadId: string,
  provider: ProviderClient,
): Promise<number> {
  const { service } = target;
  const ids = { client, serviceId: service.id, xroadId, requestId: randomUUID() };
  const request = providerRequest(req, ids);
  const url = `${withServicePath(service.url.href, target.path)}${target.search ? `?${target.search}` : ""}`;
  const answer = await provider.call(service, {
    method: request.method,
    url,
    headers: request.headers,
    body,
  });
  const out: Array<[string, string]> = responseHeaderList(answer.headers);
  out.push(...xroadAnswerHeaders(ids, request, body, answer.body.length));
  withoutOwnDate(res);
  // Node takes a flat list, so repeated headers (Set-Cookie, Link) stay apart.
  res.writeHead(answer.status, out.flat());
  res.end(answer.body);
  return answer.status;
}
