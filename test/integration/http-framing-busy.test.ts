// A 503 Busy (the backend's queue above its high-water mark) on a kept connection, over raw
// sockets: the body it refused, which here holds a complete request of its own, is never read
// as the next request. The mark is checked once the body is read to its framed end, so the
// request written after it is answered next (a 503 given before the body is read, a stalled
// event loop's, takes the path of the 415 in http-framing.test.ts: shared/protocol/unread-body.ts).

import { expect } from "chai";
import { Harness, type SluiceProcess } from "../support/harness";
import { rawExchange } from "../support/raw-exchange";

const CLIENT = "EE/GOV/70000001/case-app";
const POST = `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: text/plain\r\n`;
/** Written after each probe: answered 400 MissingHeader, and the connection closed. */
const NEXT = "GET /rest/echo/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
/** Requests a body carries: answered only if that body were read as the next request. */
const SMUGGLED_GET = "GET /rest/echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
const SMUGGLED_POST = `${POST}Content-Length: 2\r\n\r\n{}`;

describe("HTTP framing of a 503 Busy at the service port, over raw sockets", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let adminPort = 0;

  before(async function () {
    this.timeout(120_000);
    // No worker runs: what the adapter accepts stays ready in the queue, one message is the
    // mark, and every request after the first is refused 503 Busy.
    harness.writeConfig({
      services: {
        echo: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "legacy",
          contentTypes: ["text/plain"],
        },
      },
      backends: {
        legacy: {
          translator: "rest-json",
          url: "http://127.0.0.1:9",
          queue: { highWater: 1, maxLength: 10 },
        },
      },
    });
    sluice = await harness.spawn("adapter");
    adminPort = Number(new URL(sluice.adminUrl).port);
    const first = await rawExchange(
      sluice.port,
      `${POST}Connection: close\r\nContent-Length: 2\r\n\r\n{}`,
    );
    expect(first.statuses).to.deep.equal([202]);
  });

  after(() => harness.cleanup());

  const smuggledIn = (body: string) => ({
    length: `${POST}Content-Length: ${body.length}\r\n\r\n${body}`,
    chunked: `${POST}Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n`,
    "chunked in two chunks": `${POST}Transfer-Encoding: chunked\r\n\r\n5\r\n${body.slice(0, 5)}\r\n${(body.length - 5).toString(16)}\r\n${body.slice(5)}\r\n0\r\n\r\n`,
  });

  for (const [what, body] of Object.entries({ GET: SMUGGLED_GET, POST: SMUGGLED_POST })) {
    for (const [framing, request] of Object.entries(smuggledIn(body))) {
      it(`a body (${framing}) holding a ${what} is refused Busy once, never read as a request`, async () => {
        const answer = await rawExchange(sluice.port, request + NEXT);
        expect(answer).to.deep.equal({ statuses: [503, 400], types: ["Busy", "MissingHeader"] });
      });
    }
  }

  it("a body holding an admin port's request is refused Busy once, nothing else answered", async () => {
    const admin = `GET /healthz HTTP/1.1\r\nHost: 127.0.0.1:${adminPort}\r\n\r\n`;
    const answer = await rawExchange(
      sluice.port,
      `${POST}Content-Length: ${admin.length}\r\n\r\n${admin}${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [503, 400], types: ["Busy", "MissingHeader"] });
  });
});
