import { expect } from "chai";
import type { IncomingMessage } from "node:http";
import { PassThrough } from "node:stream";
import { readBody } from "../../adapter/body-reader";

/** A request body as readBody sees one: a stream with the request's headers. */
function request(headers: Record<string, string>): PassThrough & IncomingMessage {
  const req = new PassThrough() as PassThrough & IncomingMessage;
  Object.assign(req, { headers, complete: false });
  return req;
}

describe("readBody", () => {
  // A sync caller's body lives as long as it waits: a slice of Node's shared 8 KB pool would
  // keep the whole chunk alive for it.
  it("returns a small body in memory of its own, declared or chunked", async () => {
    const text = JSON.stringify({ query: "x".repeat(200) });
    const declared: Record<string, string> = { "content-length": String(text.length) };
    for (const headers of [declared, {}]) {
      const req = request(headers);
      const body = readBody(req, 1024 * 1024);
      req.end(text);
      const buffer = await body;
      expect(buffer.toString("utf8")).to.equal(text);
      expect(buffer.buffer.byteLength).to.equal(text.length);
    }
  });
});
