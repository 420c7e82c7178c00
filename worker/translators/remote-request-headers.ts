// Which of a local caller's headers an `xroad-rest` call carries to the remote provider, another
// organisation: a short list of HTTP's own request semantics, the names the backend's
// `options.forwardHeaders` adds and the credentials its `options.forwardCredentials` opts in
// (docs/consumer.md, "What is sent", "An end user's credential"). Every other header stays home.

import { CREDENTIAL_HEADERS } from "../../shared/protocol/credential-headers";
import {
  backendRequestHeaders,
  FORWARDED_PREFIX,
  HOP_BY_HOP,
  isProxyAssertionHeader,
  NOT_FORWARDED_REQUEST,
  type HeaderMap,
} from "../../shared/protocol/forwarded-headers";

/**
 * The caller's headers a remote provider gets unless configured otherwise: content negotiation
 * (PR-REST §4.3 has the security server pass `Accept` unmodified), the language of the body,
 * conditional and range requests (RFC 9110 §13, §14), and the cache directives PR-REST says are
 * passed as-is. None of them carries a credential or names anything inside the organisation.
 * Content-Type, the X-Road headers, Idempotency-Key and traceparent are Sluice's to set.
 */
export const DEFAULT_REMOTE_REQUEST_HEADERS: readonly string[] = [
  "accept",
  "accept-language",
  "content-language",
  "if-match",
  "if-none-match",
  "if-modified-since",
  "if-unmodified-since",
  "if-range",
  "range",
  "cache-control",
  "pragma",
];

/**
 * Headers that tell where a request came from inside the operator's network: the addresses,
 * host names, pages and proxies of a local caller's path (a reverse proxy or load balancer in
 * front of Sluice adds them: ingress-nginx behind another balancer, Envoy, Cloudflare, Fastly,
 * Rackspace). Never sent, and refused in `options.forwardHeaders` at config load, where naming
 * one would promise what no call does: the provider has no use for that map of the network.
 */
const ORIGIN_HEADERS: readonly string[] = [
  "forwarded",
  "x-forwarded-for",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-proto",
  "x-forwarded-prefix",
  "x-real-ip",
  "x-client-ip",
  "true-client-ip",
  "via",
  "x-original-forwarded-for",
  "x-envoy-external-address",
  "x-cluster-client-ip",
  "cf-connecting-ip",
  "cf-connecting-ipv6",
  "fastly-client-ip",
  "x-azure-clientip",
  "x-azure-socketip",
  "x-proxyuser-ip",
  "client-ip",
  "x-originating-ip",
  "x-remote-addr",
  "x-remote-ip",
  // A browser-based local system's page: the intranet's host names, and in Referer's query
  // whatever the page was showing (a person's code, a case number).
  "referer",
  "origin",
];

/**
 * A front proxy's assertion of the local caller's client certificate or identity
 * (isProxyAssertionHeader, shared/protocol/forwarded-headers.ts): the caller does not send them,
 * a front proxy injects them, and a service that trusts its own front proxy authenticates by
 * them. Sent to another organisation they hand it the caller's certificate or an identity
 * assertion it can replay, so neither `forwardHeaders` nor `forwardCredentials` may name one:
 * refused at config load, and withheld like every name the allowlist lacks.
 */
export { isProxyAssertionHeader };

const PROXY_ASSERTION_PROBLEM =
  "is a front proxy's assertion of the local caller's client certificate or identity, never passed to another organisation";

/** RFC 9110 §5.1: a field name is a token. */
const TOKEN = /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/;

const CREDENTIAL = new Set(CREDENTIAL_HEADERS);
/**
 * Credential names `forwardCredentials` cannot open: `Set-Cookie` is an answer's header, not a
 * caller's (Proxy-Authorization, the proxy's and hop-by-hop, is among NEVER_THE_CALLERS; the
 * X-Forwarded-* ones are a proxy's word about the caller, as every origin header is).
 */
const NEVER_CREDENTIAL = new Set(["set-cookie"]);
const NEVER_THE_CALLERS = new Set(NOT_FORWARDED_REQUEST);
const HOP_BY_HOP_NAMES = new Set(HOP_BY_HOP);
const ORIGIN = new Set(ORIGIN_HEADERS);

/**
 * Whether a header (lower-case name) tells where a request came from inside the operator's
 * network: withheld from a remote provider whatever `options.forwardHeaders` says. Every
 * X-Forwarded-* is a proxy's word about the local caller (FORWARDED_PREFIX).
 */
export function isOriginHeader(name: string): boolean {
  return ORIGIN.has(name) || name.startsWith(FORWARDED_PREFIX);
}

/** Whether a header (lower-case name) is a credential, passed on only by `forwardCredentials`. */
export function isCredentialHeader(name: string): boolean {
  return CREDENTIAL.has(name);
}

/**
 * The names (lower-case) a backend's calls pass on: the defaults and `forwardHeaders`, and the
 * credentials `forwardCredentials` opts in. Throws, naming each problem of both lists, for a
 * name that is not a header name, one a call never carries from the caller whatever the lists
 * say (`neverSentReason`: hop-by-hop, `Host`, `Content-Length`, `Prefer`, `X-Road-*`, the origin
 * headers, a name `options.headers` sets), a credential in `forwardHeaders` (the local system's
 * for Sluice, not the remote provider's, unless the operator opts it in by name), in either list
 * a front proxy's client certificate or identity assertion, or in `forwardCredentials` a name
 * that is no credential Sluice redacts. `operatorHeaders` is the backend's `options.headers`.
 */
export function remoteHeaderAllowlist(
  backendName: string,
  forwardHeaders: unknown,
  forwardCredentials?: unknown,
  operatorHeaders?: unknown,
): ReadonlySet<string> {
  const allowed = new Set(DEFAULT_REMOTE_REQUEST_HEADERS);
  const operatorNames = new Set(
    operatorHeaders !== null && typeof operatorHeaders === "object"
      ? Object.keys(operatorHeaders).map((name) => name.toLowerCase())
      : [],
  );
  const neverSent = (name: string): string | undefined =>
    operatorNames.has(name)
      ? "options.headers sets it, in place of the caller's"
      : neverSentReason(name);
  const problems = [
    ...listProblems(backendName, "forwardHeaders", forwardHeaders, neverSent, (name) => {
      // X-Forwarded-Client-Cert and the like: no forwardCredentials opens them either.
      if (isProxyAssertionHeader(name) || (CREDENTIAL.has(name) && isOriginHeader(name)))
        return `${name} ${PROXY_ASSERTION_PROBLEM}`;
      if (CREDENTIAL.has(name))
        return `${name} is a credential of the local caller's, sent to another organisation only when options.forwardCredentials names it (the provider's own goes in options.headers)`;
      allowed.add(name);
      return undefined;
    }),
    ...listProblems(backendName, "forwardCredentials", forwardCredentials, neverSent, (name) => {
      if (isProxyAssertionHeader(name)) return `${name} ${PROXY_ASSERTION_PROBLEM}`;
      if (!CREDENTIAL.has(name))
        return `${name} is not a credential header (docs/rest.md, "Credential headers"); a header of the remote service's own goes in options.forwardHeaders`;
      if (NEVER_CREDENTIAL.has(name) || isOriginHeader(name))
        return `${name} is never passed to a remote provider (${NEVER_CREDENTIAL.has(name) ? "an answer's header" : "a proxy's word about the local caller"})`;
      allowed.add(name);
      return undefined;
    }),
  ];
  if (problems.length > 0) throw new Error(`backend ${backendName}: ${problems.join("; ")}`);
  return allowed;
}

/**
 * Why a call to a remote provider never carries the caller's header `name` (lower-case), named in
 * `forwardHeaders` or `forwardCredentials` or not, or undefined for one it can: hop-by-hop and
 * framing headers, the reply-mode controls and what Sluice sets itself (`remoteRequestHeaders`
 * drops them, the call then sets its own), and the origin headers, which map the operator's
 * network. A name in either list that will never be sent is refused at config load, with this.
 */
export function neverSentReason(name: string): string | undefined {
  if (HOP_BY_HOP_NAMES.has(name)) return "hop-by-hop, meant for one connection";
  if (NEVER_THE_CALLERS.has(name) || name.startsWith("x-road-") || name.startsWith("x-sluice-"))
    return "Sluice sets it or answers it itself";
  // X-Forwarded-Client-Cert and the credentials among them have their own refusal.
  if (isOriginHeader(name) && !isProxyAssertionHeader(name) && !CREDENTIAL.has(name))
    return "it maps the local network";
  return undefined;
}

/**
 * The problems of one option's list of header names: not a list, not header names, names never
 * sent (`neverSent`), and what `judge` says of each other name.
 */
function listProblems(
  backendName: string,
  option: "forwardHeaders" | "forwardCredentials",
  listed: unknown,
  neverSent: (name: string) => string | undefined,
  judge: (name: string) => string | undefined,
): string[] {
  if (listed === undefined) return [];
  if (!Array.isArray(listed) || !listed.every((name) => typeof name === "string")) {
    return [`options.${option} must be a list of header names`];
  }
  const problems: string[] = [];
  for (const given of listed as string[]) {
    const name = given.toLowerCase();
    const never = TOKEN.test(name) ? neverSent(name) : undefined;
    const problem = !TOKEN.test(name)
      ? `"${given.slice(0, 100)}" is not a header name`
      : never !== undefined
        ? `${name} is never sent to the remote provider (${never})`
        : judge(name);
    if (problem !== undefined) problems.push(problem);
  }
  return problems.length > 0 ? [`options.${option}: ${problems.join("; ")}`] : [];
}

/** The caller's headers a call carries (`kept`) and the names of those it leaves out (`withheld`). */
export function remoteRequestHeaders(
  headers: Record<string, unknown>,
  allowed: ReadonlySet<string>,
): { kept: HeaderMap; withheld: string[] } {
  // Hop-by-hop and framing first, as for any backend; the allowlist then decides on the rest.
  const kept = backendRequestHeaders(headers, NEVER_THE_CALLERS);
  const withheld: string[] = [];
  for (const name of Object.keys(kept)) {
    if (allowed.has(name)) continue;
    delete kept[name];
    withheld.push(name);
  }
  return { kept, withheld };
}
