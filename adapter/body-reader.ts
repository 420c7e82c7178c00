// Reads a request body with a hard size limit, so an oversized or endless body ends in a
// clear 413 and never in memory growth.

import type { IncomingMessage } from "node:http";
import getRawBody from "raw-body";
import { SluiceError } from "../shared/errors";

export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = req.headers["content-length"];
  if (declared !== undefined && Number(declared) > limit) {
    req.resume(); // discard without buffering; the connection closes after the answer
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
