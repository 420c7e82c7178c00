// X-Road 7.4's client proxy is Jetty 11.0.17 (src/gradle.properties) with Jetty's own
// HttpConfiguration defaults: /etc/xroad/jetty/clientproxy.xml sets only the thread pool, and
// ClientProxy.createClientHttp(s)Connector only hides the server version. Jetty's parser then
// allows 8 KiB (`requestHeaderSize`) for the request line and headers together
// (HttpParser.parseLine / parseFields): a URI that runs past it is `414 URI Too Long`, any
// other overflow `431 Request Header Fields Too Large`, answered before X-Road sees the request
// by ErrorHandler.badMessageError's HTML page, and the connection closed.

import type http from "node:http";

/** Jetty 11's HttpConfiguration default `requestHeaderSize`. */
export const JETTY_REQUEST_HEADER_SIZE = 8 * 1024;

/**
 * Node's own limit is set above Jetty's, so that the simulator reads these requests and
 * answers them as Jetty does instead of Node's bare 431.
 */
export const NODE_MAX_HEADER_SIZE = 64 * 1024;

/** Jetty's status for a request whose head is too large, or null when it fits. */
export function requestHeadOverflow(req: http.IncomingMessage): 414 | 431 | null {
  const method = req.method ?? "GET";
  const uriEnd = Buffer.byteLength(method) + 1 + Buffer.byteLength(req.url ?? "");
  if (uriEnd > JETTY_REQUEST_HEADER_SIZE) return 414;
  let bytes = uriEnd + ` HTTP/${req.httpVersion}\r\n`.length;
  for (let i = 0; i < req.rawHeaders.length; i += 2) {
    bytes +=
      Buffer.byteLength(req.rawHeaders[i]) + 2 + Buffer.byteLength(req.rawHeaders[i + 1]) + 2;
  }
  return bytes + 2 > JETTY_REQUEST_HEADER_SIZE ? 431 : null;
}

const REASONS = { 414: "URI Too Long", 431: "Request Header Fields Too Large" } as const;

/** Answers as Jetty 11's ErrorHandler.badMessageError does, and closes the connection. */
export function sendHeadOverflow(res: http.ServerResponse, status: 414 | 431): void {
  sendBadMessage(res, status, REASONS[status]);
}

/**
 * Jetty 11's answer to a request its parser or Request.setMetaData refuses
 * (HttpChannel.onBadMessage → ErrorHandler.badMessageError), the connection closed.
 */
export function sendBadMessage(res: http.ServerResponse, status: number, reason: string): void {
  const body = `<h1>Bad Message ${status}</h1><pre>reason: ${reason}</pre>`;
  res.writeHead(status, {
    "content-type": "text/html;charset=iso-8859-1",
    "content-length": Buffer.byteLength(body, "latin1"),
    connection: "close",
  });
  res.end(body, "latin1");
}
