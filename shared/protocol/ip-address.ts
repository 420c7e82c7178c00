// IP addresses as bytes, and the client an address stands for when counting what one client
// does: an IPv4 address, or an IPv6 /64 (one host is given a whole /64 and picks from it at will).

import { isIPv4, isIPv6 } from "node:net";

/** The 16 bytes of an IPv6 address (`::` and a trailing dotted quad allowed), or null. */
export function ipv6Bytes(ip: string): Uint8Array | null {
  let text = ip;
  // A trailing dotted quad (`::ffff:1.2.3.4`) becomes two hex words first.
  const lastColon = text.lastIndexOf(":");
  const last = text.slice(lastColon + 1);
  if (last.includes(".")) {
    const [a, b, c, d] = last.split(".").map(Number);
    text = `${text.slice(0, lastColon + 1)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return null;
  const words = (part: string) => (part === "" ? [] : part.split(":").map((h) => parseInt(h, 16)));
  const front = words(halves[0]);
  const back = halves.length === 2 ? words(halves[1]) : [];
  const fill = 8 - front.length - back.length;
  if (fill < 0 || (halves.length === 1 && fill !== 0)) return null;
  const all = [...front, ...new Array<number>(fill).fill(0), ...back];
  const bytes = new Uint8Array(16);
  all.forEach((word, i) => {
    bytes[i * 2] = (word >> 8) & 0xff;
    bytes[i * 2 + 1] = word & 0xff;
  });
  return bytes;
}

/**
 * The client an address stands for: an IPv4 address as it is (IPv4-mapped IPv6 `::ffff:a.b.c.d`,
 * as a dual-stack socket reports IPv4 peers, included), an IPv6 address as its /64
 * (`2001:db8:1:2::/64`), anything else as written.
 */
export function clientOf(address: string): string {
  const ip = address.split("%")[0];
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return address;
  const bytes = ipv6Bytes(ip);
  if (bytes === null) return address;
  const mapped = mappedIPv4(bytes);
  if (mapped !== null) return mapped;
  const words = [0, 2, 4, 6].map((at) => ((bytes[at] << 8) | bytes[at + 1]).toString(16));
  return `${words.join(":")}::/64`;
}

function mappedIPv4(bytes: Uint8Array): string | null {
  if (!bytes.slice(0, 10).every((b) => b === 0) || bytes[10] !== 0xff || bytes[11] !== 0xff) {
    return null;
  }
  return Array.from(bytes.slice(12)).join(".");
}
