// What both HTTP ports (the service port and the admin port) answer to requests Node's parser
// refuses before any route sees them, and to CONNECT: Node wrote a bare status line (408 and 400
// with an empty body) for the first and closed a CONNECT unanswered. Each port gives its own
// body (its error shape, its headers); the refusals, the framing and the guards are these.

import {
  maxHeaderSize,
  STATUS_CODES,
  type IncomingMessage,
  type Server,
  type ServerResponse,
} from "node:http";
import type { Server as TlsServer } from "node:https";
import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { ErrorCode } from "./errors";
import { silentSinceOpened } from "./silent-connections";

/** A parser's error as Node hands it to `clientError`. */
export type ParserError = Error & { code?: string; reason?: string; rawPacket?: Buffer };

export interface ParserErrorRefusal {
  code: ErrorCode;
  status: number;
  message: string;
}

/**
 * The refusal an error of Node's parser stands for: headers over Node's limit (431), a request
 * not sent in time (408), chunk extensions too large (413), anything else not well-formed HTTP
 * (400). A port that tells a URL over the limit apart (414) does so before asking.
 */
export function parserRefusal(error: ParserError, headerLimit = maxHeaderSize): ParserErrorRefusal {
  switch (error.code) {
    case "HPE_HEADER_OVERFLOW":
      return {
        code: "InvalidHeader",
        status: 431,
        message: `the request's headers are larger than ${headerLimit} bytes`,
      };
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return { code: "InvalidRequest", status: 408, message: "the request was not sent in time" };
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return {
        code: "PayloadTooLarge",
        status: 413,
        message: "the request's chunk extensions are too large",
      };
    default: {
      // llhttp's reason is a fixed phrase ("Invalid header value char"), never the input.
      const reason = typeof error.reason === "string" ? `: ${error.reason.slice(0, 100)}` : "";
      return {
        code: "InvalidRequest",
        status: 400,
        message: `the request is not well-formed HTTP${reason}`,
      };
    }
  }
}

/**
 * A whole HTTP answer that closes the connection, written to the socket as it is: `headers`
 * are whole lines (each ending in CRLF), put before the content headers. The head goes out in
 * ISO-8859-1, as Node writes header values (an X-Road-Id may hold any of its characters), the
 * body in UTF-8.
 */
export function rawAnswer(status: number, contentType: string, body: string, headers = ""): Buffer {
  const head =
    `HTTP/1.1 ${status} ${STATUS_CODES[status] ?? ""}\r\n${headers}` +
    `Content-Type: ${contentType}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
    `Connection: close\r\n\r\n`;
  return Buffer.concat([Buffer.from(head, "latin1"), Buffer.from(body, "utf8")]);
}

/** The answers of a connection not finished yet, in the order of its requests. */
const UNFINISHED = Symbol("sluice.unfinished-answers");
type AnsweringSocket = Socket & { [UNFINISHED]?: ServerResponse[] };

/** Whether an answer is done with: sent whole, or never to be (closed). */
function settled(res: ServerResponse): boolean {
  return res.writableFinished || res.destroyed;
}

/**
 * Answers what Node's parser refuses with `answerFor`'s answer, where Node would write its bare
 * status line: once every answer before it on the connection is sent, never into the middle of
 * one (as Node does), and never to a connection the caller reset. `answerFor` gets the request
 * the error cut when its head was read (a body not sent in time), and none when the error came
 * before the head was whole (nothing of it was parsed). `noted` hears of every error first (a
 * port counts them there); the connection is closed either way.
 *
 * Every answer of the connection not finished yet is kept, in order, not only the last one: a
 * request pipelined behind one not answered yet (a sync wait) whose own body then stalls is
 * the last one read, and the refusal written at once lost the earlier answer its caller was
 * owed. The list is an array on the socket, pruned from its front as each request arrives
 * (answers finish in order), with no closure or listener per request: a sync caller's wait
 * would keep one for its whole length (silent-connections.ts).
 */
export function answerParserErrors(
  server: Server | TlsServer,
  answerFor: (error: ParserError, request?: IncomingMessage) => Buffer,
  noted?: (error: ParserError, socket: Socket) => void,
): void {
  const refused = new WeakSet<Socket>();
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const socket = req.socket as AnsweringSocket;
    const unfinished = socket[UNFINISHED] ?? [];
    while (unfinished.length > 0 && settled(unfinished[0])) unfinished.shift();
    unfinished.push(res);
    socket[UNFINISHED] = unfinished;
  });
  server.on("clientError", (error: ParserError, stream: Duplex) => {
    const socket = stream as AnsweringSocket;
    // A new connection that never sent a byte, found by Node's headers deadline before the
    // silent sweep: closed without an answer, as the sweep closes it (silent-connections.ts).
    if (error.code === "ERR_HTTP_REQUEST_TIMEOUT" && silentSinceOpened(socket)) {
      socket.destroy();
      return;
    }
    // Node hands every later chunk of the connection to its failed parser again.
    if (refused.has(socket)) return;
    refused.add(socket);
    noted?.(error, socket);
    const answers = socket[UNFINISHED] ?? [];
    const last = answers.at(-1);
    // The last request whose head was read is the one cut when its body is not yet whole; a
    // whole one was an earlier request, and the error is a next one's, whose head was not read.
    // The cut request's own answer is never sent: the refusal stands for it. One answered
    // before its body was read (a 413, a 503 the head decided) has its answer already: the
    // connection is closed without another, which its client would read as the answer to the
    // next request it wrote.
    const cutAnswer = last !== undefined && !last.req.complete ? last : undefined;
    const cut = cutAnswer?.req;
    // Those owed when the parser refused, copied: the list goes on growing as Node parses on.
    // A request whose head is read after the refusal is not served (its turn comes once the
    // answers before it are sent, and the refusal closes the connection then): waited for, it
    // was served and the refusal written after its answer, two answers to one request, or, its
    // body never whole, waited for until the connection closed with neither answer.
    const before = answers.slice(0, cutAnswer === undefined ? answers.length : -1);
    const refuse = (): void => {
      // Clean: every answer before is sent whole, and none of the cut request's was written.
      const clean =
        before.every((res) => res.writableFinished) &&
        (cutAnswer === undefined || !cutAnswer.headersSent);
      if (error.code !== "ECONNRESET" && socket.writable && clean) {
        socket.write(answerFor(error, cut));
      }
      socket.destroy();
    };
    // Answers to requests read whole and not sent yet go first, then this refusal: closing at
    // once lost them, which their callers were owed. They finish in order, so waiting for each
    // unsettled one in turn waits for them all; the listeners are this connection's only.
    const next = (): void => {
      if (error.code === "ECONNRESET" || socket.destroyed) {
        refuse();
        return;
      }
      const waiting = before.find((res) => !settled(res));
      if (waiting === undefined) {
        refuse();
        return;
      }
      let called = false;
      const once = (): void => {
        if (called) return;
        called = true;
        waiting.removeListener("finish", once);
        waiting.removeListener("close", once);
        next();
      };
      waiting.once("finish", once);
      waiting.once("close", once);
    };
    next();
  });
}

/**
 * Answers CONNECT with `answer` (a 405: no port of Sluice's is a proxy). Node hands a CONNECT to
 * `connect` listeners with the bare socket and, without one, closed it unanswered. The socket
 * is the port's alone from here (no HTTP timeouts), so it is destroyed if the caller does not
 * close its end.
 */
export function answerConnect(server: Server | TlsServer, answer: Buffer): void {
  server.on("connect", (_req: unknown, stream: Duplex) => {
    const socket = stream as Socket;
    socket.on("error", () => socket.destroy());
    socket.setTimeout(2_000, () => socket.destroy());
    socket.end(answer);
  });
}
