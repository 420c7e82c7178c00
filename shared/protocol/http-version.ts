// The HTTP versions both ports read, and the framing of an HTTP/1.0 request they do not trust.
// Node's parser takes any of HTTP/0.9, 1.0, 1.1 and 2.0 in a request line and serves them alike.

import type { IncomingMessage } from "node:http";

/**
 * Why a request's version is refused (505, RFC 9110 §15.6.6), null for HTTP/1.0 and HTTP/1.1.
 * `GET / HTTP/2.0` is no HTTP/2 (which has no request line) and `HTTP/0.9` has no version in
 * its line at all: Node served both as HTTP/1.x, a POST accepted and a connection kept, where
 * a proxy in front that refuses or reframes them reads the same bytes another way.
 */
export function httpVersionProblem(req: IncomingMessage): string | null {
  if (req.httpVersionMajor === 1 && (req.httpVersionMinor === 0 || req.httpVersionMinor === 1)) {
    return null;
  }
  return `HTTP/${req.httpVersion} is not served: send HTTP/1.1 (or HTTP/1.0)`;
}

/**
 * Whether the connection ends with this request's answer: an HTTP/1.0 request with a
 * Transfer-Encoding, whose framing RFC 9112 §6.1 has a server treat as faulty (an HTTP/1.0
 * proxy in front knows no chunked coding, and reads that body to the connection's end), so
 * the connection closes once it is answered. Node read it chunked and, with
 * `Connection: keep-alive`, read the bytes after it as the next request.
 */
export function framingEndsConnection(req: IncomingMessage): boolean {
  return (
    req.httpVersionMajor === 1 &&
    req.httpVersionMinor === 0 &&
    req.headers["transfer-encoding"] !== undefined
  );
}

/** How many Host lines the request has (Node keeps the first in `req.headers.host`). */
export function hostLines(req: IncomingMessage): number {
  let count = 0;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    if (req.rawHeaders[i]?.toLowerCase() === "host") count++;
  }
  return count;
}
