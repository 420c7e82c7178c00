// The naive-design baseline: what a user would write by hand for an acknowledged intake, in
// its own process: Koa reads and parses the body, one ioredis `SET NX` per request
// de-duplicates it, one confirmed amqplib publish per request queues it, then 202.

import Koa from "koa";
import Router from "@koa/router";
import getRawBody from "raw-body";
import Redis from "ioredis";
import { connect } from "amqplib";
import { randomUUID } from "node:crypto";
import { deleteKeys, serveUntilStopped } from "./baseline-process";

const BODY_LIMIT = 1024 * 1024;
const RETENTION_MS = 24 * 3600 * 1000;

export interface NaiveOptions {
  amqpUrl: string;
  redisUrl: string;
  /** Queue and key prefix, unique per benchmark run. */
  prefix: string;
}

async function main(options: NaiveOptions): Promise<void> {
  const redis = new Redis(options.redisUrl, { maxRetriesPerRequest: 1 });
  const connection = await connect(options.amqpUrl);
  const channel = await connection.createConfirmChannel();
  const queue = `${options.prefix}naive.requests`;
  await channel.assertQueue(queue, { durable: true, arguments: { "x-queue-type": "quorum" } });

  const app = new Koa();
  const router = new Router();
  router.post("/rest/:service", async (ctx) => {
    const raw = await getRawBody(ctx.req, { limit: BODY_LIMIT, encoding: "utf8" });
    const parsed = JSON.parse(raw) as unknown;
    if (parsed === null || typeof parsed !== "object") ctx.throw(400);
    const client = ctx.get("x-road-client");
    const xroadId = ctx.get("x-road-id") || randomUUID();
    const id = randomUUID();
    const key = `${options.prefix}naive:dedup:${client}:${ctx.params.service}:${xroadId}`;
    const fresh = await redis.set(key, id, "PX", RETENTION_MS, "NX");
    if (fresh === null) {
      ctx.status = 409;
      return;
    }
    const message = {
      id,
      xroadId,
      service: ctx.params.service,
      client,
      createdAt: Date.now(),
      body: parsed,
    };
    await new Promise<void>((resolve, reject) =>
      channel.sendToQueue(
        queue,
        Buffer.from(JSON.stringify(message)),
        { persistent: true, messageId: id, contentType: "application/json" },
        (err: unknown) => (err ? reject(new Error("nacked")) : resolve()),
      ),
    );
    ctx.status = 202;
    ctx.set("Location", `/messages/${id}`);
    ctx.body = { id, xroadId, state: "accepted", statusUrl: `/messages/${id}` };
  });
  app.use(router.routes());

  serveUntilStopped(app, async () => {
    await channel.deleteQueue(queue);
    await deleteKeys(redis, `${options.prefix}naive:*`);
    await connection.close();
    redis.disconnect();
  });
}

if (require.main === module) {
  const [amqpUrl, redisUrl, prefix] = process.argv.slice(2);
  main({ amqpUrl, redisUrl, prefix }).catch((error: unknown) => {
    process.stderr.write(`naive-server: ${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  });
}
