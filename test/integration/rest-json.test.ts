// The rest-json translator and the example custom translator against a real local HTTP
// server: what reaches the backend, and how every kind of answer maps onto an outcome.

import { expect } from "chai";
import { once } from "node:events";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { resolve } from "node:path";
import { SluiceError } from "../../shared/protocol/errors";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { loadTranslator } from "../../worker/translators/load-translator";
import { createTranslator } from "../../worker/translators/rest-json";
import {
  BackendRejectedError,
  BackendRedirectError,
  BackendTimeoutError,
  BackendUnavailableError,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "../../worker/translators/translator";
import { requestMessage } from "../support/messages";
import { endingDeadline } from "../support/ending-deadline";
import { rejectionOf } from "../support/rejection";

interface Seen {
  method: string;
  url: string;
  headers: IncomingMessage["headers"];
  body: Buffer;
}

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => void;

const REPO_ROOT = resolve(__dirname, "../../..");

function request(overrides: Partial<RequestMessage> = {}): RequestMessage {
  return requestMessage({
    id: "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d",
    xroadId: "xr-1",
    service: "testQuery",
    backend: "legacy",
    client: "EE/BUSINESS/consumer",
    replyMode: "sync",
    path: "/persons/42",
    query: "full=true&lang=et",
    xroadHeaders: {
      "x-road-client": "EE/BUSINESS/consumer",
      "x-road-service": "EE/GOV/provider/sub/testQuery",
      "x-road-id": "xr-1",
      "x-road-userid": "EE12345678901",
      "x-road-issue": "ISSUE-7",
      "x-road-represented-party": "COM/12345",
    },
    body: '{"name":"Mari"}',
    ...overrides,
  });
}

function callOf(signal: AbortSignal = new AbortController().signal): TranslatorCall {
  return { signal, idempotencyKey: "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d", attempt: 1 };
}

describe("rest-json translator (real HTTP backend)", () => {
  let server: Server;
  let baseUrl: string;
  let handler: Handler;
  const seen: Seen[] = [];
  const translators: Translator[] = [];

  function translator(
    options: Record<string, unknown> = {},
    timeoutMs = 2000,
    path = "",
  ): Translator {
    const backend: TranslatorBackend = {
      name: "legacy",
      url: `${baseUrl}${path}`,
      timeoutMs,
      options,
    };
    const t = createTranslator(backend);
    translators.push(t);
    return t;
  }

  before(async () => {
    server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks);
        seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
        handler(req, res, body);
      });
    });
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });

  beforeEach(() => {
    seen.length = 0;
    handler = (_req, res) => res.writeHead(204).end();
  });

  afterEach(async () => {
    await Promise.all(translators.splice(0).map((t) => t.close?.()));
  });

  after(async () => {
    server.closeAllConnections();
    server.close();
    await once(server, "close");
  });

  it("gives a 204 and an empty body without a type no content type, a body without one application/octet-stream", async () => {
    const answers: Array<[number, Record<string, string>, string]> = [
      [204, {}, ""],
      [204, { "content-type": "application/json" }, ""],
      [200, {}, ""],
      [200, {}, "raw"],
      [200, { "content-type": "application/json" }, ""],
    ];
    const got = [];
    for (const [status, headers, body] of answers) {
      handler = (_req, res) => res.writeHead(status, headers).end(body);
      const [response] = await translator().call(request(), callOf());
      got.push({ status: response.status, contentType: response.contentType, body: response.body });
    }
    expect(got).to.deep.equal([
      { status: 204, contentType: "", body: "" },
      { status: 204, contentType: "", body: "" },
      { status: 200, contentType: "", body: "" },
      { status: 200, contentType: "application/octet-stream", body: "cmF3" },
      // A type the backend named for no content (a HEAD's answer names the GET's) is its own.
      { status: 200, contentType: "application/json", body: "" },
    ]);
  });

  it("never calls the backend with a path that could leave its base path (a replayed message)", async () => {
    for (const path of ["/../admin", "/a/%2e%2e/%2e%2e/admin", "/a%2fb", "/..;/admin"]) {
      const error = await rejectionOf(
        translator({}, 2000, "/api/v1").call(request({ path }), callOf()),
      );
      expect(error, path).to.be.instanceOf(SluiceError);
      expect(error, path).to.not.be.instanceOf(BackendUnavailableError);
      expect((error as SluiceError).code, path).to.equal("InvalidPath");
      expect((error as SluiceError).retryable, path).to.equal(false);
    }
    expect(seen).to.have.length(0);
  });

  it("passes the caller's own headers below the operator's and Sluice's; gives back the backend's", async () => {
    handler = (_req, res) =>
      res
        .writeHead(200, {
          "content-type": "application/json",
          etag: '"v3"',
          "x-road-error": "forged",
          server: "legacy",
        })
        .end("{}");
    const [response] = await translator({ headers: { Authorization: "Basic b3A=" } }).call(
      request({
        headers: {
          accept: "application/xml",
          "x-trace": "t-1",
          authorization: "Bearer caller",
          "idempotency-key": "forged",
          connection: "x-hop",
          "x-hop": "1",
        },
      }),
      callOf(),
    );
    const [got] = seen;
    expect(got.headers).to.include({
      accept: "application/xml",
      "x-trace": "t-1",
      authorization: "Basic b3A=",
      "idempotency-key": "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d",
    });
    expect(got.headers).to.not.have.property("x-hop");
    expect(response.headers).to.deep.equal({ etag: '"v3"' });
  });

  it("sends method, path, query, body, content type, X-Road headers and the ids", async () => {
    handler = (_req, res) =>
      res.writeHead(201, { "content-type": "application/json" }).end('{"ok":true,"name":"Märt"}');
    const responses = await translator().call(request(), callOf());
    expect(responses).to.deep.equal([
      {
        status: 201,
        contentType: "application/json",
        body: '{"ok":true,"name":"Märt"}',
        bodyEncoding: "utf8",
      },
    ]);
    expect(seen).to.have.length(1);
    const [got] = seen;
    expect(got.method).to.equal("POST");
    expect(got.url).to.equal("/persons/42?full=true&lang=et");
    expect(got.body.toString()).to.equal('{"name":"Mari"}');
    expect(got.headers["content-type"]).to.equal("application/json");
    expect(got.headers["idempotency-key"]).to.equal("0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d");
    expect(got.headers["x-sluice-id"]).to.equal("0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d");
    expect(got.headers["x-road-client"]).to.equal("EE/BUSINESS/consumer");
    expect(got.headers["x-road-service"]).to.equal("EE/GOV/provider/sub/testQuery");
    expect(got.headers["x-road-id"]).to.equal("xr-1");
    expect(got.headers["x-road-userid"]).to.equal("EE12345678901");
    expect(got.headers["x-road-issue"]).to.equal("ISSUE-7");
    expect(got.headers["x-road-represented-party"]).to.equal("COM/12345");
  });

  it("calls /<serviceCode> below the backend url's own path when the request path is empty", async () => {
    await translator({}, 2000, "/api/v1/").call(
      request({ path: "", query: "", method: "GET", body: "", contentType: null }),
      callOf(),
    );
    expect(seen[0].method).to.equal("GET");
    expect(seen[0].url).to.equal("/api/v1/testQuery");
    expect(seen[0].headers["content-type"]).to.equal(undefined);
    expect(seen[0].body.length).to.equal(0);
  });

  it("adds the static headers of options.headers", async () => {
    await translator({ headers: { Authorization: "Bearer s3cret" } }).call(request(), callOf());
    expect(seen[0].headers.authorization).to.equal("Bearer s3cret");
  });

  it("asks for an uncoded answer, which is stored as it comes, unless the operator says otherwise", async () => {
    // Without Accept-Encoding any coding will do (RFC 9110): a gzip answer was stored compressed.
    await translator().call(request({ headers: { "accept-encoding": "gzip, br" } }), callOf());
    expect(seen[0].headers["accept-encoding"]).to.equal("identity");
    await translator({ headers: { "Accept-Encoding": "gzip" } }).call(request(), callOf());
    expect(seen[1].headers["accept-encoding"]).to.equal("gzip");
  });

  it("sends a base64 body as bytes and returns a binary answer as base64, byte-exact", async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    handler = (_req, res, body) =>
      res.writeHead(200, { "content-type": "application/octet-stream" }).end(body);
    const [response] = await translator().call(
      request({
        contentType: "application/pdf",
        body: bytes.toString("base64"),
        bodyEncoding: "base64",
      }),
      callOf(),
    );
    expect(seen[0].body.equals(bytes)).to.equal(true);
    expect(seen[0].headers["content-type"]).to.equal("application/pdf");
    expect(response.bodyEncoding).to.equal("base64");
    expect(Buffer.from(response.body, "base64").equals(bytes)).to.equal(true);
  });

  it("keeps text in a non-UTF-8 charset byte-exact as base64", async () => {
    const latin1 = Buffer.from("Tõnu Ülo", "latin1");
    handler = (_req, res) =>
      res.writeHead(200, { "content-type": "text/plain; charset=iso-8859-1" }).end(latin1);
    const [response] = await translator().call(request(), callOf());
    expect(response.contentType).to.equal("text/plain; charset=iso-8859-1");
    expect(response.bodyEncoding).to.equal("base64");
    expect(Buffer.from(response.body, "base64").equals(latin1)).to.equal(true);
  });

  it("returns XML and text/* answers as UTF-8 text", async () => {
    handler = (_req, res) =>
      res.writeHead(200, { "content-type": "text/xml; charset=utf-8" }).end("<a>ä</a>");
    const [response] = await translator().call(request(), callOf());
    expect(response).to.include({ status: 200, body: "<a>ä</a>", bodyEncoding: "utf8" });
  });

  it("maps 404 to BackendRejectedError carrying the backend's answer", async () => {
    handler = (_req, res) =>
      res.writeHead(404, { "content-type": "application/json" }).end('{"error":"no such person"}');
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendRejectedError);
    const rejected = error as BackendRejectedError;
    expect(rejected.retryable).to.equal(false);
    expect(rejected.code).to.equal("BackendRejected");
    expect(rejected.response).to.deep.equal({
      status: 404,
      contentType: "application/json",
      body: '{"error":"no such person"}',
      bodyEncoding: "utf8",
    });
  });

  it("maps 429 with Retry-After seconds to BackendUnavailableError with retryAfterMs", async () => {
    handler = (_req, res) => res.writeHead(429, { "retry-after": "7" }).end("slow down");
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as BackendUnavailableError).retryAfterMs).to.equal(7000);
    expect((error as BackendUnavailableError).retryable).to.equal(true);
    expect((error as BackendUnavailableError).response?.status).to.equal(429);
  });

  it("maps 503 with an HTTP-date Retry-After to BackendUnavailableError", async () => {
    const at = new Date(Date.now() + 120_000).toUTCString();
    handler = (_req, res) => res.writeHead(503, { "retry-after": at }).end();
    // The wait is the date less the moment the answer was read, somewhere in this bracket
    // (on the same clock), however long the call took.
    const before = Date.now();
    const error = (await rejectionOf(
      translator().call(request(), callOf()),
    )) as BackendUnavailableError;
    const after = Date.now();
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect(error.retryAfterMs).to.be.within(Date.parse(at) - after, Date.parse(at) - before);
  });

  it("maps 408 and 500 to BackendUnavailableError without retryAfterMs", async () => {
    for (const status of [408, 500]) {
      handler = (_req, res) => res.writeHead(status).end();
      const error = await rejectionOf(translator().call(request(), callOf()));
      expect(error, String(status)).to.be.instanceOf(BackendUnavailableError);
      expect((error as BackendUnavailableError).retryAfterMs).to.equal(undefined);
    }
  });

  it("maps a backend slower than timeoutMs to BackendTimeoutError (retryable)", async () => {
    handler = (_req, res) => {
      const timer = setTimeout(() => res.writeHead(200).end("late"), 2000);
      res.on("close", () => clearTimeout(timer));
    };
    const error = await rejectionOf(translator({}, 200).call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendTimeoutError);
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as Error).message).to.match(/timed out after 200 ms/);
  });

  it("counts the body in the timeout: a body that stalls after the headers fails too", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("partial");
      const timer = setTimeout(() => res.end("rest"), 2000);
      res.on("close", () => clearTimeout(timer));
    };
    const error = await rejectionOf(translator({}, 200).call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendUnavailableError);
  });

  it("maps the worker aborting the call to BackendUnavailableError", async () => {
    handler = (_req, res) => {
      const timer = setTimeout(() => res.writeHead(200).end(), 2000);
      res.on("close", () => clearTimeout(timer));
    };
    const controller = new AbortController();
    setTimeout(() => controller.abort(), 50);
    const error = await rejectionOf(translator().call(request(), callOf(controller.signal)));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as Error).message).to.match(/aborted/);
  });

  describe("handed the worker's deadline: times the call with it, not with one of its own", () => {
    /** A call whose deadline the test aborts, saying whether its time ran out. */
    function deadlineEnding(timedOut: boolean): TranslatorCall {
      const { signal, deadline } = endingDeadline(50, timedOut);
      return { ...callOf(signal), deadline };
    }

    beforeEach(() => {
      handler = (_req, res) => {
        const timer = setTimeout(() => res.writeHead(200).end(), 2000);
        res.on("close", () => clearTimeout(timer));
      };
    });

    it("its timeout is a BackendTimeoutError", async () => {
      const error = await rejectionOf(translator().call(request(), deadlineEnding(true)));
      expect(error).to.be.instanceOf(BackendTimeoutError);
      expect((error as Error).message).to.match(/timed out after 2000 ms/);
    });

    it("a shutdown is not a timeout", async () => {
      const error = await rejectionOf(translator().call(request(), deadlineEnding(false)));
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect(error).not.to.be.instanceOf(BackendTimeoutError);
      expect((error as Error).message).to.match(/call aborted/);
    });
  });

  it("maps a refused connection to BackendUnavailableError", async () => {
    const closed = createServer();
    closed.listen(0, "127.0.0.1");
    await once(closed, "listening");
    const port = (closed.address() as AddressInfo).port;
    closed.close();
    await once(closed, "close");
    const t = createTranslator({
      name: "gone",
      url: `http://127.0.0.1:${port}`,
      timeoutMs: 2000,
      options: {},
    });
    translators.push(t);
    const error = await rejectionOf(t.call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendUnavailableError);
    expect((error as Error).message).to.match(/ECONNREFUSED/);
    // Its words reach the caller's status document; the address stays in its cause.
    expect((error as Error).message).to.not.include(`127.0.0.1:${port}`);
    expect(((error as Error).cause as Error).message).to.include(`127.0.0.1:${port}`);
  });

  it("maps a connection reset mid-answer to BackendUnavailableError", async () => {
    handler = (req) => req.socket.destroy();
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendUnavailableError);
  });

  it("fails without retry when the answer exceeds maxResponseBytes", async () => {
    handler = (_req, res) =>
      res.writeHead(200, { "content-type": "text/plain" }).end("x".repeat(5000));
    const error = await rejectionOf(
      translator({ maxResponseBytes: 1000 }).call(request(), callOf()),
    );
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendRejectedError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryable).to.equal(false);
    expect((error as Error).message).to.match(/maxResponseBytes/);
  });

  it("fails without retry an answer with two Content-Type lines whose body would be read by it", async () => {
    // RFC 9110 §8.3: one type; which of two the body is would be a guess, and a retry meets it again.
    let status = 200;
    handler = (_req, res) => {
      res.setHeader("content-type", ["application/json", "text/html"]);
      res.writeHead(status).end('{"found":true}');
    };
    for (status of [200, 404]) {
      const error = await rejectionOf(translator().call(request(), callOf()));
      expect(error, String(status)).to.be.instanceOf(SluiceError);
      expect(error, String(status)).not.to.be.instanceOf(BackendRejectedError);
      expect(error, String(status)).not.to.be.instanceOf(BackendUnavailableError);
      expect((error as SluiceError).retryCall, String(status)).to.equal(false);
      expect((error as Error).message).to.equal(
        `backend legacy answered ${status}, not usable: it has 2 Content-Type headers, where an answer has at most one`,
      );
    }
    // One line is read as before.
    handler = (_req, res) =>
      res.writeHead(200, { "content-type": "application/json" }).end('{"found":true}');
    const [answer] = await translator().call(request(), callOf());
    expect(answer).to.include({ status: 200, contentType: "application/json" });
  });

  it("retries a transient answer with two Content-Type lines as any: its type decides nothing", async () => {
    // A proxy's 503 in an outage: a dead letter would end a message the next call could serve.
    let status = 503;
    handler = (_req, res) => {
      res.setHeader("content-type", ["text/html", "text/plain"]);
      res.setHeader("retry-after", "7");
      res.writeHead(status).end("<h1>down</h1>");
    };
    for (status of [500, 503, 408, 429]) {
      const error = await rejectionOf(translator().call(request(), callOf()));
      expect(error, String(status)).to.be.instanceOf(BackendUnavailableError);
      expect((error as BackendUnavailableError).retryAfterMs, String(status)).to.equal(7000);
      // Its body is neither read nor passed on with a guessed type.
      expect((error as BackendUnavailableError).response, String(status)).to.equal(undefined);
      expect((error as Error).message).to.equal(
        `backend legacy answered ${status} (its body not read: it has 2 Content-Type headers, where an answer has at most one)`,
      );
    }
  });

  it("completes a 204 with two Content-Type lines: a 204's type is neither read nor passed on", async () => {
    // The backend did what was asked; failing the message would have its caller do it again.
    handler = (_req, res) => {
      res.setHeader("content-type", ["application/json", "text/html"]);
      res.writeHead(204).end();
    };
    const [answer] = await translator().call(request(), callOf());
    expect(answer).to.include({ status: 204, contentType: "", body: "" });
  });

  it("fails without retry on a status outside HTTP's classes (600 and up)", async () => {
    // Not a 5xx: the backend answered something no rule maps, and calling again would repeat it.
    handler = (_req, res) => res.writeHead(600, { "content-type": "text/plain" }).end("odd");
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryCall).to.equal(false);
    expect((error as Error).message).to.match(/600/);
  });

  it("fails without retry when the answer's headers are too large to read", async () => {
    // The backend answered (and did the work): calling again would do it again, and meet the
    // same answer, as for a body over maxResponseBytes.
    handler = (_req, res) =>
      res.writeHead(200, { "content-type": "text/plain", "x-debug": "z".repeat(20_000) }).end("ok");
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(SluiceError);
    expect(error).not.to.be.instanceOf(BackendUnavailableError);
    expect((error as SluiceError).retryCall).to.equal(false);
    expect((error as Error).message).to.match(/headers/);
  });

  describe("an answer that is not HTTP undici can read: failed at once, as the backend got the call", () => {
    /** The translator's failure against a raw server that writes `answer` to every request. */
    async function failureOf(answer: string): Promise<unknown> {
      const raw = createTcpServer((socket) => {
        socket.on("error", () => undefined);
        socket.once("data", () => socket.end(answer));
      });
      await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
      const rawTranslator = createTranslator({
        name: "legacy",
        url: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
        timeoutMs: 2000,
        options: {},
      });
      try {
        return await rejectionOf(rawTranslator.call(request(), callOf()));
      } finally {
        await rawTranslator.close?.();
        await new Promise((resolve) => raw.close(resolve));
      }
    }
    const ok =
      'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{"ok":true}';

    it("an interim 100 Continue it did not ask for (an old IIS sends one to every POST)", async () => {
      const error = await failureOf(`HTTP/1.1 100 Continue\r\n\r\n${ok}`);
      expect(error).to.be.instanceOf(SluiceError);
      expect(error).not.to.be.instanceOf(BackendUnavailableError);
      expect((error as SluiceError).retryCall).to.equal(false);
      expect((error as Error).message).to.match(/100 \(Continue\)/);
    });

    it("bytes of another protocol, or a malformed chunk size", async () => {
      for (const answer of [
        "-ERR unknown command\r\n",
        "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nok\r\n0\r\n\r\n",
      ]) {
        const error = await failureOf(answer);
        expect((error as SluiceError).retryCall, answer).to.equal(false);
        expect((error as Error).message).to.match(/not an HTTP\/1.1 answer/);
      }
    });

    it("framing headers that conflict (RFC 9112 §6.3), which a retry would meet again", async () => {
      for (const answer of [
        'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nTransfer-Encoding: chunked\r\n\r\nb\r\n{"ok":true}\r\n0\r\n\r\n',
        'HTTP/1.1 200 OK\r\nContent-Length: 11\r\nContent-Length: 12\r\n\r\n{"ok":true} ',
        'HTTP/1.1 200 OK\r\nContent-Length: 11, 12\r\n\r\n{"ok":true} ',
      ]) {
        const error = await failureOf(answer);
        expect(error, answer).not.to.be.instanceOf(BackendUnavailableError);
        expect((error as SluiceError).retryCall, answer).to.equal(false);
        expect((error as Error).message).to.match(/framing headers that conflict/);
      }
    });

    it("an answer cut short is still retried", async () => {
      for (const answer of [
        "HTTP/1.1 200 OK\r\nContent-Length: 20\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nContent-Le",
        // Closed before the declared length or the last chunk, on a connection that said so.
        "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 20\r\n\r\nok",
        "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nok",
      ]) {
        expect(await failureOf(answer), answer).to.be.instanceOf(BackendUnavailableError);
      }
    });
  });

  it("survives an answer declared over maxResponseBytes whose body came with its headers", async () => {
    // One write, as many servers send a short answer: the body is in undici's hands before the
    // translator sees the Content-Length, and the stream it then discards must not take the
    // worker down with an error nobody listens for.
    const raw = createTcpServer((socket) => {
      socket.on("error", () => undefined);
      socket.once("data", () =>
        socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 50\r\n\r\n${"x".repeat(50)}`),
      );
    });
    await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
    const crashed: unknown[] = [];
    const onCrash = (error: unknown) => crashed.push(error);
    const mochaHandlers = process.listeners("uncaughtException");
    process.removeAllListeners("uncaughtException");
    process.on("uncaughtException", onCrash);
    const backend: TranslatorBackend = {
      name: "legacy",
      url: `http://127.0.0.1:${(raw.address() as AddressInfo).port}`,
      timeoutMs: 2000,
      options: { maxResponseBytes: 20 },
    };
    const rawTranslator = createTranslator(backend);
    try {
      const error = await rejectionOf(rawTranslator.call(request(), callOf()));
      expect((error as SluiceError).retryCall).to.equal(false);
      expect((error as Error).message).to.match(/maxResponseBytes/);
      // The discarded stream's events come a few turns later.
      for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
      await new Promise((resolve) => setTimeout(resolve, 50));
    } finally {
      process.removeListener("uncaughtException", onCrash);
      for (const handler of mochaHandlers) process.on("uncaughtException", handler);
      await rawTranslator.close?.();
      await new Promise((resolve) => raw.close(resolve));
    }
    expect(crashed.map(String)).to.deep.equal([]);
  });

  it("bounds a chunked answer without Content-Length too", async () => {
    handler = (_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      for (let i = 0; i < 10; i++) res.write("y".repeat(500));
      res.end();
    };
    const error = await rejectionOf(
      translator({ maxResponseBytes: 1000 }).call(request(), callOf()),
    );
    expect((error as SluiceError).retryable).to.equal(false);
  });

  it("reads no body into an answer to HEAD: its Content-Length over maxResponseBytes is the resource's", async () => {
    handler = (_req, res) =>
      res
        .writeHead(200, {
          "content-type": "application/json",
          "content-length": "5000",
          etag: '"v1"',
        })
        .end();
    const [answer, ...rest] = await translator({ maxResponseBytes: 1000 }).call(
      request({ method: "HEAD", body: "" }),
      callOf(),
    );
    expect(seen[0].method).to.equal("HEAD");
    expect(rest).to.have.length(0);
    expect(answer).to.include({ status: 200, body: "" });
    expect(answer.headers).to.deep.equal({ etag: '"v1"' });
  });

  it("returns 304 Not Modified, the answer to the caller's conditional request, as it came", async () => {
    handler = (req, res) =>
      res.writeHead(req.headers["if-none-match"] === '"v1"' ? 304 : 200, { etag: '"v1"' }).end();
    const [answer] = await translator().call(
      request({ method: "GET", body: "", headers: { "if-none-match": '"v1"' } }),
      callOf(),
    );
    expect(answer).to.include({ status: 304, body: "" });
    expect(answer.headers).to.deep.equal({ etag: '"v1"' });
  });

  it("does not follow redirects and does not retry them", async () => {
    handler = (_req, res) => res.writeHead(302, { location: "http://example.org/" }).end();
    const error = await rejectionOf(translator().call(request(), callOf()));
    expect(error).to.be.instanceOf(BackendRedirectError);
    expect((error as SluiceError).retryable).to.equal(false);
    expect((error as BackendRedirectError).backendStatus).to.equal(302);
    expect((error as BackendRedirectError).location).to.equal("http://example.org/");
    expect((error as Error).message).to.contain("redirect");
    expect(seen).to.have.length(1);
  });

  it("returns several responses, in order, for X-Multiple-Responses: true", async () => {
    handler = (_req, res) =>
      res
        .writeHead(200, { "content-type": "application/json", "x-multiple-responses": "true" })
        .end(
          JSON.stringify({
            responses: [
              { status: 202, body: { step: "registered" } },
              { contentType: "text/plain", body: "done" },
              { contentType: "application/pdf", body: "JVBERg==", bodyEncoding: "base64" },
            ],
          }),
        );
    const responses = await translator().call(request(), callOf());
    expect(responses).to.deep.equal([
      {
        status: 202,
        contentType: "application/json",
        body: '{"step":"registered"}',
        bodyEncoding: "utf8",
      },
      { status: 200, contentType: "text/plain", body: "done", bodyEncoding: "utf8" },
      { status: 200, contentType: "application/pdf", body: "JVBERg==", bodyEncoding: "base64" },
    ]);
  });

  it("returns a JSON body with a responses key as one response without the header", async () => {
    const body = JSON.stringify({ responses: [{ body: "a" }, { body: "b" }] });
    handler = (_req, res) => res.writeHead(200, { "content-type": "application/json" }).end(body);
    const responses = await translator().call(request(), callOf());
    expect(responses).to.have.length(1);
    expect(responses[0].body).to.equal(body);
  });

  it("fails without retry when X-Multiple-Responses comes with a body that breaks the convention", async () => {
    for (const body of [
      "not json",
      '{"responses":[]}',
      '{"responses":[1]}',
      '{"responses":[{"status":"ok"}]}',
      // No final answer: 101 with a body broke a sync caller's connection.
      '{"responses":[{"status":101,"body":"a"}]}',
      '{"responses":[{"status":100,"body":"a"}]}',
      // Not base64, which a sync caller got decoded leniently into other bytes.
      '{"responses":[{"body":"!!notbase64**","bodyEncoding":"base64"}]}',
      '{"responses":[{"body":"YWJj\\nZA==","bodyEncoding":"base64"}]}',
      // A content type no header can carry.
      '{"responses":[{"body":"a","contentType":"text/plain\\r\\nX-Inj: 1"}]}',
      // A number a double does not hold, which writing the document again would change.
      '{"responses":[{"body":{"id":12345678901234567890}}]}',
    ]) {
      handler = (_req, res) => res.writeHead(200, { "x-multiple-responses": "true" }).end(body);
      const error = await rejectionOf(translator().call(request(), callOf()));
      expect(error, body).to.be.instanceOf(SluiceError);
      expect((error as SluiceError).retryable, body).to.equal(false);
    }
    // Base64 that is base64 is taken as it is.
    handler = (_req, res) =>
      res
        .writeHead(200, { "x-multiple-responses": "true" })
        .end('{"responses":[{"body":"YWJjZA==","bodyEncoding":"base64"}]}');
    const [answer] = await translator().call(request(), callOf());
    expect(answer).to.include({ status: 200, body: "YWJjZA==", bodyEncoding: "base64" });
    // Such a number in a body sent as a string keeps its digits.
    const big = '{"id":12345678901234567890}';
    handler = (_req, res) =>
      res
        .writeHead(200, { "x-multiple-responses": "true" })
        .end(JSON.stringify({ responses: [{ body: big, contentType: "application/json" }] }));
    const [kept] = await translator().call(request(), callOf());
    expect(kept).to.include({ body: big });
  });

  it("reuses keep-alive connections across calls", async () => {
    const ports = new Set<number>();
    handler = (req, res) => {
      ports.add(req.socket.remotePort ?? 0);
      res.writeHead(200, { "content-type": "text/plain" }).end("ok");
    };
    const t = translator({ connections: 1 });
    for (let i = 0; i < 3; i++) await t.call(request(), callOf());
    expect(ports.size).to.equal(1);
  });

  describe("example custom translator (examples/translators/form-legacy.js)", () => {
    let legacy: Translator;

    beforeEach(async () => {
      legacy = await loadTranslator(
        "./examples/translators/form-legacy.js",
        { name: "registry", url: `${baseUrl}/cgi-bin`, timeoutMs: 2000, options: { latin1: true } },
        REPO_ROOT,
      );
      translators.push(legacy);
    });

    it("posts the JSON fields as a form and returns the result and the receipt", async () => {
      handler = (_req, res) =>
        res
          .writeHead(200, { "content-type": "text/plain; charset=iso-8859-1" })
          .end(Buffer.from("RC=0\nREF=R-991\nMSG=Registreeritud Jõgeva\n", "latin1"));
      const responses = await legacy.call(
        request({ path: "", query: "", body: '{"personalCode":"38001010000","amount":12.5}' }),
        callOf(),
      );
      expect(seen[0].url).to.equal("/cgi-bin/testQuery.cgi");
      expect(seen[0].headers["content-type"]).to.equal("application/x-www-form-urlencoded");
      expect(seen[0].headers["idempotency-key"]).to.equal("0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d");
      expect(Object.fromEntries(new URLSearchParams(seen[0].body.toString()))).to.deep.equal({
        SERVICE: "testQuery",
        REQUEST_ID: "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d",
        PERSONALCODE: "38001010000",
        AMOUNT: "12.5",
      });
      expect(responses).to.have.length(2);
      expect(JSON.parse(responses[0].body)).to.deep.equal({
        reference: "R-991",
        message: "Registreeritud Jõgeva",
      });
      expect(responses[1]).to.include({
        contentType: "text/plain; charset=utf-8",
        bodyEncoding: "utf8",
      });
      expect(responses[1].body).to.contain("REF=R-991");
    });

    it("throws the worker's own error classes for a refusal and a busy legacy system", async () => {
      handler = (_req, res) => res.writeHead(200).end("RC=12\nMSG=unknown person\n");
      const refused = await rejectionOf(legacy.call(request({ body: "{}" }), callOf()));
      expect(refused).to.be.instanceOf(BackendRejectedError);
      expect(JSON.parse((refused as BackendRejectedError).response.body)).to.deep.equal({
        code: "RC12",
        message: "unknown person",
      });

      const unmappable = await rejectionOf(
        legacy.call(request({ body: '{"a":{"b":1}}' }), callOf()),
      );
      expect(unmappable).to.be.instanceOf(BackendRejectedError);
      expect((unmappable as BackendRejectedError).response.status).to.equal(422);

      handler = (_req, res) => res.writeHead(200).end("RC=95\n");
      const busy = await rejectionOf(legacy.call(request({ body: "{}" }), callOf()));
      expect(busy).to.be.instanceOf(BackendUnavailableError);
      expect((busy as BackendUnavailableError).retryAfterMs).to.equal(30000);
    });
  });
});
