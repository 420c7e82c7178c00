// The bench's naive sync worker (bench/naive-sync-worker.ts) is the floor Sluice's sync round
// trip is measured against: it must take as many requests at once as the run has callers, or a
// run with more connections than its prefetch measured the prefetch, not the floor.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { connect, type ChannelModel, type ConfirmChannel } from "amqplib";
import Redis from "ioredis";
import { forkReady, type ManagedProcess } from "../../bench/child-processes";
import { naiveSyncNames } from "../../bench/naive-sync-names";

const AMQP_URL = process.env.AMQP_URL ?? "amqp://guest:guest@127.0.0.1:5672";
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

describe("the bench's naive sync worker", function () {
  this.timeout(60_000);
  const names = naiveSyncNames(`sluice-test-naive-${randomUUID().slice(0, 8)}.`);
  const held: http.ServerResponse[] = [];
  let backend: http.Server | undefined;
  let connection: ChannelModel | undefined;
  let channel: ConfirmChannel | undefined;
  let worker: ManagedProcess | undefined;

  // Here, not in the test: a worker that never gets there ends the test by its timeout.
  after(async () => {
    await worker?.stop(10_000);
    for (const r of held.splice(0)) r.end("{}");
    backend?.close();
    await channel?.deleteQueue(names.queue);
    await connection?.close();
    const redis = new Redis(REDIS_URL);
    for (let cursor = "0"; ;) {
      const [next, keys] = await redis.scan(cursor, "MATCH", names.keys, "COUNT", 1000);
      if (keys.length > 0) await redis.unlink(...keys);
      cursor = next;
      if (cursor === "0") break;
    }
    redis.disconnect();
  });

  it("has as many backend calls open at once as the run's connections (here 60, above 50)", async () => {
    const wanted = 60;
    // The backend answers nobody until `wanted` calls are open together: a worker taking
    // fewer at once never gets there.
    let reachedAll: () => void = () => undefined;
    const reached = new Promise<void>((resolve) => (reachedAll = resolve));
    backend = http.createServer((req, res) => {
      req.resume();
      held.push(res);
      if (held.length < wanted) return;
      for (const r of held.splice(0)) r.end("{}");
      reachedAll();
    });
    await new Promise<void>((resolve) => backend?.listen(0, "127.0.0.1", resolve));
    const backendUrl = `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    connection = await connect(AMQP_URL);
    channel = await connection.createConfirmChannel();
    await channel.assertQueue(names.queue, {
      durable: true,
      arguments: { "x-queue-type": "quorum" },
    });
    const prefix = names.queue.slice(0, -"naive.sync".length);
    worker = (
      await forkReady(
        "naive-sync-worker",
        path.join(__dirname, "..", "..", "bench", "naive-sync-worker.js"),
        [AMQP_URL, REDIS_URL, prefix, backendUrl, String(wanted)],
      )
    ).process;
    for (let i = 0; i < wanted; i++) {
      const message = { id: randomUUID(), path: "lookup", body: { i } };
      channel.sendToQueue(names.queue, Buffer.from(JSON.stringify(message)), { persistent: true });
    }
    await channel.waitForConfirms();
    await reached;
    expect(held).to.have.length(0);
  });
});
