// Header fields a request carries at most once, counted from its raw lines: Node's header
// table keeps the first of two Host, Content-Type or Authorization lines and drops the other
// unseen. Both ports refuse a second one (400 InvalidHeader) before any route reads the first,
// and a missing Host in the same words (Node's own check answers a bare 400 with no body, so
// both turn it off).

import type { IncomingMessage } from "node:http";

export interface OnceOnlyLines {
  host: number;
  contentType: number;
  authorization: number;
}

/** How many Host, Content-Type and Authorization lines `req` has, in one pass over its raw headers. */
export function onceOnlyLines(req: IncomingMessage): OnceOnlyLines {
  const raw = req.rawHeaders;
  const lines = { host: 0, contentType: 0, authorization: 0 };
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    if (name.length === 4 && name.toLowerCase() === "host") lines.host += 1;
    else if (name.length === 12 && name.toLowerCase() === "content-type") lines.contentType += 1;
    else if (name.length === 13 && name.toLowerCase() === "authorization") lines.authorization += 1;
  }
  return lines;
}

/**
 * Why a request with `count` Content-Type lines is refused, null for at most one. Content-Type
 * is one value, not a list (RFC 9110 §8.3, §5.3): two lines make the message invalid, and the
 * body would be read as the first type while a proxy in front may have taken it as the other.
 */
export function contentTypeLinesProblem(count: number): string | null {
  return count > 1
    ? `the request has ${count} Content-Type headers; a request has at most one`
    : null;
}

/**
 * Why a request with `count` Authorization lines is refused on either port, null for at most
 * one. Authorization is one credential, not a list (RFC 9110 §11.6.2): Node admitted the first
 * line and dropped the other unseen, so a proxy in front that checks or adds the last one saw
 * another credential than the one Sluice let in (admin port) or passed on (service port).
 */
export function authorizationLinesProblem(count: number): string | null {
  return count > 1
    ? `the request has ${count} Authorization headers; a request has at most one`
    : null;
}

/**
 * `uri-host [ ":" port ]` (RFC 3986): a registered name, IPv4 or a bracketed IP literal. Not
 * empty: an http URI has a host (RFC 9110 §4.2.1), so `Host:` and `Host: :80` are invalid values
 * (400, RFC 9112 §3.2), where they were read as naming some other host (403, 421).
 */
const HOST = /^(?:[\w.~!$&'()*+,;=%-]+|\[[\da-fA-F:.]+\])(?::\d*)?$/;

/**
 * Why `req`, with `count` Host lines, is refused, null when it is not: an HTTP/1.1 request has
 * exactly one Host, naming a host (RFC 9112 §3.2); an HTTP/1.0 one may have none.
 */
export function hostProblem(req: IncomingMessage, count: number): string | null {
  const needed = "HTTP/1.1 needs exactly one";
  if (count > 1) return `the request has ${count} Host headers; ${needed}`;
  if (count === 0) {
    const http11 = req.httpVersionMajor > 1 || req.httpVersionMinor >= 1;
    return http11 ? `the request has no Host header; ${needed}` : null;
  }
  return HOST.test(req.headers.host ?? "")
    ? null
    : `the request has a Host header that names no host; ${needed}`;
}
