// A cancel while a sync caller waits and the adapter holding the caller is not subscribed to its
// Redis wake channel (its subscription was cut and cannot reconnect yet): the cancel's Redis
// wake reaches nobody, so it goes through that adapter's reply queue, and the caller gets its
// 409 at once instead of at the end of its wait. The same for the client's cancel, the
// operator's on the admin port and `sluice messages cancel`.

import { expect } from "chai";
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { call, eventually, Harness, REDIS_URL, type HttpAnswer } from "../support/harness";
import { proxyTo, viaProxy } from "../support/tcp-proxy";

const ALICE = "EE/GOV/70000001/alice";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

describe("cancel while the waiting adapter's wake subscription is down", function () {
  // The caller waits far longer than this suite runs, and the subscription stays down until
  // the caller is answered: an answer it gets came through the reply queue.
  this.timeout(60_000);
  // The adapter reaches Redis through this proxy: it refuses new connections while a test
  // keeps the wake subscription down, and the adapter's command connection stays as it was.
  const proxy = proxyTo(REDIS_URL);
  const harness = Harness.suite({
    sim: false,
    config: {
      services: {
        waits: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "5m", maxWait: "5m" },
          backend: "sim",
        },
      },
      // No worker runs: the message waits in its queue, its caller waits on it.
      backends: { sim: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    },
    roles: [
      {
        role: "adapter",
        env: async () => ({ REDIS_URL: viaProxy(REDIS_URL, await proxy.listen()) }),
      },
    ],
  });
  const redis = harness.redis();
  const store = harness.store(60_000);
  afterEach(() => proxy.refuse(false));
  after(() => proxy.close());

  /** Sends a sync request and, while its caller waits, finds the message and its adapter. */
  async function waitingCaller(): Promise<{
    id: string;
    owner: string;
    answer: Promise<HttpAnswer>;
  }> {
    const xroadId = randomUUID();
    const answer = call(`${harness.roles.adapter.url}/rest/waits`, {
      client: ALICE,
      body: JSON.stringify({ waiting: true }),
      headers: { "X-Road-Id": xroadId },
    });
    const tx = await eventually(
      async () => (await store.findByXroadId(ALICE, "waits", xroadId)) ?? undefined,
      10_000,
      "the record",
    );
    return { id: tx.id, owner: tx.owner!, answer };
  }

  /** How many subscribers the wake channel of adapter instance `owner` has. */
  async function subscribers(owner: string): Promise<number> {
    const channel = redisKeys(harness.prefix).wake(owner);
    const [, count] = (await redis.pubsub("NUMSUB", channel)) as [string, number];
    return Number(count);
  }

  /** Cuts the adapter's wake subscription and keeps it from coming back. */
  async function subscriptionDown(owner: string): Promise<void> {
    // Back from the test before, if it cut it too.
    await eventually(async () => ((await subscribers(owner)) > 0 ? true : undefined));
    proxy.refuse(true);
    const clients = String(await redis.client("LIST"));
    const line = clients
      .split("\n")
      .find((entry) => entry.includes(` name=sluice-${owner}-wakes `));
    expect(line, "the adapter's wake subscription").to.not.equal(undefined);
    await redis.client("KILL", "ID", /(?:^| )id=(\d+)/.exec(line!)![1]);
    expect(await subscribers(owner)).to.equal(0);
  }

  /** The caller's answer: a 409 saying who cancelled, while the subscription is still down. */
  async function answeredCancelled(
    waiting: { id: string; owner: string; answer: Promise<HttpAnswer> },
    by: string,
  ): Promise<void> {
    const waited = await waiting.answer;
    expect(waited.status).to.equal(409);
    expect(waited.headers.get("x-sluice-id")).to.equal(waiting.id);
    expect(waited.json).to.include({ type: "Conflict", message: `cancelled by the ${by}` });
    expect(await subscribers(waiting.owner), "the subscription, still down").to.equal(0);
  }

  it("the client's cancel wakes the caller through the reply queue", async () => {
    const waiting = await waitingCaller();
    await subscriptionDown(waiting.owner);
    const cancelled = await call(`${harness.roles.adapter.url}/messages/${waiting.id}`, {
      method: "DELETE",
      client: ALICE,
    });
    expect(cancelled.status).to.equal(200);
    await answeredCancelled(waiting, "client");
  });

  it("the operator's cancel on the admin port wakes the caller through the reply queue", async () => {
    const waiting = await waitingCaller();
    await subscriptionDown(waiting.owner);
    const cancelled = await harness.admin(harness.roles.adapter, `/admin/messages/${waiting.id}`, {
      method: "DELETE",
    });
    expect(cancelled.status).to.equal(200);
    await answeredCancelled(waiting, "operator");
  });

  it("`sluice messages cancel` wakes the caller through the reply queue", async () => {
    const waiting = await waitingCaller();
    await subscriptionDown(waiting.owner);
    const cancelled = await new Promise<{ error: Error | null; stderr: string }>((resolve) =>
      execFile(
        process.execPath,
        [BIN, "messages", "cancel", waiting.id, "--config", harness.configFile],
        { env: { ...process.env, LOG_LEVEL: "warn" }, encoding: "utf8", timeout: 30_000 },
        (error, _stdout, stderr) => resolve({ error, stderr }),
      ),
    );
    expect(cancelled.error, cancelled.stderr).to.equal(null);
    expect(cancelled.stderr).to.equal("");
    await answeredCancelled(waiting, "operator");
  });
});
