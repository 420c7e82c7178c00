// The admin port's own bounds, against a real AdminServer on a loopback port.

import { expect } from "chai";
import http from "node:http";
import net from "node:net";
import pino from "pino";
import { AdminServer } from "../../shared/observability/admin-server";
import { AdminSessions } from "../../shared/observability/admin-sessions";
import { RefusalLog } from "../../shared/observability/refusal-log";
import { SignInThrottle } from "../../shared/observability/sign-in-throttle";
import { freshConnectionPerFetch } from "../support/fresh-connections";

describe("admin port connections", () => {
  freshConnectionPerFetch();
  let admin: AdminServer;
  let port = 0;

  before(async () => {
    admin = new AdminServer(pino({ level: "silent" }), "a-test-admin-token-0123456789", 500);
    port = await admin.listen(0, "127.0.0.1");
  });

  after(async () => {
    await admin.close();
  });

  it("on loopback, serves only requests that name a loopback host (DNS rebinding)", async () => {
    const get = (host: string) =>
      new Promise<number>((resolve, reject) => {
        http
          .get({ host: "127.0.0.1", port, path: "/metrics", headers: { host } }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject);
      });
    expect(await get("evil.example:9090")).to.equal(403);
    expect(await get("127.0.0.1.nip.io")).to.equal(403);
    for (const host of [`127.0.0.1:${port}`, `localhost:${port}`, `[::1]:${port}`, "127.0.0.1"]) {
      expect(await get(host), host).to.equal(200);
    }
  });

  it("closes a connection whose request body never ends, at the request deadline", async () => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    socket.resume();
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("POST /login HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n");
    const trickle = setInterval(() => socket.write("1\r\nx\r\n"), 50);
    try {
      // Generous: the deadline is 1.5 s here (3 × 500 ms); Node looked for requests past it
      // only every 30 s, so a body could stream twice as long as the deadline said.
      const gaveUp = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 15_000));
      expect(await Promise.race([closed.then(() => "closed"), gaveUp])).to.equal("closed");
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  /**
   * Writes `request` and reads the answer until the port closes the connection; with `trickle`,
   * writes it again every 100 ms meanwhile (a header section sent slowly, never ended).
   */
  const rawExchange = (request: string, trickle?: string) =>
    new Promise<{ status: number; head: string; body: string }>((resolve) => {
      const socket = net.connect({ port, host: "127.0.0.1" });
      let received = Buffer.alloc(0);
      let slow: NodeJS.Timeout | undefined;
      socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      const finish = () => {
        clearInterval(slow);
        const text = received.toString("utf8");
        const split = text.indexOf("\r\n\r\n");
        resolve({
          status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
          head: split >= 0 ? text.slice(0, split) : text,
          body: split >= 0 ? text.slice(split + 4) : "",
        });
      };
      socket.on("error", finish);
      socket.on("close", finish);
      socket.once("connect", () => {
        socket.write(request);
        if (trickle !== undefined) {
          slow = setInterval(() => {
            if (socket.writable) socket.write(trickle);
          }, 100);
        }
      });
    });

  it("answers CONNECT 405 MethodNotAllowed in JSON, where Node closed the connection unanswered", async () => {
    const answer = await rawExchange(
      "CONNECT backend.internal:443 HTTP/1.1\r\nHost: backend.internal:443\r\n\r\n",
    );
    expect(answer.status, answer.head).to.equal(405);
    expect(answer.head).to.match(/\r\nallow: GET, HEAD, POST, DELETE\r\n/i);
    expect(answer.head).to.match(/\r\ncontent-type: application\/json\r\n/i);
    expect(answer.head).to.match(/\r\nx-content-type-options: nosniff\r\n/i);
    expect(JSON.parse(answer.body)).to.deep.equal({
      type: "MethodNotAllowed",
      message: "CONNECT is not served: the admin port is not a proxy",
    });
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).to.equal(200);
  });

  it("answers headers not sent in time 408 with a JSON body, where Node's had none", async () => {
    // The header section comes a line at a time and never ends: the port's headers deadline
    // (500 ms here) refuses it; the lines keep it from being closed as silent first.
    const answer = await rawExchange(
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n",
      "X-Slow: 1\r\n",
    );
    expect(answer.status, answer.head).to.equal(408);
    expect(answer.head).to.match(/\r\ncontent-type: application\/json\r\n/i);
    expect(JSON.parse(answer.body)).to.deep.equal({
      type: "InvalidRequest",
      message: "the request was not sent in time",
    });
  });

  it("answers a header section begun and then stalled 408, not a silent close", async () => {
    // Nothing more after the first lines: the connection's silence bound (500 ms here) closed
    // it without a word before the headers deadline, as long, could answer.
    const answer = await rawExchange("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    expect(answer.status, answer.head).to.equal(408);
    expect(JSON.parse(answer.body)).to.deep.equal({
      type: "InvalidRequest",
      message: "the request was not sent in time",
    });
  });

  it("answers a request Node's parser refuses 400 InvalidRequest in JSON, not a bare status line", async () => {
    const answer = await rawExchange(
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n",
    );
    expect(answer.status, answer.head).to.equal(400);
    const json = JSON.parse(answer.body) as { type: string; message: string };
    expect(json.type).to.equal("InvalidRequest");
    expect(json.message).to.match(/^the request is not well-formed HTTP: /);
  });

  it("answers a request with two Content-Type or Host lines 400 InvalidHeader, as the service port does", async () => {
    // Node read the first line and dropped the other unseen: the token-bearing POST below was
    // served as JSON. No route is registered here; a 404 would mean it got past the check.
    const twoTypes = await rawExchange(
      "POST /admin/anything HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Authorization: Bearer a-test-admin-token-0123456789\r\n" +
        "Content-Type: application/json\r\nContent-Type: text/plain\r\n" +
        "Content-Length: 2\r\n\r\n{}",
    );
    expect(twoTypes.status, twoTypes.head).to.equal(400);
    expect(twoTypes.head).to.match(/\r\nconnection: close\r\n/i);
    expect(JSON.parse(/\{.*\}/s.exec(twoTypes.body)?.[0] ?? "")).to.deep.equal({
      type: "InvalidHeader",
      message: "the request has 2 Content-Type headers; a request has at most one",
    });
    const twoHosts = await rawExchange(
      "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: evil.example\r\n\r\n",
    );
    expect(twoHosts.status, twoHosts.head).to.equal(400);
    expect(JSON.parse(/\{.*\}/s.exec(twoHosts.body)?.[0] ?? "")).to.deep.equal({
      type: "InvalidHeader",
      message: "the request has 2 Host headers; HTTP/1.1 needs exactly one",
    });
  });

  it("answers a request with two Authorization lines 400 InvalidHeader, whichever holds the token", async () => {
    // Node admitted the first line's token and dropped the other unseen: a proxy in front that
    // checks (or adds) the last one saw another credential than the one let in. No route is
    // registered here; a 404 would mean the request got past the check.
    for (const [first, second] of [
      ["a-test-admin-token-0123456789", "not-the-token"],
      ["not-the-token", "a-test-admin-token-0123456789"],
    ]) {
      const answer = await rawExchange(
        "GET /admin/anything HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
          `Authorization: Bearer ${first}\r\nauthorization: Bearer ${second}\r\n\r\n`,
      );
      expect(answer.status, answer.head).to.equal(400);
      expect(answer.head).to.match(/\r\nconnection: close\r\n/i);
      expect(JSON.parse(/\{.*\}/s.exec(answer.body)?.[0] ?? "")).to.deep.equal({
        type: "InvalidHeader",
        message: "the request has 2 Authorization headers; a request has at most one",
      });
    }
    // One line is served as before.
    const one = await rawExchange(
      "GET /admin/anything HTTP/1.1\r\nHost: 127.0.0.1\r\n" +
        "Authorization: Bearer a-test-admin-token-0123456789\r\nConnection: close\r\n\r\n",
    );
    expect(one.status, one.head).to.equal(404);
  });

  it("routes an absolute-form target by its path (RFC 9112 §3.2.2), where it was an unknown path", async () => {
    const metrics = await rawExchange(
      `GET http://127.0.0.1:${port}/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(metrics.status, metrics.head).to.equal(200);
    expect(metrics.body).to.include("# TYPE");
    const ready = await rawExchange(
      `GET http://localhost/healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(ready.status, ready.head).to.equal(200);
    // An operator route is still its token's: none, 401; the target's host is checked as Host.
    const noToken = await rawExchange(
      `GET http://127.0.0.1/admin/anything HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(noToken.status, noToken.head).to.equal(401);
    const rebound = await rawExchange(
      `GET http://evil.example/metrics HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`,
    );
    expect(rebound.status, rebound.head).to.equal(403);
  });

  it("answers an HTTP/1.1 request without a Host line 400 InvalidHeader in JSON, where Node's 400 had no body", async () => {
    const noHost = await rawExchange("GET /healthz HTTP/1.1\r\n\r\n");
    expect(noHost.status, noHost.head).to.equal(400);
    expect(noHost.head).to.match(/\r\ncontent-type: application\/json/i);
    expect(noHost.head).to.match(/\r\nconnection: close(?:\r\n|$)/i);
    expect(JSON.parse(/\{.*\}/s.exec(noHost.body)?.[0] ?? "")).to.deep.equal({
      type: "InvalidHeader",
      message: "the request has no Host header; HTTP/1.1 needs exactly one",
    });
    // An empty Host (or a port alone) is no host of an http URI (RFC 9110 §4.2.1): malformed,
    // 400 (RFC 9112 §3.2), not a name the loopback check refuses 403.
    for (const empty of ["Host:", "Host: ", "Host: :9090"]) {
      const answer = await rawExchange(`GET /healthz HTTP/1.1\r\n${empty}\r\n\r\n`);
      expect(answer.status, empty).to.equal(400);
      expect(JSON.parse(/\{.*\}/s.exec(answer.body)?.[0] ?? "")).to.deep.equal({
        type: "InvalidHeader",
        message: "the request has a Host header that names no host; HTTP/1.1 needs exactly one",
      });
    }
    // HTTP/1.0 needs none: such a request names no host, so a loopback port refuses it as one
    // naming another host would be (403), not as malformed.
    expect((await rawExchange("GET /healthz HTTP/1.0\r\n\r\n")).status).to.equal(403);
  });

  it("closes connections that never send a request, and still serves", async function () {
    this.timeout(60_000);
    // Read: a close behind unread bytes never reached the test (no "end", so no "close"), and
    // Node's headers deadline, when its check ran before the sweep, answered them 408.
    let received = "";
    const sockets = Array.from({ length: 5 }, () => {
      const socket = net.connect({ port, host: "127.0.0.1" });
      socket.on("error", () => undefined);
      socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
      return socket;
    });
    try {
      const allClosed = Promise.all(
        sockets.map((socket) => new Promise((resolve) => socket.once("close", resolve))),
      );
      // Generous: the bound is 500 ms here; a kept connection never closes at all.
      const gaveUp = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 45_000));
      expect(await Promise.race([allClosed.then(() => "closed"), gaveUp])).to.equal("closed");
      expect(received, "closed without an answer").to.equal("");
      const health = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect(health.status).to.equal(200);
    } finally {
      for (const socket of sockets) socket.destroy();
    }
  });

  it("answers 408 to a next request begun on a kept-alive connection and then stalled", async () => {
    // Node's keep-alive bound (5 s) closed it without a word before the headers deadline (here
    // 6 s from the next request's first byte, as the default 10 s is) could answer.
    const slow = new AdminServer(pino({ level: "silent" }), "a-test-admin-token-0123456789", 6_000);
    const slowPort = await slow.listen(0, "127.0.0.1");
    const socket = net.connect({ port: slowPort, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    let received = "";
    socket.on("data", (chunk: Buffer) => (received += chunk.toString("latin1")));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    // The next request begins once the first is answered, as a kept-alive client's does.
    await new Promise((resolve) => socket.once("data", resolve));
    socket.write("GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    try {
      const gaveUp = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 25_000));
      expect(await Promise.race([closed.then(() => "closed"), gaveUp])).to.equal("closed");
      expect(received).to.match(/^HTTP\/1\.1 200 /);
      expect(received).to.match(/HTTP\/1\.1 408 [^]*"InvalidRequest"/);
    } finally {
      socket.destroy();
      await slow.close();
    }
  });

  it("closes a kept-alive connection that sends only CRLFs after its answer", async () => {
    // Node's keep-alive bound is an idle one: a CRLF now and then (which begins no request)
    // reset it for ever. Here the bound is keepAliveTimeout (5 s) + headersTimeout (500 ms)
    // + 2 s from the answer.
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    let answer = "";
    socket.on("data", (chunk: Buffer) => (answer += chunk.toString("latin1")));
    const closed = new Promise((resolve) => socket.once("close", resolve));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    const trickle = setInterval(() => socket.write("\r\n"), 300);
    try {
      const gaveUp = new Promise<"open">((resolve) => setTimeout(() => resolve("open"), 25_000));
      expect(await Promise.race([closed.then(() => "closed"), gaveUp])).to.equal("closed");
      expect(answer).to.match(/^HTTP\/1\.1 200 /);
    } finally {
      clearInterval(trickle);
      socket.destroy();
    }
  });

  it("takes the bearer scheme in any case, and the token only whole", async () => {
    admin.addRoute("GET", /^\/admin\/echo$/, async () => ({ status: 200, body: { ok: true } }));
    const status = async (authorization: string) =>
      (await fetch(`http://127.0.0.1:${port}/admin/echo`, { headers: { authorization } })).status;
    for (const scheme of ["Bearer", "bearer", "BEARER"]) {
      expect(await status(`${scheme} a-test-admin-token-0123456789`), scheme).to.equal(200);
    }
    expect(await status("Bearer a-test-admin-token-012345678")).to.equal(401);
    expect(await status("Basic a-test-admin-token-0123456789")).to.equal(401);
    expect(await status("Bearera-test-admin-token-0123456789")).to.equal(401);
  });

  it("answers HEAD as GET without the body, under the same rule for the token", async () => {
    admin.addRoute("GET", /^\/admin\/headed$/, async () => ({ status: 200, body: { ok: true } }));
    admin.addRoute("POST", /^\/admin\/posted$/, async () => ({ status: 200, body: { ok: true } }));
    const token = { authorization: "Bearer a-test-admin-token-0123456789" };
    /** Status, content type and body length of a request, or of its HEAD. */
    const ask = async (method: string, path: string, headers: Record<string, string> = {}) => {
      const response = await fetch(`http://127.0.0.1:${port}${path}`, { method, headers });
      const body = await response.arrayBuffer();
      return {
        status: response.status,
        type: response.headers.get("content-type"),
        empty: body.byteLength === 0,
      };
    };
    const cases: Array<[string, Record<string, string>]> = [
      ["/metrics", {}],
      ["/healthz", {}],
      ["/readyz", {}],
      ["/admin/headed", token],
      ["/admin/headed", {}],
      ["/", {}],
      ["/admin/posted", token],
    ];
    for (const [path, headers] of cases) {
      const get = await ask("GET", path, headers);
      const head = await ask("HEAD", path, headers);
      const what = `${path} ${headers.authorization ? "with" : "without"} the token`;
      expect(head, what).to.deep.equal({ ...get, empty: true });
      expect(get.empty, what).to.equal(false);
    }
    expect((await ask("HEAD", "/metrics")).status).to.equal(200);
    expect((await ask("HEAD", "/healthz")).status).to.equal(200);
    expect((await ask("HEAD", "/admin/headed", token)).status).to.equal(200);
  });

  it("marks its error answers no-store, as its other answers: no cache keeps an operator's refusal or failure", async () => {
    admin.addRoute("GET", /^\/admin\/broken$/, async () => {
      throw new Error("a bug");
    });
    const headers = { authorization: "Bearer a-test-admin-token-0123456789" };
    const broken = await fetch(`http://127.0.0.1:${port}/admin/broken`, { headers });
    expect(broken.status).to.equal(500);
    expect(((await broken.json()) as { message: string }).message).to.equal("internal error");
    expect(broken.headers.get("cache-control")).to.equal("no-store");
    const refused = await fetch(`http://127.0.0.1:${port}/admin/broken`);
    expect(refused.status).to.equal(401);
    expect(refused.headers.get("cache-control")).to.equal("no-store");
  });

  it("answers 400, not 500, to a path that is not valid percent-encoding", async () => {
    // As the operator routes do with an id taken from the path.
    admin.addRoute("GET", /^\/admin\/items\/([^/]+)$/, async (match) => ({
      status: 200,
      body: { id: decodeURIComponent(match[1]) },
    }));
    const get = (path: string) =>
      fetch(`http://127.0.0.1:${port}${path}`, {
        headers: { authorization: "Bearer a-test-admin-token-0123456789" },
      });
    const bad = await get("/admin/items/%E0%A4%A");
    expect(bad.status).to.equal(400);
    expect(((await bad.json()) as { type: string }).type).to.equal("InvalidRequest");
    const good = await get("/admin/items/caf%C3%A9");
    expect(await good.json()).to.deep.equal({ id: "café" });
  });

  it("answers a body over its limit 413 PayloadTooLarge, whole or chunked, never a reset", async () => {
    admin.addRoute("POST", /^\/admin\/selection$/, async () => ({ status: 200, body: { ok: 1 } }));
    /** Status and body of a POST sending `size` bytes, declared or chunked; the error code if none. */
    const post = (size: number, chunked: boolean) =>
      new Promise<{ status: number; type?: string } | { error: string }>((resolve) => {
        const req = http.request(
          {
            host: "127.0.0.1",
            port,
            method: "POST",
            path: "/admin/selection",
            agent: false,
            headers: {
              authorization: "Bearer a-test-admin-token-0123456789",
              "content-type": "application/json",
              ...(chunked ? {} : { "content-length": String(size) }),
            },
          },
          (res) => {
            let text = "";
            res.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
            res.on("end", () =>
              resolve({
                status: res.statusCode ?? 0,
                type: (JSON.parse(text) as { type?: string }).type,
              }),
            );
          },
        );
        req.on("error", (error: NodeJS.ErrnoException) => resolve({ error: error.code ?? "?" }));
        // A filter padded with white space: valid JSON, only too long.
        req.end(Buffer.concat([Buffer.from("{}"), Buffer.alloc(size - 2, 0x20)]));
      });
    for (const chunked of [false, true]) {
      expect(await post(200_000, chunked), `chunked: ${chunked}`).to.deep.equal({
        status: 413,
        type: "PayloadTooLarge",
      });
    }
    expect(await post(1_000, false)).to.deep.equal({ status: 200, type: undefined });
  });

  describe("Expect: 100-continue, as on the service port", () => {
    const TOKEN = "a-test-admin-token-0123456789";

    /**
     * Sends the head of a POST with `expect`, and its body only once the server answers
     * 100 Continue; the final answer's status, whether a 100 came first, and whether the server
     * closed the connection after it.
     */
    const exchange = (options: { length: number; expect?: string; token?: string }) =>
      new Promise<{ continued: boolean; status: number; closed: boolean; body: string }>(
        (resolve) => {
          const socket = net.connect({ port, host: "127.0.0.1" });
          let received = "";
          let continued = false;
          let status = 0;
          const body = `{}${" ".repeat(options.length - 2)}`;
          socket.on("data", (chunk: Buffer) => {
            received += chunk.toString("latin1");
            const interim = /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.exec(received);
            if (interim) {
              continued = true;
              received = received.slice(interim[0].length);
              socket.write(body);
            }
            status = Number(/^HTTP\/1\.1 (\d{3})/.exec(received)?.[1] ?? 0);
          });
          socket.on("error", () => undefined);
          socket.on("close", () => {
            // The JSON of the answer's body, its chunked framing (if any) left out.
            const body = /\{.*\}/s.exec(received.slice(received.indexOf("\r\n\r\n")))?.[0] ?? "";
            resolve({ continued, status, closed: true, body });
          });
          socket.once("connect", () =>
            socket.write(
              `POST /admin/continue HTTP/1.1\r\nHost: 127.0.0.1\r\n` +
                (options.token === undefined ? "" : `Authorization: Bearer ${options.token}\r\n`) +
                `Content-Type: application/json\r\nContent-Length: ${options.length}\r\n` +
                `Expect: ${options.expect ?? "100-continue"}\r\nConnection: close\r\n\r\n`,
            ),
          );
        },
      );

    before(() => {
      admin.addRoute("POST", /^\/admin\/continue$/, async (_match, _req, { body }) => ({
        status: 200,
        body: { got: body },
      }));
    });

    it("invites a body within its limit, once the route reads it", async () => {
      expect(await exchange({ length: 1_000, token: TOKEN })).to.include({
        continued: true,
        status: 200,
        closed: true,
      });
    });

    it("answers a body declared over its limit 413 without inviting it", async () => {
      const answer = await exchange({ length: 200_000, token: TOKEN });
      expect(answer).to.include({ continued: false, status: 413 });
    });

    it("answers a request without the token 401 without inviting its body", async () => {
      expect(await exchange({ length: 1_000 })).to.include({ continued: false, status: 401 });
    });

    it("answers another expectation 417 in JSON and closes the connection", async () => {
      const answer = await exchange({ length: 1_000, token: TOKEN, expect: "something-else" });
      expect(answer).to.include({ continued: false, status: 417, closed: true });
      expect(JSON.parse(answer.body)).to.deep.include({ type: "InvalidHeader" });
      expect((JSON.parse(answer.body) as { message: string }).message).to.include("something-else");
    });
  });

  it("signs the status page in with the token pasted with surrounding white space", async () => {
    const login = (token: string) =>
      fetch(`http://127.0.0.1:${port}/login`, {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token }).toString(),
        redirect: "manual",
      });
    expect((await login(" a-test-admin-token-0123456789\n")).status).to.equal(303);
    expect((await login("a-test-admin-token-012345678")).status).to.equal(401);
  });

  it("forbids framing and content sniffing on every answer, the sign-in page included", async () => {
    admin.addRoute("GET", /^\/admin\/framed$/, async () => ({ status: 200, body: { ok: true } }));
    const signIn = await fetch(`http://127.0.0.1:${port}/`);
    const signInRefused = await fetch(`http://127.0.0.1:${port}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: "token=wrong",
    });
    for (const page of [signIn, signInRefused]) {
      expect(page.headers.get("content-type")).to.match(/^text\/html/);
      // A page of another site framing the sign-in form (clickjacking) is refused by the browser.
      expect(page.headers.get("content-security-policy")).to.include("frame-ancestors 'none'");
      expect(page.headers.get("x-frame-options")).to.equal("DENY");
    }
    const answers = [
      signIn,
      await fetch(`http://127.0.0.1:${port}/metrics`),
      await fetch(`http://127.0.0.1:${port}/healthz`),
      await fetch(`http://127.0.0.1:${port}/admin/framed`, {
        headers: { authorization: "Bearer a-test-admin-token-0123456789" },
      }),
      await fetch(`http://127.0.0.1:${port}/admin/nothing`),
    ];
    for (const answer of answers) {
      expect(answer.headers.get("x-content-type-options"), answer.url).to.equal("nosniff");
      await answer.arrayBuffer();
    }
  });
});

/**
 * An admin server for the connection-bound tests: `total` connections at most, 3 from one
 * address, a minute before an idle connection is closed.
 */
function boundedAdmin(total: number, token: string | null = null): AdminServer {
  const log = pino({ level: "silent" });
  return new AdminServer(log, token, 60_000, total, new AdminSessions(), new SignInThrottle(), 3);
}

/** Whether the server closes `socket` rather than answer the request sent on it. */
const closedUnanswered = (socket: net.Socket): Promise<boolean> =>
  new Promise<boolean>((resolve) => {
    socket.once("close", () => resolve(true));
    socket.write("GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n");
    setTimeout(() => resolve(false), 15_000);
  });

/** The status of /healthz asked on a new connection from loopback address `from` (0: none). */
const healthFrom = (port: number, from: string) =>
  new Promise<number>((resolve) => {
    http
      .get(
        { host: "127.0.0.1", port, path: "/healthz", localAddress: from, agent: false },
        (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      )
      .on("error", () => resolve(0));
  });

describe("admin port refusing a body still being sent", () => {
  freshConnectionPerFetch();
  const TOKEN = "a-test-admin-token-0123456789";
  let admin: AdminServer;
  let port = 0;

  before(async () => {
    admin = new AdminServer(pino({ level: "silent" }), TOKEN);
    admin.addRoute("POST", /^\/admin\/bulk$/, async () => ({ status: 200, body: { ok: 1 } }));
    port = await admin.listen(0, "127.0.0.1");
  });

  after(async () => {
    await admin.close();
  });

  /**
   * A client that reads its answer only once it has sent the whole request (as many simple
   * clients do): the answer's status line, or the error its sending ended in.
   */
  const sendThenRead = (size: number) =>
    new Promise<string>((resolve) => {
      const socket = net.connect({ port, host: "127.0.0.1" });
      socket.once("error", (error: NodeJS.ErrnoException) => resolve(error.code ?? "error"));
      socket.once("connect", () => {
        socket.write(
          `POST /admin/bulk HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n` +
            `Content-Type: application/json\r\nContent-Length: ${size}\r\n\r\n`,
        );
        socket.write(Buffer.alloc(size, 0x20), (error) => {
          if (error) return;
          let text = "";
          socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
          socket.on("end", () => resolve(/^HTTP\/1\.1 \d{3} [^\r]*/.exec(text)?.[0] ?? text));
        });
      });
    });

  it("lets a client still sending a 4 MiB body finish and read its 413, not a reset", async () => {
    // The answer comes after 1 MiB; closing with the rest unread reset the connection, and the
    // client's next write failed (EPIPE) before it ever read the answer.
    const got: string[] = [];
    for (let i = 0; i < 6; i++) got.push(await sendThenRead(4 * 1024 * 1024));
    expect(got).to.deep.equal(Array(6).fill("HTTP/1.1 413 Payload Too Large"));
    expect((await fetch(`http://127.0.0.1:${port}/healthz`)).status).to.equal(200);
  });
});

describe("admin port connection bound", () => {
  freshConnectionPerFetch();
  it("closes connections beyond its bound at once, and serves again once some have gone", async () => {
    // Beyond loopback (containers) anyone who reaches the port could otherwise hold open as
    // many connections as the process has file descriptors, the service port's included.
    const admin = new AdminServer(pino({ level: "silent" }), null, 60_000, 3);
    const port = await admin.listen(0, "127.0.0.1");
    const open = (): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ port, host: "127.0.0.1" }, () => resolve(socket));
        socket.on("error", reject);
      });
    const held = [await open(), await open(), await open()];
    try {
      // Node accepts and then closes a connection over the bound: it is closed, not served.
      expect(await closedUnanswered(await open())).to.equal(true);
    } finally {
      for (const socket of held) socket.destroy();
    }
    // The server hears of the closes a moment later.
    let status = 0;
    for (let i = 0; i < 50 && status !== 200; i++) {
      status = await fetch(`http://127.0.0.1:${port}/healthz`).then(
        (answer) => answer.status,
        () => 0,
      );
      if (status !== 200) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(status).to.equal(200);
    await admin.close();
  });
});

describe("admin port pipelining", () => {
  freshConnectionPerFetch();
  const TOKEN = "a-test-admin-token-0123456789";
  let admin: AdminServer;
  let port = 0;
  /** `GET /admin/held` is answered once the test calls this; its request's socket goes to it. */
  let answerHeld: (() => void) | undefined;
  let heldReceived: Promise<net.Socket>;
  let onHeld: (socket: net.Socket) => void;

  before(async () => {
    admin = new AdminServer(pino({ level: "silent" }), TOKEN, 10_000);
    admin.addRoute("GET", /^\/admin\/held$/, (_match, req) => {
      onHeld(req.socket);
      return new Promise((resolve) => {
        answerHeld = () => resolve({ status: 200, body: { held: true } });
        req.socket.once("close", () => resolve({ status: 200, body: { held: true } }));
      });
    });
    port = await admin.listen(0, "127.0.0.1");
  });

  beforeEach(() => {
    heldReceived = new Promise((resolve) => (onHeld = resolve));
  });

  after(async () => {
    await admin.close();
  });

  const get = (path: string) => `GET ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`;
  const HELD = `GET /admin/held HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n\r\n`;
  const connect = async () => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    socket.on("error", () => undefined);
    await new Promise((resolve) => socket.once("connect", resolve));
    return socket;
  };
  /** What `socket` got until it closed. */
  const received = (socket: net.Socket): Promise<string> => {
    let text = "";
    socket.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
    return new Promise((resolve) => socket.once("close", () => resolve(text)));
  };
  /** A few turns of the event loop: what the peer wrote on loopback is read meanwhile. */
  const readMeanwhile = async () => {
    for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  };

  it("closes a connection that pipelines 2 000 GET /metrics in one write, answering few", async () => {
    // Each was a scrape of its own, all at once. Without a bound all 2 000 were answered (and
    // the connection closed only when idle); with it, past 32 waiting the connection is closed.
    const socket = await connect();
    const text = received(socket);
    socket.write(get("/metrics").repeat(2_000));
    const answers = (await text).split("HTTP/1.1 200 ").length - 1;
    expect(answers, "answers to the flood").to.be.below(40);
    const health = await fetch(`http://127.0.0.1:${port}/healthz`);
    expect(health.status).to.equal(200);
  });

  it("answers requests pipelined past where it stops reading, in order, later ones too", async () => {
    // Past 4 waiting, what the connection sends next is kept unparsed until their turn.
    const paths = Array.from({ length: 30 }, (_, i) => (i % 3 === 2 ? "/readyz" : "/healthz"));
    const socket = await connect();
    const text = received(socket);
    socket.write(HELD + paths.slice(0, 10).map(get).join(""));
    await heldReceived;
    socket.write(
      paths.slice(10).map(get).join("") +
        get("/healthz").replace("\r\n\r\n", "\r\nConnection: close\r\n\r\n"),
    );
    await readMeanwhile();
    answerHeld?.();
    const bodies = (await text).match(/\{"(?:status|held)":(?:"[a-z ]+"|true)/g) ?? [];
    expect(bodies).to.deep.equal([
      '{"held":true',
      ...[...paths, "/healthz"].map((path) =>
        path === "/readyz" ? '{"status":"ready"' : '{"status":"ok"',
      ),
    ]);
  });

  it("answers the requests before one Node's parser refuses, then refuses it 400", async () => {
    // The refusal closed the connection at once: the held request's answer, owed to its caller,
    // was never written.
    const socket = await connect();
    const text = received(socket);
    socket.write(HELD + "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Bad: a\x01b\r\n\r\n");
    await heldReceived;
    await readMeanwhile();
    answerHeld?.();
    const answers = await text;
    expect(answers).to.match(/^HTTP\/1\.1 200 OK\r\n[\s\S]*\{"held":true\}/);
    expect(answers.slice(answers.indexOf('{"held":true}'))).to.match(
      /HTTP\/1\.1 400 Bad Request\r\n[\s\S]*"type":"InvalidRequest"/,
    );
  });

  it("sees a caller hang up while its pipelined requests wait and nothing more is parsed", async () => {
    // Node sees a connection's end only while reading it: paused, the request before stayed
    // unanswered, its caller gone unseen, until the answer was written.
    const socket = await connect();
    socket.write(HELD + get("/healthz").repeat(10));
    const server = await heldReceived;
    // Sent once reading stopped, before hanging up: kept, and the end of the stream seen behind.
    socket.write(get("/healthz").repeat(10));
    await readMeanwhile();
    const closed = new Promise((resolve) => server.once("close", () => resolve("closed")));
    socket.destroy();
    let timer: NodeJS.Timeout | undefined;
    const gaveUp = new Promise((resolve) => (timer = setTimeout(() => resolve("open"), 15_000)));
    try {
      expect(await Promise.race([closed, gaveUp])).to.equal("closed");
    } finally {
      clearTimeout(timer);
      answerHeld?.();
    }
  });
});

describe("admin port connections per address", () => {
  it("closes one address's connections beyond its share, and still serves another address", async () => {
    // Probes come from the kubelet's address: one address holding every slot would fail them.
    const admin = boundedAdmin(8);
    const port = await admin.listen(0, "127.0.0.1");
    const open = (from: string): Promise<net.Socket> =>
      new Promise((resolve, reject) => {
        const socket = net.connect({ port, host: "127.0.0.1", localAddress: from }, () =>
          resolve(socket),
        );
        socket.on("error", reject);
      });
    const held = [await open("127.0.0.1"), await open("127.0.0.1"), await open("127.0.0.1")];
    try {
      // The address tries for every slot of the total (8): those past its share are closed.
      const extras = await Promise.all([1, 2, 3, 4, 5].map(() => open("127.0.0.1")));
      const closed = await Promise.all(extras.map(closedUnanswered));
      expect(closed).to.deep.equal([true, true, true, true, true]);
      held.push(...extras);
      expect(await healthFrom(port, "127.0.0.2")).to.equal(200);
    } finally {
      for (const socket of held) socket.destroy();
      await admin.close();
    }
  });
});

describe("admin port connections when all are taken", () => {
  /**
   * A connection from a chosen loopback address that has begun a request and sends no more:
   * idle to the server, and held open by the headers timeout (a minute here) alone.
   */
  const connect = (port: number, from: string): Promise<net.Socket> =>
    new Promise((resolve, reject) => {
      const socket = net.connect({ port, host: "127.0.0.1", localAddress: from }, () => {
        socket.write("GET /healthz HTTP/1.1\r\n");
        resolve(socket);
      });
      socket.on("error", reject);
    });
  /**
   * Whether the server still holds a connection: it answers the request begun on it (or closes
   * it). The next request is begun at once, so the connection stays as it was.
   */
  const answers = (socket: net.Socket) =>
    new Promise<boolean>((resolve) => {
      if (socket.destroyed) return resolve(false);
      socket.once("data", () => resolve(true));
      socket.once("close", () => resolve(false));
      socket.write("Host: 127.0.0.1\r\n\r\nGET /healthz HTTP/1.1\r\n");
    });

  it("gives a newcomer the slot of the client holding the most, never one of its own size", async () => {
    // Two addresses, each at its share (3), fill the port (6): a probe from a third still gets in.
    const admin = boundedAdmin(6);
    const port = await admin.listen(0, "127.0.0.1");
    const held: net.Socket[] = [];
    try {
      for (const from of ["127.0.0.1", "127.0.0.2"]) {
        for (let i = 0; i < 3; i += 1) held.push(await connect(port, from));
      }
      // A probe, which here stays connected: all six slots stay taken.
      held.push(await connect(port, "127.0.0.9"));
      expect(await answers(held[6])).to.equal(true);
      // One connection of a client holding the most was closed for it, the oldest of them.
      expect(await answers(held[0])).to.equal(false);
      for (const socket of held.slice(1)) expect(await answers(socket)).to.equal(true);
      // Now 127.0.0.1 holds 2 and 127.0.0.2 holds 3: 127.0.0.1 taking one of 127.0.0.2's would
      // only swap who holds more, so its new connection is closed instead.
      const again = await connect(port, "127.0.0.1");
      expect(await answers(again)).to.equal(false);
      for (const socket of held.slice(1)) expect(await answers(socket)).to.equal(true);
    } finally {
      for (const socket of held) socket.destroy();
      await admin.close();
    }
  });

  it("closes an idle connection of that client before one whose request is being answered", async () => {
    const TOKEN = "a-test-admin-token-0123456789";
    const admin = boundedAdmin(5, TOKEN);
    let release: () => void = () => undefined;
    const released = new Promise<void>((resolve) => (release = resolve));
    let started: () => void = () => undefined;
    const running = new Promise<void>((resolve) => (started = resolve));
    admin.addRoute("POST", /^\/admin\/slow$/, async () => {
      started();
      await released;
      return { status: 200, body: { done: true } };
    });
    const port = await admin.listen(0, "127.0.0.1");
    const held: net.Socket[] = [];
    try {
      // An operator's long request (a bulk replay, say) on the oldest connection of 127.0.0.1,
      // sent behind a quick one on the same connection (pipelined): the quick one's answer does
      // not make the connection idle.
      const operator = await connect(port, "127.0.0.1");
      let text = "";
      const received = (what: string) =>
        new Promise<string>((resolve) => {
          const look = () => {
            if (!text.includes(what) && !operator.destroyed) return;
            operator.off("data", look);
            resolve(text);
          };
          operator.on("data", look);
          operator.once("close", look);
        });
      operator.on("data", (chunk: Buffer) => (text += chunk.toString("latin1")));
      const quick = received('{"status":"ok"}');
      const slow = received('{"done":true}');
      operator.write(
        "Host: 127.0.0.1\r\n\r\n" +
          `POST /admin/slow HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${TOKEN}\r\n` +
          "Content-Length: 0\r\n\r\n",
      );
      await Promise.all([quick, running]);
      held.push(await connect(port, "127.0.0.1"), await connect(port, "127.0.0.1"));
      held.push(await connect(port, "127.0.0.2"), await connect(port, "127.0.0.2"));
      expect(await healthFrom(port, "127.0.0.9")).to.equal(200);
      // The idle connection went, not the one being answered.
      expect(await answers(held[0])).to.equal(false);
      release();
      expect((await slow).match(/^HTTP\/1\.1 200 /gm)).to.have.length(2);
      operator.destroy();
    } finally {
      release();
      for (const socket of held) socket.destroy();
      await admin.close();
    }
  });
});

describe("status page sessions", () => {
  freshConnectionPerFetch();
  const TOKEN = "a-test-admin-token-0123456789";
  let now = 1_000_000;
  let admin: AdminServer;
  let port = 0;

  const start = async (): Promise<void> => {
    const sessions = new AdminSessions(() => now);
    admin = new AdminServer(pino({ level: "silent" }), TOKEN, 10_000, 256, sessions);
    admin.addRoute("GET", /^\/admin\/whoami$/, async () => ({ status: 200, body: { ok: true } }));
    port = await admin.listen(0, "127.0.0.1");
  };
  const signIn = async (): Promise<string> => {
    const answer = await fetch(`http://127.0.0.1:${port}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token: TOKEN }).toString(),
      redirect: "manual",
    });
    expect(answer.status).to.equal(303);
    return answer.headers.get("set-cookie") ?? "";
  };
  const pair = (setCookie: string) => setCookie.split(";")[0];
  // A connection of its own each time: a pooled one could outlive a restarted server.
  const statusWith = (cookie: string) =>
    new Promise<number>((resolve, reject) => {
      http
        .get(
          { host: "127.0.0.1", port, path: "/admin/whoami", headers: { cookie }, agent: false },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
        .on("error", reject);
    });

  beforeEach(start);
  afterEach(async () => admin.close());

  it("gives each sign-in a random session cookie, named after the port, that lasts 12 hours", async () => {
    const first = await signIn();
    const second = await signIn();
    const attributes = first.split(";").map((part) => part.trim());
    expect(attributes[0]).to.match(new RegExp(`^sluice-admin-${port}=[A-Za-z0-9_-]{43}$`));
    expect(attributes.slice(1)).to.have.members([
      "Max-Age=43200",
      "HttpOnly",
      "SameSite=Strict",
      "Path=/",
    ]);
    // Nothing derived from the token: another sign-in, another value.
    expect(pair(second)).to.not.equal(pair(first));
    expect(pair(first)).to.not.include(TOKEN);
    expect(await statusWith(pair(first))).to.equal(200);
    expect(await statusWith(pair(second))).to.equal(200);
    expect(await statusWith(`${pair(first)}x`)).to.equal(401);
    // The same value under another port's name is not this port's session.
    expect(await statusWith(pair(first).replace(`-${port}=`, "-1="))).to.equal(401);
    now += 12 * 60 * 60 * 1000 - 1;
    expect(await statusWith(pair(first))).to.equal(200);
    now += 1;
    expect(await statusWith(pair(first))).to.equal(401);
  });

  it("ends a session on sign-out, and every session when the process restarts", async () => {
    const first = pair(await signIn());
    const second = pair(await signIn());
    const out = await fetch(`http://127.0.0.1:${port}/logout`, {
      method: "POST",
      headers: { cookie: first },
      redirect: "manual",
    });
    expect(out.status).to.equal(303);
    expect(out.headers.get("location")).to.equal("/");
    expect(out.headers.get("set-cookie")).to.match(new RegExp(`^sluice-admin-${port}=; Max-Age=0`));
    expect(await statusWith(first)).to.equal(401);
    expect(await statusWith(second)).to.equal(200);
    // A new process (a restart) knows none of the old sessions, on the same port too.
    const oldPort = port;
    await admin.close();
    const sessions = new AdminSessions(() => now);
    admin = new AdminServer(pino({ level: "silent" }), TOKEN, 10_000, 256, sessions);
    admin.addRoute("GET", /^\/admin\/whoami$/, async () => ({ status: 200, body: { ok: true } }));
    port = await admin.listen(oldPort, "127.0.0.1");
    expect(await statusWith(second)).to.equal(401);
  });

  it("ends no session on a sign-out posted from another page, a same-site one included", async () => {
    // SameSite=Strict sends the cookie from every port of the host: a page on another loopback
    // port (a dashboard, a dev server) is same-site, and its form could sign the operator out.
    const session = pair(await signIn());
    const self = { origin: `http://127.0.0.1:${port}` };
    const notThePage: Array<Record<string, string>> = [
      { "sec-fetch-site": "same-site", origin: "http://127.0.0.1:3000" },
      { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
      { origin: "http://127.0.0.1:3000" },
      { origin: "null" },
    ];
    for (const headers of notThePage) {
      const out = await fetch(`http://127.0.0.1:${port}/logout`, {
        method: "POST",
        headers: { cookie: session, ...headers },
        redirect: "manual",
      });
      expect(out.status, JSON.stringify(headers)).to.equal(403);
      expect(out.headers.get("set-cookie"), JSON.stringify(headers)).to.equal(null);
      expect(await statusWith(session), JSON.stringify(headers)).to.equal(200);
    }
    // The status page's own button signs out.
    const out = await fetch(`http://127.0.0.1:${port}/logout`, {
      method: "POST",
      headers: { cookie: session, "sec-fetch-site": "same-origin", ...self },
      redirect: "manual",
    });
    expect(out.status).to.equal(303);
    expect(await statusWith(session)).to.equal(401);
  });
});

describe("sign-in throttling", () => {
  freshConnectionPerFetch();
  const TOKEN = "a-test-admin-token-0123456789";
  let now = 5_000_000;
  let admin: AdminServer;
  let port = 0;
  /** An admin server whose sessions, throttle and refusal log all read the test's clock. */
  const clockedAdmin = (log = pino({ level: "silent" })) => {
    const clock = () => now;
    const [sessions, throttle] = [new AdminSessions(clock), new SignInThrottle(clock)];
    return new AdminServer(log, TOKEN, 10_000, 256, sessions, throttle, 32, new RefusalLog(clock));
  };

  /** A `clockedAdmin` listening on a port of its own, whose log lines are kept in `lines`. */
  const loggedAdmin = async () => {
    const lines: Array<{ msg: string; remote?: string }> = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    const logged = clockedAdmin(log);
    return { lines, logged, loggedPort: await logged.listen(0, "127.0.0.1") };
  };

  before(async () => {
    admin = clockedAdmin();
    port = await admin.listen(0, "127.0.0.1");
  });
  after(async () => admin.close());

  /**
   * A request from a chosen loopback address (all of 127/8 reaches the port on Linux): its
   * status and Retry-After.
   */
  const requestFrom = (from: string, options: http.RequestOptions, body?: string) =>
    new Promise<{ status: number; retryAfter?: string }>((resolve, reject) => {
      const req = http.request(
        { host: "127.0.0.1", port, localAddress: from, agent: false, ...options },
        (res) => {
          res.resume();
          resolve({
            status: res.statusCode ?? 0,
            retryAfter: res.headers["retry-after"] as string | undefined,
          });
        },
      );
      req.on("error", reject);
      req.end(body);
    });
  /** A sign-in from a chosen loopback address. */
  const signIn = (token: string, from = "127.0.0.1", headers: Record<string, string> = {}) =>
    requestFrom(
      from,
      {
        path: "/login",
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", ...headers },
      },
      new URLSearchParams({ token }).toString(),
    );
  /** An operator request with a bearer token, from a chosen loopback address. */
  const withBearer = (token: string, from: string) =>
    requestFrom(from, { path: "/dead-letters", headers: { authorization: `Bearer ${token}` } });

  it("answers 429 with Retry-After after 10 failures a minute from one address, the right token too", async () => {
    for (let i = 0; i < 10; i += 1)
      expect((await signIn("wrong-token-0123456789")).status).to.equal(401);
    const refused = await signIn(TOKEN);
    expect(refused.status).to.equal(429);
    expect(refused.retryAfter).to.equal("60");
    now += 30_000;
    expect(await signIn(TOKEN)).to.deep.equal({ status: 429, retryAfter: "30" });
    // Another address is not held by this one's failures.
    expect((await signIn(TOKEN, "127.0.0.2")).status).to.equal(303);
    now += 30_000;
    expect((await signIn(TOKEN)).status).to.equal(303);
  });

  it("compares no more than 10 sign-ins a minute from one address, sent all at once", async () => {
    // Each waits, past the throttle's check, for its body: the check is made before any of
    // them has failed, so it must be made again once the token is read.
    const from = "127.0.0.31";
    const pending = Array.from({ length: 15 }, () => {
      const req = http.request({
        host: "127.0.0.1",
        port,
        localAddress: from,
        agent: false,
        path: "/login",
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          expect: "100-continue",
        },
      });
      const invited = new Promise<void>((resolve) => req.once("continue", resolve));
      const status = new Promise<number>((resolve, reject) => {
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
      });
      req.flushHeaders();
      return { req, invited, status };
    });
    try {
      await Promise.all(pending.map((p) => p.invited));
      for (const { req } of pending) req.end("token=wrong-token-0123456789");
      const statuses = await Promise.all(pending.map((p) => p.status));
      expect(statuses.filter((s) => s === 401)).to.have.length(10);
      expect(statuses.filter((s) => s === 429)).to.have.length(5);
    } finally {
      now += 60_000;
    }
  });

  it("lets the new token in at once after a rotation, whatever the old one's failures", async () => {
    // The failures counted were against the old token: a script not yet updated, from the
    // operator's own address (through kubectl port-forward every client is 127.0.0.1).
    const { logged, loggedPort } = await loggedAdmin();
    const NEW = "a-rotated-admin-token-9876543210";
    const attempt = (token: string) =>
      fetch(`http://127.0.0.1:${loggedPort}/dead-letters`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((answer) => answer.status);
    try {
      for (let i = 0; i < 10; i += 1) expect(await attempt("wrong-token-0123456789")).to.equal(401);
      expect(await attempt(TOKEN)).to.equal(429);
      expect(logged.replaceToken(NEW)).to.equal(true);
      // Admitted: this bare admin server has no operator routes, so 404 rather than 401 or 429.
      expect(await attempt(NEW)).to.equal(404);
      // The old token is a wrong one now, counted from nothing again.
      for (let i = 0; i < 10; i += 1) expect(await attempt(TOKEN)).to.equal(401);
      expect(await attempt(NEW)).to.equal(429);
      // The same token again is no rotation: the failures stay.
      expect(logged.replaceToken(NEW)).to.equal(false);
      expect(await attempt(NEW)).to.equal(429);
    } finally {
      await logged.close();
      now += 60_000;
    }
  });

  it("refuses sign-ins posted from another site's page, without counting them", async () => {
    // Any page the operator opens can post the sign-in form to a loopback admin port: counted,
    // its wrong tokens would lock the operator's own address out, minute after minute.
    const from = "127.0.0.7";
    const self = { origin: `http://127.0.0.1:${port}` };
    const crossSite: Array<Record<string, string>> = [
      { origin: "https://evil.example" },
      { origin: "null" },
      { origin: `http://localhost:${port}` },
      { "sec-fetch-site": "cross-site", origin: "https://evil.example" },
      { "sec-fetch-site": "same-site", ...self },
    ];
    for (const headers of crossSite) {
      for (let i = 0; i < 4; i += 1) {
        expect((await signIn("wrong-token-0123456789", from, headers)).status).to.equal(403);
      }
    }
    // The sign-in page's own form, and tools that are no browser, are served as before.
    expect(
      (await signIn(TOKEN, from, { "sec-fetch-site": "same-origin", ...self })).status,
    ).to.equal(303);
    expect((await signIn(TOKEN, from, self)).status).to.equal(303);
    expect((await signIn(TOKEN, from)).status).to.equal(303);
    for (let i = 0; i < 10; i += 1) {
      expect((await signIn("wrong-token-0123456789", from, self)).status).to.equal(401);
    }
    expect((await signIn(TOKEN, from)).status).to.equal(429);
    now += 60_000;
  });

  it("logs one refusal per waiting client and minute, not one per request", async () => {
    const { lines, logged, loggedPort } = await loggedAdmin();
    const attempt = (token: string) =>
      fetch(`http://127.0.0.1:${loggedPort}/dead-letters`, {
        headers: { authorization: `Bearer ${token}` },
      }).then((answer) => answer.status);
    const waiting = () => lines.filter((line) => /too many failed attempts/.test(line.msg));
    try {
      for (let i = 0; i < 10; i += 1) expect(await attempt("wrong-token-0123456789")).to.equal(401);
      for (let i = 0; i < 25; i += 1) expect(await attempt("wrong-token-0123456789")).to.equal(429);
      expect(waiting()).to.have.length(1);
      // The next minute's refusals get their line again.
      now += 60_000;
      for (let i = 0; i < 10; i += 1) expect(await attempt("wrong-token-0123456789")).to.equal(401);
      for (let i = 0; i < 5; i += 1) expect(await attempt(TOKEN)).to.equal(429);
      expect(waiting()).to.have.length(2);
    } finally {
      await logged.close();
      now += 60_000;
    }
  });

  it("logs each sign-in and sign-out with its address, never the token or the session id", async () => {
    const { lines, logged, loggedPort } = await loggedAdmin();
    const post = (path: string, headers: Record<string, string>, body?: string) =>
      fetch(`http://127.0.0.1:${loggedPort}${path}`, {
        method: "POST",
        headers,
        body,
        redirect: "manual",
      });
    const said = (msg: string) => lines.filter((line) => line.msg === msg);
    try {
      const signedIn = await post(
        "/login",
        { "content-type": "application/x-www-form-urlencoded" },
        new URLSearchParams({ token: TOKEN }).toString(),
      );
      expect(signedIn.status).to.equal(303);
      const cookie = (signedIn.headers.get("set-cookie") ?? "").split(";")[0];
      const sessionId = cookie.split("=")[1];
      expect(said("admin signed in").map((line) => line.remote)).to.deep.equal(["127.0.0.1"]);
      // A sign-out with no live session ends nothing and says nothing.
      expect((await post("/logout", {})).status).to.equal(303);
      expect(
        (await post("/logout", { cookie: `sluice-admin-${loggedPort}=forged` })).status,
      ).to.equal(303);
      expect(said("admin signed out")).to.have.length(0);
      expect((await post("/logout", { cookie })).status).to.equal(303);
      expect(said("admin signed out").map((line) => line.remote)).to.deep.equal(["127.0.0.1"]);
      const text = lines.map((line) => JSON.stringify(line)).join("\n");
      expect(text).to.not.include(TOKEN);
      expect(text).to.not.include(sessionId);
    } finally {
      await logged.close();
    }
  });

  it("logs a request without a token once a minute per client, and every wrong token", async () => {
    const { lines, logged, loggedPort } = await loggedAdmin();
    const status = (from: string, headers: Record<string, string> = {}) =>
      new Promise<number>((resolve, reject) => {
        http
          .get(
            {
              host: "127.0.0.1",
              port: loggedPort,
              path: "/admin/status",
              localAddress: from,
              agent: false,
              headers,
            },
            (res) => {
              res.resume();
              resolve(res.statusCode ?? 0);
            },
          )
          .on("error", reject);
      });
    const refusals = () =>
      lines.filter((line) => line.msg === "admin request refused: no valid token");
    try {
      for (let i = 0; i < 30; i += 1) expect(await status("127.0.0.5")).to.equal(401);
      expect(refusals()).to.have.length(1);
      // A session cookie no sign-in gave is no token either.
      expect(await status("127.0.0.5", { cookie: `sluice-admin-${loggedPort}=forged` })).to.equal(
        401,
      );
      expect(refusals()).to.have.length(1);
      expect(await status("127.0.0.6")).to.equal(401);
      expect(refusals().map((line) => line.remote)).to.deep.equal(["127.0.0.5", "127.0.0.6"]);
      // A wrong token is a guess: each is logged (the throttle bounds how many there are).
      for (let i = 0; i < 3; i += 1) {
        expect(await status("127.0.0.5", { authorization: "Bearer wrong-token-0123" })).to.equal(
          401,
        );
      }
      expect(refusals()).to.have.length(5);
      now += 60_000;
      expect(await status("127.0.0.5")).to.equal(401);
      expect(refusals()).to.have.length(6);
      // An Authorization header that holds no bearer token is no guess of the token (the
      // throttle never counts it): logged as a request without one, not once per request.
      for (let i = 0; i < 30; i += 1) {
        expect(await status("127.0.0.7", { authorization: "Basic YWRtaW46YWRtaW4=" })).to.equal(
          401,
        );
      }
      expect(refusals()).to.have.length(7);
    } finally {
      await logged.close();
      now += 60_000;
    }
  });

  it("logs sign-ins refused as cross-site once a minute per client", async () => {
    const { lines, logged, loggedPort } = await loggedAdmin();
    // Neither counted nor throttled: a page open in the operator's browser (or anyone setting
    // the header) may post as fast as it likes.
    const crossSiteSignIn = () =>
      fetch(`http://127.0.0.1:${loggedPort}/login`, {
        method: "POST",
        headers: {
          "content-type": "application/x-www-form-urlencoded",
          origin: "https://evil.example",
        },
        body: "token=wrong",
      }).then(async (answer) => {
        await answer.arrayBuffer();
        return answer.status;
      });
    const refusals = () => lines.filter((line) => line.msg === "admin sign-in refused: cross-site");
    try {
      for (let i = 0; i < 30; i += 1) expect(await crossSiteSignIn()).to.equal(403);
      expect(refusals()).to.have.length(1);
      now += 60_000;
      expect(await crossSiteSignIn()).to.equal(403);
      expect(refusals()).to.have.length(2);
    } finally {
      await logged.close();
      now += 60_000;
    }
  });

  it("logs each kind of refusal once a minute on its own: one does not hide another", async () => {
    const { lines, logged, loggedPort } = await loggedAdmin();
    const base = `http://127.0.0.1:${loggedPort}`;
    const crossSite = { origin: "https://evil.example", "sec-fetch-site": "cross-site" };
    const ask = (path: string, init: RequestInit = {}) =>
      fetch(`${base}${path}`, { redirect: "manual", ...init }).then(async (answer) => {
        await answer.arrayBuffer();
        return answer.status;
      });
    const refusedAs = (msg: string) => lines.filter((line) => line.msg === msg).length;
    try {
      // A status page left open without a session polls first, then a page elsewhere posts
      // the sign-in form, then one posts the sign-out: each is a line of its own.
      expect(await ask("/admin/status")).to.equal(401);
      expect(await ask("/login", { method: "POST", headers: crossSite, body: "token=x" })).to.equal(
        403,
      );
      expect(await ask("/logout", { method: "POST", headers: crossSite })).to.equal(403);
      expect(refusedAs("admin request refused: no valid token")).to.equal(1);
      expect(refusedAs("admin sign-in refused: cross-site")).to.equal(1);
      expect(refusedAs("admin sign-out refused: cross-site")).to.equal(1);
      // And still once a minute each.
      expect(await ask("/admin/status")).to.equal(401);
      expect(await ask("/login", { method: "POST", headers: crossSite, body: "token=x" })).to.equal(
        403,
      );
      expect(await ask("/logout", { method: "POST", headers: crossSite })).to.equal(403);
      expect(lines.filter((line) => line.msg.startsWith("admin "))).to.have.length(3);
    } finally {
      await logged.close();
      now += 60_000;
    }
  });

  it("counts wrong bearer tokens with failed sign-ins: 429 after 10 a minute, the right token too", async () => {
    const from = "127.0.0.3";
    // No route is added here: the right token gets past the check to 404.
    expect((await withBearer(TOKEN, from)).status).to.equal(404);
    for (let i = 0; i < 10; i += 1)
      expect((await withBearer("wrong-token-0123456789", from)).status).to.equal(401);
    expect(await withBearer(TOKEN, from)).to.deep.equal({ status: 429, retryAfter: "60" });
    // One count: the sign-in from that address waits too, another address does not.
    expect((await signIn(TOKEN, from)).status).to.equal(429);
    expect((await withBearer(TOKEN, "127.0.0.4")).status).to.equal(404);
    now += 60_000;
    expect((await withBearer(TOKEN, from)).status).to.equal(404);
  });
});
