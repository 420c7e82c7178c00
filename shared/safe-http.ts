// Outbound POSTs to addresses that callers chose (callbacks, hub events): every resolved address
// is checked against private, loopback, link-local and other special ranges, and the socket goes
// to the checked address itself, so a second DNS answer cannot redirect it.

import { BlockList, isIP, isIPv4, isIPv6 } from "node:net";
import { promises as dns } from "node:dns";
import { Agent, buildConnector } from "undici";

/** Resolves a host name to every address it has (IPv4 and IPv6). */
export type Lookup = (hostname: string) => Promise<string[]>;

export type DeliveryOutcome = "delivered" | "gone" | "retry";

/** Why an attempt did not get a 2xx; each kind is a different thing for an operator to fix. */
export type FailureKind =
  "blocked" | "dns" | "connect" | "tls" | "timeout" | "redirect" | "status" | "network";

export interface PostResult {
  outcome: DeliveryOutcome;
  /** The receiver's HTTP status, when it answered. */
  status?: number;
  /** The receiver's Retry-After, in milliseconds, when it sent a usable one. */
  retryAfterMs?: number;
  failure?: { kind: FailureKind; message: string };
}

export interface SafeHttpOptions {
  /** Switches the address check off: for trusted, operator-configured destinations and tests. */
  allowPrivate: boolean;
  connectTimeoutMs?: number;
  /** Whole attempt: resolution, connection, request, response headers and the bounded body. */
  timeoutMs?: number;
  /** At most this much of a response body is read; the rest is discarded. */
  maxResponseBytes?: number;
  /** Extra trusted CA certificates (PEM), e.g. a private CA of a receiver. */
  ca?: string | Buffer | Array<string | Buffer>;
  lookup?: Lookup;
  userAgent?: string;
}

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
  ["64:ff9b:1::", 48, "ipv6", "local-use NAT64"],
  ["100::", 64, "ipv6", "discard-only"],
  ["2001::", 32, "ipv6", "Teredo"],
  ["2001:db8::", 32, "ipv6", "documentation"],
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

/** The IPv4 address carried by an IPv4-mapped, NAT64 (64:ff9b::/96) or 6to4 (2002::/16) address. */
function embeddedIPv4(ip: string): string | null {
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

function ipv6Bytes(ip: string): Uint8Array | null {
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

const DEFAULTS = { connectTimeoutMs: 5_000, timeoutMs: 15_000, maxResponseBytes: 64 * 1024 };

/** An HTTP client for POSTs to untrusted destinations. One instance keeps one connection pool. */
export class SafeHttp {
  private readonly agent: Agent;
  private readonly timeoutMs: number;
  private readonly maxResponseBytes: number;
  private readonly userAgent: string;

  constructor(options: SafeHttpOptions) {
    this.timeoutMs = options.timeoutMs ?? DEFAULTS.timeoutMs;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULTS.maxResponseBytes;
    this.userAgent = options.userAgent ?? "Sluice";
    const base = buildConnector({
      timeout: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
      ...(options.ca === undefined ? {} : { ca: options.ca }),
    });
    const check = { allowPrivate: options.allowPrivate, lookup: options.lookup };
    this.agent = new Agent({
      // The check runs for every new connection; pooled connections stay on the address checked
      // when they were opened. Host header and TLS server name stay the original name.
      connect: (connectOptions, callback) => {
        const name = connectOptions.hostname;
        resolveChecked(name, check).then(
          (address) =>
            base(
              {
                ...connectOptions,
                hostname: address,
                servername: isIP(name) ? undefined : (connectOptions.servername ?? name),
              },
              callback,
            ),
          (error: Error) => callback(error, null),
        );
      },
      headersTimeout: this.timeoutMs,
      bodyTimeout: this.timeoutMs,
      keepAliveTimeout: 4_000,
    });
  }

  /** POSTs a body and classifies the answer; never throws for network or HTTP failures. */
  async post(
    url: string,
    headers: Record<string, string>,
    body: string | Buffer,
  ): Promise<PostResult> {
    const signal = AbortSignal.timeout(this.timeoutMs);
    try {
      const response = await this.agent.request({
        origin: new URL(url).origin,
        path: pathOf(url),
        method: "POST",
        headers: { "user-agent": this.userAgent, ...headers },
        body,
        signal,
      });
      await drain(response.body, this.maxResponseBytes);
      return classifyStatus(response.statusCode, response.headers["retry-after"]);
    } catch (error) {
      return { outcome: "retry", failure: classifyError(error, signal) };
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

// Reads at most `limit` bytes so a receiver cannot make Sluice buffer an endless answer, then
// destroys the stream, which also frees the connection.
async function drain(body: AsyncIterable<Buffer> & { destroy(): void }, limit: number) {
  let read = 0;
  let complete = false;
  try {
    for await (const chunk of body) {
      read += chunk.length;
      if (read >= limit) return;
    }
    complete = true;
  } finally {
    // A fully read body leaves the connection reusable; a partly read one must be cut off.
    if (!complete) body.destroy();
  }
}

export function classifyStatus(
  status: number,
  retryAfter: string | string[] | undefined,
  now: number = Date.now(),
): PostResult {
  if (status >= 200 && status < 300) return { outcome: "delivered", status };
  if (status === 410) return { outcome: "gone", status };
  const retryAfterMs = parseRetryAfter(retryAfter, now);
  const failure =
    status >= 300 && status < 400
      ? { kind: "redirect" as const, message: `answered ${status}; redirects are not followed` }
      : { kind: "status" as const, message: `answered ${status}` };
  return {
    outcome: "retry",
    status,
    failure,
    ...(retryAfterMs === undefined ? {} : { retryAfterMs }),
  };
}

/** Retry-After as delta-seconds or an HTTP date, in milliseconds from now; capped at one day. */
export function parseRetryAfter(
  value: string | string[] | undefined,
  now: number = Date.now(),
): number | undefined {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  if (!text) return undefined;
  let ms: number;
  if (/^\d+$/.test(text)) ms = Number(text) * 1000;
  else {
    const at = Date.parse(text);
    if (Number.isNaN(at)) return undefined;
    ms = Math.max(0, at - now);
  }
  return Math.min(ms, 86_400_000);
}

function classifyError(
  error: unknown,
  signal: AbortSignal,
): { kind: FailureKind; message: string } {
  if (error instanceof BlockedAddressError) return { kind: "blocked", message: error.message };
  const err = error as { code?: string; name?: string; message?: string };
  const code = err.code ?? "";
  const message = err.message ?? String(error);
  if (signal.aborted || err.name === "TimeoutError" || code.includes("TIMEOUT")) {
    return { kind: "timeout", message: "timed out" };
  }
  if (code === "ENOTFOUND" || code === "EAI_AGAIN" || code === "ENODATA") {
    return { kind: "dns", message: `name does not resolve (${code})` };
  }
  if (/CERT|SSL|TLS|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_SSL/.test(code)) {
    return { kind: "tls", message: `TLS failed: ${message}` };
  }
  if (code === "ECONNREFUSED" || code === "EHOSTUNREACH" || code === "ENETUNREACH") {
    return { kind: "connect", message: `connection failed (${code})` };
  }
  return { kind: "network", message: code ? `${code}: ${message}` : message };
}
