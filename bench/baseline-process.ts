// How the bench's baseline servers run as child processes: each listens on a free loopback
// port and tells the harness which, and at the harness's SIGTERM (or when it goes away) closes
// its connections, removes what its run left in RabbitMQ and Redis, and exits.

import type Koa from "koa";
import type Redis from "ioredis";
import type { AddressInfo } from "node:net";

/** Serves `app` until stopped; `cleanUp` runs once, after the server closed, before the exit. */
export function serveUntilStopped(app: Koa, cleanUp: () => Promise<void>): void {
  const server = app.listen(0, "127.0.0.1", () => {
    const { port } = server.address() as AddressInfo;
    process.send?.({ type: "ready", port });
  });
  server.keepAliveTimeout = 60_000;
  let stopping = false;
  const stop = (): void => {
    if (stopping) return;
    stopping = true;
    server.closeAllConnections();
    server.close();
    void cleanUp().finally(() => process.exit(0));
  };
  process.on("disconnect", stop);
  process.on("SIGTERM", stop);
}

/** Deletes every key matching `pattern` (a run's prefix), a SCAN page at a time. */
export async function deleteKeys(redis: Redis, pattern: string): Promise<void> {
  for (let cursor = "0"; ;) {
    const [next, keys] = await redis.scan(cursor, "MATCH", pattern, "COUNT", 1000);
    if (keys.length > 0) await redis.unlink(...keys);
    cursor = next;
    if (cursor === "0") return;
  }
}
