// Whether a request's Host names a port by one of the names it answers to (admin.hosts,
// adapter.hosts): off loopback, the one check that tells DNS rebinding from a real caller.

import type { IncomingMessage } from "node:http";
import { isIP, isIPv6 } from "node:net";
import { hostName } from "./loopback-host";

/** A host name as compared: lower case, a trailing dot dropped (`Sluice.Example.` → `sluice.example`). */
export function servedName(name: string): string {
  return name.toLowerCase().replace(/\.$/, "");
}

/**
 * The name a Host header carries, as compared: without port or IPv6 brackets, in lower case,
 * a trailing dot dropped (`Sluice.Example.:8080` → `sluice.example`). Null when it names no
 * host (`a:80@evil.example`, `[::1]x`, empty), and for brackets around anything but an IPv6
 * address (RFC 3986 §3.2.2: `[sluice.example]` is not that name).
 */
export function hostHeaderName(host: string | undefined): string | null {
  if (!host) return null;
  const bare = hostName(host);
  if (!bare || (host.startsWith("[") && !isIPv6(bare.split("%")[0]))) return null;
  return servedName(bare) || null;
}

/** A target in absolute form (RFC 9112 §3.2.2): a scheme, then an authority. */
const ABSOLUTE_FORM = /^[a-z][a-z0-9+.-]*:\/\//i;

/**
 * The path and query of a request target as sent (`http://a.example/x?y` → `/x?y`; `/x?y` as it
 * is): a server must accept the absolute form (RFC 9112 §3.2.2), and Node leaves it whole in
 * `req.url`, so a port routing by that answered `GET http://127.0.0.1/metrics` as an unknown
 * operator path (401). Cut from the text, not parsed, so the path keeps its encoding and dot
 * segments as an origin-form target would.
 */
export function originForm(target: string): string {
  if (!ABSOLUTE_FORM.test(target)) return target;
  const authority = target.indexOf("//") + 2;
  const end = target.slice(authority).search(/[/?#]/);
  if (end < 0) return "/";
  const rest = target.slice(authority + end);
  return rest.startsWith("/") ? rest : `/${rest}`;
}

/**
 * The host a request is for: the authority of an absolute-form target (`POST http://a.example/x`),
 * which RFC 9112 §3.2.2 has a server use instead of Host (Node routes such a request by the
 * target's path, so checking Host alone served a target naming any host); else the Host header.
 * An absolute target without a host is the empty name, served by no check.
 */
export function requestHost(req: IncomingMessage): string | undefined {
  const target = req.url ?? "";
  if (!ABSOLUTE_FORM.test(target)) return req.headers.host;
  try {
    return new URL(target).host;
  } catch {
    return "";
  }
}

/**
 * A check of Host against `names` (as in the configuration: any case, trailing dot or not):
 * true for a name on the list and for any IP literal. An address is never rebound, and
 * probes, Prometheus in Kubernetes and a scraper found by DNS A records all name the address
 * they connect to; a page re-pointing its own name at the port names that name.
 */
export function servedHostCheck(names: readonly string[]): (host: string | undefined) => boolean {
  const served = new Set(names.map(servedName));
  return (host) => {
    const name = hostHeaderName(host);
    if (name === null) return false;
    return served.has(name) || isIP(name.split("%")[0]) !== 0;
  };
}
