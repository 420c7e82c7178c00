import { expect } from "chai";
import type { RequestMessage } from "../../shared/protocol/envelope";
import {
  consumerPrefetch,
  orderedQueueArguments,
  orderingKey,
  partitionOf,
  partitionBindings,
  consumedQueues,
  routingKeyFor,
} from "../../shared/broker/ordering";

function request(overrides: Partial<RequestMessage> = {}): RequestMessage {
  return {
    id: "00000000-0000-4000-8000-000000000001",
    xroadId: null,
    service: "testQuery",
    backend: "legacy",
    protocol: "rest",
    client: "EE/BUSINESS/consumer/sub",
    replyMode: "ack",
    method: "POST",
    path: "",
    query: "",
    xroadHeaders: {},
    contentType: "application/json",
    body: "{}",
    bodyEncoding: "utf8",
    createdAt: 0,
    expiresAt: null,
    ...overrides,
  };
}

describe("ordering", () => {
  const partitioned = { key: "client", partitions: 8 };

  it("routes unordered and strict backends to the single request queue", () => {
    expect(routingKeyFor("legacy", "none", request())).to.equal("legacy");
    expect(routingKeyFor("legacy", "strict", request())).to.equal("legacy");
    expect(partitionBindings("legacy", "requests.legacy", "strict")).to.deep.equal([]);
    expect(consumedQueues("legacy", "requests.legacy", "none")).to.deep.equal(["requests.legacy"]);
  });

  it("declares one single-active-consumer queue per partition", () => {
    const bindings = partitionBindings("legacy", "t.requests.legacy", {
      key: "client",
      partitions: 3,
    });
    expect(bindings).to.deep.equal([
      { queue: "t.requests.legacy.p0", routingKey: "legacy.p0" },
      { queue: "t.requests.legacy.p1", routingKey: "legacy.p1" },
      { queue: "t.requests.legacy.p2", routingKey: "legacy.p2" },
    ]);
    expect(
      consumedQueues("legacy", "t.requests.legacy", { key: "client", partitions: 2 }),
    ).to.deep.equal(["t.requests.legacy", "t.requests.legacy.p0", "t.requests.legacy.p1"]);
    expect(orderedQueueArguments(partitioned)).to.deep.equal({ "x-single-active-consumer": true });
    expect(orderedQueueArguments("strict")).to.deep.equal({ "x-single-active-consumer": true });
    expect(orderedQueueArguments("none")).to.deep.equal({});
  });

  it("takes one message at a time on ordered queues and one per slot otherwise", () => {
    expect(consumerPrefetch("strict", 8)).to.equal(1);
    expect(consumerPrefetch(partitioned, 8)).to.equal(1);
    expect(consumerPrefetch("none", 8)).to.equal(8);
    expect(consumerPrefetch("none", 0)).to.equal(1);
  });

  it("hashes a key to the same partition every time, spread over all partitions", () => {
    // Pinned values: a change here would move live keys to other partitions after an upgrade.
    expect(partitionOf("EE/BUSINESS/a", 8)).to.equal(1);
    expect(partitionOf("EE/GOV/70000001/registry", 256)).to.equal(18);
    const seen = new Set<number>();
    for (let i = 0; i < 200; i++) seen.add(partitionOf(`client-${i}`, 8));
    expect([...seen].sort()).to.deep.equal([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(partitionOf("anything", 1)).to.equal(0);
  });

  it("routes every message of one client to one partition", () => {
    const first = routingKeyFor("legacy", partitioned, request({ id: "a" }));
    const second = routingKeyFor("legacy", partitioned, request({ id: "b" }));
    expect(first).to.equal(second);
    expect(first).to.equal(`legacy.p${partitionOf("EE/BUSINESS/consumer/sub", 8)}`);
  });

  it("reads a header key from REST headers and from the SOAP header field of that name", () => {
    const rest = request({ xroadHeaders: { "x-road-userid": "EE38001010000" } });
    expect(orderingKey("X-Road-UserId", rest)).to.equal("EE38001010000");
    const soap = request({
      protocol: "soap",
      soap: {
        headers: [
          {
            name: "userId",
            namespace: "http://x-road.eu/xsd/xroad.xsd",
            xml: "<xrd:userId>EE38001010000</xrd:userId>",
          },
        ],
        bodyNamespace: null,
        bodyXml: "<x/>",
        envelopePrefix: "soapenv",
      },
    });
    expect(orderingKey("X-Road-UserId", soap)).to.equal("EE38001010000");
    expect(orderingKey("userId", soap)).to.equal("EE38001010000");
    expect(routingKeyFor("legacy", { key: "X-Road-UserId", partitions: 8 }, soap)).to.equal(
      routingKeyFor("legacy", { key: "X-Road-UserId", partitions: 8 }, rest),
    );
  });

  it("spreads messages without a key by their id", () => {
    const ordering = { key: "X-Road-Issue", partitions: 16 };
    expect(orderingKey("X-Road-Issue", request())).to.equal(null);
    const keys = new Set<string>();
    for (let i = 0; i < 100; i++)
      keys.add(routingKeyFor("legacy", ordering, request({ id: `id-${i}` })));
    expect(keys.size).to.be.greaterThan(8);
  });
});
