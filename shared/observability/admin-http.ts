// What the admin port reads from a request and how it writes an answer: bodies with a strict
// limit, JSON and HTML answers that no cache keeps, and the headers browsers get on every one.

import type http from "node:http";

/** Largest operator request body (filters, a replay selection). */
const MAX_BODY_BYTES = 64 * 1024;

/** Headers of every admin answer, for the browsers that show the status page. */
export const BROWSER_HEADERS = {
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
};

export async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new Error(`the body is larger than ${MAX_BODY_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
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

/** A page of the admin port's own (the sign-in page): nothing loaded from elsewhere, no frames. */
export function sendHtml(res: http.ServerResponse, status: number, html: string): void {
  res.writeHead(status, {
    "content-type": "text/html; charset=utf-8",
    "cache-control": "no-store",
    "content-security-policy":
      "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'",
  });
  res.end(html);
}
