// The naive durable sync round trip, its back half (naive-sync-server.ts is the front): an
// amqplib consumer, its prefetch the run's connections (50 when not given), that calls the
// backend for each request, then one Redis MULTI both stores the result and publishes it on the
// answers channel, then acks. Acking after the result is stored means a crash redelivers the
// request instead of losing its answer.

import Redis from "ioredis";
import { connect, type ConsumeMessage } from "amqplib";
import { Agent, request } from "undici";
import { naiveSyncNames, type NaiveAnswer } from "./naive-sync-names";

const RETENTION_MS = 24 * 3600 * 1000;

interface NaiveRequest {
  id: string;
  path: string;
  body: unknown;
}

async function main(
  amqpUrl: string,
  redisUrl: string,
  prefix: string,
  backendUrl: string,
  /**
   * The prefetch: as many requests in flight as the run has callers. A fixed 50 capped a run
   * with more connections at 50 backend calls while Sluice's worker took up to its maxInFlight,
   * so the floor was no floor.
   */
  inFlight: number,
): Promise<void> {
  const names = naiveSyncNames(prefix);
  const redis = new Redis(redisUrl, { maxRetriesPerRequest: 1 });
  // Keep-alive connections to the backend, as many as calls in flight (Sluice's pool is alike).
  const backend = new Agent({ keepAliveTimeout: 60_000 });
  // Nagle's algorithm off, as every socket on Sluice's path has it: the floor is not a 40 ms
  // delayed-ACK wait between a publish's frames.
  const connection = await connect(amqpUrl, { noDelay: true });
  const channel = await connection.createChannel();
  await channel.assertQueue(names.queue, {
    durable: true,
    arguments: { "x-queue-type": "quorum" },
  });
  await channel.prefetch(inFlight);

  const handle = async (delivery: ConsumeMessage): Promise<void> => {
    const message = JSON.parse(delivery.content.toString("utf8")) as NaiveRequest;
    let answer: NaiveAnswer;
    try {
      const response = await request(`${backendUrl}/${message.path}`, {
        method: "POST",
        headers: { "content-type": "application/json", "idempotency-key": message.id },
        body: JSON.stringify(message.body),
        dispatcher: backend,
      });
      answer = {
        id: message.id,
        status: response.statusCode,
        contentType: String(response.headers["content-type"] ?? "application/json"),
        body: await response.body.text(),
      };
    } catch (error) {
      answer = {
        id: message.id,
        status: 502,
        contentType: "text/plain",
        body: (error as Error).message,
      };
    }
    const text = JSON.stringify(answer);
    await redis
      .multi()
      .set(names.result(message.id), text, "PX", RETENTION_MS)
      .publish(names.answers, text)
      .exec();
    channel.ack(delivery);
  };

  await channel.consume(names.queue, (delivery) => {
    if (delivery === null) return;
    // A failure to store the answer leaves the delivery unacked: the broker redelivers it once
    // this consumer's channel closes.
    handle(delivery).catch((error: unknown) => {
      process.stderr.write(`naive-sync-worker: ${(error as Error).message}\n`);
    });
  });
  process.send?.({ type: "ready" });

  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    void (async () => {
      try {
        await connection.close();
        redis.disconnect();
        await backend.close();
      } finally {
        process.exit(0);
      }
    })();
  };
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) {
  const [amqpUrl, redisUrl, prefix, backendUrl, inFlight] = process.argv.slice(2);
  main(amqpUrl, redisUrl, prefix, backendUrl, Math.max(1, Number(inFlight) || 50)).catch(
    (error: unknown) => {
      process.stderr.write(`naive-sync-worker: ${(error as Error).stack ?? String(error)}\n`);
      process.exit(1);
    },
  );
}
