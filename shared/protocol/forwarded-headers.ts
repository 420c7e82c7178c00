// Which HTTP headers travel between an X-Road REST caller and the backend (PR-REST §4.3): the
// caller's own headers (Accept included) go to the backend, the backend's own headers come
// back on a sync answer; hop-by-hop headers, Host and X-Road-* never pass, and a caller's proxy
// overrides (X-Forwarded-*, X-Original-URL, …) reach a backend only if it asks (docs/rest.md).

export type HeaderMap = Record<string, string | string[]>;

/** Hop-by-hop headers (RFC 9110 §7.6.1, PR-REST "Filtered headers"): meant for one connection. */
export const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-authenticate",
  "proxy-authorization",
  "proxy-connection",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
];

/**
 * Request headers that are not the caller's to pass on: framing Sluice redoes (Host,
 * Content-Length, Expect), the reply-mode controls Sluice itself answers (Prefer,
 * X-Callback-Url), Accept-Encoding (the answer is stored, so it must arrive uncompressed),
 * and what Sluice sets itself (Idempotency-Key, X-Sluice-*). X-Road-* travel on their own, and
 * so does the W3C trace context: read by the propagator (an invalid `traceparent` is dropped, as
 * W3C Trace Context says, never passed on as it came) and sent on as the message's.
 */
export const NOT_FORWARDED_REQUEST = [
  ...HOP_BY_HOP,
  "host",
  "content-length",
  "content-type",
  "expect",
  "prefer",
  "x-callback-url",
  "accept-encoding",
  "idempotency-key",
  "traceparent",
  "tracestate",
];

/**
 * Request headers by which a proxy in front of a server tells it another URL, method, host,
 * scheme, base path or client address than the request's own: IIS URL Rewrite, Symfony and
 * Laravel's trusted proxies, Spring's ForwardedHeaderFilter, Express's `trust proxy` route or
 * authorise by them when the request comes from a proxy they trust, which Sluice is to its
 * backend. A caller's values would steer the backend outside the base path and past the methods
 * Sluice keeps calls to, or name a false client; a caller reaches Sluice through its security
 * server and means none of them for the backend. Withheld from a backend's call unless its
 * `options.forwardHeaders` names them (docs/rest.md).
 */
export const PROXY_OVERRIDE_REQUEST = [
  "x-original-url",
  "x-rewrite-url",
  "x-original-host",
  "x-http-method-override",
  "x-http-method",
  "x-method-override",
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-proto",
  "x-forwarded-prefix",
  "x-forwarded-scheme",
  "x-forwarded-server",
  "x-forwarded-ssl",
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
];

/**
 * Response headers a sync caller never gets from the backend: framing the adapter redoes
 * (Content-Length; Content-Type is carried on its own), Date and Server (they describe the
 * backend's answer at another time and place), and the headers Sluice and the security server
 * set on every answer (X-Road-*, X-Sluice-*, Preference-Applied).
 */
export const NOT_FORWARDED_RESPONSE = [
  ...HOP_BY_HOP,
  "host",
  "content-length",
  "content-type",
  "date",
  "server",
  "preference-applied",
];

/**
 * Response headers that bind the origin which sends them, not the one answer: a cookie (RFC 6265),
 * HSTS, pinning and Expect-CT, Alt-Svc, Clear-Site-Data, CORS grants (`Access-Control-*`,
 * `Timing-Allow-Origin`), `Origin-Agent-Cluster`, `Refresh` (followed like a redirect), network
 * error reporting (`NEL`, `Report-To`: the origin's failures reported to another's endpoint for
 * as long as it says), `Service-Worker-Allowed` (a worker's scope widened), and `Link`, which a
 * browser acts on for the origin: preconnect, prefetch and preload of other origins' resources,
 * and in Firefox a stylesheet applied. A sync caller gets them under Sluice's origin: from another
 * organisation (the consumer direction) they would be that organisation's say over Sluice's
 * origin, so they are not passed on there.
 */
export const ORIGIN_BOUND_RESPONSE = [
  "set-cookie",
  "set-cookie2",
  "strict-transport-security",
  "public-key-pins",
  "public-key-pins-report-only",
  "expect-ct",
  "alt-svc",
  "clear-site-data",
  "timing-allow-origin",
  "origin-agent-cluster",
  "refresh",
  "nel",
  "report-to",
  "service-worker-allowed",
  "link",
];

const ORIGIN_BOUND = new Set(ORIGIN_BOUND_RESPONSE);

/** Whether a response header (lower-case name) binds the origin that sends it (ORIGIN_BOUND_RESPONSE). */
export function isOriginBound(name: string): boolean {
  return ORIGIN_BOUND.has(name) || name.startsWith("access-control-");
}

const REQUEST_SKIP = new Set(NOT_FORWARDED_REQUEST);
const PROXY_OVERRIDES = new Set(PROXY_OVERRIDE_REQUEST);
const RESPONSE_SKIP = new Set(NOT_FORWARDED_RESPONSE);

/** What a message without a `Connection` header lists (shared: never written to). */
const NONE_LISTED: ReadonlySet<string> = new Set();

/** Names a `Connection` header lists are hop-by-hop for this one message (RFC 9110 §7.6.1). */
function connectionListed(value: unknown): ReadonlySet<string> {
  const text = Array.isArray(value) ? value.join(",") : typeof value === "string" ? value : "";
  if (text === "") return NONE_LISTED;
  return new Set(
    text
      .split(",")
      .map((name) => name.trim().toLowerCase())
      .filter(Boolean),
  );
}

/**
 * Sets one header of `kept`. A header named `__proto__` (a token like any other; a stored
 * message's JSON gives it as an own name) is defined, not assigned: assigned, it would be
 * dropped or make its list the map's prototype.
 */
function keep(kept: HeaderMap, name: string, value: string | string[]): void {
  if (name === "__proto__") {
    Object.defineProperty(kept, name, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  } else kept[name] = value;
}

function pick(headers: Record<string, unknown>, skip: ReadonlySet<string>): HeaderMap {
  const listed = connectionListed(headers.connection);
  const kept: HeaderMap = {};
  // A map not from Node's parser may name Connection in another case: what it lists goes too.
  let otherCaseConnection: unknown[] | undefined;
  // A for-in, not Object.entries: no array of pairs per message.
  for (const rawName in headers) {
    if (!Object.hasOwn(headers, rawName)) continue;
    const value = headers[rawName];
    const name = rawName.toLowerCase();
    if (name === "connection" && rawName !== name) (otherCaseConnection ??= []).push(value);
    if (skip.has(name) || listed.has(name)) continue;
    if (name.startsWith("x-road-") || name.startsWith("x-sluice-")) continue;
    if (typeof value === "string") keep(kept, name, value);
    else if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      keep(kept, name, value.length === 1 ? value[0] : [...value]);
    }
  }
  if (otherCaseConnection) {
    for (const name of connectionListed(otherCaseConnection.flat())) delete kept[name];
  }
  return kept;
}

/** The caller's own headers a message keeps for its backend (names lower-cased). */
export function forwardedRequestHeaders(headers: Record<string, unknown>): HeaderMap {
  return pick(headers, REQUEST_SKIP);
}

/**
 * What a backend's call leaves out of a message's headers: NOT_FORWARDED_REQUEST and the proxy
 * overrides but those `kept` names (lower-case). Built once per backend, so the call itself
 * costs one Set lookup per header.
 */
export function withheldFromBackend(kept: readonly string[] = []): ReadonlySet<string> {
  const withheld = new Set([...NOT_FORWARDED_REQUEST, ...PROXY_OVERRIDE_REQUEST]);
  // Only an override may be kept: the rest are never the caller's to pass on.
  for (const name of kept) if (PROXY_OVERRIDES.has(name)) withheld.delete(name);
  return withheld;
}

/** The caller's headers a backend's call carries: those of a message but `withheld` (names lower-cased). */
export function backendRequestHeaders(
  headers: Record<string, unknown>,
  withheld: ReadonlySet<string>,
): HeaderMap {
  return pick(headers, withheld);
}

/** The backend's own headers to give a sync caller (names lower-cased). */
export function forwardedResponseHeaders(headers: Record<string, unknown>): HeaderMap {
  return pick(headers, RESPONSE_SKIP);
}
