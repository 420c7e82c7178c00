// Whether a host names this machine's loopback interface: the admin port asks it of the
// address it binds and of every request's Host header, and `sluice check` of admin.host.

import { isIPv4, isIPv6 } from "node:net";
import { ipv6Bytes } from "../protocol/ip-address";

/**
 * True for `localhost` (`localhost.` too), 127.0.0.0/8, `::1` and their IPv4-mapped form
 * `::ffff:127.x.y.z`, written bare, in brackets, or with a port (`127.0.0.1:9464`, `[::1]:9464`,
 * `localhost:9464`).
 * The wildcard addresses (`0.0.0.0`, `::`) are not loopback: they listen on every interface.
 */
export function isLoopbackHost(host: string | undefined): boolean {
  if (!host) return false;
  const name = hostName(host)?.toLowerCase();
  if (!name) return false;
  // `localhost.` is the same name written fully qualified (RFC 6761 keeps it on loopback too).
  if (name === "localhost" || name === "localhost.") return true;
  if (isIPv4(name)) return name.startsWith("127.");
  // A zone (`::1%lo`) belongs to an IPv6 address only: `localhost%x` names nothing.
  const address = name.split("%")[0];
  if (!isIPv6(address)) return false;
  const bytes = ipv6Bytes(address);
  if (bytes === null) return false;
  const zeros = (to: number) => bytes.slice(0, to).every((b) => b === 0);
  if (zeros(15) && bytes[15] === 1) return true;
  return zeros(10) && bytes[10] === 0xff && bytes[11] === 0xff && bytes[12] === 127;
}

/** Nothing, or a port; an empty one (`localhost:`) is the scheme's (RFC 3986 §3.2.3). */
const PORT = /^(?::\d{0,5})?$/;

/**
 * The host without brackets or port; a bare IPv6 address (two colons or more) as it is; null
 * when what follows the host is no port (`127.0.0.1:80@evil.example`, `[::1]x`), which names
 * no host at all and is not read as the one before it.
 */
export function hostName(host: string): string | null {
  if (host.startsWith("[")) {
    const end = host.indexOf("]");
    return end < 0 || !PORT.test(host.slice(end + 1)) ? null : host.slice(1, end);
  }
  const colon = host.indexOf(":");
  if (colon !== host.lastIndexOf(":")) return host;
  if (colon < 0) return host;
  return PORT.test(host.slice(colon)) ? host.slice(0, colon) : null;
}
