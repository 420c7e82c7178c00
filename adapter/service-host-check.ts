// Which Host names the service port serves, against DNS rebinding: a page that re-points its
// own name at the port would otherwise submit calls from a browser as its own origin.

import { isLoopbackHost } from "../shared/runtime/loopback-host";
import { hostHeaderName, servedHostCheck, servedName } from "../shared/runtime/served-hosts";

export interface ServiceHostCheck {
  serves(host: string): boolean;
  /** The message of the 421 answering a Host not served. */
  refusal: string;
}

/**
 * The check for a port bound to `bound`. On loopback: a loopback name, the host of
 * `adapter.publicUrl` (a proxy in front that passes its own name on), or a name of
 * `adapter.hosts`. Elsewhere, with `adapter.hosts`: one of its names, publicUrl's host, or any IP
 * literal (an address is never rebound); without it, null: who reaches the port is the
 * network's to decide, and the security server's service URL names whatever host the
 * administrator chose.
 */
export function serviceHostCheck(
  bound: string,
  publicUrl: string | null,
  hosts: readonly string[] | null,
): ServiceHostCheck | null {
  const names = [...(hosts ?? [])];
  // URL keeps an IPv6 host in brackets; a Host is compared without them.
  if (publicUrl !== null) names.push(new URL(publicUrl).hostname.replace(/^\[(.*)\]$/, "$1"));
  if (isLoopbackHost(bound)) {
    const listed = new Set(names.map(servedName));
    return {
      serves: (host) => isLoopbackHost(host) || listed.has(hostHeaderName(host) ?? ""),
      refusal:
        "the service port listens on loopback only; address it as 127.0.0.1, [::1], localhost " +
        `or ${hosts === null ? "" : "a name of adapter.hosts or "}adapter.publicUrl's host`,
    };
  }
  if (hosts === null) return null;
  const serves = servedHostCheck(names);
  return {
    serves: (host) => serves(host),
    refusal:
      "the request's Host is not a name the service port answers to; address it by a name of " +
      "adapter.hosts, adapter.publicUrl's host or an IP address",
  };
}
