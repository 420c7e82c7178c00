// A real connection failure to RabbitMQ and Redis at a URL with a password (a closed local port,
// not the shared services): whatever the libraries' errors and events say, the written lines
// name host and port and never the password.

import { expect } from "chai";
import amqpManager from "amqp-connection-manager";
import Redis from "ioredis";
import { Writable } from "node:stream";
import { Broker } from "../../shared/broker/amqp";
import { createLogger } from "../../shared/observability/logger";
import { createRedis } from "../../shared/store/redis";
import { closedPort } from "../support/closed-port";

function capture(): { log: ReturnType<typeof createLogger>; text: () => string } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const log = createLogger("worker", { destination: stream, format: "json", level: "debug" });
  return { log, text: () => chunks.join("") };
}

const once = <T>(emitter: NodeJS.EventEmitter, event: string): Promise<T> =>
  new Promise((resolve) => emitter.once(event, (value: T) => resolve(value)));

describe("connection URL passwords in written lines", function () {
  this.timeout(30_000);

  it("a RabbitMQ URL with a password that cannot be reached", async () => {
    const port = await closedPort();
    const url = `amqp://sluice:amqp-pw-9f3@127.0.0.1:${port}/`;
    const { log, text } = capture();
    const failed = await Broker.connect(url, log, 5_000).then(
      () => null,
      (error: unknown) => error,
    );
    expect(failed).to.be.an("error");
    log.error({ err: failed }, "start failed");
    // What amqp-connection-manager itself says of the failure, as a library's event gives it.
    const manager = amqpManager.connect([url], { reconnectTimeInSeconds: 60 });
    const event = await once<{ err: Error; url: unknown }>(manager, "connectFailed");
    await manager.close();
    log.warn({ err: event.err, url: event.url }, "RabbitMQ at %s refused", String(event.url));
    expect(text()).not.to.include("amqp-pw-9f3");
    expect(text()).to.include(`127.0.0.1:${port}`);
    expect(text()).to.include("sluice:[redacted]@127.0.0.1");
  });

  it("a Redis URL with a password that cannot be reached", async () => {
    const port = await closedPort();
    const url = `redis://:redis-pw-4c1@127.0.0.1:${port}/0`;
    const { log, text } = capture();
    const client = createRedis(url, log, "url-passwords");
    try {
      await once(client, "error");
    } finally {
      client.disconnect();
    }
    // ioredis' own error and the URL it was given, logged as a library hands them over.
    const probe = new Redis(url, { lazyConnect: true, retryStrategy: () => null });
    probe.on("error", () => undefined);
    const err = await probe.connect().then(
      () => null,
      (error: Error) => error,
    );
    probe.disconnect();
    log.warn({ err, redis: url }, "Redis at %s refused", url);
    expect(text()).not.to.include("redis-pw-4c1");
    expect(text()).to.include(`127.0.0.1:${port}`);
    expect(text()).to.include(":[redacted]@127.0.0.1");
  });
});
