// JSON numbers a double does not hold (a 20-digit identifier, an amount with 34 digits): every
// way Sluice reads JSON and writes it on must hand the digits on as they came, or refuse them.
// JSON.parse rounds 12345678901234567890 to 12345678901234567000, which JSON.stringify writes.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fixture, testQueryService } from "../fixtures/xroad-soap/outcomes";
import { call, Harness, type SluiceProcess, untilState } from "../support/harness";

const ID = "12345678901234567890";
const AMOUNT = "0.1000000000000000055511151231257827";
/** The backend's answer, as its bytes: numbers JavaScript would round. */
const ANSWER = `{"id":${ID},"amount":${AMOUNT},"small":7}`;

describe("JSON numbers beyond double precision, end to end", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let backend: http.Server;
  const received: string[] = [];

  before(async () => {
    // Records each request body and answers ANSWER, as a backend writing exact numbers does.
    backend = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        received.push(Buffer.concat(chunks).toString("utf8"));
        res.writeHead(200, { "content-type": "application/json" });
        res.end(ANSWER);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const port = (backend.address() as AddressInfo).port;
    harness.writeConfig({
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "stub" },
        lookupNow: { protocols: ["rest"], reply: { mode: "sync" }, backend: "stub" },
        testQuery: testQueryService("stub", { mode: "sync" }),
      },
      backends: { stub: { translator: "rest-json", url: `http://127.0.0.1:${port}` } },
    });
    sluice = await harness.spawn("all");
  });
  after(async () => {
    await harness.cleanup();
    await new Promise((resolve) => backend.close(resolve));
  });

  it("REST: the caller's numbers reach the backend as sent, and a sync caller gets the answer's bytes", async () => {
    const body = `{"id":${ID},"amount":${AMOUNT}}`;
    const answer = await call(`${sluice.url}/rest/lookupNow`, { body });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.text).to.equal(ANSWER);
    expect(received[received.length - 1]).to.equal(body);
  });

  it("REST ack: the status document carries the answer's numbers as the backend wrote them", async () => {
    const accepted = await call(`${sluice.url}/rest/lookup`, { body: `{"id":${ID}}` });
    expect(accepted.status, accepted.text).to.equal(202);
    const done = await untilState(sluice, accepted.json.id as string, ["completed"], 30_000);
    // As a JSON string, whose text is the answer: the digits are there to read exactly.
    expect(done.json.responses[0].body).to.equal(ANSWER);
    expect(done.text).to.not.include("12345678901234567000");
  });

  it("SOAP: a JSON answer's numbers reach the caller's XML as the backend wrote them", async () => {
    const answer = await call(`${sluice.url}/soap`, {
      body: fixture("simple.query").toString("utf8"),
      client: null,
      headers: { "Content-Type": "text/xml; charset=utf-8" },
    });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.text).to.include(`<id>${ID}</id>`);
    expect(answer.text).to.include(`<amount>${AMOUNT}</amount>`);
    expect(answer.text).to.include("<small>7</small>");
  });

  it("SOAP: an integer the schema types that a double does not hold is Client.ValidationFailed for a JSON backend", async () => {
    const calls = received.length;
    const answer = await call(`${sluice.url}/soap`, {
      body: fixture("simple.query")
        .toString("utf8")
        .replace("<age>35</age>", `<age>${ID}</age>`)
        .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>big-age-${Date.now()}</xroad:id>`),
      client: null,
      headers: { "Content-Type": "text/xml; charset=utf-8" },
    });
    expect(answer.status, answer.text).to.equal(500);
    expect(answer.text).to.include("<faultcode>Client.ValidationFailed</faultcode>");
    expect(answer.text).to.include("/request/age");
    expect(received.length).to.equal(calls);
  });
});
