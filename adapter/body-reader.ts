// Reads a request body with a hard size limit, so an oversized or endless body ends in a
// clear 413 and never in memory growth.

import type { IncomingMessage, ServerResponse } from "node:http";
import getRawBody from "raw-body";
import { SluiceError } from "../shared/protocol/errors";

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    // Not read at all: after the answer, closeUnreadBody drops a bounded rest and closes.
    throw new SluiceError("PayloadTooLarge", `the body is larger than ${limit} bytes`);
  }
  try {
    return await getRawBody(req, { limit, length: declared });
  } catch (error) {
    const type = (error as { type?: string }).type;
    if (type === "entity.too.large") {
      throw new SluiceError("PayloadTooLarge", `the body is larger than ${limit} bytes`);
    }
    if (type === "request.size.invalid") {
      throw new SluiceError("InvalidRequest", "the body is shorter than its Content-Length");
    }
    throw new SluiceError("InvalidRequest", "the request body could not be read", { cause: error });
  }
}

/** How much more of a refused body is read, and how long its connection lingers. */
const DROP_BYTES = 1024 * 1024;
const LINGER_MS = 2000;

/**
 * For an answer given before the request body was read to its end (too large, wrong type,
 * unknown service). A short rest is read and dropped as usual and the connection stays
 * usable. A long one (over DROP_BYTES, declared or counted) is not: once the answer is out,
 * nothing more is read, the connection is half-closed (the client sees the end of the answer
 * and stops sending) and closed LINGER_MS later. Node alone would read the whole body to keep
 * the connection alive (50 MB sent, 50 MB read); closing at once would reset the connection,
 * and a reset can discard the answer before the client has read it.
 */
export function closeUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  const declared = Number(req.headers["content-length"]); // NaN when chunked
  if (declared <= DROP_BYTES) return;
  let dropped = 0;
  let answered = false;
  let closing = false;
  const close = (): void => {
    if (closing) return;
    closing = true;
    req.pause(); // a paused request stops reading its socket
    const socket = req.socket;
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
  };
  // Consuming the request here keeps Node from draining it after the answer.
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped <= DROP_BYTES) return;
    req.pause();
    if (answered) close();
  });
  req.resume();
  res.once("finish", () => {
    answered = true;
    if (!req.complete && dropped > DROP_BYTES) close();
  });
}

/** Media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | null {
  if (!contentType) return null;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type || null;
}

export function isJsonType(type: string | null): boolean {
  return (
    type !== null && (type === "application/json" || /^application\/[\w.-]+\+json$/.test(type))
  );
}
