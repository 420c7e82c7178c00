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
  // nginx's auth_request convention (the path and method an authorising service judges), and
  // Envoy's record of a path it rewrote (stripped by Envoy from requests it does not trust).
  "x-original-uri",
  "x-original-method",
  "x-envoy-original-path",
  // Next.js reads it as its own middleware's subrequest and skips that middleware, its
  // authorisation included (CVE-2025-29927); no caller has a use for it.
  "x-middleware-subrequest",
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
  // The client's address as a CDN, load balancer or ingress in front tells it: nginx's realip,
  // Express, Rails and ASP.NET read these as X-Real-IP is read, for an allowlist or a log.
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
  "cf-connecting-ip",
  "cf-connecting-ipv6",
  "fastly-client-ip",
  "x-cluster-client-ip",
  "x-envoy-external-address",
  "x-original-forwarded-for",
  "x-originating-ip",
  "x-remote-addr",
  "x-remote-ip",
  "x-azure-clientip",
  "x-azure-socketip",
  "x-proxyuser-ip",
  // PHP's HTTP_CLIENT_IP, read first by many an application's "client address" function.
  "client-ip",
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

/**
 * Request headers by which a reverse proxy, load balancer or API gateway in front of a server
 * tells it who the client is: the client's TLS certificate or its subject (nginx, IIS ARR,
 * Envoy's XFCC, Traefik, HAProxy, AWS ALB mTLS, Cloudflare), and the user, e-mail, groups or
 * token it signed the client in with (oauth2-proxy, AWS ALB's OIDC, Google IAP, Azure App
 * Service, WSO2's X-JWT-Assertion, Cloudflare Access, Grafana's auth proxy, Apache's
 * REMOTE_USER). A server behind such a proxy authenticates by them and nothing else; a caller
 * writes any value it likes (a certificate is public, a user name is a name), so one reaching a
 * backend that trusts Sluice as that proxy would sign the caller in as anyone. Withheld from a
 * backend's call unless its `options.forwardHeaders` names them, as the proxy overrides are, and
 * never sent to another organisation (worker/translators/remote-request-headers.ts).
 */
export const PROXY_ASSERTION_HEADERS: readonly string[] = [
  "x-ssl-client-cert",
  "ssl-client-cert",
  "x-client-cert",
  "x-client-certificate",
  "x-arr-clientcert",
  "x-client-verify",
  "x-client-dn",
  "x-jwt-assertion",
  "x-remote-user",
  "remote-user",
  "x-remote-group",
  "x-authenticated-user",
  "x-webauth-user",
  "x-ms-client-principal",
];
/** Name prefixes of PROXY_ASSERTION_HEADERS' families (`X-Amzn-*` is every AWS front's). */
export const PROXY_ASSERTION_PREFIXES: readonly string[] = [
  "x-amzn-",
  "x-ssl-",
  "ssl-client-",
  "x-client-cert-",
  "x-tls-client-",
  "x-arr-",
  "x-goog-iap-",
  "x-goog-authenticated-",
  "x-ms-token-",
  "x-ms-client-principal-",
  "x-auth-request-",
  "cf-access-",
  "cf-client-cert-",
];
const PROXY_ASSERTION = new Set(PROXY_ASSERTION_HEADERS);
/** PROXY_ASSERTION_PREFIXES as one test: no scan of the list, and no closure, per header. */
const PROXY_ASSERTION_PREFIX = new RegExp(`^(?:${PROXY_ASSERTION_PREFIXES.join("|")})`);

/**
 * Whether a header (lower-case name) is a front proxy's word about who the client is (its
 * client certificate or identity): see PROXY_ASSERTION_HEADERS.
 */
export function isProxyAssertionHeader(name: string): boolean {
  return PROXY_ASSERTION.has(name) || PROXY_ASSERTION_PREFIX.test(name);
}

/**
 * Every `X-Forwarded-*` is a proxy's word about the request or its client: besides the address,
 * host, scheme and prefix of PROXY_OVERRIDE_REQUEST, Traefik's `-Uri` and `-Method`, and an
 * authenticating proxy's user, e-mail, groups, token and client certificate (`X-Forwarded-User`,
 * `-Email`, `-Groups`, `-Access-Token`, `-Client-Cert`, `-Tls-Client-Cert`).
 */
export const FORWARDED_PREFIX = "x-forwarded-";

/**
 * Whether a caller's header (lower-case name) is a proxy's word to the backend, withheld from a
 * backend's call unless `options.forwardHeaders` names it: the proxy overrides, every
 * `X-Forwarded-*`, and a front proxy's assertion of the client's identity.
 */
export function isProxyHeader(name: string): boolean {
  return (
    PROXY_OVERRIDES.has(name) || name.startsWith(FORWARDED_PREFIX) || isProxyAssertionHeader(name)
  );
}

/** Header names a map's keys are checked against (lower-case): a Set, or a rule with exceptions. */
export interface HeaderNames {
  has(name: string): boolean;
}

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

function pick(headers: Record<string, unknown>, skip: HeaderNames): HeaderMap {
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
 * What a backend's call leaves out of a message's headers: NOT_FORWARDED_REQUEST and the proxy's
 * headers (isProxyHeader) but those `kept` names (lower-case). Built once per backend.
 */
export function withheldFromBackend(kept: readonly string[] = []): HeaderNames {
  // Only a proxy's header may be kept: the rest are never the caller's to pass on.
  const keeps = new Set(kept.filter(isProxyHeader));
  // Asked for every header of every call: the names callers send are few, so each is judged by
  // its prefixes once and then answered by one lookup. Bounded, since a caller may send any name.
  const judged = new Map<string, boolean>();
  return {
    has(name: string): boolean {
      let withheld = judged.get(name);
      if (withheld === undefined) {
        withheld = REQUEST_SKIP.has(name) || (isProxyHeader(name) && !keeps.has(name));
        if (judged.size < JUDGED_NAMES) judged.set(name, withheld);
      }
      return withheld;
    },
  };
}

/** Header names a backend's withheld set remembers its judgement of (withheldFromBackend). */
const JUDGED_NAMES = 1_000;

/** The caller's headers a backend's call carries: those of a message but `withheld` (names lower-cased). */
export function backendRequestHeaders(
  headers: Record<string, unknown>,
  withheld: HeaderNames,
): HeaderMap {
  return pick(headers, withheld);
}

/** The backend's own headers to give a sync caller (names lower-cased). */
export function forwardedResponseHeaders(headers: Record<string, unknown>): HeaderMap {
  return pick(headers, RESPONSE_SKIP);
}
