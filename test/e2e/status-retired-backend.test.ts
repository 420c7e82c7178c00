// The status of a message whose backend is no longer in the configuration (an operator renamed
// or removed it while the message waited): its caller still reads it, with a Retry-After.

import { expect } from "chai";
import { call, Harness } from "../support/harness";

describe("status of a message whose backend left the configuration (adapter alone)", function () {
  this.timeout(30_000);
  const harness = Harness.suite({
    config: async () => ({
      services: { echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    }),
    // No worker: the message stays accepted.
    roles: [{ role: "adapter", as: "adapter" }],
  });
  const { roles } = harness;

  it("GET /messages/<id> answers 200 with Retry-After, not 500", async () => {
    const sent = await call(`${roles.adapter.url}/rest/echo`, {
      body: "{}",
      headers: { "X-Road-Id": "retired-1" },
    });
    expect(sent.status).to.equal(202);
    const id = sent.json.id as string;
    // As the record of a message accepted before the backend was renamed reads.
    const redis = harness.redis();
    const key = harness.store(60_000).key(id);
    const meta = JSON.parse((await redis.hget(key, "meta")) as string) as { backend: string };
    expect(meta.backend).to.equal("sim");
    meta.backend = "retired";
    await redis.hset(key, "meta", JSON.stringify(meta));

    const status = await call(`${roles.adapter.url}/messages/${id}`);
    expect(status.status, status.text).to.equal(200);
    expect(status.json.state).to.equal("accepted");
    expect(Number(status.headers.get("retry-after"))).to.be.within(1, 300);
  });
});
