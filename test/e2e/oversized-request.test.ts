// A request within its service's body limit whose message is larger than the broker takes
// (amqpMaxMessageSize): refused up front with 413 / Client.PayloadTooLarge, before anything is
// recorded or published, instead of being accepted and its publish failing.

import { expect } from "chai";
import amqplib from "amqplib";
import { topologyNames } from "../../shared/protocol/names";
import { fixture, testQueryService } from "../fixtures/xroad-soap/outcomes";
import { AMQP_URL, call, Harness } from "../support/harness";

const CLIENT = "EE/GOV/70000001/case-app";

describe("a request larger as a message than amqpMaxMessageSize (adapter)", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    sim: false,
    config: {
      amqpMaxMessageSize: "64kb",
      securityServer: { url: "http://127.0.0.1:9", client: CLIENT },
      services: {
        lookup: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "stub",
          maxBodySize: "1mb",
        },
        testQuery: { ...testQueryService("stub", { mode: "ack" }), maxBodySize: "1mb" },
        remoteLookup: {
          protocols: ["rest"],
          reply: { mode: "ack" },
          backend: "remote",
          maxBodySize: "1mb",
        },
      },
      backends: {
        stub: { translator: "rest-json", url: "http://127.0.0.1:9" },
        remote: { translator: "xroad-rest", service: "EE/GOV/70000002/registry/lookup" },
      },
    },
    // The adapter alone: whatever it published stays in the request queues.
    roles: ["adapter"],
  });
  const names = topologyNames(harness.prefix);
  let connection: amqplib.ChannelModel;
  let channel: amqplib.Channel;

  before(async () => {
    connection = await amqplib.connect(AMQP_URL);
    channel = await connection.createChannel();
  });
  after(async () => {
    await connection?.close();
  });

  const depth = async (backend: string) =>
    (await channel.checkQueue(names.requestsQueue(backend))).messageCount;
  /** The operator's lookup of (client, X-Road id): 404 when no record was written. */
  const lookup = (xroadId: string) =>
    harness.admin(harness.roles.adapter, `/admin/messages?client=${CLIENT}&xroadId=${xroadId}`);

  // 30 000 quotes are 30 KB of body and 60 KB escaped again in the message, over 64 KiB with the
  // rest of it; 100 KB of letters are over it however carried.
  const escaped = JSON.stringify(['"'.repeat(30_000)]);
  const plain = JSON.stringify({ text: "a".repeat(100_000) });

  for (const [service, backend] of [
    ["lookup", "stub"],
    ["remoteLookup", "remote"],
  ]) {
    it(`REST ${service}: 413 PayloadTooLarge, nothing recorded or published; a small one is taken`, async () => {
      const url = `${harness.roles.adapter.url}/rest/${service}`;
      for (const [n, body] of [escaped, plain].entries()) {
        const xroadId = `big-${service}-${n}-${Date.now()}`;
        const answer = await call(url, { body, headers: { "X-Road-Id": xroadId } });
        expect(answer.status, answer.text).to.equal(413);
        expect(answer.json).to.include({ type: "PayloadTooLarge" });
        expect(answer.json.message).to.match(/larger than amqpMaxMessageSize of 65536 bytes/);
        expect((await lookup(xroadId)).status).to.equal(404);
      }
      expect(await depth(backend)).to.equal(0);
      const smallId = `small-${service}-${Date.now()}`;
      const small = await call(url, { body: "{}", headers: { "X-Road-Id": smallId } });
      expect(small.status, small.text).to.equal(202);
      expect(await depth(backend)).to.equal(1);
      expect((await lookup(smallId)).status).to.equal(200);
    });
  }

  it("SOAP: a Body carried twice (JSON and XML) over the bound is Client.PayloadTooLarge", async () => {
    const envelope = (name: string, xroadId: string) =>
      fixture("simple.query")
        .toString("utf8")
        .replace("<name>foo</name>", `<name>${name}</name>`)
        .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`);
    const post = (body: string) =>
      call(`${harness.roles.adapter.url}/soap`, {
        body,
        client: null,
        headers: { "Content-Type": "text/xml; charset=utf-8" },
      });
    const before = await depth("stub");
    // 40 KB of letters: within maxBodySize, and 80 KB as a message.
    const xroadId = `big-soap-${Date.now()}`;
    const refused = await post(envelope("a".repeat(40_000), xroadId));
    expect(refused.status, refused.text.slice(0, 300)).to.equal(500);
    expect(refused.text).to.include("<faultcode>Client.PayloadTooLarge</faultcode>");
    expect(refused.text).to.match(/larger than amqpMaxMessageSize of 65536 bytes/);
    expect(
      (
        await harness.admin(
          harness.roles.adapter,
          `/admin/messages?client=EE/BUSINESS/consumer&xroadId=${xroadId}`,
        )
      ).status,
    ).to.equal(404);
    expect(await depth("stub")).to.equal(before);
    const taken = await post(envelope("foo", `small-soap-${Date.now()}`));
    expect(taken.status, taken.text.slice(0, 300)).to.equal(200);
    expect(taken.text).to.include("<state>accepted</state>");
    expect(await depth("stub")).to.equal(before + 1);
  });
});
