// A broker whose max_message_size is below amqpMaxMessageSize (a node of this test alone, at
// 256 KiB, with Sluice's default 16mb): once the broker refused a message, Sluice knows its limit
// and holds every later message to it, as it does to amqpMaxMessageSize: the adapter's requests
// and the worker's responses (the tests run in order, the first teaching the broker's limit).

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { call, eventually, Harness, type SluiceProcess, untilState } from "../support/harness";
import { PrivateRabbit } from "./ops-support";

const BROKER_MAX = 256 * 1024;

describe("a broker whose max_message_size is below amqpMaxMessageSize (private RabbitMQ node)", function () {
  this.timeout(300_000);
  const harness = new Harness();
  let rabbit: PrivateRabbit;
  let backend: http.Server;
  let sluice: SluiceProcess;

  before(async () => {
    rabbit = await PrivateRabbit.start({ config: `max_message_size = ${BROKER_MAX}\n` });
    // Answers /text-N with N letters, as text/plain.
    backend = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        const count = /\/text-(\d+)$/.exec(req.url ?? "")?.[1];
        res.writeHead(count ? 200 : 404, { "content-type": "text/plain; charset=utf-8" });
        res.end("a".repeat(Number(count ?? 0)));
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const port = (backend.address() as AddressInfo).port;
    harness.writeConfig({
      services: {
        lookup: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "stub",
          maxBodySize: "1mb",
        },
      },
      backends: { stub: { translator: "rest-json", url: `http://127.0.0.1:${port}` } },
    });
    sluice = await harness.spawn("all", { AMQP_URL: rabbit.url });
  });
  after(async () => {
    await harness.cleanup();
    await new Promise((resolve) => backend.close(resolve));
    await rabbit?.remove();
  });

  it("a request the broker refuses as too large is 413 PayloadTooLarge, naming its limit; the next is taken", async () => {
    const body = JSON.stringify({ text: "a".repeat(300_000) });
    const refused = await call(`${sluice.url}/rest/lookup`, { body });
    expect(refused.status, refused.text).to.equal(413);
    expect(refused.json).to.include({ type: "PayloadTooLarge" });
    expect(refused.json.message).to.match(/larger than the broker's max_message_size of 262144/);
    // Known now: refused before it is published, the channel the broker closed is open again.
    const again = await call(`${sluice.url}/rest/lookup`, { body });
    expect(again.status, again.text).to.equal(413);
    const taken = await eventually(async () => {
      const answer = await call(`${sluice.url}/rest/lookup/text-10`);
      return answer.status === 202 ? answer : undefined;
    });
    const settled = await untilState(sluice, taken.json.id as string, ["completed"], 30_000);
    expect(settled.json.responses[0].body).to.equal("a".repeat(10));
  });

  it("an answer over the broker's limit (learned above) fails at once, BackendFailed, naming that limit", async () => {
    // 300 000 letters fit amqpMaxMessageSize (16mb) but not the broker's 256 KiB: published,
    // the response would close the worker's channel on every try, the message never ending.
    const accepted = await call(`${sluice.url}/rest/lookup/text-300000`);
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, ["completed", "failed", "rejected"], 30_000);
    expect(settled.json.state, settled.text.slice(0, 300)).to.equal("failed");
    expect(settled.json.error.code).to.equal("BackendFailed");
    const deadLetter = await eventually(async () => {
      const answer = await harness.admin(sluice, `/admin/dead-letters/${id}`);
      return answer.status === 200 ? answer : undefined;
    });
    expect(deadLetter.json).to.include({ id, reason: "translator_error" });
    expect(deadLetter.json.error).to.match(
      /more than a response message carries under the broker's max_message_size of 262144 bytes \(amqpMaxMessageSize is 16777216\)/,
    );
  });

  it("the first answer over the broker's limit, before any refusal taught it, fails too: it does not stay processing", async () => {
    // A fresh process knows only amqpMaxMessageSize (16mb): the answer is recorded, then its
    // response refused by the broker, which names its limit only then. Published again and again
    // it would be refused on every try, the message never ending and holding a worker.
    await sluice.stop();
    const fresh = await harness.spawn("all", { AMQP_URL: rabbit.url });
    const accepted = await call(`${fresh.url}/rest/lookup/text-300000`);
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(fresh, id, ["completed", "failed", "rejected"], 60_000);
    expect(settled.json.state, settled.text.slice(0, 300)).to.equal("failed");
    expect(settled.json.error.code).to.equal("BackendFailed");
    const deadLetter = await eventually(async () => {
      const answer = await harness.admin(fresh, `/admin/dead-letters/${id}`);
      return answer.status === 200 ? answer : undefined;
    });
    expect(deadLetter.json).to.include({ id, reason: "translator_error" });
    expect(deadLetter.json.error).to.match(/the broker's max_message_size of 262144 bytes/);
    // The worker is free again: the next message is answered.
    const next = await call(`${fresh.url}/rest/lookup/text-10`);
    expect(next.status, next.text).to.equal(202);
    const done = await untilState(fresh, next.json.id as string, ["completed"], 30_000);
    expect(done.json.responses[0].body).to.equal("a".repeat(10));
  });
});
