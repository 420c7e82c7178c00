// The admin port's answers to what no route sees: a request Node's parser refuses (not sent in
// time, headers over Node's limit, bytes HTTP does not allow) and CONNECT. Node wrote a bare
// status line for the first (408 and 400 with an empty body) and closed a CONNECT unanswered;
// they are answered in the admin port's error shape (`{"type", "message"}`, as its 403, 404 and
// 417), with its browser headers, as the service port answers them (adapter/client-error.ts).

import { maxHeaderSize, STATUS_CODES, type Server } from "node:http";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import { BROWSER_HEADERS } from "./admin-http";

/** A parser's error as Node hands it to `clientError`. */
type ClientError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

interface Refusal {
  status: number;
  type: string;
  message: string;
}

/** The methods the admin port serves (its routes'), named by a 405's Allow. */
const ADMIN_METHODS = "GET, HEAD, POST, DELETE";

/** A refusal written as a whole HTTP answer that closes the connection. */
function rawAnswer({ status, type, message }: Refusal, headers = ""): string {
  const body = JSON.stringify({ type, message });
  const browser = Object.entries(BROWSER_HEADERS)
    .map(([name, value]) => `${name}: ${value}\r\n`)
    .join("");
  return (
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${headers}${browser}` +
    `Content-Type: application/json\r\nCache-Control: no-store\r\n` +
    `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`
  );
}

/** The refusal a parser's error stands for. */
export function adminClientRefusal(error: ClientError): Refusal {
  switch (error.code) {
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { status: 408, type: "InvalidRequest", message: "the request was not sent in time" };
    case "HPE_HEADER_OVERFLOW":
      return {
        status: 431,
        type: "InvalidHeader",
        message: `the request's headers are larger than ${maxHeaderSize} bytes`,
      };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return {
        status: 413,
        type: "PayloadTooLarge",
        message: "the request's chunk extensions are too large",
      };
    default: {
      // llhttp's reason is a fixed phrase ("Invalid header value char"), never the input.
      const reason = typeof error.reason === "string" ? `: ${error.reason.slice(0, 100)}` : "";
      return {
        status: 400,
        type: "InvalidRequest",
        message: `the request is not well-formed HTTP${reason}`,
      };
    }
  }
}

/** The answer to a CONNECT: the admin port is no proxy. */
export const ADMIN_CONNECT_ANSWER = rawAnswer(
  {
    status: 405,
    type: "MethodNotAllowed",
    message: "CONNECT is not served: the admin port is not a proxy",
  },
  `Allow: ${ADMIN_METHODS}\r\n`,
);

/**
 * Answers CONNECT 405 and what Node's parser refuses as adminClientRefusal says, where Node
 * wrote a bare status line: only on a connection that has had no answer written yet (as Node
 * does), never to one the caller reset. The connection is closed either way. A CONNECT's socket
 * is the admin port's alone once handed over (no HTTP timeouts), so it is destroyed if the
 * caller does not close its end.
 */
export function answerAdminRawRefusals(server: Server): void {
  server.on("clientError", (error: ClientError, stream: Duplex) => {
    const socket = stream as Socket;
    if (error.code !== "ECONNRESET" && socket.writable && socket.bytesWritten === 0) {
      socket.write(rawAnswer(adminClientRefusal(error)));
    }
    socket.destroy();
  });
  server.on("connect", (_req: unknown, stream: Duplex) => {
    const socket = stream as Socket;
    socket.on("error", () => socket.destroy());
    socket.setTimeout(2_000, () => socket.destroy());
    socket.end(ADMIN_CONNECT_ANSWER);
  });
}
