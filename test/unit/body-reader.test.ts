import { expect } from "chai";
import http, { type IncomingMessage } from "node:http";
import net, { type AddressInfo } from "node:net";
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

describe("readBody's hold on a waiting caller", () => {
  // A sync caller's request lives for its whole wait, listeners included: what they hold is
  // memory of every waiting caller.
  it("leaves only listeners shared by every request, holding nothing of the body", async () => {
    const requests = [request({}), request({})];
    for (const req of requests) {
      const body = readBody(req, 1024 * 1024);
      req.end('{"query":"x"}');
      await body;
    }
    const [first, second] = requests;
    for (const event of ["data", "end", "error", "close"]) {
      expect(first.listeners(event), event).to.have.length.greaterThan(0);
      expect(first.listeners(event), event).to.deep.equal(second.listeners(event));
    }
    const state = Object.getOwnPropertySymbols(first).filter(
      (symbol) => symbol.description === "sluice.body-read",
    );
    expect(
      state.map((symbol) => (first as unknown as Record<symbol, unknown>)[symbol]),
    ).to.deep.equal([null]);
  });

  it("takes its listeners off a refused body and rejects once", async () => {
    const req = request({});
    const body = readBody(req, 4);
    req.write("12345");
    const error = await body.then(
      () => null,
      (refused: Error) => refused,
    );
    expect(error?.message).to.equal("the body is larger than 4 bytes");
    for (const event of ["data", "end", "error", "close"]) {
      const readers = req.listeners(event).filter((fn) => fn.name.startsWith("on"));
      expect(readers, event).to.have.length(0);
    }
  });
});

describe("readBody of a request closed before it is called", () => {
  // A route may wait before it reads the body (the X-Road id's look-up of a 503 judged from the
  // head, a callback target's name): a request closed meanwhile has emitted its `close`, which
  // never comes again, and a read waiting for it held the request and its handler for ever.
  it("rejects a request destroyed before its body was read", async () => {
    const req = request({ "content-length": "10" });
    req.write("12345");
    req.destroy();
    await new Promise((resolve) => req.once("close", resolve));
    const error = await readBody(req, 1024).then(
      () => null,
      (refused: Error) => refused,
    );
    expect(error?.message).to.equal("the request body could not be read");
  });

  it("rejects a whole request whose caller closed its side before the body was read", async () => {
    // Node takes a caller's end of sending (a half-close) for an abort: the request is destroyed.
    const server = http.createServer();
    const read = new Promise<Error | null>((resolve) => {
      server.once("request", (req: IncomingMessage) => {
        req.once("close", () => {
          readBody(req, 1024).then(
            () => resolve(null),
            (refused: Error) => resolve(refused),
          );
        });
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as AddressInfo;
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    socket.end("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc");
    try {
      expect((await read)?.message).to.equal("the request body could not be read");
    } finally {
      socket.destroy();
      server.close();
    }
  });
});
