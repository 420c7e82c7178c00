// A sync caller that hangs up frees its waiter slot at once: a burst of callers who give up
// cannot lock out the next ones until their deadlines pass.

import http from "node:http";
import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";
import { freshConnectionPerFetch } from "../support/fresh-connections";

/** The one client calling here: a second one would be held to its share of the waiter slots. */
const CLIENT = "EE/GOV/1/app";

describe("sync callers that hang up", function () {
  freshConnectionPerFetch();
  this.timeout(40_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20_000 },
    config: {
      adapter: { port: 0, maxSyncWaiters: 5 },
      services: {
        slow: { protocols: ["rest"], reply: { mode: "sync", wait: "30s" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json", maxInFlight: 20, timeout: "30s" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  async function waiters(): Promise<number> {
    const text = await (await fetch(`${roles.sluice.adminUrl}/metrics`)).text();
    return Number(/^sluice_sync_waiters (\d+)/m.exec(text)?.[1] ?? -1);
  }

  it("releases the slot when the connection closes, and logs no status for those answered nothing", async () => {
    const requests = Array.from({ length: 5 }, (_, n) => {
      const req = http.request(`${roles.sluice.url}/rest/slow`, {
        method: "POST",
        headers: {
          "X-Road-Client": CLIENT,
          "X-Road-Id": `hangup-${n}`,
          "Content-Type": "application/json",
        },
      });
      req.on("error", () => undefined);
      req.end("{}");
      return req;
    });
    await eventually(
      async () => ((await waiters()) === 5 ? true : undefined),
      10_000,
      "five waiters",
    );
    const full = await call(`${roles.sluice.url}/rest/slow`, { body: "{}", client: CLIENT });
    expect(full.status).to.equal(503);
    expect(full.json.type).to.equal("Busy");
    for (const req of requests) req.destroy();
    await eventually(async () => ((await waiters()) === 0 ? true : undefined), 5_000, "no waiters");
    // Accepted all the same (their messages go on), but nothing was answered on the wire.
    const lines = await eventually(async () => {
      const found = roles.sluice.lines.filter(
        (l) => l.msg === "request" && String(l.xroadId).startsWith("hangup-"),
      );
      return found.length === 5 ? found : undefined;
    });
    for (const line of lines) expect(line).to.include({ status: null, outcome: "accepted" });
    const again = await call(`${roles.sluice.url}/rest/slow`, {
      client: CLIENT,
      body: "{}",
      headers: { Prefer: "wait=1" },
    });
    expect(again.status).to.equal(202);
  });
  it("answers a resubmission of an accepted message 202 with its id when every waiter slot is taken, never 503", async () => {
    const xroadId = `full-${Date.now()}`;
    const first = await call(`${roles.sluice.url}/rest/slow`, {
      client: CLIENT,
      body: "{}",
      headers: { Prefer: "respond-async", "X-Road-Id": xroadId },
    });
    expect(first.status).to.equal(202);
    const holders = Array.from({ length: 5 }, () => {
      const req = http.request(`${roles.sluice.url}/rest/slow`, {
        method: "POST",
        headers: { "X-Road-Client": CLIENT, "Content-Type": "application/json" },
      });
      req.on("error", () => undefined);
      req.end("{}");
      return req;
    });
    try {
      await eventually(
        async () => ((await waiters()) === 5 ? true : undefined),
        10_000,
        "five waiters",
      );
      // A new message is refused: nothing of it is kept.
      const fresh = await call(`${roles.sluice.url}/rest/slow`, { body: "{}", client: CLIENT });
      expect(fresh.status).to.equal(503);
      // The accepted one is answered as its duplicate, in sync mode too.
      for (const prefer of [undefined, "wait=3"]) {
        const again = await call(`${roles.sluice.url}/rest/slow`, {
          client: CLIENT,
          body: "{}",
          headers: { "X-Road-Id": xroadId, ...(prefer ? { Prefer: prefer } : {}) },
        });
        expect(again.status, JSON.stringify(again.json)).to.equal(202);
        expect(again.json.id).to.equal(first.json.id);
      }
    } finally {
      for (const req of holders) req.destroy();
    }
  });
});
