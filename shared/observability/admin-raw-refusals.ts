// The admin port's answers to what no route sees: a request Node's parser refuses (not sent in
// time, headers over Node's limit, bytes HTTP does not allow) and CONNECT. They are the service
// port's refusals (shared/protocol/parser-refusal.ts) in the admin port's error shape
// (`{"type", "message"}`, as its 403, 404 and 417), with its browser headers.

import type { Server } from "node:http";
import {
  answerConnect,
  answerParserErrors,
  parserRefusal,
  rawAnswer,
  type ParserErrorRefusal,
} from "../protocol/parser-refusal";
import { BROWSER_HEADERS } from "./admin-http";

/** The methods the admin port serves (its routes'), named by a 405's Allow. */
const ADMIN_METHODS = "GET, HEAD, POST, DELETE";

const BROWSER_LINES = Object.entries(BROWSER_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join("");

/** A refusal written as a whole HTTP answer that closes the connection. */
function adminAnswer({ status, code, message }: ParserErrorRefusal, headers = ""): Buffer {
  const body = JSON.stringify({ type: code, message });
  return rawAnswer(
    status,
    "application/json",
    body,
    `${headers}${BROWSER_LINES}Cache-Control: no-store\r\n`,
  );
}

/** The answer to a CONNECT: the admin port is no proxy. */
export const ADMIN_CONNECT_ANSWER = adminAnswer(
  {
    status: 405,
    code: "MethodNotAllowed",
    message: "CONNECT is not served: the admin port is not a proxy",
  },
  `Allow: ${ADMIN_METHODS}\r\n`,
);

/** Answers CONNECT 405 and what Node's parser refuses, where Node wrote a bare status line. */
export function answerAdminRawRefusals(server: Server): void {
  answerParserErrors(server, (error) => adminAnswer(parserRefusal(error)));
  answerConnect(server, ADMIN_CONNECT_ANSWER);
}
