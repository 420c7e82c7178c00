// What the admin port reads from a request and how it writes an answer: bodies with a strict
// limit, JSON and HTML answers that no cache keeps, and the headers browsers get on every one.

import type http from "node:http";
import { SluiceError } from "../protocol/errors";
import { continueIfExpected } from "../protocol/expect-continue";
import { closeUnreadBody } from "../protocol/unread-body";

/** Largest operator request body (filters, a replay selection). */
const MAX_BODY_BYTES = 64 * 1024;

/** Headers of every admin answer, for the browsers that show the status page. */
export const BROWSER_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

/** A body over MAX_BODY_BYTES: answered 413 PayloadTooLarge (`answerTooLarge`). */
export function isTooLarge(error: unknown): error is SluiceError {
  return error instanceof SluiceError && error.code === "PayloadTooLarge";
}

/**
 * The whole body, at most MAX_BODY_BYTES; a longer one (declared or counted) is refused with
 * the request left unread, for `answerTooLarge`, and one declared longer is never invited with
 * `100 Continue`. Breaking out of the stream instead destroyed
 * the request and its socket, and the refusal reached the operator as a reset connection.
 */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  if (Number(req.headers["content-length"]) > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  // A body within the limit is wanted now: a caller that asked first is invited to send it.
  continueIfExpected(req);
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const settle = (error: Error | null) => {
      req.off("data", onData).off("end", onEnd).off("error", onError).off("close", onClose);
      req.pause();
      if (error) reject(error);
      else resolve(Buffer.concat(chunks));
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_BODY_BYTES) settle(tooLarge());
      else chunks.push(chunk);
    };
    const onEnd = () => settle(null);
    const onError = (error: Error) => settle(error);
    const onClose = () => {
      if (!req.complete) settle(new Error("the request body could not be read"));
    };
    req.on("data", onData).on("end", onEnd).on("error", onError).on("close", onClose);
  });
}

/**
 * Answers 413 PayloadTooLarge to a body refused by `readBody`, and closes the connection after
 * it. The rest of the body may still be arriving: the service port's bounded linger
 * (`closeUnreadBody`) drops it until the client has read the answer, as closing with it unread
 * resets the connection and a reset can discard the answer before its client read it.
 */
export function answerTooLarge(req: http.IncomingMessage, res: http.ServerResponse): void {
  closeUnreadBody(req, res);
  res.setHeader("connection", "close");
  json(res, 413, {
    type: "PayloadTooLarge",
    message: `the body is larger than ${MAX_BODY_BYTES} bytes`,
  });
}

function tooLarge(): SluiceError {
  return new SluiceError("PayloadTooLarge", `the body is larger than ${MAX_BODY_BYTES} bytes`);
}

/** The JSON body of a POST or DELETE; undefined when none was sent (a GET's is drained). */
export async function readJson(req: http.IncomingMessage): Promise<unknown> {
  if (req.method === "GET" || req.method === "HEAD") {
    req.resume();
    return undefined;
  }
  const bytes = await readBody(req);
  if (bytes.length === 0) return undefined;
  try {
    return JSON.parse(bytes.toString("utf8"));
  } catch {
    throw new Error("the body is not valid JSON");
  }
}

export function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json", "cache-control": "no-store" });
  res.end(JSON.stringify(body));
}

/**
 * A page of the admin port's own (the sign-in page), under its Content-Security-Policy, which
 * loads nothing from elsewhere and forbids frames.
 */
export function sendHtml(
  res: http.ServerResponse,
  status: number,
  html: string,
  contentSecurityPolicy: string,
): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy": contentSecurityPolicy,
  });
  res.end(html);
}
