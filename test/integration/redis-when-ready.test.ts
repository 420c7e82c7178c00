// Waiting for a Redis client to be ready: a client that ends (closed, or given up reconnecting)
// fails the wait at once, and no wait leaves a listener on the client.

import { expect } from "chai";
import Redis from "ioredis";
import { whenReady } from "../../shared/store/redis";
import { REDIS_URL } from "../support/harness";
import { closedPort } from "../support/closed-port";

describe("whenReady", function () {
  this.timeout(30_000);

  it("fails as soon as the client ends, not at its deadline (an hour here)", async () => {
    const port = await closedPort();
    const client = new Redis({
      port,
      host: "127.0.0.1",
      lazyConnect: true,
      retryStrategy: () => null,
    });
    client.on("error", () => undefined);
    try {
      void client.connect().catch(() => undefined);
      const failed = await whenReady(client, 3_600_000).then(
        () => null,
        (error: Error) => error.message,
      );
      expect(failed).to.equal("Redis connection was closed");
      expect(client.listenerCount("ready"), "ready listeners").to.equal(0);
      expect(client.listenerCount("end"), "end listeners").to.equal(0);
    } finally {
      client.disconnect();
    }
  });

  it("leaves no listener once ready", async () => {
    const client = new Redis(REDIS_URL, { lazyConnect: true });
    try {
      const before = { ready: client.listenerCount("ready"), end: client.listenerCount("end") };
      const ready = whenReady(client);
      await client.connect();
      await ready;
      expect({
        ready: client.listenerCount("ready"),
        end: client.listenerCount("end"),
      }).to.deep.equal(before);
    } finally {
      client.disconnect();
    }
  });
});
