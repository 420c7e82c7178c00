// What Redis holds once traffic of every outcome has ended: each key a message, a caller or a
// callback made expires by itself (a TTL no longer than the retention), and the keys without
// one are the deployment's own (indexes, tallies, journal, limits), fixed in number.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { call, eventually, Harness, START_TIMEOUT_MS } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";
const RETENTION_MS = 60 * 60 * 1000;

/**
 * Keys without an expiry that a deployment keeps by design, below `<prefix>sluice:`: one each
 * (or one per backend), whatever the traffic.
 */
const OWNED = [
  /^dead-letters(:waiting(:groups|:counts|:built)?)?$/,
  /^dead-callbacks(:failed(:groups|:counts|:built)?)?$/,
  /^hub:clients(:built)?$/,
  /^hub:client:EE\/GOV\/70000001\/alice$/,
  /^hub:listener:[^:]+$/,
  /^hub:registration:.+$/,
  /^operator-journal$/,
  /^paused-backends$/,
  /^recent-failures:sim$/,
  /^inflight:sim(:waiting)?$/,
  /^rate:sim(:asking)?$/,
];

describe("Redis keys after traffic of every outcome", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 20 },
    receiver: { secret: SECRET, listeners: [{ client: ALICE, path: "/events/alice" }] },
    config: {
      retention: "1h",
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
        answer: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "10s" },
          backend: "sim",
        },
      },
      backends: {
        sim: {
          translator: "rest-json",
          retry: { attempts: 2, backoff: ["300ms"] },
          rate: { limit: 50 },
        },
      },
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;

  it("leaves no key of a message, caller or callback without an expiry", async () => {
    const ids: string[] = [];
    // Accepted with X-Road ids (a de-duplication key each), one of them twice.
    for (let i = 0; i < 5; i++) {
      const xroadId = `leak-${randomUUID()}`;
      for (let n = 0; n < (i === 0 ? 2 : 1); n++) {
        const answer = await call(`${roles.adapter.url}/rest/lookup`, {
          client: ALICE,
          body: JSON.stringify({ i }),
          headers: { "X-Road-Id": xroadId },
        });
        expect(answer.status).to.equal(202);
        if (n === 0) ids.push(answer.json.id);
      }
    }
    // Callbacks: delivered, and failing until given up.
    const callbacks: string[] = [];
    harness.receiver.respond = (request) =>
      request.path.startsWith("/hooks/failing") ? { status: 500 } : { status: 204 };
    for (const path of ["/hooks/fine", "/hooks/failing"]) {
      const answer = await call(`${roles.adapter.url}/rest/notify`, {
        client: ALICE,
        body: JSON.stringify({ path }),
        headers: { "X-Callback-Url": harness.receiver.url(path) },
      });
      expect(answer.status).to.equal(202);
      ids.push(answer.json.id);
      callbacks.push(answer.json.id);
    }
    // Cancelled before any worker took it (no worker runs yet).
    const cancelled = await call(`${roles.adapter.url}/rest/lookup`, {
      client: ALICE,
      body: "{}",
    });
    expect(
      (
        await call(`${roles.adapter.url}/messages/${cancelled.json.id}`, {
          method: "DELETE",
          client: ALICE,
        })
      ).status,
    ).to.equal(200);
    // A sync caller who gives up waiting, then one answered, with a worker running.
    const gaveUp = await call(`${roles.adapter.url}/rest/answer`, {
      client: ALICE,
      body: "{}",
      headers: { Prefer: "wait=0" },
    });
    expect(gaveUp.status).to.equal(202);
    ids.push(gaveUp.json.id);
    await harness.spawn("worker");
    const sync = await call(`${roles.adapter.url}/rest/answer`, { client: ALICE, body: "{}" });
    expect(sync.status).to.equal(200);

    await eventually(async () => {
      for (const id of ids) {
        const answer = await call(`${roles.adapter.url}/messages/${id}`, { client: ALICE });
        expect(answer.json.state, id).to.be.oneOf(["completed", "failed", "rejected"]);
        // The good callback delivered; the failing one was tried (its retries may go on meanwhile).
        const fine = await call(`${roles.adapter.url}/messages/${callbacks[0]}`, { client: ALICE });
        expect(
          fine.json.delivery,
          `${fine.text} ${JSON.stringify(harness.receiver.calls.map((c) => c.path))}`,
        ).to.equal("delivered");
        expect(
          harness.receiver.calls.filter((c) => c.path.startsWith("/hooks/failing")).length,
        ).to.be.at.least(1);
        return true;
      }
    }, 30_000);

    const redis = harness.redis();
    const root = `${harness.prefix}sluice:`;
    const kept: string[] = [];
    const expiring = new Set<string>();
    let cursor = "0";
    do {
      const [next, keys] = await redis.scan(cursor, "MATCH", `${root}*`, "COUNT", 500);
      cursor = next;
      for (const key of keys) {
        const ttl = await redis.pttl(key);
        const name = key.slice(root.length);
        if (ttl > 0) {
          expect(ttl, name).to.be.at.most(RETENTION_MS + 24 * 60 * 60 * 1000);
          expiring.add(name.split(":")[0]);
        } else if (ttl === -1 && !OWNED.some((owned) => owned.test(name))) kept.push(name);
      }
    } while (cursor !== "0");
    expect(kept).to.deep.equal([]);
    // The scan saw the message records and de-duplication keys it judged.
    expect([...expiring]).to.include.members(["tx", "dedup"]);
  });
});
