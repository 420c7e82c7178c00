// A callback asked for per request on a Sluice without a signing secret: the response worker
// never sends an unsigned callback, so the adapter must refuse it instead of answering 202.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { call, Harness } from "../support/harness";

describe("REST callbacks without a signing secret (all roles in one process)", function () {
  this.timeout(30_000);
  let receiver: http.Server;
  const harness = Harness.suite({
    sim: { latencyMs: 10 },
    config: async () => {
      receiver = http.createServer((_req, res) => res.writeHead(204).end());
      await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
      const receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/`;
      return {
        services: { echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
        backends: { sim: { translator: "rest-json" } },
        // An allowlist but no secret: the hub is off and no callback can be signed.
        callbacks: { allow: [receiverUrl], allowHttp: true, allowPrivate: true },
      };
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;
  after(() => receiver?.close());

  it("refuses Prefer: respond-async with X-Callback-Url (400 InvalidCallback), not a 202 never called back", async () => {
    const target = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: "{}",
      headers: { Prefer: "respond-async", "X-Callback-Url": target, "X-Road-Id": "unsigned-1" },
    });
    expect(answer.status).to.equal(400);
    expect(answer.json.type).to.equal("InvalidCallback");
    expect(answer.json.message).to.match(/secret/);
  });

  it("still takes the same request without a callback (202)", async () => {
    const answer = await call(`${roles.sluice.url}/rest/echo`, {
      body: "{}",
      headers: { "X-Road-Id": "unsigned-2" },
    });
    expect(answer.status).to.equal(202);
  });
});
