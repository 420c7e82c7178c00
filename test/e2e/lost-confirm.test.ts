// A publish the broker took but whose confirm never reached the adapter (the channel closed,
// or the confirm came after the deadline): when a worker has already taken the message, the
// adapter answers as for any accepted message, instead of 503 and a resubmission that would
// reach the backend a second time.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { AMQP_URL, call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { confirmDropper, proxyTo, viaProxy } from "../support/tcp-proxy";

describe("a publish whose confirm was lost after the broker took it", function () {
  this.timeout(60_000);
  const harness = new Harness();
  const confirms = confirmDropper();
  const proxy = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      adapter: { port: 0, publishTimeout: "3s" },
      services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json" } },
    });
    await harness.spawn("worker");
    await harness.spawn("response-worker");
    // The adapter alone reaches the broker through the proxy that loses its confirm.
    const config = path.join(harness.dir, "adapter.json");
    const shared = JSON.parse(readFileSync(harness.configFile, "utf8")) as Record<string, unknown>;
    writeFileSync(
      config,
      JSON.stringify({ ...shared, amqpUrl: viaProxy(AMQP_URL, await proxy.listen()) }),
    );
    const own = harness.configFile;
    harness.configFile = config;
    try {
      adapter = await harness.spawn("adapter");
    } finally {
      harness.configFile = own;
    }
  });
  after(async () => {
    await harness.cleanup();
    await proxy.close();
  });

  it("is accepted once a worker took it, and reaches the backend once", async () => {
    const xroadId = `lost-confirm-${randomUUID()}`;
    const submit = () =>
      call(`${adapter.url}/rest/order`, {
        body: JSON.stringify({ n: 1 }),
        headers: { "X-Road-Id": xroadId },
      });
    confirms.arm();
    const answer = await submit();
    expect(confirms.dropped, "the confirm was dropped").to.equal(1);
    // Told 503, the caller would submit it again as a new message while this one is processed.
    expect(answer.status, answer.text).to.equal(202);
    const id = answer.json.id as string;
    await eventually(
      async () =>
        (await call(`${adapter.url}/messages/${id}`)).json?.state === "completed"
          ? true
          : undefined,
      20_000,
      "the message to complete",
    );
    const again = await submit();
    expect(again.status).to.equal(202);
    expect(again.json.id).to.equal(id);
    // The only message of this suite: one call in all.
    expect(harness.sim.calls()).to.have.length(1);
  });
});
