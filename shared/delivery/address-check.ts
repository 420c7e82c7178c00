// Which addresses Sluice never connects to on a caller's behalf (private, loopback,
// link-local, metadata and other special ranges), and name resolution checked against them.

import { BlockList, isIP, isIPv4, isIPv6 } from "node:net";
import { promises as dns } from "node:dns";
import { ipv6Bytes } from "../protocol/ip-address";

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type Lookup = (hostname: string) => Promise<string[]>;

/** Raised when a destination resolves to an address Sluice must not connect to. */
export class BlockedAddressError extends Error {
  readonly code = "SLUICE_BLOCKED_ADDRESS";
  constructor(
    readonly hostname: string,
    readonly address: string,
    readonly range: string,
  ) {
    super(
      hostname === address
        ? `${address} is a ${range} address`
        : `${hostname} resolves to ${address}, a ${range} address`,
    );
    this.name = "BlockedAddressError";
  }
}

// Each entry: network, prefix length, family, and the words used in error messages.
const DENIED_RANGES: ReadonlyArray<[string, number, "ipv4" | "ipv6", string]> = [
  ["0.0.0.0", 8, "ipv4", '"this network"'],
  ["10.0.0.0", 8, "ipv4", "private"],
  ["100.64.0.0", 10, "ipv4", "shared (carrier-grade NAT)"],
  ["127.0.0.0", 8, "ipv4", "loopback"],
  ["169.254.0.0", 16, "ipv4", "link-local (cloud metadata)"],
  ["172.16.0.0", 12, "ipv4", "private"],
  ["192.0.0.0", 24, "ipv4", "IETF protocol assignment"],
  ["192.0.2.0", 24, "ipv4", "documentation"],
  ["192.88.99.0", 24, "ipv4", "6to4 relay"],
  ["192.168.0.0", 16, "ipv4", "private"],
  ["198.18.0.0", 15, "ipv4", "benchmarking"],
  ["198.51.100.0", 24, "ipv4", "documentation"],
  ["203.0.113.0", 24, "ipv4", "documentation"],
  ["224.0.0.0", 4, "ipv4", "multicast"],
  ["240.0.0.0", 4, "ipv4", "reserved"],
  ["::", 128, "ipv6", "unspecified"],
  ["::1", 128, "ipv6", "loopback"],
  // IPv4-compatible (deprecated) addresses; IPv4-mapped ones are unwrapped below.
  ["::", 96, "ipv6", "IPv4-compatible"],
  // IPv4-translated (SIIT, RFC 7915: ::ffff:0:a.b.c.d, beside the mapped ::ffff:a.b.c.d): through
  // a translator it reaches any IPv4 address, private ones included; nothing a callback needs.
  ["::ffff:0:0:0", 96, "ipv6", "IPv4-translated (SIIT)"],
  ["64:ff9b:1::", 48, "ipv6", "local-use NAT64"],
  ["100::", 64, "ipv6", "discard-only"],
  ["100:0:0:1::", 64, "ipv6", "dummy"],
  ["2001::", 32, "ipv6", "Teredo"],
  // The IPv6 twins of refused IPv4 ranges: benchmarking (198.18/15), the IETF protocol
  // assignments (192.0.0/24; relays and sinks, never a receiver), documentation (RFC 9637).
  ["2001:2::", 48, "ipv6", "benchmarking"],
  ["2001::", 23, "ipv6", "IETF protocol assignment"],
  ["2001:db8::", 32, "ipv6", "documentation"],
  ["3fff::", 20, "ipv6", "documentation"],
  // SRv6 segment identifiers (RFC 9602) address nodes inside an operator's own network.
  ["5f00::", 16, "ipv6", "segment routing (SRv6)"],
  ["fc00::", 7, "ipv6", "unique-local (private)"],
  ["fe80::", 10, "ipv6", "link-local"],
  ["fec0::", 10, "ipv6", "site-local"],
  ["ff00::", 8, "ipv6", "multicast"],
];

const ranges = DENIED_RANGES.map(([network, prefix, family, label]) => {
  const list = new BlockList();
  list.addSubnet(network, prefix, family);
  return { list, family, label };
});

/**
 * The kind of special range an address is in ("loopback", "private", ...), or null when it is
 * an ordinary public address. IPv6 forms that embed an IPv4 address (mapped, NAT64, 6to4) are
 * judged by the IPv4 address inside, so `::ffff:127.0.0.1` is loopback.
 */
export function deniedRange(address: string): string | null {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address;
  const ip = bare.split("%")[0];
  if (isIPv4(ip)) return rangeOf(ip, "ipv4");
  if (!isIPv6(ip)) return "unparseable";
  const embedded = embeddedIPv4(ip);
  if (embedded !== null) return rangeOf(embedded, "ipv4");
  return rangeOf(ip, "ipv6");
}

function rangeOf(ip: string, family: "ipv4" | "ipv6"): string | null {
  for (const range of ranges) {
    if (range.family === family && range.list.check(ip, family)) return range.label;
  }
  return null;
}

/**
 * The IPv4 address carried by an IPv4-mapped (`::ffff:a.b.c.d`), NAT64 (64:ff9b::/96) or 6to4
 * (2002::/16) address, in any spelling, dotted; null for any other address.
 */
export function embeddedIPv4(ip: string): string | null {
  const bytes = ipv6Bytes(ip);
  if (bytes === null) return null;
  const zeros = (from: number, to: number) => bytes.slice(from, to).every((b) => b === 0);
  const quad = (at: number) => Array.from(bytes.slice(at, at + 4)).join(".");
  if (zeros(0, 10) && bytes[10] === 0xff && bytes[11] === 0xff) return quad(12);
  if (bytes[0] === 0x00 && bytes[1] === 0x64 && bytes[2] === 0xff && bytes[3] === 0x9b) {
    if (zeros(4, 12)) return quad(12);
  }
  if (bytes[0] === 0x20 && bytes[1] === 0x02) return quad(2);
  return null;
}

export const systemLookup: Lookup = async (hostname) => {
  const answers = await dns.lookup(hostname, { all: true });
  return answers.map((answer) => answer.address);
};

/**
 * Resolves a host name (or takes a literal address) and checks every address it has. Any
 * denied address refuses the whole name: a name that answers with both a public and a private
 * address is exactly what a rebinding attack looks like. Returns the address to connect to.
 */
export async function resolveChecked(
  hostname: string,
  options: { allowPrivate: boolean; lookup?: Lookup },
): Promise<string> {
  const name = hostname.startsWith("[") ? hostname.slice(1, -1) : hostname;
  const addresses = isIP(name) ? [name] : await (options.lookup ?? systemLookup)(name);
  if (addresses.length === 0) {
    throw Object.assign(new Error(`${name} has no address`), { code: "ENOTFOUND" });
  }
  if (!options.allowPrivate) {
    for (const address of addresses) {
      const range = deniedRange(address);
      if (range !== null) throw new BlockedAddressError(name, address, range);
    }
  }
  return addresses[0];
}
