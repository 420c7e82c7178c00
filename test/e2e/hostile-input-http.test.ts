// Requests over a raw socket against a running adapter. What Node's HTTP parser refuses before
// any route sees it (headers over Node's 16 KiB, bytes no header may hold, a request line that is
// not HTTP) gets its code and words (JSON, or a SOAP fault on /soap). `Expect: 100-continue`: a
// body announced over its limit gets the 413 without an invitation to send it; one within its
// limit gets 100 Continue and is served as before; another expectation gets 417. A transfer
// coding before chunked (gzip, chunked) is refused, as a Content-Encoding is. An HTTP/1.1
// request needs exactly one Host naming a host; CONNECT is refused. Each answer is Sluice's
// error document, and the adapter serves afterwards.

import { expect } from "chai";
import net from "node:net";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { metricValue } from "./ops-support";
import { fixture } from "../fixtures/xroad-soap/outcomes";

const CLIENT = "EE/GOV/70000001/case-app";

/** An answer read off the socket: its status, its head (status line and headers), its body. */
interface RawAnswer {
  status: number;
  head: string;
  body: string;
}

function rawAnswer(received: Buffer): RawAnswer {
  const text = received.toString("utf8");
  const split = text.indexOf("\r\n\r\n");
  return {
    status: Number(/^HTTP\/1\.1 (\d{3})/.exec(text)?.[1] ?? 0),
    head: split >= 0 ? text.slice(0, split) : text,
    body: split >= 0 ? text.slice(split + 4) : "",
  };
}

/** Writes `request` in one piece and reads the answer until the adapter closes the connection. */
function rawRequest(port: number, request: string | Buffer): Promise<RawAnswer> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let received = Buffer.alloc(0);
    socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
    const finish = (): void => resolve(rawAnswer(received));
    socket.on("error", finish);
    socket.on("close", finish);
    socket.once("connect", () => socket.write(request));
  });
}

interface Exchange extends RawAnswer {
  /** True when the adapter sent `100 Continue` before its answer. */
  continued: boolean;
}

/**
 * Sends the head of a request with `Expect`, and its body only if the adapter answers
 * 100 Continue (as a careful client does); reads the final answer to its Content-Length, or
 * until the adapter closes the connection.
 */
function expectContinue(port: number, head: string, body: Buffer): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: "127.0.0.1" });
    let received = Buffer.alloc(0);
    let continued = false;
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ continued, ...rawAnswer(received) });
    };
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      let text = received.toString("latin1");
      const interim = /^HTTP\/1\.1 100 [^\r]*\r\n\r\n/.exec(text);
      if (interim) {
        continued = true;
        received = received.subarray(interim[0].length);
        text = received.toString("latin1");
        socket.write(body);
      }
      const split = text.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: *(\d+)/i.exec(text.slice(0, Math.max(split, 0)));
      if (split >= 0 && length && received.length >= split + 4 + Number(length[1])) finish();
    });
    socket.on("error", finish);
    socket.on("close", finish);
    socket.once("connect", () => socket.write(head));
  });
}

const BIG = "a".repeat(20_000);
const HUGE = 50 * 1024 * 1024;

describe("Hostile input over a raw socket: Sluice's answers to what HTTP itself carries", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    harness.writeConfig({
      services: {
        echo: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "legacy",
          contentTypes: ["text/plain"],
        },
        testQuery: { protocols: ["soap"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    });
    sluice = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  /** The adapter still accepts an ordinary request after whatever the test sent it. */
  async function stillServes(): Promise<void> {
    const answer = await call(`${sluice.url}/rest/echo`, { client: CLIENT, body: "{}" });
    expect(answer.status, answer.text).to.equal(202);
  }

  describe("what Node's parser refuses gets Sluice's answer", () => {
    it("headers over 16 KiB are 431 InvalidHeader, in JSON", async () => {
      // Node's own answer was a bare "431 Request Header Fields Too Large" with no body.
      const answer = await rawRequest(
        sluice.port,
        `GET /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nX-Big: ${BIG}\r\n\r\n`,
      );
      expect(answer.status, answer.head).to.equal(431);
      expect(answer.head).to.match(/content-type: application\/json/i);
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidHeader");
      expect(json.message).to.match(/headers are larger than \d+ bytes/);
      await stillServes();
    });

    it("headers over 16 KiB on /soap are a SOAP fault Client.InvalidHeader", async () => {
      const answer = await rawRequest(
        sluice.port,
        `POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 0\r\nX-Big: ${BIG}\r\n\r\n`,
      );
      expect(answer.status, answer.head).to.equal(431);
      expect(answer.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
      await stillServes();
    });

    it("a URL over 16 KiB is 414 InvalidRequest, in JSON, and a SOAP fault on /soap", async () => {
      // Node answered 431 (header fields too large) for a request line over its limit.
      const answer = await rawRequest(
        sluice.port,
        `GET /rest/echo?q=${BIG} HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nX-Road-Id: long-1\r\n\r\n`,
      );
      expect(answer.status, answer.head).to.equal(414);
      // Refused before its head was read: no X-Road-Id is taken from bytes the parser refused.
      expect(answer.head).not.to.match(/x-road-id/i);
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidRequest");
      expect(json.message).to.match(/target \(its URL\) is longer than \d+ bytes/);
      const soap = await rawRequest(
        sluice.port,
        `POST /soap?${BIG} HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\nContent-Length: 0\r\n\r\n`,
      );
      expect(soap.status, soap.head).to.equal(414);
      expect(soap.body).to.include("<faultcode>Client.InvalidRequest</faultcode>");
      await stillServes();
    });

    it("a header value with a control byte, or a request line that is not HTTP, is 400 InvalidRequest", async () => {
      for (const request of [
        `GET /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nX-Bad: a\u0001b\r\n\r\n`,
        "HELLO THERE\r\n\r\n",
        `GET /rest/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n`,
      ]) {
        const answer = await rawRequest(sluice.port, Buffer.from(request, "latin1"));
        expect(answer.status, JSON.stringify(request)).to.equal(400);
        const json = JSON.parse(answer.body) as { type: string; message: string };
        expect(json.type).to.equal("InvalidRequest");
        expect(json.message).to.match(/^the request is not well-formed HTTP/);
        expect(answer.body).to.not.match(/at .*\.js:\d+/);
      }
      await stillServes();
    });

    it("each is counted by reason and warned of", async function () {
      // The lines are read from the adapter's output, which a loaded machine can hold back for
      // seconds: the wait lasts until they come, bounded only against a hang, within the test's.
      this.timeout(120_000);
      const refused = async (reason: string) =>
        (await metricValue(sluice.adminUrl, "sluice_http_parser_refusals_total", { reason })) ?? 0;
      const before = [await refused("headers_too_large"), await refused("malformed")];
      const tooLarge = `GET /rest/echo HTTP/1.1\r\nHost: x\r\nX-Big: ${BIG}\r\n\r\n`;
      for (const request of [tooLarge, tooLarge, "HELLO THERE\r\n\r\n"]) {
        await rawRequest(sluice.port, request);
      }
      const after = [await refused("headers_too_large"), await refused("malformed")];
      expect([after[0] - before[0], after[1] - before[1]]).to.deep.equal([2, 1]);
      const lines = await eventually(
        async () => {
          const found = sluice.lines.filter(
            (line) => line.msg === "requests refused by the HTTP parser",
          );
          const reasons = new Set(found.map((line) => line.reason));
          return reasons.has("headers_too_large") && reasons.has("malformed") ? found : undefined;
        },
        60_000,
        "a warning of each reason",
      );
      // The first of each reason has its line at once (what follows within 10 s waits: unit tests).
      for (const reason of ["headers_too_large", "malformed"]) {
        const first = lines.find((line) => line.reason === reason);
        expect(first, reason).to.include({ level: "warn", count: 1, remote: "127.0.0.1" });
      }
    });
  });

  describe("Expect: 100-continue: no invitation to send a body over its limit", () => {
    const restHead = (length: number, expectation = "100-continue"): string =>
      `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${length}\r\nExpect: ${expectation}\r\n\r\n`;
    const soapHead = (length: number): string =>
      `POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml; charset=utf-8\r\n` +
      `Content-Length: ${length}\r\nExpect: 100-continue\r\n\r\n`;

    it("REST: a Content-Length over the limit is 413 PayloadTooLarge in JSON, without 100 Continue", async () => {
      const answer = await expectContinue(sluice.port, restHead(HUGE), Buffer.alloc(0));
      expect(answer.continued, answer.head).to.equal(false);
      expect(answer.status, answer.head).to.equal(413);
      expect((JSON.parse(answer.body) as { type: string }).type).to.equal("PayloadTooLarge");
      await stillServes();
    });

    it("SOAP: a Content-Length over the limit is Client.PayloadTooLarge, without 100 Continue", async () => {
      const answer = await expectContinue(sluice.port, soapHead(HUGE), Buffer.alloc(0));
      expect(answer.continued, answer.head).to.equal(false);
      expect(answer.status, answer.head).to.equal(500);
      expect(answer.body).to.include("<faultcode>Client.PayloadTooLarge</faultcode>");
      await stillServes();
    });

    it("a body within its limit gets 100 Continue and is served as without Expect (REST and SOAP)", async () => {
      const json = Buffer.from("{}");
      const rest = await expectContinue(sluice.port, restHead(json.length), json);
      expect(rest.continued, rest.head).to.equal(true);
      expect(rest.status, rest.head).to.equal(202);
      expect((JSON.parse(rest.body) as { state: string }).state).to.equal("accepted");

      const envelope = Buffer.from(
        fixture("simple.query")
          .toString("utf8")
          .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>expect-${Date.now()}</xroad:id>`),
      );
      const soap = await expectContinue(sluice.port, soapHead(envelope.length), envelope);
      expect(soap.continued, soap.head).to.equal(true);
      expect(soap.status, soap.head).to.equal(200);
      expect(soap.body).to.include("testQueryResponse");
      expect(soap.body).to.include("<state>accepted</state>");
    });

    it("an expectation other than 100-continue is 417, and the connection closed, its body unread", async () => {
      const answer = await expectContinue(
        sluice.port,
        restHead(2, "something-else"),
        Buffer.from("{}"),
      );
      expect(answer.continued, answer.head).to.equal(false);
      expect(answer.status, answer.head).to.equal(417);
      // Kept open, a body sent at once would be read as the next request.
      expect(answer.head).to.match(/\r\nconnection: close\r\n/i);
      // Node's own 417 had no body.
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidHeader");
      expect(json.message).to.include('"something-else"');
      await stillServes();
    });
  });

  describe("Transfer-Encoding: codings before chunked, which Node hands on undecoded", () => {
    const chunked = (coding: string, head: string): string =>
      `${head}Transfer-Encoding: ${coding}\r\nConnection: close\r\n\r\n2\r\n{}\r\n0\r\n\r\n`;

    it("REST: gzip, chunked is 415 InvalidContentType, for JSON and a pass-through type alike", async () => {
      // The body was read as if plain: a pass-through body got 202 and reached the backend as
      // the coding's bytes with no label saying so.
      for (const [coding, type] of [
        ["gzip, chunked", "text/plain"],
        ["deflate, chunked", "application/json"],
        ["x-custom, chunked", "text/plain"],
      ]) {
        const answer = await rawRequest(
          sluice.port,
          chunked(
            coding,
            `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: ${type}\r\n`,
          ),
        );
        expect(answer.status, `${coding}: ${answer.head}`).to.equal(415);
        const json = JSON.parse(answer.body) as { type: string; message: string };
        expect(json.type).to.equal("InvalidContentType");
        expect(json.message).to.include(`Transfer-Encoding (${coding}) is not supported`);
      }
      await stillServes();
    });

    it("SOAP: gzip, chunked is Client.InvalidContentType; chunked alone is read as ever", async () => {
      const head = "POST /soap HTTP/1.1\r\nHost: x\r\nContent-Type: text/xml\r\n";
      const coded = await rawRequest(sluice.port, chunked("gzip, chunked", head));
      expect(coded.status, coded.head).to.equal(500);
      expect(coded.body).to.include("<faultcode>Client.InvalidContentType</faultcode>");
      const plain = await rawRequest(sluice.port, chunked("Chunked", head));
      // "{}" is no envelope: read, and refused for what it holds.
      expect(plain.body).to.include("<faultcode>Client.InvalidXml</faultcode>");
    });
  });

  describe("Host, CONNECT: what Node answered with an empty body or let through", () => {
    const restHead = (hostLines: string, version = "1.1"): string =>
      `POST /rest/echo HTTP/${version}\r\n${hostLines}X-Road-Client: ${CLIENT}\r\n` +
      `Content-Type: application/json\r\nContent-Length: 2\r\n\r\n{}`;

    it("an HTTP/1.1 request without Host, with two, or with one naming no host is 400 InvalidHeader", async () => {
      for (const [hosts, words] of [
        ["", /no Host header/],
        ["Host: a.example\r\nHost: b.example\r\n", /2 Host headers/],
        ["Host: a.example\r\nhost: a.example\r\n", /2 Host headers/],
        ["Host: a b\r\n", /names no host/],
        ["Host: a/b\r\n", /names no host/],
        ["Host: \r\n", /names no host/],
        ["Host: :8080\r\n", /names no host/],
      ] as const) {
        const answer = await rawRequest(sluice.port, restHead(hosts));
        expect(answer.status, hosts).to.equal(400);
        expect(answer.head).to.match(/\r\nconnection: close\r\n/i);
        const json = JSON.parse(answer.body) as { type: string; message: string };
        expect(json.type, hosts).to.equal("InvalidHeader");
        expect(json.message, hosts).to.match(words);
      }
      await stillServes();
    });

    it("on /soap the same is a SOAP fault Client.InvalidHeader", async () => {
      const answer = await rawRequest(
        sluice.port,
        `POST /soap HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Type: text/xml\r\nContent-Length: 0\r\n\r\n`,
      );
      expect(answer.status, answer.head).to.equal(400);
      expect(answer.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
      expect(answer.body).to.include("2 Host headers");
    });

    it("two Authorization lines are 400 InvalidHeader, where Node passed the first on and dropped the other", async () => {
      for (const lines of [
        "Authorization: Bearer a\r\nAuthorization: Bearer b\r\n",
        "Authorization: Bearer a\r\nauthorization: Bearer a\r\n",
      ]) {
        const answer = await rawRequest(
          sluice.port,
          `POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: ${CLIENT}\r\n` +
            `Content-Type: application/json\r\n${lines}Content-Length: 2\r\n\r\n{}`,
        );
        expect(answer.status, lines).to.equal(400);
        expect(answer.head).to.match(/\r\nconnection: close\r\n/i);
        const json = JSON.parse(answer.body) as { type: string; message: string };
        expect(json.type, lines).to.equal("InvalidHeader");
        expect(json.message).to.match(/2 Authorization headers/);
      }
      const soap = await rawRequest(
        sluice.port,
        `POST /soap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n` +
          `Authorization: Basic YTpi\r\nAuthorization: Basic Yzpk\r\nContent-Length: 0\r\n\r\n`,
      );
      expect(soap.status, soap.head).to.equal(400);
      expect(soap.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
      await stillServes();
    });

    it("two Content-Type lines are 400 InvalidHeader, where Node read the first and dropped the other", async () => {
      for (const types of [
        "Content-Type: application/json\r\nContent-Type: text/plain\r\n",
        "Content-Type: text/plain\r\ncontent-type: application/json\r\n",
        "Content-Type: application/json\r\nContent-Type: application/json\r\n",
      ]) {
        const answer = await rawRequest(
          sluice.port,
          `POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: ${CLIENT}\r\n` +
            `${types}Content-Length: 2\r\n\r\n{}`,
        );
        expect(answer.status, types).to.equal(400);
        expect(answer.head).to.match(/\r\nconnection: close\r\n/i);
        const json = JSON.parse(answer.body) as { type: string; message: string };
        expect(json.type, types).to.equal("InvalidHeader");
        expect(json.message).to.match(/2 Content-Type headers/);
      }
      const soap = await rawRequest(
        sluice.port,
        `POST /soap HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/xml; charset=utf-8\r\n` +
          `Content-Type: application/soap+xml\r\nContent-Length: 0\r\n\r\n`,
      );
      expect(soap.status, soap.head).to.equal(400);
      expect(soap.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
      expect(soap.body).to.include("2 Content-Type headers");
      await stillServes();
    });

    it("HTTP/1.0 without Host, and Host with a port or an IP literal, are served", async () => {
      for (const [hosts, version] of [
        ["", "1.0"],
        ["Host: sluice.internal:8443\r\n", "1.1"],
        ["Host: [::1]:8080\r\n", "1.1"],
        ["Host: 10.0.0.1\r\n", "1.1"],
      ] as const) {
        const answer = await rawRequest(
          sluice.port,
          restHead(hosts, version).replace("Content-Type", "Connection: close\r\nContent-Type"),
        );
        expect(answer.status, `${version} ${hosts}`).to.equal(202);
      }
    });

    it("CONNECT is 405 MethodNotAllowed in JSON, where Node closed the connection unanswered", async () => {
      const answer = await rawRequest(
        sluice.port,
        "CONNECT backend.internal:443 HTTP/1.1\r\nHost: backend.internal:443\r\n\r\n",
      );
      expect(answer.status, answer.head).to.equal(405);
      expect(answer.head).to.match(/\r\nallow: /i);
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("MethodNotAllowed");
      await stillServes();
    });
  });
});

/**
 * Starts an adapter of one `echo` ack service whose backend is never reached, with the service
 * port's request deadlines `deadlines` (adapter.headersTimeout, adapter.requestTimeout).
 */
async function echoAdapter(
  harness: Harness,
  deadlines: { headersTimeout: string; requestTimeout: string },
): Promise<SluiceProcess> {
  harness.writeConfig({
    services: { echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
    backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    adapter: { port: 0, ...deadlines },
  });
  return harness.spawn("adapter");
}

describe("a request head begun and then stalled, against a running adapter", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    sluice = await echoAdapter(harness, { headersTimeout: "1s", requestTimeout: "3s" });
  });

  after(() => harness.cleanup());

  /**
   * Writes `head` and then `piece` every `everyMs` (never, without it); resolves with the answer
   * once the adapter closed the connection. With `giveUpMs`, the caller itself closes it after
   * that long, and `open` says the adapter had not.
   */
  function stalled(
    head: string,
    piece?: string,
    everyMs = 0,
    giveUpMs?: number,
  ): Promise<RawAnswer & { open: boolean }> {
    return new Promise((resolve) => {
      const socket = net.connect({ port: sluice.port, host: "127.0.0.1" });
      let received = Buffer.alloc(0);
      let slow: NodeJS.Timeout | undefined;
      let giveUp: NodeJS.Timeout | undefined;
      let open = false;
      socket.on("data", (chunk: Buffer) => (received = Buffer.concat([received, chunk])));
      const finish = (): void => {
        clearInterval(slow);
        clearTimeout(giveUp);
        resolve({ ...rawAnswer(received), open });
      };
      socket.on("error", finish);
      socket.on("close", finish);
      socket.once("connect", () => {
        if (giveUpMs !== undefined) {
          giveUp = setTimeout(() => {
            open = true;
            socket.destroy();
          }, giveUpMs);
        }
        socket.write(head);
        if (piece !== undefined) {
          slow = setInterval(() => socket.writable && socket.write(piece), everyMs);
        }
      });
    });
  }

  it("is answered 408 InvalidRequest by the headers deadline, not closed without a word by the silence bound", async () => {
    // Both bounds are 1 s here; which came first varied with when the head arrived between two
    // of the silence bound's sweeps. Several at staggered moments, so one is likely to lose.
    const answers = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        await new Promise((resolve) => setTimeout(resolve, i * 90));
        return stalled("POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      }),
    );
    for (const answer of answers) {
      expect(answer.status, answer.head || "closed without an answer").to.equal(408);
      expect(JSON.parse(answer.body)).to.include({ type: "InvalidRequest" });
    }
  });

  it("still cuts a head sent a byte at a time, and one that is only blank lines, at the headers deadline", async function () {
    // Past the two bounds below, one after the other.
    this.timeout(150_000);
    for (const [head, piece] of [
      ["GET /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ", "a"],
      ["\r\n", "\r\n"],
    ] as const) {
      // The deadline is 1 s from the first byte, checked every second; a connection it does not
      // cut stays open for as long as the bytes come, so 60 s is only reached by that, not by a
      // loaded machine's late check.
      const answer = await stalled(head, piece, 300, 60_000);
      expect(answer.open, `${JSON.stringify(head)} left open`).to.equal(false);
      expect(answer.status, answer.head).to.equal(408);
    }
  });

  it("answers a body not sent in time 408 with the request's X-Road-Id, as every other answer", async () => {
    const answer = await stalled(
      "POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: EE/GOV/70000001/case-app\r\n" +
        "X-Road-Id: stalled-body-1\r\nContent-Type: application/json\r\nContent-Length: 10\r\n\r\n{}",
    );
    expect(answer.status, answer.head).to.equal(408);
    expect(answer.head).to.match(/\r\nX-Road-Id: stalled-body-1\r\n/);
    expect(JSON.parse(answer.body)).to.include({ type: "InvalidRequest" });
  });

  it("answers a body not sent in time on /soap with the SOAP fault Client.InvalidRequest, where it was JSON", async () => {
    for (const target of ["/soap", "http://127.0.0.1/soap?x=1"]) {
      const answer = await stalled(
        `POST ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Id: stalled-soap-1\r\n` +
          "Content-Type: text/xml; charset=utf-8\r\nContent-Length: 100\r\n\r\n<soapenv:",
      );
      expect(answer.status, answer.head).to.equal(408);
      expect(answer.head, target).to.match(/\r\nContent-Type: text\/xml; charset=utf-8\r\n/);
      expect(answer.head).to.match(/\r\nX-Road-Id: stalled-soap-1\r\n/);
      expect(answer.body).to.include("<faultcode>Client.InvalidRequest</faultcode>");
      expect(answer.body).to.include("the request was not sent in time");
    }
  });

  it("answers a head not sent whole in time 408 without an X-Road-Id: none of the head was read", async () => {
    const answer = await stalled(
      "POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Id: stalled-head-1\r\n",
    );
    expect(answer.status, answer.head).to.equal(408);
    expect(answer.head).not.to.match(/x-road-id/i);
  });

  it("closes a kept-alive connection that sends only CRLFs after its answer", async () => {
    // Node's keep-alive bound is an idle one, which a CRLF now and then (no request begins)
    // reset for ever: one client could hold every connection the port admits. The bound is
    // keepAliveTimeout (5 s) + headersTimeout (1 s) + 2 s from the answer; if the connection
    // were never closed, this would not resolve and the test would time out.
    const answer = await stalled(
      "GET /messages/nosuch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: EE/GOV/1/a\r\n\r\n",
      "\r\n",
      300,
    );
    expect(answer.status, answer.head).to.equal(404);
  });
});

describe("a next request begun on a kept-alive connection and then stalled, against a running adapter", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    // A headers deadline above Node's keep-alive bound (5 s + 1 s), as the default 10 s is.
    sluice = await echoAdapter(harness, { headersTimeout: "7s", requestTimeout: "20s" });
  });

  after(() => harness.cleanup());

  it("is answered 408 by the headers deadline, not closed without a word at the keep-alive bound", async () => {
    const received = await new Promise<string>((resolve) => {
      const socket = net.connect({ port: sluice.port, host: "127.0.0.1" });
      let text = "";
      socket.on("data", (chunk: Buffer) => {
        const first = text === "";
        text += chunk.toString("latin1");
        // The next request begins once the first is answered, as a kept-alive client's does.
        if (first) socket.write("POST /rest/echo HTTP/1.1\r\nHost: 127.0.0.1\r\n");
      });
      socket.on("error", () => resolve(text));
      socket.on("close", () => resolve(text));
      socket.write(
        "GET /messages/nosuch HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Road-Client: EE/GOV/1/a\r\n\r\n",
      );
    });
    expect(received, "the first answer").to.match(/^HTTP\/1\.1 404 /);
    expect(received, "the stalled request's").to.match(/HTTP\/1\.1 408 [^]*"InvalidRequest"/);
  });
});
