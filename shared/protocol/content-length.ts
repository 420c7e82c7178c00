// What a request's framing says of its body's length, read the same way wherever it is judged.
// Content-Length is 1*DIGIT (RFC 9110 §8.6), a number: `00` is zero as `0` is.

import type { IncomingMessage } from "node:http";

/**
 * The length the request's Content-Length declares, or null without one (chunked, or no body).
 * Node's parser has refused any value that is not digits, so the number is the header's.
 */
export function declaredLength(req: IncomingMessage): number | null {
  return lengthValue(req.headers["content-length"]);
}

/**
 * The length a Content-Length header value declares (of several lines, the first), or null
 * without one or when it is not digits: for headers no parser of Sluice's has checked.
 */
export function lengthValue(value: string | string[] | undefined): number | null {
  const text = (Array.isArray(value) ? value[0] : value)?.trim();
  return text !== undefined && /^\d+$/.test(text) ? Number(text) : null;
}

/** Whether the request's framing carries a body: chunked, or a Content-Length above zero. */
export function framesBody(req: IncomingMessage): boolean {
  return req.headers["transfer-encoding"] !== undefined || (declaredLength(req) ?? 0) > 0;
}
