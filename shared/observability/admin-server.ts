// The admin port of every role: Prometheus metrics, liveness and readiness for anyone who can
// reach it, and behind the admin token the operator endpoints and the status page. Plain
// node:http: it must stay up when all else is busy.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { asSluiceError } from "../protocol/errors";
import { deferContinue, unmetExpectation } from "../protocol/expect-continue";
import { PipelinedRequests, type PipelineLimits } from "../protocol/pipelined-requests";
import { METRICS_CONTENT_TYPE, metricsText } from "./metrics";
import { isLoopbackHost } from "../runtime/loopback-host";
import { originForm, requestHost, servedHostCheck } from "../runtime/served-hosts";
import { framingEndsConnection, httpVersionProblem } from "../protocol/http-version";
import {
  authorizationLinesProblem,
  contentTypeLinesProblem,
  hostProblem,
  onceOnlyLines,
} from "../protocol/once-only-headers";
import { AdminConnections } from "./admin-connections";
import { answerAdminRawRefusals } from "./admin-raw-refusals";
import { BROWSER_HEADERS, json } from "./admin-http";
import { AdminRouteTable, type AdminHandler } from "./admin-route-table";
import { AdminSessions } from "./admin-sessions";
import { AdminSignIn } from "./admin-sign-in";
import { RefusalLog } from "./refusal-log";
import { SignInThrottle } from "./sign-in-throttle";
import { listenStartupError } from "../runtime/startup-error";

export type { AdminAnswer, AdminCredential, AdminHandler, AdminRequest } from "./admin-route-table";
export { CSRF_HEADER } from "./admin-sign-in";

export type ReadinessCheck = () => string | null; // null = ready, else the reason

/** Connections the admin port keeps open at once (scrapes, probes, operators). */
const MAX_CONNECTIONS = 256;
/** Connections one client (address, or IPv6 /64) may hold: below the total, so others get in. */
const MAX_CONNECTIONS_PER_CLIENT = 32;
/**
 * Requests pipelined behind an answer not yet sent (HTTP/1.1): Prometheus, the kubelet and
 * browsers send one request at a time, so few. Read on while up to 4 wait on a connection, then
 * kept unparsed up to 16 KiB, then not read; a connection with more than 32 waiting, or adding
 * to 256 across the port, is closed. 2 000 `GET /metrics` sent in one write were 2 000 scrapes
 * at once.
 */
const PIPELINE_LIMITS: PipelineLimits = {
  readWhileWaiting: 4,
  maxPerConnection: 32,
  maxTotal: 256,
  maxUnparsedBytes: 16 * 1024,
};

export class AdminServer {
  private readonly server: http.Server;
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly routes = new AdminRouteTable();
  /** Null without a token: the operator endpoints are then not served at all. */
  private readonly signIn: AdminSignIn | null;
  private draining = false;
  /** Requests being answered: closing waits for them, so an operator gets the answer. */
  private readonly handling = new Set<Promise<unknown>>();
  /** Listening on a loopback address: only requests naming a loopback host are served. */
  private loopbackOnly = false;
  /** The names of admin.hosts (IP literals too); null: any name. */
  private servesHost: ((host: string | undefined) => boolean) | null = null;

  /**
   * @param token the admin bearer token; null = operator endpoints are not served at all.
   * @param silentMs how long a connection may send nothing before its first request.
   * @param maxConnections connections open at once; one more is closed as it arrives, unless
   *   another client holds more than its share (see AdminConnections).
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
    throttle = new SignInThrottle(),
    maxPerClient = MAX_CONNECTIONS_PER_CLIENT,
    refusals = new RefusalLog(),
  ) {
    this.signIn = token ? new AdminSignIn(log, token, sessions, throttle, refusals) : null;
    // Requests past their deadline are looked for every second (at most), not Node's default
    // 30 s, after which a body could stream for twice as long as requestTimeout says.
    const checking = {
      connectionsCheckingInterval: Math.max(100, Math.min(1_000, silentMs)),
      // Checked in handle, to answer in JSON as every other refusal (hostProblem).
      requireHostHeader: false,
    };
    const pipelined = new PipelinedRequests(PIPELINE_LIMITS);
    this.server = http.createServer(checking, (req, res) => {
      // One request of a connection answered at a time, in order, as the answers leave anyway.
      const inTurn = pipelined.inTurn(req, res, () => this.handle(req, res));
      const handled = inTurn().catch((error: unknown) => {
        // A route's SluiceError (Redis unavailable: 503 with Retry-After) is answered as such;
        // anything else is a bug: 500 with the generic body, its stack in the log only.
        const err = asSluiceError(error);
        if (err.code === "Internal") {
          this.log.error(
            {
              url: originForm(req.url ?? "/").split("?")[0],
              err: (error as Error)?.stack ?? String(error),
            },
            "admin request failed",
          );
        } else if (err.status >= 500) {
          // A dependency out (Redis, the broker): one line, no stack; the answer says retry.
          this.log.warn(
            { url: originForm(req.url ?? "/").split("?")[0], code: err.code, err: err.message },
            "admin request unavailable",
          );
        }
        if (!res.headersSent) {
          // no-store as every other answer of the port: a refusal or a failure is no more for
          // a cache to keep than the data is.
          const headers: Record<string, string> = {
            "content-type": "application/json",
            "cache-control": "no-store",
          };
          if (err.retryAfter !== undefined) headers["retry-after"] = String(err.retryAfter);
          res.writeHead(err.status, headers);
        }
        // The service port's error shape (docs/semantics.md): for a bug, `internal error` and no
        // more.
        res.end(JSON.stringify({ type: err.code, message: err.message, detail: err.messageId }));
      });
      this.handling.add(handled);
      void handled.finally(() => this.handling.delete(handled));
    });
    // Where the port is open beyond loopback (containers), anyone reaching it could otherwise
    // hold open as many connections as the process has file descriptors, the service port's
    // included: a connection that never sends a request is closed at silentMs, unanswered
    // (silent-connections.ts). Prometheus, probes and an operator need a handful,
    // so the count is bounded, and slow senders get deadlines shorter than Node's defaults
    // (60 s, 300 s): these requests are small.
    // As on the service port: `100 Continue` only once a route reads a body within its limit
    // (Node's own was sent before the token or the size was looked at), 417 in JSON to other expectations.
    deferContinue(this.server, { routeUnmet: true });
    this.server.headersTimeout = silentMs;
    this.server.requestTimeout = 3 * silentMs;
    // A request not sent in time (408), one Node's parser refuses, and CONNECT are answered in
    // the error shape of the other refusals, not with a bare status line or none.
    answerAdminRawRefusals(this.server);
    new AdminConnections(maxConnections, maxPerClient, silentMs).watch(this.server);
  }

  /**
   * A new admin token (SIGHUP, admin-token-reload.ts): see AdminSignIn.replaceToken. False where
   * no token was configured at start (the operator endpoints stay off) or it is the same.
   */
  replaceToken(token: string): boolean {
    return this.signIn?.replaceToken(token) ?? false;
  }

  /** Whether the operator endpoints are served (a token is configured). */
  get operatorEnabled(): boolean {
    return this.signIn !== null;
  }

  /** A named readiness condition; /readyz answers 503 while any returns a reason. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  /** An operator endpoint: served only with a token configured, and only to its bearer. */
  addRoute(method: string, pattern: RegExp, handler: AdminHandler): void {
    this.routes.add(method, pattern, handler);
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

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [url, search = ""] = originForm(req.url ?? "/").split("?", 2);
    // Every answer, errors and the sign-in page included: a browser neither guesses another
    // type than the one sent nor shows any of it inside another site's frame (clickjacking).
    for (const [name, value] of Object.entries(BROWSER_HEADERS)) res.setHeader(name, value);
    // Draining: the port closes soon, so a probe's or Prometheus's next request goes on a new
    // connection (to another instance, or refused at once) rather than on this one as it closes.
    // Also after an HTTP/1.0 request with a Transfer-Encoding, as on the service port.
    if (this.draining || framingEndsConnection(req)) res.setHeader("connection", "close");
    const version = httpVersionProblem(req);
    if (version !== null) {
      // As on the service port: Node served `HTTP/2.0` and `HTTP/0.9` as HTTP/1.x.
      res.setHeader("connection", "close");
      return json(res, 505, { type: "InvalidRequest", message: version });
    }
    const unmet = unmetExpectation(req);
    if (unmet !== undefined) {
      // Its body, if sent, is not read: the connection goes with the answer.
      res.setHeader("connection", "close");
      return json(res, 417, { type: "InvalidHeader", message: unmet });
    }
    // As on the service port: Node reads the first of two Host or Content-Type lines and drops
    // the other, so a token-bearing POST was read as one type while a proxy saw the other; and
    // a missing Host is refused here, in JSON (Node's check, turned off, answered an empty 400).
    // Two Authorization lines likewise: Node admitted the first token and dropped the other.
    const lines = onceOnlyLines(req);
    const repeated =
      hostProblem(req, lines.host) ??
      contentTypeLinesProblem(lines.contentType) ??
      authorizationLinesProblem(lines.authorization);
    if (repeated !== null) {
      // Its body, if sent, is not read: the connection goes with the answer.
      res.setHeader("connection", "close");
      return json(res, 400, { type: "InvalidHeader", message: repeated });
    }
    // DNS rebinding: a page of evil.example that re-points its name to 127.0.0.1 reaches a
    // loopback admin port from the operator's browser as its own origin. Such requests name
    // that page's host, never a loopback one.
    const host = requestHost(req);
    const named = this.servesHost?.(host) ?? false;
    if (this.loopbackOnly && !isLoopbackHost(host) && !named) {
      req.resume();
      return json(res, 403, {
        type: "Forbidden",
        message:
          "the admin port listens on loopback only; address it as 127.0.0.1, [::1] or localhost",
      });
    }
    // Off loopback the same attack needs a page's name re-pointed at the port's address: with
    // admin.hosts, only the names on it (and addresses) are served. 421 (RFC 9110 §15.5.20):
    // this port is not the one that name is for. A request without Host (HTTP/1.0, as a load
    // balancer's health check sends it) names no other site, as on the service port: served.
    if (!this.loopbackOnly && this.servesHost !== null && host !== undefined && !named) {
      req.resume();
      return json(res, 421, {
        type: "InvalidHeader",
        message: "the request's Host is not a name the admin port answers to (admin.hosts)",
      });
    }
    // HEAD is GET without the body (RFC 9110 §9.3.2), for whoever may GET the path: Node
    // leaves out the body of an answer to HEAD by itself.
    const reading = req.method === "GET" || req.method === "HEAD";
    if (reading && url === "/metrics") {
      const text = await metricsText();
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (reading && url === "/healthz") return json(res, 200, { status: "ok" });
    if (reading && url === "/readyz") {
      const reasons = this.notReady();
      return json(res, reasons.length ? 503 : 200, {
        status: reasons.length ? "not ready" : "ready",
        reasons,
      });
    }
    // Without a token nothing else exists: an operator endpoint nobody can guard is not served.
    if (!this.signIn) {
      req.resume();
      return json(res, 404, { type: "NotFound", message: "no such admin endpoint" });
    }
    const credential = await this.signIn.admit(req, res, url);
    if (credential === null) return;
    return this.routes.serve(req, res, url, search, credential);
  }

  /**
   * @param hosts admin.hosts: the names served besides IP literals (and, on loopback, loopback
   *   names); null: on loopback, loopback names only, elsewhere any name.
   */
  async listen(
    port: number,
    host: string,
    hosts: readonly string[] | null = null,
  ): Promise<number> {
    this.loopbackOnly = isLoopbackHost(host);
    this.servesHost = hosts === null ? null : servedHostCheck(hosts);
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", (error) => reject(listenStartupError(error, "admin.host", host)));
      this.server.listen(port, host, () => resolve());
    });
    const bound = (this.server.address() as AddressInfo).port;
    this.signIn?.listeningOn(bound);
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
