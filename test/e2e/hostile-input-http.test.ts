// Requests Node's HTTP parser refuses before any route sees them, against a running adapter:
// headers over Node's 16 KiB, bytes no header may hold, a request line that is not HTTP. Each
// gets its code and words (JSON, or a SOAP fault on /soap), and the adapter serves afterwards.

import { expect } from "chai";
import net from "node:net";
import { Harness, type SluiceProcess } from "../support/harness";
import {
  CLIENT,
  rawAnswer,
  startRawHttpAdapter,
  stillServes as servesAfter,
  type RawAnswer,
} from "./raw-http-adapter";

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

const BIG = "a".repeat(20_000);

describe("Hostile input, HTTP level: what Node's parser refuses gets Sluice's answer", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    sluice = await startRawHttpAdapter(harness);
  });

  after(() => harness.cleanup());

  const stillServes = (): Promise<void> => servesAfter(sluice);

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
});
