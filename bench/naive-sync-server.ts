// The naive durable sync round trip, its front half: what a user would write by hand for a
// synchronous call through a durable queue, in its own process. Koa reads and parses the body,
// one ioredis `SET NX` records the request, one confirmed persistent amqplib publish queues it
// on a quorum queue, then the caller waits for the worker's answer, heard on ONE Redis pub/sub
// subscription shared by every caller (a map from message id to the waiting caller): 200 with
// the backend's body, or 504 when no answer comes in time. The worker is naive-sync-worker.ts.

import Koa from "koa";
import Router from "@koa/router";
import getRawBody from "raw-body";
import Redis from "ioredis";
import { connect } from "amqplib";
import { randomUUID } from "node:crypto";
import { deleteKeys, serveUntilStopped } from "./baseline-process";
import { naiveSyncNames, type NaiveAnswer } from "./naive-sync-names";

const BODY_LIMIT = 1024 * 1024;
const RETENTION_MS = 24 * 3600 * 1000;
/** How long a caller waits for its answer: longer than any benchmark run. */
const WAIT_MS = 120_000;

async function main(amqpUrl: string, redisUrl: string, prefix: string): Promise<void> {
  const names = naiveSyncNames(prefix);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // A connection in subscriber mode can run no other command: the answers get their own.
  const subscriber = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // Nagle's algorithm off, as every socket on Sluice's path has it: the floor is not a 40 ms
  // delayed-ACK wait between a publish's frames.
  const connection = await connect(amqpUrl, { noDelay: true });
  const channel = await connection.createConfirmChannel();
  await channel.assertQueue(names.queue, {
    durable: true,
    arguments: { "x-queue-type": "quorum" },
  });

  const pending = new Map<string, (answer: NaiveAnswer) => void>();
  subscriber.on("message", (_channel: string, text: string) => {
    const answer = JSON.parse(text) as NaiveAnswer;
    pending.get(answer.id)?.(answer);
  });
  await subscriber.subscribe(names.answers);

  const app = new Koa();
  const router = new Router();
  router.post("/rest/:service/:path", async (ctx) => {
    const raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: "utf8" });
    const parsed = JSON.parse(raw) as unknown;
    if (parsed === null || typeof parsed !== "object") ctx.throw(400);
    const client = ctx.get("x-road-client");
    const xroadId = ctx.get("x-road-id") || randomUUID();
    const id = randomUUID();
    const key = `${prefix}naive:request:${client}:${ctx.params.service}:${xroadId}`;
    const fresh = await redis.set(key, id, "PX", RETENTION_MS, "NX");
    if (fresh === null) {
      ctx.status = 409;
      return;
    }
    // Registered before the publish: the answer may come before the broker's confirm does.
    let timer: NodeJS.Timeout | undefined;
    const answered = new Promise<NaiveAnswer | null>((resolve) => {
      pending.set(id, resolve);
      timer = setTimeout(() => resolve(null), WAIT_MS);
    });
    try {
      const message = {
        id,
        xroadId,
        service: ctx.params.service,
        path: ctx.params.path,
        client,
        createdAt: Date.now(),
        body: parsed,
      };
      await new Promise<void>((resolve, reject) =>
        channel.sendToQueue(
          names.queue,
          Buffer.from(JSON.stringify(message)),
          { persistent: true, messageId: id, contentType: "application/json" },
          (err: unknown) => (err ? reject(new Error("nacked")) : resolve()),
        ),
      );
      const answer = await answered;
      if (answer === null) {
        ctx.status = 504;
        return;
      }
      ctx.status = answer.status;
      ctx.type = answer.contentType;
      ctx.body = answer.body;
    } finally {
      clearTimeout(timer);
      pending.delete(id);
    }
  });
  app.use(router.routes());

  // The run stops the worker first; this half owns the queue and the keys.
  serveUntilStopped(app, async () => {
    await channel.deleteQueue(names.queue);
    await deleteKeys(redis, names.keys);
    await connection.close();
    redis.disconnect();
    subscriber.disconnect();
  });
}

if (require.main === module) {
  const [amqpUrl, redisUrl, prefix] = process.argv.slice(2);
  main(amqpUrl, redisUrl, prefix).catch((error: unknown) => {
    process.stderr.write(`naive-sync-server: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
