// Outbound POSTs to addresses that callers chose (callbacks, hub events): every resolved address
// is checked against private, loopback, link-local and other special ranges, and the socket goes
// to the checked address itself, so a second DNS answer cannot redirect it.

import { Agent, buildConnector } from "undici";
import { BlockedAddressError, resolveChecked, type Lookup } from "./address-check";
import { parseRetryAfter } from "../protocol/retry-after";
import { Deadline } from "../runtime/stall-aware-deadline";
import { CLIENT_CIPHERS } from "../config/tls-files";
import { tlsServerName } from "../protocol/tls-server-name";

// The address checks live apart so the adapter can use them without loading undici.
export {
  BlockedAddressError,
  deniedRange,
  resolveChecked,
  systemLookup,
  type Lookup,
} from "./address-check";

/** `rejected`: the answer says the call will never succeed as it is (do not try again). */
export type DeliveryOutcome = "delivered" | "gone" | "rejected" | "retry";

/** Why an attempt did not get a 2xx; each kind is a different thing for an operator to fix. */
export type FailureKind =
  "blocked" | "dns" | "connect" | "tls" | "timeout" | "redirect" | "status" | "network" | "xroad";

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
  /** Revocation lists (PEM) of the CAs in `ca`: a certificate on one is refused. */
  crl?: Buffer[];
  /** A client certificate and key (PEM) to present, e.g. to a security server requiring one. */
  cert?: string | Buffer;
  key?: string | Buffer;
  /** OpenSSL cipher list for TLS 1.2 in place of CLIENT_CIPHERS (the security server's `ciphers`). */
  ciphers?: string;
  lookup?: Lookup;
  userAgent?: string;
}

/** A non-2xx answer as a caller who knows the other side can read it (see SafeHttp.post). */
export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  /** The start of the body (at most ANSWER_TEXT_BYTES), as UTF-8. */
  text: string;
}

/** Reads an answer itself, or leaves it to the status (null). */
export type AnswerReader = (answer: Answer) => PostResult | null;

const DEFAULTS = { connectTimeoutMs: 5_000, timeoutMs: 15_000, maxResponseBytes: 64 * 1024 };
/** How much of a non-2xx body an AnswerReader sees: enough for an error document. */
const ANSWER_TEXT_BYTES = 4 * 1024;

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
      ...(options.crl?.length ? { crl: options.crl } : {}),
      ...(options.cert && options.key ? { cert: options.cert, key: options.key } : {}),
      ciphers: options.ciphers ?? CLIENT_CIPHERS,
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
                servername: tlsServerName(name, connectOptions.servername),
              },
              callback,
            ),
          (error: Error) => callback(error, null),
        );
      },
      // Off: each post's deadline bounds its headers and body. undici's own timers fire in the
      // timers phase too, before an answer that came in time during a stall is read.
      headersTimeout: 0,
      bodyTimeout: 0,
      keepAliveTimeout: 4_000,
    });
  }

  /**
   * POSTs a body and classifies the answer; never throws for network or HTTP failures. A
   * non-2xx answer goes to `read` first, when given, for a destination whose error answers say
   * more than their status (a security server's `X-Road-Error`).
   */
  async post(
    url: string,
    headers: Record<string, string>,
    body: string | Buffer,
    read?: AnswerReader,
  ): Promise<PostResult> {
    // The deadline reads what has arrived before it aborts: a response worker that stood still
    // past it (SIGSTOP, a long GC pause, a starved CPU) while the receiver's 2xx waited in the
    // socket counts the callback delivered, not timed out and sent again.
    const deadline = new Deadline(null, this.timeoutMs);
    const signal = deadline.signal;
    try {
      const response = await this.agent.request({
        origin: new URL(url).origin,
        path: pathOf(url),
        method: "POST",
        headers: { "user-agent": this.userAgent, ...headers },
        body,
        signal,
      });
      // The status is the receiver's answer: a body that breaks off or never ends (it is
      // discarded anyway) must not turn a 2xx into a failed attempt, which sent the callback
      // again for hours and could end it delivery_failed although the receiver had it.
      const ok = response.statusCode >= 200 && response.statusCode < 300;
      const keep = read && !ok ? ANSWER_TEXT_BYTES : 0;
      const start = await drain(response.body, this.maxResponseBytes, keep).catch(() => "");
      const classified = classifyStatus(response.statusCode, response.headers["retry-after"]);
      if (keep === 0) return classified;
      return (
        read?.({ status: response.statusCode, headers: response.headers, text: start }) ??
        classified
      );
    } catch (error) {
      return { outcome: "retry", failure: classifyError(error, signal) };
    } finally {
      deadline.dispose();
    }
  }

  async close(): Promise<void> {
    await this.agent.close();
  }

  /** Closes at once: requests still under way are aborted (a drain that ran out of time). */
  async destroy(): Promise<void> {
    await this.agent.destroy();
  }
}

function pathOf(url: string): string {
  const parsed = new URL(url);
  return `${parsed.pathname}${parsed.search}`;
}

// Reads at most `limit` bytes so a receiver cannot make Sluice buffer an endless answer, then
// destroys the stream, which also frees the connection. Returns the first `keep` bytes as text.
async function drain(
  body: AsyncIterable<Buffer> & { destroy(): void },
  limit: number,
  keep = 0,
): Promise<string> {
  let read = 0;
  let complete = false;
  const kept: Buffer[] = [];
  try {
    for await (const chunk of body) {
      if (read < keep) kept.push(chunk.subarray(0, keep - read));
      read += chunk.length;
      if (read >= limit) break;
    }
    complete = read < limit;
  } finally {
    // A fully read body leaves the connection reusable; a partly read one must be cut off.
    if (!complete) body.destroy();
  }
  return Buffer.concat(kept).toString("utf8");
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
