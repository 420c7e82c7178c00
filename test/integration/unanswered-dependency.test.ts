// The line a role prints when RabbitMQ or Redis on loopback cannot be reached at start: a port
// nobody listens on is a server to start; a server that takes the connection and never answers
// runs, and starting another would not help.

import { expect } from "chai";
import net, { type AddressInfo, type Socket } from "node:net";
import pino from "pino";
import { Broker } from "../../shared/broker/amqp";
import { connectionLossReading } from "../../shared/runtime/startup-error";
import { checkRedis, createRedis } from "../../shared/store/redis";

const TIMEOUT_MS = 500;
const log = pino({ level: "silent" });

/** A listener that takes every connection and never writes a byte. */
async function silentServer(): Promise<{ server: net.Server; port: number; taken: Socket[] }> {
  const taken: Socket[] = [];
  const server = net.createServer((socket) => {
    socket.on("error", () => undefined);
    taken.push(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, port: (server.address() as AddressInfo).port, taken };
}

/** A loopback port nobody listens on: taken from the system, then let go. */
async function closedPort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function failure(start: () => Promise<unknown>): Promise<string> {
  try {
    await start();
  } catch (error) {
    return (error as Error).message;
  }
  throw new Error("the start did not fail");
}

describe("the hint for RabbitMQ or Redis on loopback that cannot be reached at start", () => {
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => (silent = await silentServer()));
  afterEach(async () => {
    for (const socket of silent.taken) socket.destroy();
    await new Promise((resolve) => silent.server.close(resolve));
  });

  it("tells to start RabbitMQ when nothing listens on its port", async () => {
    const port = await closedPort();
    const message = await failure(() =>
      Broker.connect(`amqp://guest:guest@127.0.0.1:${port}`, log, TIMEOUT_MS),
    );
    expect(message).to.include(
      `cannot connect to RabbitMQ at amqp://guest:[redacted]@127.0.0.1:${port}`,
    );
    expect(message).to.include("ECONNREFUSED");
    expect(message).to.include("so RabbitMQ is not running at that address: start it");
    expect(message).to.include("for example `rabbitmq-server -detached`");
    expect(message).to.not.include("did not answer");
  });

  it("says a RabbitMQ that took the connection and never answered runs, not to start it", async () => {
    const message = await failure(() =>
      Broker.connect(`amqp://guest:guest@127.0.0.1:${silent.port}`, log, TIMEOUT_MS),
    );
    expect(silent.taken.length, "connections taken").to.be.greaterThan(0);
    expect(message).to.include(
      `cannot connect to RabbitMQ at amqp://guest:[redacted]@127.0.0.1:${silent.port}`,
    );
    expect(message).to.include("something listens there but did not answer in time");
    expect(message).to.include("a memory or disk alarm (`rabbitmqctl status`)");
    expect(message).to.not.include("rabbitmq-server -detached");
    expect(message).to.not.include("redis-cli");
  });

  it("tells to start Redis when nothing listens on its port", async () => {
    const port = await closedPort();
    const message = await failure(() => checkRedis(`redis://127.0.0.1:${port}`, TIMEOUT_MS));
    expect(message).to.include(`cannot connect to Redis at redis://127.0.0.1:${port}`);
    expect(message).to.include("ECONNREFUSED");
    expect(message).to.include("so Redis is not running at that address: start it");
    expect(message).to.include("for example `redis-server --daemonize yes`");
    expect(message).to.not.include("did not answer");
  });

  it("says a Redis that took the connection and never answered runs, not to start it", async () => {
    const message = await failure(() => checkRedis(`redis://127.0.0.1:${silent.port}`, TIMEOUT_MS));
    expect(silent.taken.length, "connections taken").to.be.greaterThan(0);
    expect(message).to.include(`cannot connect to Redis at redis://127.0.0.1:${silent.port}`);
    expect(message).to.include(`no answer within ${TIMEOUT_MS} ms`);
    expect(message).to.include("something listens there but did not answer in time");
    expect(message).to.include("`redis-cli info`");
    expect(message).to.not.include("redis-server --daemonize yes");
    expect(message).to.not.include("rabbitmqctl");
  });
});

/** The warn lines of a Redis client of a running role, once its first connection error came. */
async function redisWarnings(url: string): Promise<Array<Record<string, string>>> {
  const lines: Array<Record<string, string>> = [];
  const capture = pino(
    { level: "warn" },
    { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, string>) },
  );
  const client = createRedis(url, capture, "unanswered-dependency", TIMEOUT_MS);
  client.on("error", () => undefined);
  try {
    while (!lines.some((line) => line.msg === "Redis connection error")) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  } finally {
    client.disconnect();
  }
  return lines.filter((line) => line.msg === "Redis connection error");
}

describe("the reconnect lines of a running role's Redis or RabbitMQ connection", function () {
  this.timeout(60_000);
  let silent: Awaited<ReturnType<typeof silentServer>>;
  beforeEach(async () => (silent = await silentServer()));
  afterEach(async () => {
    for (const socket of silent.taken) socket.destroy();
    await new Promise((resolve) => silent.server.close(resolve));
  });

  it("say a refused Redis is not running there, naming the URL with its password hidden", async () => {
    const port = await closedPort();
    const [line] = await redisWarnings(`redis://:secret@127.0.0.1:${port}`);
    expect(line.redis).to.equal(`redis://:[redacted]@127.0.0.1:${port}`);
    expect(line.err).to.include("ECONNREFUSED");
    expect(line.why).to.include("nothing listens there, so Redis is not running at that address");
    expect(JSON.stringify(line)).to.not.include("secret");
  });

  it("say a Redis that took the connection and never answered runs and does not answer", async () => {
    const [line] = await redisWarnings(`redis://:secret@127.0.0.1:${silent.port}`);
    expect(silent.taken.length, "connections taken").to.be.greaterThan(0);
    expect(line.redis).to.equal(`redis://:[redacted]@127.0.0.1:${silent.port}`);
    expect(line.why).to.include("something listens there but did not answer in time");
    expect(line.why).to.include("`redis-cli info`");
    expect(JSON.stringify(line)).to.not.include("secret");
  });

  it("read RabbitMQ's refused reconnect and its missed heartbeat as the start's line does", async () => {
    const port = await closedPort();
    const refused = await new Promise<Error>((resolve) =>
      net.connect(port, "127.0.0.1").on("error", resolve),
    );
    expect(connectionLossReading(refused, "RabbitMQ")?.why).to.include(
      "nothing listens there, so RabbitMQ is not running at that address",
    );
    for (const lost of [new Error("Heartbeat timeout"), new Error("connect ETIMEDOUT")]) {
      expect(connectionLossReading(lost, "RabbitMQ")?.why, lost.message).to.include(
        "something listens there but did not answer in time",
      );
    }
    expect(connectionLossReading(new Error("something else"), "RabbitMQ")).to.equal(null);
  });
});
