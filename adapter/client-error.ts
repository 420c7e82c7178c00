// Answers to requests Node's HTTP parser refuses before any route sees them: a header section
// over Node's limit, bytes HTTP does not allow, a request not sent in time. They get a code and
// words as every other refusal does (JSON, or a SOAP fault on /soap), not a bare status line.
// A SOAP fault keeps the HTTP status of the refusal (431, 400) rather than SOAP's 500, as the
// adapter's own header-line limit does (docs/soap.md, Faults): the envelope was never read. A
// request cut after its head was read (a body not sent in time, a malformed chunk) is told by
// its target; before that, by the request line at the start of the refused bytes. A head not
// sent whole in time is answered in JSON: Node hands over none of its bytes.

import { maxHeaderSize, type IncomingMessage, type Server } from "node:http";
import type { Server as TlsServer } from "node:https";
import type { Logger } from "pino";
import { parserRefusals } from "../shared/observability/metrics";
import { ThrottledWarning } from "../shared/observability/throttled-warning";
import { SluiceError } from "../shared/protocol/errors";
import {
  answerConnect,
  answerParserErrors,
  parserRefusal,
  rawAnswer,
  type ParserError as ClientError,
} from "../shared/protocol/parser-refusal";
import { buildSoapFault } from "./soap/soap-fault";
import { REQUEST_REFUSALS } from "./request-refusals";
import { xroadIdProblem } from "./route-intake";

/** A request line naming the SOAP endpoint, when the refused bytes start with one. */
const SOAP_REQUEST_LINE = /^[A-Z]+ (?:https?:\/\/[^/\s]*)?\/soap(?:[/?\s])/;

/** A request target naming the SOAP endpoint, as a request whose head was read has it. */
const SOAP_TARGET = /^(?:https?:\/\/[^/\s]*)?\/soap(?:[/?]|$)/;

/** Why Node's parser refused a request: the metric's label and the warning's `reason`. */
export type ParserRefusal =
  "target_too_long" | "headers_too_large" | "timeout" | "chunk_extensions" | "malformed";

/** A request line (a method and a space) at the start of the bytes the parser refused. */
const REQUEST_LINE_START = /^[A-Z]+ /;

/**
 * Whether a header section that overflowed Node's limit did so in its request line: the URL
 * alone is longer than the limit (RFC 9110 §15.5.15, 414), not the header fields (431). Known
 * only when the refused bytes start with the request line and it runs past the limit or to
 * their end; a URL that arrived in several pieces is answered as headers too large.
 */
export function targetOverflows(error: ClientError, headerLimit = maxHeaderSize): boolean {
  const packet = error.rawPacket;
  if (!packet || !REQUEST_LINE_START.test(packet.subarray(0, 20).toString("latin1"))) {
    return false;
  }
  const lineEnd = packet.indexOf(10);
  return lineEnd < 0 || lineEnd >= headerLimit;
}

/** The reason of a parser's error; none for a connection the caller reset (nothing refused). */
export function parserRefusalReason(error: ClientError): ParserRefusal | null {
  switch (error.code) {
    case "ECONNRESET":
      return null;
    case "HPE_HEADER_OVERFLOW":
      return targetOverflows(error) ? "target_too_long" : "headers_too_large";
    case "ERR_HTTP_REQUEST_TIMEOUT":
      return "timeout";
    case "HPE_CHUNK_EXTENSIONS_OVERFLOW":
      return "chunk_extensions";
    default:
      return "malformed";
  }
}

/**
 * The refusal an error of Node's parser stands for, as both ports refuse it (parserRefusal),
 * with a URL over the limit told apart (414).
 */
export function clientRefusal(error: ClientError, headerLimit = maxHeaderSize): SluiceError {
  if (error.code === "HPE_HEADER_OVERFLOW" && targetOverflows(error, headerLimit)) {
    const { code, status } = REQUEST_REFUSALS.longTarget;
    return new SluiceError(
      code,
      `the request's target (its URL) is longer than ${headerLimit} bytes`,
      { status },
    );
  }
  const { code, status, message } = parserRefusal(error, headerLimit);
  return new SluiceError(code, message, { status });
}

/**
 * The whole HTTP answer to a refused request: JSON, or a SOAP fault for the SOAP endpoint. With
 * `request`, the one the error cut after its head was read (a body not sent in time), the
 * endpoint is its target's, and the answer carries its X-Road-Id as every other answer does
 * (server.ts), unless the id was one the adapter refuses. Before the head is read there is no
 * X-Road-Id to send: none of the head was parsed, and bytes Node's parser refused are never
 * echoed.
 */
export function clientErrorAnswer(
  error: ClientError,
  headerLimit = maxHeaderSize,
  request?: IncomingMessage,
): Buffer {
  // A request cut after its head was read is told by its target: the refused bytes are its
  // body's, or none (a body not sent in time), and hold no request line.
  const soap =
    request !== undefined
      ? SOAP_TARGET.test(request.url ?? "")
      : SOAP_REQUEST_LINE.test(error.rawPacket?.subarray(0, 300).toString("latin1") ?? "");
  const id = request?.headers["x-road-id"];
  const echo = typeof id === "string" && id !== "" && xroadIdProblem(id.trim()) === null;
  return rawErrorAnswer(
    clientRefusal(error, headerLimit),
    soap,
    echo ? `X-Road-Id: ${id}\r\n` : "",
  );
}

/** A refusal written as a whole HTTP answer that closes the connection. */
function rawErrorAnswer(refusal: SluiceError, soap: boolean, headers = ""): Buffer {
  const body = soap
    ? buildSoapFault(refusal)
    : JSON.stringify({ type: refusal.code, message: refusal.message, detail: null });
  const type = soap ? "text/xml; charset=utf-8" : "application/json; charset=utf-8";
  return rawAnswer(refusal.status, type, body, headers);
}

/** The answer to a CONNECT: Sluice is no proxy. */
export const CONNECT_ANSWER = rawErrorAnswer(
  new SluiceError("MethodNotAllowed", "CONNECT is not served: Sluice is not a proxy", {
    status: 405,
  }),
  false,
  "Allow: GET, POST, PUT, PATCH, DELETE, HEAD, OPTIONS\r\n",
);

/**
 * CONNECT gets a 405 in the contract's error shape: Node hands it to `connect` listeners with
 * the bare socket and, without one, closed the connection unanswered. The socket is Sluice's
 * alone from here (no HTTP timeouts), so it is destroyed if the caller does not close its end.
 */
export function refuseConnect(server: Server | TlsServer): void {
  answerConnect(server, CONNECT_ANSWER);
}

/**
 * Answers what Node's parser refuses as clientErrorAnswer says, where Node would write its bare
 * status line: once every answer before it on the connection is sent (answerParserErrors),
 * never into the middle of one, and never to a connection the caller reset. The connection is
 * closed either way. Such a request never reaches the access log, so each is counted by reason
 * in sluice_http_parser_refusals_total and warned of, one line per reason per 10 s at most.
 * The answer stops the warning's timers.
 */
export function answerClientErrors(server: Server | TlsServer, log: Logger): () => void {
  const warning = new ThrottledWarning<ParserRefusal>(log, "requests refused by the HTTP parser");
  answerParserErrors(
    server,
    (error, request) => clientErrorAnswer(error, maxHeaderSize, request),
    (error, socket) => {
      const reason = parserRefusalReason(error);
      if (reason === null) return;
      parserRefusals.inc({ reason });
      warning.note(reason, { remote: socket.remoteAddress ?? null });
    },
  );
  return () => warning.close();
}
