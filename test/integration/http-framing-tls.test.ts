// The framing probes of http-framing.test.ts that matter most, over the TLS service port with
// a client certificate (mutual TLS, as a security server calls it): the port's parser is the
// same behind TLS, and each request gets the answer it gets on the plain port.

import { expect } from "chai";
import type tls from "node:tls";
import { Harness, type SluiceProcess } from "../support/harness";
import { rawExchange } from "../support/raw-exchange";
import { createTestPki, type TestPki } from "../support/test-pki";

const CLIENT = "EE/GOV/70000001/case-app";
const HEAD = `Host: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: text/plain\r\n`;
const POST = `POST /rest/echo HTTP/1.1\r\n${HEAD}`;
/** Written after each probe: answered 400 MissingHeader, and the connection closed. */
const NEXT = "GET /rest/echo/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
const SMUGGLED = "GET /rest/echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

describe("HTTP framing at the TLS service port (mutual TLS), over raw sockets", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let pki: TestPki;
  let sluice: SluiceProcess;
  let secure: tls.ConnectionOptions;

  before(async function () {
    this.timeout(120_000);
    pki = createTestPki();
    const server = pki.ca.issue("sluice", { cn: "localhost" });
    const internal = pki.ca.issue("ss-internal", { cn: "security-server-internal" });
    secure = { ca: pki.ca.cert, cert: internal.cert, key: internal.key, servername: "localhost" };
    harness.writeConfig({
      adapter: {
        port: 0,
        tls: { cert: server.certFile, key: server.keyFile, clientCa: pki.ca.certFile },
      },
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
  });

  after(async () => {
    await harness.cleanup();
    pki?.cleanup();
  });

  it("a connection without a client certificate is refused before any request is read", async () => {
    const answer = await rawExchange(sluice.port, `${POST}Content-Length: 2\r\n\r\n{}${NEXT}`, {
      ca: pki.ca.cert,
      servername: "localhost",
    });
    expect(answer).to.deep.equal({ statuses: [], types: [] });
  });

  it("a well-framed request is accepted and the next one on the connection answered", async () => {
    const answer = await rawExchange(
      sluice.port,
      `${POST}Content-Length: 2\r\n\r\n{}${NEXT}`,
      secure,
    );
    expect(answer).to.deep.equal({ statuses: [202, 400], types: ["MissingHeader"] });
  });

  const refusedAsMalformed: Record<string, string> = {
    "Content-Length with Transfer-Encoding: chunked": `${POST}Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n`,
    "Transfer-Encoding: chunked with Content-Length": `${POST}Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n0\r\n\r\n`,
    "two equal Content-Length lines": `${POST}Content-Length: 2\r\nContent-Length: 2\r\n\r\n{}`,
    "two different Content-Length lines": `${POST}Content-Length: 2\r\nContent-Length: 4\r\n\r\n{}`,
    "chunks ended by a bare LF": `${POST}Transfer-Encoding: chunked\r\n\r\n2\n{}\n0\n\n`,
    "header lines ended by a bare LF": `POST /rest/echo HTTP/1.1\nHost: x\nContent-Length: 2\n\n{}`,
    "an obs-folded Transfer-Encoding": `${POST}Transfer-Encoding:\r\n chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`,
    "an obs-folded header value": `${POST}X-A: a\r\n b\r\nContent-Length: 2\r\n\r\n{}`,
  };

  for (const [name, request] of Object.entries(refusedAsMalformed)) {
    it(`${name} is 400 InvalidRequest, the connection closed`, async () => {
      const answer = await rawExchange(sluice.port, request + NEXT, secure);
      expect(answer).to.deep.equal({ statuses: [400], types: ["InvalidRequest"] });
    });
  }

  it("an absolute-form target is read as RFC 9112 reads it", async () => {
    const answer = await rawExchange(
      sluice.port,
      `POST http://x/rest/echo HTTP/1.1\r\n${HEAD}Content-Length: 2\r\n\r\n{}${NEXT}`,
      secure,
    );
    expect(answer).to.deep.equal({ statuses: [202, 400], types: ["MissingHeader"] });
  });

  it("a request line of HTTP/2.0 is 505 InvalidRequest, not served as HTTP/1.1", async () => {
    const post = `POST /rest/echo HTTP/2.0\r\n${HEAD}Connection: keep-alive\r\nContent-Length: 2\r\n\r\n{}`;
    const answer = await rawExchange(sluice.port, post + NEXT, secure);
    expect(answer).to.deep.equal({ statuses: [505], types: ["InvalidRequest"] });
  });

  it("an HTTP/1.0 request with Transfer-Encoding is answered and the connection closed", async () => {
    const answer = await rawExchange(
      sluice.port,
      `POST /rest/echo HTTP/1.0\r\n${HEAD}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n${NEXT}`,
      secure,
    );
    expect(answer).to.deep.equal({ statuses: [202], types: [] });
  });

  it("a body answered before it was read (415) is never read as a request", async () => {
    const wrongType = `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: application/x-other\r\n`;
    for (const request of [
      `${wrongType}Content-Length: ${SMUGGLED.length}\r\n\r\n${SMUGGLED}${NEXT}`,
      `${wrongType}Transfer-Encoding: chunked\r\n\r\n${SMUGGLED.length.toString(16)}\r\n${SMUGGLED}\r\n0\r\n\r\n${NEXT}`,
    ]) {
      const answer = await rawExchange(sluice.port, request, secure);
      expect(answer, request).to.deep.equal({
        statuses: [415, 400],
        types: ["InvalidContentType", "MissingHeader"],
      });
    }
  });

  it("a body over the limit is 413 and the connection closed, its body unread", async () => {
    const answer = await rawExchange(
      sluice.port,
      `${POST}Content-Length: 99999999\r\n\r\n${SMUGGLED}${NEXT}`,
      secure,
    );
    expect(answer).to.deep.equal({ statuses: [413], types: ["PayloadTooLarge"] });
  });
});
