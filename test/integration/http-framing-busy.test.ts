// A 503 Busy (the backend's queue above its high-water mark) on a kept connection, over raw
// sockets: the body it refused, which here holds a complete request of its own, is never read
// as the next request. The mark is judged from the request's head, before the body is read:
// the answer comes though the body never does, and the body is then dropped by its framing
// (shared/protocol/unread-body.ts), so the request written after it is answered next; a body
// declared over 1 MiB ends the connection with the answer.

import net from "node:net";
import { expect } from "chai";
import { eventually, Harness, type SluiceProcess } from "../support/harness";
import { answersIn, rawExchange } from "../support/raw-exchange";
import { metricValue } from "../e2e/ops-support";

const CLIENT = "EE/GOV/70000001/case-app";
const POST = `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: text/plain\r\n`;
/** Written after each probe: answered 400 MissingHeader, and the connection closed. */
const NEXT = "GET /rest/echo/next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";
/** Requests a body carries: answered only if that body were read as the next request. */
const SMUGGLED_GET = "GET /rest/echo/smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
const SMUGGLED_POST = `${POST}Content-Length: 2\r\n\r\n{}`;

/**
 * An adapter with no worker, its queue's high-water mark one message, that mark reached by one
 * accepted request: every request after it is refused 503 Busy.
 */
async function startAtMark(
  harness: Harness,
  adapter?: Record<string, string>,
): Promise<SluiceProcess> {
  harness.writeConfig({
    ...(adapter ? { adapter } : {}),
    services: {
      echo: {
        protocols: ["rest"],
        reply: { mode: "ack" },
        backend: "legacy",
        contentTypes: ["text/plain"],
        maxBodySize: "8mb",
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
  const sluice = await harness.spawn("adapter");
  const first = await rawExchange(
    sluice.port,
    `${POST}Connection: close\r\nContent-Length: 2\r\n\r\n{}`,
  );
  expect(first.statuses).to.deep.equal([202]);
  return sluice;
}

describe("HTTP framing of a 503 Busy at the service port, over raw sockets", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let adminPort = 0;

  before(async function () {
    this.timeout(120_000);
    // No worker runs: what the adapter accepts stays ready in the queue, one message is the
    // mark, and every request after the first is refused 503 Busy.
    sluice = await startAtMark(harness);
    adminPort = Number(new URL(sluice.adminUrl).port);
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

  it("a chunked body found over 1 MiB after its 503 ends the connection: the request behind it is not answered", async () => {
    const body = "x".repeat(2 * 1024 * 1024);
    const answer = await rawExchange(
      sluice.port,
      `${POST}Transfer-Encoding: chunked\r\n\r\n${body.length.toString(16)}\r\n${body}\r\n0\r\n\r\n${NEXT}`,
    );
    expect(answer).to.deep.equal({ statuses: [503], types: ["Busy"] });
  });

  /** The head written alone on a new connection: its answer read, the connection left open. */
  async function answerToHead(head: string): Promise<{
    socket: net.Socket;
    answer: string;
    closed: Promise<string>;
  }> {
    const socket = net.connect({ port: sluice.port, host: "127.0.0.1" });
    socket.setEncoding("latin1");
    let received = "";
    let answered: (answer: string) => void = () => undefined;
    const answer = new Promise<string>((resolve) => (answered = resolve));
    const closed = new Promise<string>((resolve) => {
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(received));
    });
    socket.on("data", (chunk: string) => {
      received += chunk;
      // One whole answer: its head, and as many bytes of body as its Content-Length says.
      const end = received.indexOf("\r\n\r\n");
      const length = /\r\ncontent-length: (\d+)\r\n/i.exec(received.slice(0, end + 2));
      if (end >= 0 && length && received.length >= end + 4 + Number(length[1])) {
        answered(received);
      }
    });
    socket.once("connect", () => socket.write(head));
    const first = await Promise.race([answer, closed]);
    return { socket, answer: first, closed };
  }

  it("a head declaring a body that never comes is answered 503 Busy, counted and logged; the body sent later is dropped and the next request answered", async () => {
    const client = "EE/GOV/70000001/head-only";
    const before =
      (await metricValue(sluice.adminUrl, "sluice_backpressure_rejections_total", {
        reason: "high_water",
      })) ?? 0;
    const head = `POST /rest/echo HTTP/1.1\r\nHost: x\r\nX-Road-Client: ${client}\r\nContent-Type: text/plain\r\nContent-Length: 1000\r\n\r\n`;
    const { socket, answer, closed } = await answerToHead(head);
    expect(answersIn(answer)).to.deep.equal({ statuses: [503], types: ["Busy"] });
    expect(answer).to.match(/\r\nRetry-After: \d+\r\n/i);
    // Within 1 MiB the connection is kept: the body, once it comes, is read to its end and dropped.
    expect(answer).not.to.match(/\r\nConnection: close\r\n/i);
    expect(
      await metricValue(sluice.adminUrl, "sluice_backpressure_rejections_total", {
        reason: "high_water",
      }),
    ).to.equal(before + 1);
    socket.write(`${SMUGGLED_GET.padEnd(1000, " ")}${NEXT}`);
    const rest = (await closed).slice(answer.length);
    expect(answersIn(rest)).to.deep.equal({ statuses: [400], types: ["MissingHeader"] });
    const accessLines = (): Array<Record<string, unknown>> =>
      sluice.output
        .filter((line) => line.includes('"msg":"request"') && line.includes(client))
        .map((line) => JSON.parse(line) as Record<string, unknown>);
    // Written as the answer ends: given the time a loaded machine takes to pass it on.
    const logged = await eventually(
      async () => (accessLines().length > 0 ? accessLines() : undefined),
      60_000,
      "the refused request's access line",
    );
    expect(logged).to.have.length(1);
    expect(logged[0]).to.include({ status: 503, code: "Busy", service: "echo", client });
  });

  it("a head declaring a body over 1 MiB that never comes is answered 503 Busy with Connection: close, and the connection ends", async () => {
    const head = `${POST}Content-Length: ${4 * 1024 * 1024}\r\n\r\n`;
    const { answer, closed } = await answerToHead(head);
    expect(answersIn(answer)).to.deep.equal({ statuses: [503], types: ["Busy"] });
    expect(answer).to.match(/\r\nConnection: close\r\n/i);
    expect(answersIn(await closed)).to.deep.equal({ statuses: [503], types: ["Busy"] });
  });
});

// The request a 503 answered before its body is read is answered: the connection carries no
// other answer for it. A body that then never comes to its end (nothing more sent, a chunk that
// never ends) meets adapter.requestTimeout, and a malformed chunk meets Node's parser: the
// connection is closed without the 408 or 400 that a client reads as the answer to the next
// request it wrote on the connection the 503 kept.
describe("the body of a request answered 503 before it was read, never finished", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async function () {
    this.timeout(120_000);
    sluice = await startAtMark(harness, { headersTimeout: "1s", requestTimeout: "2s" });
  });

  after(() => harness.cleanup());

  /** Writes `head`; once its answer is in, writes `after`; reads until the server closes. */
  function exchange(head: string, after: string): Promise<string> {
    return new Promise((resolve) => {
      const socket = net.connect({ port: sluice.port, host: "127.0.0.1" });
      socket.setEncoding("latin1");
      let received = "";
      let wrote = false;
      socket.on("data", (chunk: string) => {
        received += chunk;
        if (!wrote && /\r\n\r\n\{[^]*\}$/.test(received)) {
          wrote = true;
          if (after !== "") socket.write(after);
        }
      });
      socket.on("error", () => undefined);
      socket.on("close", () => resolve(received));
      socket.once("connect", () => socket.write(head));
    });
  }

  const cases: Record<string, [string, string]> = {
    "a declared body never sent": [`${POST}Content-Length: 1000\r\n\r\n`, ""],
    "a declared body partly sent": [`${POST}Content-Length: 1000\r\n\r\n`, `${"x".repeat(500)}`],
    "a chunked body whose chunk never ends": [
      `${POST}Transfer-Encoding: chunked\r\n\r\n`,
      `fffffff\r\n${"x".repeat(1000)}`,
    ],
    "a chunked body with a malformed chunk": [
      `${POST}Transfer-Encoding: chunked\r\n\r\n`,
      `zz\r\nxx\r\n0\r\n\r\n`,
    ],
  };
  for (const [what, [head, after]] of Object.entries(cases)) {
    it(`${what}: the 503 is the only answer, the connection closed without another`, async () => {
      const received = await exchange(head, after);
      expect(answersIn(received)).to.deep.equal({ statuses: [503], types: ["Busy"] });
    });
  }
});
