// Callback targets: where the outcome of a message may be sent. Checked when a request or hub
// listener is submitted (so a bad target is a 400, not a silent delivery failure) and again at
// delivery, since the operator's allowlist may have changed in between.

import { isIP } from "node:net";
import { SluiceError } from "../protocol/errors";
import { pathProblem } from "../protocol/rest-path";
import { deniedRange, embeddedIPv4, type Lookup, systemLookup } from "./address-check";
import { admission, type Admission, type CallbackClients } from "./callback-scope";
import { pathReaches } from "./receiver-path";

export interface CallbackPolicy {
  /** Allowlist entries: URL prefixes (`https://host[:port]/path`) and `xroad:` prefixes. */
  allow: readonly string[];
  /**
   * Each client's own receivers (`callbacks.clients`), entries as in `allow`: a target one of
   * them admits is for that client only (absent: none).
   */
  clients?: CallbackClients;
  /** Whether `http://` targets are accepted at all (they still need an allowlist entry). */
  allowHttp: boolean;
  /** Whether private, loopback, link-local and other special addresses are accepted. */
  allowPrivate: boolean;
  /** Whether a security server is configured, without which `xroad:` targets cannot work. */
  xroad: boolean;
  /**
   * Whether a signing secret is configured. Without one no callback is ever sent (the response
   * worker sends nothing unsigned), so a submission naming one is refused (absent: configured).
   */
  signing?: boolean;
}

/** An X-Road service that receives callbacks as REST POSTs through the security server. */
export interface XRoadServiceTarget {
  kind: "xroad";
  instance: string;
  memberClass: string;
  memberCode: string;
  subsystemCode: string;
  serviceCode: string;
  /** Canonical form, `xroad:INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE`. */
  target: string;
}

export interface UrlTarget {
  kind: "url";
  /** The URL as WHATWG-normalised (dot segments resolved, host lower-cased). */
  url: URL;
  /** Canonical form, the normalised href. */
  target: string;
}

export type CallbackTarget = UrlTarget | XRoadServiceTarget;

const MAX_LENGTH = 2048;
// X-Road identifier parts as Sluice accepts them in a target: no separators, no dot-only parts.
const XROAD_PART = /^[A-Za-z0-9._~-]{1,255}$/;

function invalid(message: string): SluiceError {
  return new SluiceError("InvalidCallback", message);
}

/**
 * Checks the form of a target and the policy without I/O, for the messages of `client` (null: a
 * caller not known, who may use no client's own receiver). Throws SluiceError("InvalidCallback")
 * saying what is wrong. A literal special-range IP is refused here; host names are resolved
 * by checkCallbackTarget.
 */
export function parseCallbackTarget(
  raw: unknown,
  policy: CallbackPolicy,
  client: string | null = null,
): CallbackTarget {
  if (typeof raw !== "string" || raw.trim() === "") {
    throw invalid("the callback target must be a non-empty string");
  }
  const text = raw.trim();
  if (text.length > MAX_LENGTH) {
    throw invalid(`the callback target is longer than ${MAX_LENGTH} characters`);
  }
  if (text.toLowerCase().startsWith("xroad:")) return parseXRoad(text, policy, client);

  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw invalid("the callback target is not a valid URL");
  }
  if (url.protocol !== "https:" && !(url.protocol === "http:" && policy.allowHttp)) {
    throw invalid(
      policy.allowHttp
        ? "the callback URL must use https:// or http://"
        : "the callback URL must use https://",
    );
  }
  if (url.username !== "" || url.password !== "") {
    throw invalid("the callback URL must not contain user information");
  }
  if (url.hash !== "") throw invalid("the callback URL must not contain a fragment");
  // The allowlist admits a path prefix: a path that a receiver (or a proxy before it) decodes
  // into another one (`/hooks/..%2f..%2fadmin`) would take a signed POST outside it.
  const pathProblemText = pathProblem(url.pathname);
  if (pathProblemText !== null) throw invalid(`the callback URL's path ${pathProblemText}`);
  const host = url.hostname.startsWith("[") ? url.hostname.slice(1, -1) : url.hostname;
  const nameProblemText = isIP(host) === 0 ? hostNameProblem(host) : null;
  if (nameProblemText !== null) throw invalid(`the callback URL's host ${nameProblemText}`);
  if (!policy.allowPrivate && isIP(host) !== 0) {
    const range = deniedRange(host);
    if (range !== null) {
      throw invalid(`the callback URL points to a ${range} address, which is not allowed`);
    }
  }
  refuseUnadmitted(
    admission(
      policy.allow,
      policy.clients ?? NO_CLIENTS,
      client,
      (entry) => urlMatches(entry, url),
      (entry) => urlReaches(entry, url),
    ),
    "the callback URL",
    client,
  );
  return { kind: "url", url, target: url.href };
}

const NO_CLIENTS: CallbackClients = {};

/**
 * The refusal for a target the allowlists do not admit for `client`. One listed as another
 * client's own receiver says only that it is not allowed for the caller: naming its owner would
 * tell a caller whose receiver a URL is. That it is some client's shows in the words differing
 * from an unlisted target's, as docs/callbacks.md says.
 */
function refuseUnadmitted(verdict: Admission, what: string, client: string | null): void {
  if (verdict === "unlisted") {
    throw invalid(`${what} does not match any allowed callback prefix`);
  }
  if (verdict === "others") {
    throw new OwnedElsewhereRefusal(
      client === null
        ? `${what} is not allowed for a delivery that names no client`
        : `${what} is not allowed for client ${client}`,
    );
  }
}

/**
 * A target refused as another client's own receiver (`callbacks.clients`). Told apart from the
 * other refusals at delivery: a hub listener at such a receiver can never be sent an event of
 * its client again, whatever the receiver answers, so it is removed rather than kept.
 */
export class OwnedElsewhereRefusal extends SluiceError {
  constructor(message: string) {
    super("InvalidCallback", message);
  }
}

/**
 * What makes a host name one DNS cannot hold (RFC 1035 §2.3.4), in words after "the callback
 * URL's host", or null. The URL parser takes any length; the system resolver refuses such a
 * name with EINVAL, not ENOTFOUND, which the submission's check let through and delivery tried
 * for hours (a `*.` entry admits a 64-character label as readily as any other).
 */
export function hostNameProblem(host: string): string | null {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length > MAX_NAME_LENGTH) {
    return `is longer than ${MAX_NAME_LENGTH} characters, which no DNS name is`;
  }
  const labels = name.split(".");
  if (labels.some((label) => label === "")) return "has an empty label (..)";
  if (labels.some((label) => label.length > MAX_LABEL_LENGTH)) {
    return `has a label longer than ${MAX_LABEL_LENGTH} characters, which no DNS name has`;
  }
  return null;
}

/** RFC 1035 §2.3.4: 255 octets on the wire are at most 253 characters written, 63 per label. */
const MAX_NAME_LENGTH = 253;
const MAX_LABEL_LENGTH = 63;

/**
 * parseCallbackTarget plus name resolution: a host name whose every address is in a special
 * range is refused. A name that does not exist is refused; a resolver that fails for another
 * reason (timeout, no answer yet) lets the target through, since delivery checks again. Both
 * refusals are a CallbackAddressRefusal, which says why to the operator only.
 */
export async function checkCallbackTarget(
  raw: unknown,
  policy: CallbackPolicy,
  client: string | null,
  lookup: Lookup = systemLookup,
  gate: LookupGate = submissionLookups,
): Promise<CallbackTarget> {
  const target = parseCallbackTarget(raw, policy, client);
  if (target.kind !== "url" || policy.allowPrivate) return target;
  const host = target.url.hostname;
  if (host.startsWith("[") || isIP(host) !== 0) return target;
  const lookingUp = gate.tryRun(() => lookup(host));
  // Every slot is held by a resolver that has not answered: the target passes unchecked, as
  // one past the bound below does, since delivery resolves and checks it again.
  if (lookingUp === null) return target;
  let addresses: string[];
  try {
    // A slow resolver must not hold the caller for long: past the bound the target passes.
    addresses = await withTimeout(lookingUp, SUBMISSION_LOOKUP_MS);
  } catch (error) {
    const code = (error as { code?: string }).code;
    if (code === "ENOTFOUND" || code === "ENODATA") {
      throw new CallbackAddressRefusal(host, `does not resolve (${code})`);
    }
    return target;
  }
  const ranges = addresses.map(deniedRange);
  if (ranges.length > 0 && ranges.every((range) => range !== null)) {
    throw new CallbackAddressRefusal(host, `resolves to ${addresses[0]}, a ${ranges[0]} address`);
  }
  return target;
}

/** What a caller is told of a target its host's name resolution refused, whatever the reason. */
export const UNADMITTED_ADDRESS = "the callback URL is not an allowed callback target";

/**
 * A target refused for what its host name resolves to, or for resolving to nothing. The words
 * a caller gets are the same for both: under a wildcard entry (`https://*.example.gov/`) the
 * reason would tell a client which of the provider's internal names exist and which of them
 * are private addresses. The reason, for the operator's log, is in `reason`.
 */
export class CallbackAddressRefusal extends SluiceError {
  constructor(
    /** The target's host name, as the caller wrote it (normalised). */
    readonly host: string,
    /** Why, in words after the host name: "resolves to 10.0.0.5, a private address". */
    readonly reason: string,
  ) {
    super("InvalidCallback", UNADMITTED_ADDRESS);
  }
}

/** How long name resolution may take while a caller waits for its submission's answer. */
const SUBMISSION_LOOKUP_MS = 2_000;

/**
 * Bounds the lookups under way, counting those whose caller stopped waiting: the system
 * resolver (getaddrinfo) runs on libuv's threadpool, 4 threads by default, which a resolver
 * that never answers would otherwise fill with one lookup per submission, and behind them the
 * file reads and the adapter's own look-ups of the broker and Redis would queue.
 */
export class LookupGate {
  private underway = 0;

  constructor(private readonly max: number) {}

  /** Starts `work` when fewer than `max` are under way; null (nothing started) when not. */
  tryRun<T>(work: () => Promise<T>): Promise<T> | null {
    if (this.underway >= this.max) return null;
    this.underway += 1;
    const running = work();
    running.then(
      () => (this.underway -= 1),
      () => (this.underway -= 1),
    );
    return running;
  }
}

/** The submissions' lookups in this process: half of libuv's default threadpool. */
const submissionLookups = new LookupGate(2);

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(Object.assign(new Error("lookup timed out"), { code: "ETIMEOUT" })),
      ms,
    );
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

function parseXRoad(
  text: string,
  policy: CallbackPolicy,
  client: string | null,
): XRoadServiceTarget {
  const target = parseXRoadTarget(text);
  if (target === null) {
    throw invalid(
      "an X-Road callback target must be xroad:INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE",
    );
  }
  if (!policy.xroad) throw invalid("X-Road callback targets are not configured");
  refuseUnadmitted(
    admission(policy.allow, policy.clients ?? NO_CLIENTS, client, (entry) =>
      xroadMatches(entry, target),
    ),
    "the X-Road callback target",
    client,
  );
  return target;
}

/** Parses `xroad:INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE`; null when it is not one. */
export function parseXRoadTarget(text: string): XRoadServiceTarget | null {
  if (!text.toLowerCase().startsWith("xroad:")) return null;
  const parts = text.slice("xroad:".length).split("/");
  if (parts.length !== 5 || !parts.every((part) => XROAD_PART.test(part) && !/^\.+$/.test(part))) {
    return null;
  }
  const [instance, memberClass, memberCode, subsystemCode, serviceCode] = parts;
  return {
    kind: "xroad",
    instance,
    memberClass,
    memberCode,
    subsystemCode,
    serviceCode,
    target: `xroad:${parts.join("/")}`,
  };
}

/**
 * Allowlist entry for URLs: `scheme://host[:port]/path`. A target matches when scheme, host and
 * effective port are equal and its path starts with the entry's path at a segment boundary:
 * `https://a.example/hooks` admits `/hooks` and `/hooks/x`, not `/hooksmith`. A host written
 * `*.example.org` admits every subdomain of example.org, not example.org itself.
 */
export function urlMatches(entry: string, target: URL): boolean {
  const parsed = sameSchemeAndPort(entry, target);
  if (parsed === null || !hostCovered(parsed, parsed.url.hostname, target.hostname)) return false;
  const prefix = parsed.url.pathname;
  const path = target.pathname;
  if (prefix.endsWith("/")) return path.startsWith(prefix);
  return path === prefix || path.startsWith(`${prefix}/`);
}

/**
 * Whether a target may reach the receiver an entry names, however a receiver reads it: as
 * urlMatches, with host names compared without a trailing dot (`alice.example.` is
 * `alice.example` to DNS), an IPv6 address that carries an IPv4 address (mapped, NAT64, 6to4) as
 * that IPv4 address, and paths as receiverPath reads them. Used for another client's own
 * entries, where a spelling urlMatches does not admit must not take the owner's receiver.
 */
export function urlReaches(entry: string, target: URL): boolean {
  const parsed = sameSchemeAndPort(entry, target);
  if (parsed === null) return false;
  const hosts = [parsed.url.hostname, target.hostname].map(receiverHost);
  return (
    hostCovered(parsed, hosts[0], hosts[1]) && pathReaches(parsed.url.pathname, target.pathname)
  );
}

/** A URL entry of the target's scheme and effective port, parsed; null for any other entry. */
function sameSchemeAndPort(entry: string, target: URL): { url: URL; wildcard: boolean } | null {
  const parsed = parseAllowEntry(entry);
  if (parsed === null || parsed.kind !== "url") return null;
  const { url } = parsed;
  return url.protocol === target.protocol && url.port === target.port ? parsed : null;
}

/** Whether an entry's host (`*.` a wildcard: its subdomains, not itself) covers `host`. */
function hostCovered(entry: { wildcard: boolean }, entryHost: string, host: string): boolean {
  return entry.wildcard ? host.endsWith(`.${entryHost}`) : host === entryHost;
}

/**
 * A URL's host as the receiver behind it is reached: a name without DNS's root dot, an IPv6
 * address carrying an IPv4 address as that address: mapped (`[::ffff:10.0.0.5]`, which a
 * dual-stack host takes as the IPv4 address), NAT64 (`[64:ff9b::a00:5]`, which a translator
 * forwards to it) and 6to4 (`[2002:a00:5::]`, which a relay carries to it).
 */
function receiverHost(host: string): string {
  if (host.startsWith("[")) return embeddedIPv4(host.slice(1, -1)) ?? host;
  return host.endsWith(".") ? host.slice(0, -1) : host;
}

/** Allowlist entry for X-Road targets: `xroad:` followed by whole leading parts, `xroad:` alone admits all. */
function xroadMatches(entry: string, target: XRoadServiceTarget): boolean {
  if (!entry.toLowerCase().startsWith("xroad:")) return false;
  const prefix = entry
    .slice("xroad:".length)
    .split("/")
    .filter((part) => part !== "");
  const parts = target.target.slice("xroad:".length).split("/");
  return prefix.length <= parts.length && prefix.every((part, i) => part === parts[i]);
}

type AllowEntry = { kind: "url"; url: URL; wildcard: boolean } | { kind: "xroad" };

function parseAllowEntry(entry: string): AllowEntry | null {
  if (entry.toLowerCase().startsWith("xroad:")) return { kind: "xroad" };
  const wildcard = /^[a-z]+:\/\/\*\./i.test(entry);
  let url: URL;
  try {
    url = new URL(wildcard ? entry.replace("*.", "") : entry);
  } catch {
    return null;
  }
  if (url.protocol !== "https:" && url.protocol !== "http:") return null;
  if (url.username || url.password || url.search || url.hash) return null;
  // `https://*` or `https://*/`: a host no target has (only `*.` leads a wildcard).
  if (url.hostname.includes("*")) return null;
  return { kind: "url", url, wildcard };
}

/**
 * Problems with a configured allowlist, one line each, for the configuration check: an entry
 * that no target can match (`*`, `0.0.0.0/0`, `https://`, `ftp://…`) is an operator's
 * misreading, not an allowlist, and was accepted without a word. The entry itself is not
 * repeated: one written with `user:password@` would print the password.
 */
export function allowlistProblems(allow: unknown, where = "config.callbacks.allow"): string[] {
  if (!Array.isArray(allow)) return [`${where}: must be a list`];
  return allow.flatMap((entry, i) => {
    if (typeof entry !== "string") return [`${where}[${i}]: must be a string`];
    if (entry === "" || parseAllowEntry(entry) !== null) return [];
    return [
      `${where}[${i}]: admits no callback target: an entry is an http(s) URL prefix with a host (https://callbacks.example.org/hooks/, a host *.example.org for its subdomains), without user, query or fragment, or an xroad: prefix; "*", an address range or a bare scheme is none`,
    ];
  });
}

/**
 * Allowlist entries for `http://` targets while `allowHttp` is off: every target they match is
 * refused for its scheme, so they admit nothing (as an entry that matches no target, but a
 * warning: turning `allowHttp` on may be the next step of a rollout). Named by index only.
 */
export function plainHttpEntryWarnings(
  callbacks: { allow: string[]; allowHttp: boolean },
  where = "config.callbacks.allow",
): string[] {
  if (callbacks.allowHttp) return [];
  return callbacks.allow.flatMap((entry, i) => {
    const parsed = parseAllowEntry(entry);
    return parsed?.kind === "url" && parsed.url.protocol === "http:"
      ? [
          `${where}[${i}]: an http:// prefix, and config.callbacks.allowHttp is off, so every target it matches is refused: use an https:// receiver, or set allowHttp on a network you trust (docs/callbacks.md)`,
        ]
      : [];
  });
}

/**
 * The receiver a callback target names (whose delivery slots it uses, and by which an operator
 * picks dead callbacks): the URL's origin (scheme, host and port) for a URL, the service for an
 * `xroad:` target (each service is its own receiver behind the security servers). Null for a
 * target that is neither; it is refused when sent.
 */
export function receiverOf(target: string): string | null {
  if (target.toLowerCase().startsWith("xroad:")) return parseXRoadTarget(target)?.target ?? null;
  try {
    const { origin } = new URL(target);
    return origin === "null" ? null : origin;
  } catch {
    return null;
  }
}

/**
 * A text with each http(s) URL in it shown as `shownCallbackTarget` shows a target: a library's
 * error message may quote the URL it was given whole (the soap package's `Invalid WSDL URL:
 * http://user:pw@host/…?key=…`), and such a message reaches logs and dead letters, which are
 * read far more widely than the configuration the URL came from.
 */
export function withUrlsShown(text: string): string {
  return text.replace(URL_IN_TEXT, (url) => shownCallbackTarget(url));
}

/**
 * A text with each http(s) URL in it replaced by `<url>`: for what reaches another organisation
 * (a caller's status document), where even the URL's host and path name the operator's network.
 */
export function withoutUrls(text: string): string {
  return text.replace(URL_IN_TEXT, "<url>");
}

/**
 * An http(s) URL in a text, ending before a sentence's or a parenthesis's closing mark. Its
 * user information runs to the last `@` before the host: a password may hold a `'`, which the
 * URL parser keeps as it is, and ending the URL there showed the rest of it and the host.
 */
const URL_IN_TEXT = /\bhttps?:\/\/(?:[^\s/?#]*@)?[^\s"'<>]*[^\s"'<>.,;:)\]]/gi;

/** What stands for a query value (or a bare query part) in `shownCallbackTarget`. */
export const REDACTED_QUERY_VALUE = "[redacted]";

/**
 * A callback target as operators see it (dead-callback lists, the message view): the URL's
 * origin and path, with each query value replaced by `[redacted]` and a query part without a
 * name (`?<token>`) replaced whole. Callers put capability tokens in the query (`?token=`,
 * `?sig=`); the receiver and its path are enough to recognise where a callback went. The
 * callback itself is sent to the full target, and filters compare the full one too.
 * An `xroad:` target names a service and holds no secret: shown as it is.
 */
export function shownCallbackTarget(target: string): string {
  if (target.toLowerCase().startsWith("xroad:")) return target;
  const queryAt = target.indexOf("?");
  const hashAt = target.indexOf("#");
  // Parsed targets have neither a fragment nor user information; a stored one is not trusted.
  let base = target.slice(0, queryAt < 0 ? (hashAt < 0 ? target.length : hashAt) : queryAt);
  try {
    const url = new URL(base);
    base = url.origin === "null" ? base : url.origin + url.pathname;
  } catch {
    // Not absolute: a redirect's Location may be scheme-relative (`//user:pw@host/`), whose
    // user information is hidden all the same.
    base = base.replace(/^\/\/[^/@]*@/, "//");
    return queryAt < 0 && hashAt < 0 ? base : `${base}?${REDACTED_QUERY_VALUE}`;
  }
  if (queryAt < 0) return base;
  const query = target.slice(queryAt + 1, hashAt > queryAt ? hashAt : target.length);
  const parts = query
    .split("&")
    .filter((part) => part !== "")
    .map((part) => {
      const equals = part.indexOf("=");
      return equals <= 0
        ? REDACTED_QUERY_VALUE
        : `${part.slice(0, equals)}=${REDACTED_QUERY_VALUE}`;
    });
  return parts.length === 0 ? base : `${base}?${parts.join("&")}`;
}
