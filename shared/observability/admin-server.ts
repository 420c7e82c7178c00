// The admin port of every role: Prometheus metrics, liveness and readiness for anyone who can
// reach it, and behind the admin token the operator endpoints and the status page. Plain
// node:http: it must stay up when all else is busy.

import { createHash, timingSafeEqual } from "node:crypto";
import http from "node:http";
import type { AddressInfo, Socket } from "node:net";
import type { Logger } from "pino";
import { asSluiceError } from "../protocol/errors";
import { METRICS_CONTENT_TYPE, metricsText } from "./metrics";
import { clientOf } from "../protocol/ip-address";
import { isLoopbackHost } from "../runtime/loopback-host";
import { AdminSessions } from "./admin-sessions";
import { RefusalLog } from "./refusal-log";
import { SignInThrottle } from "./sign-in-throttle";

export type ReadinessCheck = () => string | null; // null = ready, else the reason

/** What an operator request carries besides its path: query and (for POST/DELETE) its body. */
export interface AdminRequest {
  query: URLSearchParams;
  /** Parsed JSON body; undefined when none was sent. */
  body: unknown;
}

export interface AdminAnswer {
  status: number;
  body: unknown;
  /** Set for non-JSON answers (the status page); `body` is then the text. */
  contentType?: string;
  headers?: Record<string, string>;
}

export type AdminHandler = (
  match: RegExpMatchArray,
  req: http.IncomingMessage,
  request: AdminRequest,
) => Promise<AdminAnswer>;

/** Connections the admin port keeps open at once (scrapes, probes, operators). */
const MAX_CONNECTIONS = 256;
/** Connections one client (address, or IPv6 /64) may hold: below the total, so others get in. */
const MAX_CONNECTIONS_PER_CLIENT = 32;
/** Largest operator request body (filters, a replay selection). */
const MAX_BODY_BYTES = 64 * 1024;
/** Sent by the status page on every change it asks for: a cross-site form cannot send it. */
export const CSRF_HEADER = "x-sluice-request";

type Credential = "bearer" | "cookie" | null;

export class AdminServer {
  private readonly server: http.Server;
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: AdminHandler }> = [];
  private readonly tokenDigest: Buffer | null;
  private readonly sessions: AdminSessions;
  /**
   * Browsers send a cookie to every port of a host: named after the port, each admin port on
   * 127.0.0.1 (one per role) keeps its own sign-in instead of overwriting another's.
   */
  private sessionCookie = "sluice-admin";
  private draining = false;
  /** Requests being answered: closing waits for them, so an operator gets the answer. */
  private readonly handling = new Set<Promise<void>>();
  /** Listening on a loopback address: only requests naming a loopback host are served. */
  private loopbackOnly = false;
  /** Open connections per client (`clientOf` their remote address), oldest first. */
  private readonly perClient = new Map<string, Set<Socket>>();
  private openConnections = 0;
  /**
   * Requests being answered per connection (pipelined ones count each): such a connection is
   * shed only when its client has no idle one.
   */
  private readonly answering = new Map<Socket, number>();

  /**
   * @param token the admin bearer token; null = operator endpoints are not served at all.
   * @param silentMs how long a connection may send nothing before its first request.
   * @param maxConnections connections open at once; one more is closed as it arrives, unless
   *   another client holds more than its share (see `makeRoomFor`).
   * @param maxPerClient connections one client (an IPv4 address or an IPv6 /64) may hold; one
   *   more is closed as it arrives.
   * @param refusals which refusals of requests without a token are logged.
   */
  constructor(
    private readonly log: Logger,
    token: string | null = null,
    silentMs = 10_000,
    maxConnections = MAX_CONNECTIONS,
    sessions = new AdminSessions(),
    private readonly throttle = new SignInThrottle(),
    maxPerClient = MAX_CONNECTIONS_PER_CLIENT,
    private readonly refusals = new RefusalLog(),
  ) {
    // Digests compare in constant time whatever the lengths; the token itself is never logged.
    this.tokenDigest = token ? digest(token) : null;
    this.sessions = sessions;
    this.server = http.createServer((req, res) => {
      const handled = this.handle(req, res).catch((error: unknown) => {
        // A route's SluiceError (Redis unavailable: 503 with Retry-After) is answered as such;
        // anything else is a bug: 500 with the generic body, its stack in the log only.
        const err = asSluiceError(error);
        if (err.code === "Internal") {
          this.log.error(
            { url: req.url?.split("?")[0], err: (error as Error)?.stack ?? String(error) },
            "admin request failed",
          );
        } else if (err.status >= 500) {
          // A dependency out (Redis, the broker): one line, no stack; the answer says retry.
          this.log.warn(
            { url: req.url?.split("?")[0], code: err.code, err: err.message },
            "admin request unavailable",
          );
        }
        if (!res.headersSent) {
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (err.retryAfter !== undefined) headers["retry-after"] = String(err.retryAfter);
          res.writeHead(err.status, headers);
        }
        // The service port's error shape (CONTRACT §3): for a bug, `internal error` and no more.
        res.end(JSON.stringify({ type: err.code, message: err.message, detail: err.messageId }));
      });
      this.handling.add(handled);
      void handled.finally(() => this.handling.delete(handled));
    });
    // Where the port is open beyond loopback (containers), anyone reaching it could otherwise
    // hold open as many connections as the process has file descriptors, the service port's
    // included: Node's headersTimeout starts at a request's first byte, so a connection that
    // never sends one stayed open for ever. Prometheus, probes and an operator need a handful,
    // so the count is bounded, and slow senders get deadlines shorter than Node's defaults
    // (60 s, 300 s): these requests are small.
    this.server.headersTimeout = silentMs;
    this.server.requestTimeout = 3 * silentMs;
    this.server.on("connection", (socket: Socket) => {
      // One client holding every slot would fail the kubelet's probes: the pod would restart.
      // An IPv6 host is given a whole /64, so its addresses count as one client.
      const client = clientOf(socket.remoteAddress ?? "");
      const held = this.perClient.get(client) ?? new Set<Socket>();
      if (
        held.size >= maxPerClient ||
        (this.openConnections >= maxConnections && !this.makeRoomFor(held.size))
      ) {
        socket.destroy();
        return;
      }
      held.add(socket);
      this.perClient.set(client, held);
      this.openConnections += 1;
      socket.once("close", () => this.forget(client, held, socket));
      socket.setTimeout(silentMs);
    });
    this.server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      // From the first request on, a long operator request (a replay of many) may run silent.
      req.socket.setTimeout(0);
      const socket = req.socket;
      this.answering.set(socket, (this.answering.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (this.answering.get(socket) ?? 1) - 1;
        if (left > 0) this.answering.set(socket, left);
        else this.answering.delete(socket);
      });
    });
  }

  /**
   * All slots are taken and a client holding `held` connections asks for one more: it gets the
   * slot of the client holding the most (that client's oldest idle connection, else its oldest)
   * when that one would still hold at least as many, so no client keeps a newcomer out with
   * more than its share. With 8 addresses of 32 connections filling the 256, a probe or a
   * scrape from a ninth address is served; only as many clients as slots, one each, keep
   * everyone else out.
   */
  private makeRoomFor(held: number): boolean {
    let most: Set<Socket> | undefined;
    let mostClient = "";
    for (const [client, sockets] of this.perClient) {
      if (!most || sockets.size > most.size) [most, mostClient] = [sockets, client];
    }
    if (!most || most.size <= held + 1) return false;
    let shed: Socket | undefined;
    for (const socket of most) {
      if (!this.answering.has(socket)) {
        shed = socket;
        break;
      }
    }
    shed ??= most.values().next().value as Socket;
    // Counted out now, not at its close event: the newcomer takes the slot at once.
    this.forget(mostClient, most, shed);
    shed.destroy();
    return true;
  }

  private forget(client: string, sockets: Set<Socket>, socket: Socket): void {
    if (!sockets.delete(socket)) return;
    this.openConnections -= 1;
    if (sockets.size === 0 && this.perClient.get(client) === sockets) this.perClient.delete(client);
  }

  /** Whether the operator endpoints are served (a token is configured). */
  get operatorEnabled(): boolean {
    return this.tokenDigest !== null;
  }

  /** A named readiness condition; /readyz answers 503 while any returns a reason. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** An operator endpoint: served only with a token configured, and only to its bearer. */
  addRoute(method: string, pattern: RegExp, handler: AdminHandler): void {
    this.routes.push({ method, pattern, handler });
  }

  setDraining(): void {
    this.draining = true;
  }

  /** The process is shutting down: long operator work (a bulk replay) stops where it is. */
  get isDraining(): boolean {
    return this.draining;
  }

  notReady(): string[] {
    const reasons: string[] = this.draining ? ["draining"] : [];
    for (const [name, check] of this.checks) {
      const reason = check();
      if (reason) reasons.push(`${name}: ${reason}`);
    }
    return reasons;
  }

  private credential(req: http.IncomingMessage): Credential {
    if (!this.tokenDigest) return null;
    const bearer = BEARER.exec(req.headers.authorization ?? "");
    if (bearer) {
      if (timingSafeEqual(digest(bearer[1].trim()), this.tokenDigest)) return "bearer";
      // Counted with failed sign-ins: the header is a way to guess the same token.
      this.throttle.failed(req.socket.remoteAddress ?? "");
      return null;
    }
    const cookie = readCookie(req.headers.cookie, this.sessionCookie);
    if (cookie !== null && this.sessions.valid(cookie)) return "cookie";
    return null;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [url, search = ""] = (req.url ?? "/").split("?", 2);
    // Every answer, errors and the sign-in page included: a browser neither guesses another
    // type than the one sent nor shows any of it inside another site's frame (clickjacking).
    for (const [name, value] of Object.entries(BROWSER_HEADERS)) res.setHeader(name, value);
    // DNS rebinding: a page of evil.example that re-points its name to 127.0.0.1 reaches a
    // loopback admin port from the operator's browser as its own origin. Such requests name
    // that page's host, never a loopback one.
    if (this.loopbackOnly && !isLoopbackHost(req.headers.host)) {
      req.resume();
      return json(res, 403, {
        type: "Forbidden",
        message:
          "the admin port listens on loopback only; address it as 127.0.0.1, [::1] or localhost",
      });
    }
    if (req.method === "GET" && url === "/metrics") {
      const text = await metricsText();
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (req.method === "GET" && url === "/healthz") return json(res, 200, { status: "ok" });
    if (req.method === "GET" && url === "/readyz") {
      const reasons = this.notReady();
      return json(res, reasons.length ? 503 : 200, {
        status: reasons.length ? "not ready" : "ready",
        reasons,
      });
    }
    // Without a token nothing else exists: an operator endpoint nobody can guard is not served.
    if (!this.tokenDigest) {
      req.resume();
      return json(res, 404, { type: "NotFound", message: "no such admin endpoint" });
    }
    if (req.method === "POST" && url === "/login") return this.login(req, res);
    if (req.method === "POST" && url === "/logout") return this.logout(req, res);
    if (req.headers.authorization !== undefined) {
      // Checked before the token, as at sign-in: a waiting address learns nothing from it.
      if (this.throttled(req, res, "admin request")) {
        return json(res, 429, {
          type: "TooManyRequests",
          message: "too many failed attempts from this address; retry after Retry-After seconds",
        });
      }
    }
    const credential = this.credential(req);
    const unsafe = req.method !== "GET" && req.method !== "HEAD";
    if (!credential || (credential === "cookie" && unsafe && !req.headers[CSRF_HEADER])) {
      req.resume();
      // A wrong token is a guess, logged each time (the throttle bounds them); a request with
      // none (or an Authorization of another scheme, which the throttle does not count) is
      // logged once a minute per client.
      const remote = req.socket.remoteAddress ?? "";
      if (BEARER.test(req.headers.authorization ?? "") || this.refusals.first(remote)) {
        this.log.warn(
          { method: req.method, path: url, remote },
          "admin request refused: no valid token",
        );
      }
      if (req.method === "GET" && url === "/") return send(res, 401, loginPage(null));
      res.setHeader("www-authenticate", 'Bearer realm="sluice admin"');
      return json(res, 401, {
        type: "Unauthorized",
        message: "send Authorization: Bearer <admin token>",
      });
    }
    // Routes decode their path segments; a malformed escape is the caller's mistake, not a 500.
    if (!decodes(url)) {
      req.resume();
      return json(res, 400, {
        type: "InvalidRequest",
        message: "the path is not valid percent-encoding",
      });
    }
    for (const route of this.routes) {
      const match = url.match(route.pattern);
      if (match && req.method === route.method) {
        let body: unknown;
        try {
          body = await readJson(req);
        } catch (error) {
          return json(res, 400, { type: "InvalidRequest", message: (error as Error).message });
        }
        const answer = await route.handler(match, req, {
          query: new URLSearchParams(search),
          body,
        });
        for (const [name, value] of Object.entries(answer.headers ?? {}))
          res.setHeader(name, value);
        if (answer.contentType) {
          res.writeHead(answer.status, {
            "content-type": answer.contentType,
            "cache-control": "no-store",
          });
          res.end(String(answer.body));
          return;
        }
        return json(res, answer.status, answer.body);
      }
    }
    req.resume();
    json(res, 404, { type: "NotFound", message: "no such admin endpoint" });
  }

  /** The status page's sign-in: the token once, then an HttpOnly same-site session cookie. */
  private async login(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const remote = req.socket.remoteAddress ?? "";
    // Any web page the operator opens can post this form to a loopback admin port: its wrong
    // tokens would count against the operator's own address and lock the operator out. Only
    // the sign-in page itself may post it; tools that are no browser send neither header.
    if (crossSite(req)) {
      req.resume();
      // Not counted, so not throttled either: logged once a minute per client, or a page could
      // post it in a loop and write a line per request.
      if (this.refusals.first(remote)) {
        this.log.warn({ remote, origin: req.headers.origin }, "admin sign-in refused: cross-site");
      }
      return send(res, 403, loginPage("crossSite"));
    }
    // Checked before the token: a waiting address learns nothing, right or wrong.
    if (this.throttled(req, res, "admin sign-in")) return send(res, 429, loginPage("throttled"));
    let token = "";
    try {
      // Trimmed as a bearer token is: a token pasted with a space or a line end is still it.
      token = (
        new URLSearchParams((await readBody(req)).toString("utf8")).get("token") ?? ""
      ).trim();
    } catch {
      token = "";
    }
    if (!this.tokenDigest || !timingSafeEqual(digest(token), this.tokenDigest)) {
      this.throttle.failed(remote);
      this.log.warn({ remote }, "admin sign-in refused");
      return send(res, 401, loginPage("refused"));
    }
    res.writeHead(303, {
      location: "/",
      "set-cookie": `${this.sessionCookie}=${this.sessions.start()}; Max-Age=${Math.floor(
        this.sessions.ttlMs / 1000,
      )}; HttpOnly; SameSite=Strict; Path=/`,
    });
    res.end();
  }

  /**
   * Whether the request's address is waiting out its failed attempts: if so the request is
   * drained, the refusal logged and Retry-After set, for the caller to answer 429.
   */
  private throttled(req: http.IncomingMessage, res: http.ServerResponse, what: string): boolean {
    const remote = req.socket.remoteAddress ?? "";
    const wait = this.throttle.waitSeconds(remote);
    if (wait <= 0) return false;
    req.resume();
    if (this.throttle.firstRefusal(remote)) {
      this.log.warn(
        { remote, retryAfter: wait },
        `${what} refused: too many failed attempts (further refusals until then are not logged)`,
      );
    }
    res.setHeader("retry-after", String(wait));
    return true;
  }

  /** Ends the sign-in of the cookie sent (if any) and drops the cookie; back to the sign-in page. */
  private logout(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.resume();
    const cookie = readCookie(req.headers.cookie, this.sessionCookie);
    if (cookie !== null) this.sessions.end(cookie);
    res.writeHead(303, {
      location: "/",
      "set-cookie": `${this.sessionCookie}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/`,
      "cache-control": "no-store",
    });
    res.end();
  }

  async listen(port: number, host: string): Promise<number> {
    this.loopbackOnly = isLoopbackHost(host);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.sessionCookie = `sluice-admin-${bound}`;
    return bound;
  }

  /**
   * Stops listening and lets the requests being answered finish (a bulk replay stops at its
   * next dead letter once draining), then closes every connection. Cutting them answered an
   * operator's replay with a reset connection, whatever it had already sent.
   */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    await Promise.allSettled([...this.handling]);
    this.server.closeAllConnections();
    await closed;
  }
}

/** A bearer credential; the scheme is case-insensitive (RFC 9110 §11.1): "bearer x" is one. */
const BEARER = /^bearer +(.*)$/is;

/**
 * Whether a browser sent the request from another site's page: by `Sec-Fetch-Site`, or, from a
 * browser without it, by an `Origin` other than the host the request names.
 */
function crossSite(req: http.IncomingMessage): boolean {
  const site = req.headers["sec-fetch-site"];
  if (site !== undefined) return site !== "same-origin" && site !== "none";
  const origin = req.headers.origin;
  if (origin === undefined) return false;
  try {
    return new URL(origin).host !== (req.headers.host ?? "").toLowerCase();
  } catch {
    // "null" (a sandboxed frame, a redirect across sites) or junk: not the sign-in page.
    return true;
  }
}

function decodes(path: string): boolean {
  try {
    decodeURIComponent(path);
    return true;
  } catch {
    return false;
  }
}

function digest(text: string): Buffer {
  return createHash("sha256").update(text, "utf8").digest();
}

function readCookie(header: string | undefined, name: string): string | null {
  for (const part of (header ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return null;
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

async function readJson(req: http.IncomingMessage): Promise<unknown> {
  if (req.method === "GET" || req.method === "HEAD") {
    req.resume();
    return undefined;
  }
  const bytes = await readBody(req);
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new Error("the body is not valid JSON");
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/** Headers of every admin answer, for the browsers that show the status page. */
const BROWSER_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

const SIGN_IN_PROBLEMS = {
  refused: "That token is not the admin token.",
  crossSite: "Sign in from this page, not from another site.",
  throttled: "Too many failed sign-ins from this address: wait a minute, then try again.",
};

function send(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy":
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(html);
}

function loginPage(problem: keyof typeof SIGN_IN_PROBLEMS | null): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sluice: sign in</title>
<style>body{font:15px system-ui,sans-serif;margin:4em auto;max-width:24em}input{width:100%;padding:.4em;margin:.5em 0}</style>
</head><body><h1>Sluice</h1><p>The status page needs the admin token (<code>admin.token</code> or <code>SLUICE_ADMIN_TOKEN</code>).</p>
${problem ? `<p role="alert"><strong>${SIGN_IN_PROBLEMS[problem]}</strong></p>` : ""}
<form method="post" action="/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>`;
}
