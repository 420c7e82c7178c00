// `Expect: 100-continue` against a running adapter over a raw socket: a body announced over its
// limit gets the 413 (JSON, or a SOAP fault on /soap) without an invitation to send it; one
// within its limit gets 100 Continue and is served as before; another expectation gets 417.

import { expect } from "chai";
import net from "node:net";
import { Harness, type SluiceProcess } from "../support/harness";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import {
  CLIENT,
  rawAnswer,
  startRawHttpAdapter,
  stillServes as servesAfter,
  type RawAnswer,
} from "./raw-http-adapter";

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

const HUGE = 50 * 1024 * 1024;

describe("Hostile input, Expect: 100-continue: no invitation to send a body over its limit", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  before(async () => {
    sluice = await startRawHttpAdapter(harness);
  });

  after(() => harness.cleanup());

  const stillServes = (): Promise<void> => servesAfter(sluice);

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
    await stillServes();
  });
});
