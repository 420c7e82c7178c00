// What X-Road's client proxy (Jetty 11's HTTP/1.1 connector, no h2c) refuses in a request's
// framing that Node's parser takes, so that the simulator refuses it too and a caller that
// passes against it does not fail at a real security server.

import type http from "node:http";

/** Jetty's refusal of a request line's version, answered by its bad-message page and closed. */
export interface JettyRefusal {
  status: number;
  reason: string;
}

/**
 * Node reads a request line of HTTP/2.0 or HTTP/0.9, or one with no version, as HTTP/1.x and
 * serves it. Jetty's HTTP/1.1 connector takes a request line of HTTP/2.0 only as the h2c
 * preface (`PRI * HTTP/2.0`, which X-Road's client proxy does not accept either) and answers
 * any other `426 Upgrade Required` (HttpChannelOverHttp.headerComplete); an HTTP/0.9 request it
 * does not serve (HttpCompliance: no HTTP_0_9), 505.
 */
export function jettyVersionRefusal(req: http.IncomingMessage): JettyRefusal | null {
  if (req.httpVersionMajor === 1 && (req.httpVersionMinor === 0 || req.httpVersionMinor === 1)) {
    return null;
  }
  if (req.httpVersionMajor === 2) return { status: 426, reason: "Upgrade Required" };
  return { status: 505, reason: "HTTP/0.9 not supported" };
}
