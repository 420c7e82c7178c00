// A publish the broker took but whose confirm never reached the adapter (the channel closed,
// or the confirm came after the deadline): when a worker has already taken the message, the
// adapter answers as for any accepted message, instead of 503 and a resubmission that would
// reach the backend a second time.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  type SluiceProcess,
  untilState,
} from "../support/harness";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { confirmDropper, proxyTo, viaProxy } from "../support/tcp-proxy";

describe("a publish whose confirm was lost after the broker took it", function () {
  this.timeout(120_000);
  const harness = new Harness();
  const confirms = confirmDropper();
  const proxy = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  let adapter: SluiceProcess;

  before(async () => {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      // The confirm deadline leaves a loaded machine's worker time to take the message and
      // call the backend before the adapter gives up on the confirm (the second case needs
      // the call under way by then); the backend's latency outlasts it.
      adapter: { port: 0, publishTimeout: "8s" },
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
    await untilState(adapter, id, ["completed"], 20_000, "the message to complete");
    const again = await submit();
    expect(again.status).to.equal(202);
    expect(again.json.id).to.equal(id);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("refused after Redis lost the record a worker took, its resubmission is the same message: one call", async () => {
    // The worker claimed the message and calls the backend (for longer than the confirm
    // deadline); Redis loses the record, claim and de-duplication key before the adapter gives
    // up on the confirm. Answered 503 (nothing confirmed it), the caller resubmits: that must
    // be the same message, not a new one the backend is called for a second time.
    const xroadId = `lost-record-${randomUUID()}`;
    const submit = () =>
      call(`${adapter.url}/rest/order`, {
        body: JSON.stringify({ n: 2 }),
        headers: { "X-Road-Id": xroadId, "X-Sim-Latency": "12000" },
      });
    const keys = redisKeys(harness.prefix);
    const redis = harness.redis();
    const store = harness.store(86_400_000);
    const dropped = confirms.dropped;
    confirms.arm();
    let answered = false;
    const first = submit().finally(() => (answered = true));
    // Once the worker calls the backend, Redis "loses its data" until the adapter has
    // answered: every record of the message (its claim's renewal writes it again) is gone
    // when the discard comes.
    const dedup = keys.dedup("EE/GOV/70000001/case-app", "order", xroadId);
    let id: string | null = null;
    while (!answered) {
      id ??= await redis.get(dedup);
      if (id && harness.sim.calls({ id }).length > 0) {
        await redis.eval(LOSE_RECORD, 2, store.key(id), dedup);
      }
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    const answer = await first;
    expect(confirms.dropped - dropped, "the confirm was dropped").to.equal(1);
    expect(answer.status, answer.text).to.equal(503);
    expect(id, "the message's gateway id").to.be.a("string");
    // The worker still calling takes its record back with its claim's next renewal.
    await eventually(
      async () => ((await store.get(id!))?.state === "processing" ? true : undefined),
      10_000,
      "the calling worker to take the record back",
    );
    const again = await submit();
    expect(again.status, again.text).to.equal(202);
    expect(again.json.id).to.equal(id);
    await untilState(adapter, id!, ["completed"], 20_000, "the message to complete");
    expect(harness.sim.calls({ id: id! })).to.have.length(1);
  });
});

/**
 * KEYS: a record, its de-duplication key. Deletes both, as Redis losing its data would, unless
 * the record is gone already or is what the adapter's discard wrote (kept unconfirmed).
 */
const LOSE_RECORD = `
if redis.call("HEXISTS", KEYS[1], "state") == 0 then return 0 end
if redis.call("HEXISTS", KEYS[1], "keptUnconfirmed") == 1 then return 0 end
redis.call("DEL", KEYS[1], KEYS[2])
return 1`;
