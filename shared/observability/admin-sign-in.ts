// Who may use the admin port's operator endpoints: the bearer of the admin token, or a browser
// signed in to the status page with it (a session cookie); the sign-in and sign-out themselves,
// and the refusals, throttled per address so the token cannot be guessed at speed.

import { createHash, timingSafeEqual } from "node:crypto";
import type http from "node:http";
import type { Logger } from "pino";
import type { AdminCredential } from "./admin-route-table";
import type { AdminSessions } from "./admin-sessions";
import { answerTooLarge, isTooLarge, json, readBody, sendHtml } from "./admin-http";
import type { RefusalLog } from "./refusal-log";
import type { SignInThrottle } from "./sign-in-throttle";

/** Sent by the status page on every change it asks for: a cross-site form cannot send it. */
export const CSRF_HEADER = "x-sluice-request";

export class AdminSignIn {
  /**
   * Digests compare in constant time whatever the lengths; the token itself is never logged.
   * Replaced by SIGHUP (replaceToken).
   */
  private tokenDigest: Buffer;
  /**
   * Browsers send a cookie to every port of a host: named after the port, each admin port on
   * 127.0.0.1 (one per role) keeps its own sign-in instead of overwriting another's.
   */
  private sessionCookie = "sluice-admin";

  constructor(
    private readonly log: Logger,
    token: string,
    private readonly sessions: AdminSessions,
    private readonly throttle: SignInThrottle,
    private readonly refusals: RefusalLog,
  ) {
    this.tokenDigest = digest(token);
  }

  /**
   * Takes `token` as the admin token from now on, when it is another: the old one is refused
   * from the next request, and every status page sign-in ends, made with the old one (a cookie
   * stands for the token it was given for, and a rotation is meant to shut out whoever held the
   * old). The failed sign-ins counted so far are forgotten (SignInThrottle.reset): they were
   * made against the old token, and a client waiting them out would keep the operator with the
   * new one out for up to a minute. Returns whether the token changed; an unchanged one keeps
   * the sign-ins and the failures counted.
   */
  replaceToken(token: string): boolean {
    const next = digest(token);
    if (timingSafeEqual(next, this.tokenDigest)) return false;
    this.tokenDigest = next;
    this.sessions.endAll();
    this.throttle.reset();
    return true;
  }

  /** The port now listened on: the session cookie is named after it. */
  listeningOn(port: number): void {
    this.sessionCookie = `sluice-admin-${port}`;
  }

  /**
   * Answers a sign-in, a sign-out, and a request without a valid credential (or throttled);
   * resolves to the credential it was admitted with, having answered nothing, when the request
   * may go on to the routes, else to null.
   */
  async admit(
    req: http.IncomingMessage,
    res: http.ServerResponse,
    url: string,
  ): Promise<AdminCredential | null> {
    if (req.method === "POST" && url === "/login") {
      await this.login(req, res);
      return null;
    }
    if (req.method === "POST" && url === "/logout") {
      this.logout(req, res);
      return null;
    }
    if (req.headers.authorization !== undefined) {
      // Checked before the token, as at sign-in: a waiting address learns nothing from it.
      if (this.throttled(req, res, "admin request")) {
        json(res, 429, {
          type: "TooManyRequests",
          message: "too many failed attempts from this address; retry after Retry-After seconds",
        });
        return null;
      }
    }
    const credential = this.credential(req);
    const unsafe = req.method !== "GET" && req.method !== "HEAD";
    if (credential && !(credential === "session" && unsafe && !req.headers[CSRF_HEADER])) {
      return credential;
    }
    req.resume();
    // A wrong token is a guess, logged each time (the throttle bounds them); a request with
    // none (or an Authorization of another scheme, which the throttle does not count) is
    // logged once a minute per client.
    const remote = req.socket.remoteAddress ?? "";
    if (BEARER.test(req.headers.authorization ?? "") || this.refusals.first("request", remote)) {
      this.log.warn(
        { method: req.method, path: url, remote },
        "admin request refused: no valid token",
      );
    }
    if (!unsafe && url === "/") {
      sendHtml(res, 401, loginPage(null), SIGN_IN_CSP);
      return null;
    }
    res.setHeader("www-authenticate", 'Bearer realm="sluice admin"');
    json(res, 401, {
      type: "Unauthorized",
      message: "send Authorization: Bearer <admin token>",
    });
    return null;
  }

  private credential(req: http.IncomingMessage): AdminCredential | null {
    const bearer = BEARER.exec(req.headers.authorization ?? "");
    if (bearer) {
      if (timingSafeEqual(digest(bearer[1].trim()), this.tokenDigest)) return "bearer";
      // Counted with failed sign-ins: the header is a way to guess the same token.
      this.throttle.failed(req.socket.remoteAddress ?? "");
      return null;
    }
    const cookie = readCookie(req.headers.cookie, this.sessionCookie);
    if (cookie !== null && this.sessions.valid(cookie)) return "session";
    return null;
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
      if (this.refusals.first("sign-in", remote)) {
        this.log.warn({ remote, origin: req.headers.origin }, "admin sign-in refused: cross-site");
      }
      return sendHtml(res, 403, loginPage("crossSite"), SIGN_IN_CSP);
    }
    // Checked before the token: a waiting address learns nothing, right or wrong.
    if (this.throttled(req, res, "admin sign-in"))
      return sendHtml(res, 429, loginPage("throttled"), SIGN_IN_CSP);
    let token = "";
    try {
      // Trimmed as a bearer token is: a token pasted with a space or a line end is still it.
      token = (
        new URLSearchParams((await readBody(req)).toString("utf8")).get("token") ?? ""
      ).trim();
    } catch (error) {
      // No token is that long: not a guess, so not counted.
      if (isTooLarge(error)) return answerTooLarge(req, res);
      token = "";
    }
    // Checked again once the body is in: sign-ins sent together all passed the check above
    // before any was counted, so a client sending a hundred at once had each one compared, not
    // ten a minute. One whose address filled its failures meanwhile is not compared.
    if (this.throttled(req, res, "admin sign-in"))
      return sendHtml(res, 429, loginPage("throttled"), SIGN_IN_CSP);
    if (!timingSafeEqual(digest(token), this.tokenDigest)) {
      this.throttle.failed(remote);
      this.log.warn({ remote }, "admin sign-in refused");
      return sendHtml(res, 401, loginPage("refused"), SIGN_IN_CSP);
    }
    // A sign-in opens 12 hours of operator access from a browser: logged with its address as
    // the refused ones are, so "who had a session at 03:12, and from where?" has an answer
    // (the journal's session entries say only `credential: session`). Never the session id.
    this.log.info({ remote }, "admin signed in");
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
    // SameSite=Strict sends the cookie from a page on any port of this host (same site), so a
    // form there could sign the operator out; only the status page's own button may.
    if (crossSite(req)) {
      const remote = req.socket.remoteAddress ?? "";
      if (this.refusals.first("sign-out", remote)) {
        this.log.warn({ remote, origin: req.headers.origin }, "admin sign-out refused: cross-site");
      }
      return sendHtml(res, 403, loginPage("crossSiteSignOut"), SIGN_IN_CSP);
    }
    const cookie = readCookie(req.headers.cookie, this.sessionCookie);
    if (cookie !== null && this.sessions.valid(cookie)) {
      this.sessions.end(cookie);
      this.log.info({ remote: req.socket.remoteAddress ?? "" }, "admin signed out");
    }
    res.writeHead(303, {
      location: "/",
      "set-cookie": `${this.sessionCookie}=; Max-Age=0; HttpOnly; SameSite=Strict; Path=/`,
      "cache-control": "no-store",
    });
    res.end();
  }
}

/** A bearer credential; the scheme is case-insensitive (RFC 9110 §11.1): "bearer x" is one. */
// Cannot backtrack: once "bearer " matched, `.*` with the s flag reaches the end whatever follows.
// eslint-disable-next-line regexp/no-super-linear-backtracking -- see above
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

const SIGN_IN_PROBLEMS = {
  refused: "That token is not the admin token.",
  crossSite: "Sign in from this page, not from another site.",
  crossSiteSignOut: "Sign out with the status page's own button, not from another page.",
  throttled: "Too many failed sign-ins from this address: wait a minute, then try again.",
};

// Inline, since the sign-in page is served before sign-in, and admitted by its digest alone
// (style-src 'sha256-…'): no other inline style applies, as on the status page.
const SIGN_IN_STYLE =
  "body{font:15px system-ui,sans-serif;margin:4em auto;max-width:24em}input{width:100%;padding:.4em;margin:.5em 0}:focus-visible{outline:3px solid #1d4ed8;outline-offset:2px}";
const SIGN_IN_CSP = `default-src 'none'; style-src 'sha256-${createHash("sha256").update(SIGN_IN_STYLE, "utf8").digest("base64")}'; form-action 'self'; frame-ancestors 'none'`;

function loginPage(problem: keyof typeof SIGN_IN_PROBLEMS | null): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Sluice: sign in</title>
<style>${SIGN_IN_STYLE}</style>
</head><body><h1>Sluice</h1><p>The status page needs the admin token (<code>admin.token</code> or <code>SLUICE_ADMIN_TOKEN</code>).</p>
${problem ? `<p role="alert"><strong>${SIGN_IN_PROBLEMS[problem]}</strong></p>` : ""}
<form method="post" action="/login"><label>Admin token <input type="password" name="token" autocomplete="current-password" autofocus></label>
<button type="submit">Sign in</button></form></body></html>`;
}
