// How a waiting sync caller is woken when the usual path (the response worker's Redis pub/sub
// wake) is not there: through the reply queue, as a response worker of the previous release
// wakes it, and by reading the record when the wake subscription comes back after a loss.
// No response worker runs: the test stores each outcome itself, as one would have.

import { expect } from "chai";
import * as amqplib from "amqplib";
import { topologyNames } from "../../shared/protocol/names";
import type { Transaction } from "../../shared/store/transaction-store";
import { AMQP_URL, call, eventually, Harness } from "../support/harness";
import { responseMessage } from "../support/messages";

const CLIENT = "EE/GOV/70000001/case-app";

describe("waking a sync caller without the Redis wake", function () {
  // Callers wait up to 60 s: an answer within the test's time came from a wake, not the deadline.
  this.timeout(30_000);
  const harness = Harness.suite({
    sim: false,
    config: {
      services: {
        lookup: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "60s", maxWait: "60s" },
          backend: "sim",
        },
      },
      backends: { sim: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    },
    roles: ["adapter"],
  });
  const { roles } = harness;
  const names = topologyNames(harness.prefix);
  const redis = harness.redis();
  const store = harness.store(60_000);

  /** Sends a sync call and returns it with its record, once the adapter holds it. */
  async function waitingCall(xroadId: string) {
    const answer = call(`${roles.adapter.url}/rest/lookup`, {
      body: JSON.stringify({ q: xroadId }),
      headers: { "X-Road-Id": xroadId },
      client: CLIENT,
    });
    const tx = await eventually(
      async () => (await store.findByXroadId(CLIENT, "lookup", xroadId)) ?? undefined,
      10_000,
      "the record",
    );
    return { answer, tx };
  }

  /** Stores the outcome as a response worker does, without waking anyone. */
  async function storeOutcome(tx: Transaction, body: string): Promise<void> {
    expect((await store.addResponse(responseMessage(tx.id, { body }))).result).to.equal("ok");
  }

  it("a wake on the reply queue (a response worker of the previous release) answers the caller", async () => {
    const { answer, tx } = await waitingCall("wake-queue-1");
    await storeOutcome(tx, '{"via":"queue"}');
    const stored = (await store.get(tx.id))!;
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      // Version 1, as Sluice 0.1.0 wrote it: no version field.
      const wake = { id: tx.id, state: "completed", response: stored.responses[0], error: null };
      channel.publish(names.repliesExchange, tx.owner!, Buffer.from(JSON.stringify(wake)), {
        persistent: false,
        expiration: 300_000,
      });
      await channel.close();
    } finally {
      await connection.close();
    }
    const result = await answer;
    expect(result.status).to.equal(200);
    expect(result.json).to.deep.equal({ via: "queue" });
  });

  it("an outcome stored while the wake subscription was down reaches the caller once it is back", async () => {
    const { answer, tx } = await waitingCall("wake-lost-1");
    await storeOutcome(tx, '{"via":"record"}');
    // The wake of that outcome was lost: cut the adapter's subscription, which it restores.
    const clients = await redis.client("LIST");
    const line = String(clients)
      .split("\n")
      .find((entry) => entry.includes(` name=sluice-${tx.owner}-wakes `));
    expect(line, "the adapter's wake subscription").to.not.equal(undefined);
    const clientId = /(?:^| )id=(\d+)/.exec(line!)![1];
    await redis.client("KILL", "ID", clientId);
    const result = await answer;
    expect(result.status).to.equal(200);
    expect(result.json).to.deep.equal({ via: "record" });
  });
});
