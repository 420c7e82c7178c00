// Request framing at both ports of a running adapter, over raw sockets (an HTTP client would
// normalise what is sent). Each request is either refused (400, or the code the refusal has)
// with the connection closed, or read one way only, as RFC 9112 reads it: the request written
// after it on the same connection is then answered as the next one, and a body Sluice answered
// without reading is never read as a request. Pins what Node's parser refuses for Sluice, so a
// Node or Koa upgrade that loosens any of it fails here.

import { expect } from "chai";
import { Harness, type SluiceProcess } from "../support/harness";
import { rawExchange as exchange } from "../support/raw-exchange";

const CLIENT = "EE/GOV/70000001/case-app";

const HEAD = `Host: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: text/plain\r\n`;
const POST = `POST /rest/echo HTTP/1.1\r\n${HEAD}`;
/** Written after each probe: answered 400 MissingHeader, and the connection closed. */
const NEXT = "GET /rest/echo/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
/** A request a body carries: answered only if that body were read as the next request. */
const SMUGGLED = "GET /rest/echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
const ACCEPTED_THEN_NEXT = { statuses: [202, 400], types: ["MissingHeader"] };

describe("HTTP framing at the adapter's ports, over raw sockets", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let adminPort = 0;

  before(async function () {
    this.timeout(120_000);
    harness.writeConfig({
      services: {
        echo: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "legacy",
          contentTypes: ["text/plain"],
        },
      },
      backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    });
    sluice = await harness.spawn("adapter");
    adminPort = Number(new URL(sluice.adminUrl).port);
  });

  after(() => harness.cleanup());

  /** Refused with 400 InvalidRequest alone: nothing after it on the connection is read. */
  const refusedAsMalformed: Record<string, string> = {
    "Content-Length with Transfer-Encoding: chunked": `${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    "Transfer-Encoding: chunked with Content-Length": `${POST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    "two equal Content-Length lines": `${POST}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`,
    "two different Content-Length lines": `${POST}Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}`,
    "a Content-Length with a sign": `${POST}Content-Length: +2\r\n\r\n{}`,
    "a Content-Length list": `${POST}Content-Length: 2, 2\r\n\r\n{}`,
    "a Content-Length with a space inside": `${POST}Content-Length: 1 2\r\n\r\n{}`,
    "Transfer-Encoding: chunked, identity": `${POST}Transfer-Encoding: chunked, identity\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "Transfer-Encoding: xchunked": `${POST}Transfer-Encoding: xchunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "chunked twice, in two lines": `${POST}Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "chunked twice, in one list": `${POST}Transfer-Encoding: chunked, chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "an obs-folded Transfer-Encoding": `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "Transfer-Encoding in a trailer": `${POST}Transfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\nTransfer-Encoding: chunked\r\n\r\n`,
    "a chunk size in 0x": `${POST}Transfer-Encoding: chunked\r\n\r\n0x2\r\n{}\r\n0\r\n\r\n`,
    "a negative chunk size": `${POST}Transfer-Encoding: chunked\r\n\r\n-2\r\n{}\r\n0\r\n\r\n`,
    "a chunk size over 64 bits": `${POST}Transfer-Encoding: chunked\r\n\r\nFFFFFFFFFFFFFFFFF2\r\n{}\r\n0\r\n\r\n`,
    "chunks ended by a bare LF": `${POST}Transfer-Encoding: chunked\r\n\r\n2\n{}\n0\n\n`,
    "a chunk without its CRLF": `${POST}Transfer-Encoding: chunked\r\n\r\n2\r\n{}0\r\n\r\n`,
    "a space before a header's colon": `POST /rest/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\nContent-Length: 2\r\n\r\n{}`,
    "a NUL in a header value": `${POST}X-A: a\0b\r\nContent-Length: 2\r\n\r\n{}`,
    "a bare CR in a header value": `${POST}X-A: a\rb\r\nContent-Length: 2\r\n\r\n{}`,
    "an obs-folded header value": `${POST}X-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}`,
    "header lines ended by a bare LF": `POST /rest/echo HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}`,
    "the HTTP/2 preface": "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "HTTP/1.2": "GET /rest/echo HTTP/1.2\r\nHost: x\r\n\r\n",
  };

  for (const [name, request] of Object.entries(refusedAsMalformed)) {
    it(`service port: ${name} is 400 InvalidRequest, the connection closed`, async () => {
      const answer = await exchange(sluice.port, request + NEXT);
      expect(answer).to.deep.equal({ statuses: [400], types: ["InvalidRequest"] });
    });
  }

  it("service port: a Host missing or doubled is 400 InvalidHeader, the connection closed", async () => {
    for (const request of [
      `POST /rest/echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}`,
      `${POST}Host: y\r\nContent-Length: 2\r\n\r\n{}`,
    ]) {
      const answer = await exchange(sluice.port, request + NEXT);
      expect(answer, request).to.deep.equal({ statuses: [400], types: ["InvalidHeader"] });
    }
  });

  it("service port: an Expect other than 100-continue is 417, its body unread", async () => {
    const body = SMUGGLED;
    const answer = await exchange(
      sluice.port,
      `${POST}Expect: nothing\r\nContent-Length: ${body.length}\r\n\r\n${body}${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [417], types: ["InvalidHeader"] });
  });

  it("service port: a request line over the limit is 414, the connection closed", async () => {
    const answer = await exchange(
      sluice.port,
      `GET /rest/echo?${"a".repeat(20_000)} HTTP/1.1\r\nHost: x\r\n\r\n${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [414], types: ["InvalidRequest"] });
  });

  it("service port: a body longer than its Content-Length says is the start of a next request, refused", async () => {
    const answer = await exchange(sluice.port, `${POST}Content-Length: 2\r\n\r\n{}XX${NEXT}`);
    expect(answer).to.deep.equal({ statuses: [202, 400], types: ["InvalidRequest"] });
  });

  /** Read as RFC 9112 reads them: the request is taken, and the next one answered after it. */
  const readAsSent: Record<string, string> = {
    "a Content-Length with spaces around it": `${POST}Content-Length:   2  \r\n\r\n{}`,
    "a Content-Length with leading zeros": `${POST}Content-Length: 002\r\n\r\n{}`,
    "Transfer-Encoding: Chunked": `${POST}Transfer-Encoding: Chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "a chunk extension": `${POST}Transfer-Encoding: chunked\r\n\r\n2;a=b\r\n{}\r\n0\r\n\r\n`,
    "a chunk size with leading zeros": `${POST}Transfer-Encoding: chunked\r\n\r\n0000000000000000000002\r\n{}\r\n0\r\n\r\n`,
    "an absolute-form target": `POST http://x/rest/echo HTTP/1.1\r\n${HEAD}Content-Length: 2\r\n\r\n{}`,
    "HTTP/1.0 with keep-alive": `POST /rest/echo HTTP/1.0\r\n${HEAD}Connection: keep-alive\r\nContent-Length: 2\r\n\r\n{}`,
  };

  for (const [name, request] of Object.entries(readAsSent)) {
    it(`service port: ${name} is read as RFC 9112 reads it`, async () => {
      const answer = await exchange(sluice.port, request + NEXT);
      expect(answer).to.deep.equal(ACCEPTED_THEN_NEXT);
    });
  }

  it("service port: Content-Length: 00 declares no body, as Content-Length: 0 does", async () => {
    // RFC 9110 §8.6: the value is 1*DIGIT, a number; `00` is zero. A GET without Content-Type
    // is no body wanting one, and a caller that expects 100 Continue gets it at once.
    const bodiless = (length: string) =>
      `GET /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Length: ${length}\r\n`;
    for (const expect100 of ["", "Expect: 100-continue\r\n"]) {
      const zero = await exchange(sluice.port, `${bodiless("0")}${expect100}\r\n${NEXT}`);
      const zeros = await exchange(sluice.port, `${bodiless("00")}${expect100}\r\n${NEXT}`);
      expect(zero.statuses.filter((status) => status !== 100)).to.deep.equal([202, 400]);
      expect(zeros, expect100).to.deep.equal(zero);
    }
  });

  it("service port: a body answered before it was read (415, 404, 400) is never read as a request", async () => {
    const smuggling = (head: string) =>
      `${head}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}${NEXT}`;
    const chunked = (head: string) =>
      `${head}Transfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n${NEXT}`;
    const wrongType = `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: application/x-other\r\n`;
    const unknown = `POST /rest/unknown HTTP/1.1\r\n${HEAD}`;
    const noClient = "POST /rest/echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n";
    const cases: [string, number, string][] = [
      [smuggling(wrongType), 415, "InvalidContentType"],
      [chunked(wrongType), 415, "InvalidContentType"],
      [smuggling(unknown), 404, "UnknownService"],
      [smuggling(noClient), 400, "MissingHeader"],
    ];
    for (const [request, status, type] of cases) {
      const answer = await exchange(sluice.port, request);
      expect(answer, request).to.deep.equal({
        statuses: [status, 400],
        types: [type, "MissingHeader"],
      });
    }
  });

  it("service port: a body over the limit is 413 and the connection closed, its body unread", async () => {
    const answer = await exchange(
      sluice.port,
      `${POST}Content-Length: 99999999\r\n\r\n${SMUGGLED}${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [413], types: ["PayloadTooLarge"] });
  });

  it("both ports: a request line of HTTP/2.0 or HTTP/0.9 is 505 InvalidRequest, not served as HTTP/1.1", async () => {
    // Node's parser takes both versions and served them as HTTP/1.x: a POST was accepted.
    for (const version of ["2.0", "0.9"]) {
      const post = `POST /rest/echo HTTP/${version}\r\n${HEAD}Connection: keep-alive\r\nContent-Length: 2\r\n\r\n{}`;
      const answer = await exchange(sluice.port, post + NEXT);
      expect(answer, version).to.deep.equal({ statuses: [505], types: ["InvalidRequest"] });
      const admin = await exchange(
        adminPort,
        `GET /healthz HTTP/${version}\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n${NEXT}`,
      );
      expect(admin, version).to.deep.equal({ statuses: [505], types: ["InvalidRequest"] });
    }
    // A bare HTTP/0.9 line (no version) is no HTTP/1.1 request either.
    const bare = await exchange(sluice.port, "GET /rest/echo\r\n\r\n");
    expect(bare).to.deep.equal({ statuses: [505], types: ["InvalidRequest"] });
  });

  it("both ports: an HTTP/1.0 request with Transfer-Encoding is answered and the connection closed", async () => {
    // RFC 9112 §6.1: its framing is faulty (an HTTP/1.0 proxy reads the body to the connection's
    // end). Node read it chunked and, with keep-alive, read what followed as the next request.
    const chunked =
      "Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n";
    const answer = await exchange(
      sluice.port,
      `POST /rest/echo HTTP/1.0\r\n${HEAD}${chunked}${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [202], types: [] });
    const admin = await exchange(
      adminPort,
      `POST /healthz HTTP/1.0\r\nHost: 127.0.0.1\r\n${chunked}GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n`,
    );
    expect(admin.statuses).to.have.lengthOf(1);
  });

  it("admin port: a body answered 401 unread is never read as a request", async () => {
    const next = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n";
    const answer = await exchange(
      adminPort,
      `POST /operator/pause HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}${next}`,
    );
    expect(answer).to.deep.equal({ statuses: [401, 200], types: ["Unauthorized"] });
  });

  it("admin port: Content-Length with Transfer-Encoding, or two Host lines, is refused and the connection closed", async () => {
    const next = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
    const cl = await exchange(
      adminPort,
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n${next}`,
    );
    expect(cl).to.deep.equal({ statuses: [400], types: ["InvalidRequest"] });
    const hosts = await exchange(
      adminPort,
      `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nHost: y\r\n\r\n${next}`,
    );
    expect(hosts).to.deep.equal({ statuses: [400], types: ["InvalidHeader"] });
  });
});
