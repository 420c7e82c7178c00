// An error under an operator request (admin port) or a status request (service port): Redis or
// the broker out of reach is 503 Unavailable with Retry-After, asking again later works; a bug (a TypeError, a
// command Redis refuses as malformed) is 500 Internal with the generic body, nothing of it on
// the wire, and one error line in the log with its stack.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import Router from "@koa/router";
import Redis from "ioredis";
import Koa from "koa";
import pino, { type Logger } from "pino";
import { statusRoute } from "../../adapter/status-route";
import type { Broker } from "../../shared/broker/amqp";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { compileConfig } from "../../shared/config/config";
import { AdminServer } from "../../shared/observability/admin-server";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { addOperatorRoutes } from "../../shared/operator/operator-routes";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { SluiceError } from "../../shared/protocol/errors";
import { topologyNames } from "../../shared/protocol/names";
import { systemClock } from "../../shared/runtime/clock";
import { createRedis } from "../../shared/store/redis";
import { TransactionStore } from "../../shared/store/transaction-store";
import { call, REDIS_URL } from "../support/harness";
import { deadCallbackEntry, transactionMeta } from "../support/messages";
import { closedPort } from "../support/closed-port";

const TOKEN = "an-outage-test-admin-token-0123456789";
const CLIENT = "EE/GOV/70000001/case-app";
const GENERIC = { type: "Internal", message: "internal error", detail: null };

/** A store whose read meets a bug, as a mistyped field would make one. */
function buggy(store: TransactionStore): TransactionStore {
  return Object.assign(Object.create(store) as TransactionStore, {
    get: async () => {
      throw new TypeError("Cannot read properties of undefined (reading 'state')");
    },
  });
}

/** A logger whose lines the test reads. */
function capturingLog(): { log: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const log = pino(
    { level: "info" },
    { write: (line: string) => lines.push(JSON.parse(line) as Record<string, unknown>) },
  );
  return { log, lines };
}

describe("outage or bug: 503 for Redis out of reach, 500 for a bug (real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const config = compileConfig(
    {
      prefix,
      services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
      backends: { b: { url: "http://127.0.0.1:9" } },
    },
    ".",
  );
  const redis = new Redis(REDIS_URL);
  const store = new TransactionStore(redis, prefix, 60_000);
  let down: Redis;
  const closers: Array<() => Promise<void>> = [];

  before(async () => {
    // No offline queue: every command fails at once while ioredis tries to connect.
    down = createRedis(
      `redis://127.0.0.1:${await closedPort()}`,
      pino({ level: "silent" }),
      "outage-test",
    );
  });
  after(async () => {
    for (const close of closers) await close();
    down.disconnect();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  /** An admin port with the operator routes over `storeOf(redis)` and `redis`. */
  async function adminPort(
    redisOf: Redis,
    storeOf: TransactionStore,
    log: Logger,
    broker = {} as Broker,
  ) {
    const admin = new AdminServer(log, TOKEN);
    addOperatorRoutes({
      admin,
      config,
      redis: redisOf,
      store: storeOf,
      broker,
      names: topologyNames(prefix),
      monitor: { get: () => undefined } as unknown as QueueMonitor,
      log,
      pauses: new BackendPauses(redisOf, prefix),
      deadLetters: new DeadLetters(redisOf, prefix, 60_000),
      failures: new RecentFailures(redisOf, prefix),
      clock: systemClock,
      afterPauseChange: async () => undefined,
    });
    const port = await admin.listen(0, "127.0.0.1");
    closers.push(() => admin.close());
    return (path: string, method = "GET") =>
      call(`http://127.0.0.1:${port}${path}`, {
        method,
        client: null,
        headers: { authorization: `Bearer ${TOKEN}` },
      });
  }

  /** The service port's status route over `storeOf`. */
  async function statusPort(storeOf: TransactionStore, log: Logger) {
    const app = new Koa();
    const router = new Router();
    router.get("/messages/:id", statusRoute({ store: storeOf, log, pollAfter: () => 1 }));
    app.use(router.routes());
    const server = http.createServer(app.callback());
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    closers.push(async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    });
    const { port } = server.address() as AddressInfo;
    return (id: string) => call(`http://127.0.0.1:${port}/messages/${id}`, { client: CLIENT });
  }

  function expectBug(
    answer: Awaited<ReturnType<typeof call>>,
    lines: Array<Record<string, unknown>>,
    cause: RegExp,
  ) {
    expect(answer.status, answer.text).to.equal(500);
    expect(answer.json).to.deep.equal(GENERIC);
    expect(answer.headers.get("retry-after")).to.equal(null);
    const errors = lines.filter((line) => line.level === 50);
    expect(errors, JSON.stringify(lines)).to.have.length(1);
    expect(String(errors[0].err)).to.match(cause);
    expect(String(errors[0].err), "the stack is logged").to.match(/\n\s+at /);
  }

  function expectOutage(answer: Awaited<ReturnType<typeof call>>, message: RegExp) {
    expect(answer.status, answer.text).to.equal(503);
    expect(answer.json.type).to.equal("Unavailable");
    expect(answer.json.message).to.match(message);
    expect(answer.text).not.to.match(/\n\s+at /);
    expect(Number(answer.headers.get("retry-after"))).to.be.greaterThan(0);
  }

  describe("operator routes (admin port)", () => {
    it("answer a bug in the store (a TypeError) 500 with the generic body, its stack logged", async () => {
      const { log, lines } = capturingLog();
      const operator = await adminPort(redis, buggy(store), log);
      expectBug(
        await operator(`/admin/messages/${randomUUID()}`),
        lines,
        /^TypeError: Cannot read/,
      );
    });

    it("answer a command Redis refuses as malformed (WRONGTYPE) 500, not 503", async () => {
      const { log, lines } = capturingLog();
      const operator = await adminPort(redis, store, log);
      const id = randomUUID();
      await redis.set(store.key(id), "not a hash");
      expectBug(await operator(`/admin/messages/${id}`), lines, /WRONGTYPE/);
    });

    it("answer Redis out of reach 503 with Retry-After, one warning and no error", async () => {
      const { log, lines } = capturingLog();
      const operator = await adminPort(down, new TransactionStore(down, prefix, 60_000), log);
      const paths = [
        `/admin/messages/${randomUUID()}`,
        "/admin/dead-letters?limit=5",
        // A pipeline: ioredis resolves it with the errors among the replies.
        `/admin/dead-callbacks/${randomUUID()}`,
      ];
      for (const path of paths) expectOutage(await operator(path), /^Redis unavailable \(/);
      expect(lines.filter((line) => line.level === 50)).to.deep.equal([]);
      expect(lines.filter((line) => line.msg === "admin request unavailable")).to.have.length(3);
    });
  });

  it("a redelivery the broker does not take answers 503 with Retry-After, as a replay's", async () => {
    const id = randomUUID();
    await store.create(
      transactionMeta({ id, replyMode: "callback", callback: "https://cb.example.org/hooks/1" }),
    );
    const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
    await deadCallbacks.record(deadCallbackEntry(id));
    // What Broker.publish throws while disconnected.
    const brokerDown = {
      channel: () => ({}),
      publish: async () => {
        throw new SluiceError("Unavailable", "message broker unavailable", { retryAfter: 5 });
      },
    } as unknown as Broker;
    const { log } = capturingLog();
    const operator = await adminPort(redis, store, log, brokerDown);
    const answer = await operator(`/admin/dead-callbacks/${id}/redeliver`, "POST");
    expectOutage(answer, /^the broker did not take the redelivery: message broker unavailable$/);
    expect((await deadCallbacks.get(id))?.delivery, "asking again is possible").to.equal(
      "delivery_failed",
    );
  });

  describe("status route (service port)", () => {
    it("answers a bug in the store 500 with the generic body, its stack logged", async () => {
      const { log, lines } = capturingLog();
      const status = await statusPort(buggy(store), log);
      expectBug(await status(randomUUID()), lines, /^TypeError: Cannot read/);
    });

    it("answers a finished message 200 when marking it delivered meets a bug, and logs the bug", async () => {
      const id = randomUUID();
      await store.create(transactionMeta({ id, client: CLIENT, replyMode: "ack" }));
      await store.transition(id, ["accepted"], "failed", {
        error: { code: "BackendFailed", message: "not taken" },
      });
      const markBug = Object.assign(Object.create(store) as TransactionStore, {
        setDelivery: async () => {
          throw new TypeError("Cannot read properties of undefined (reading 'delivery')");
        },
      });
      const { log, lines } = capturingLog();
      const status = await statusPort(markBug, log);
      const answer = await status(id);
      expect(answer.status, answer.text).to.equal(200);
      const errors = lines.filter((line) => line.level === 50);
      expect(errors, JSON.stringify(lines)).to.have.length(1);
      expect(String(errors[0].err)).to.match(/^TypeError: Cannot read/);
    });

    it("answers Redis out of reach 503 with Retry-After", async () => {
      const { log, lines } = capturingLog();
      const status = await statusPort(new TransactionStore(down, prefix, 60_000), log);
      expectOutage(await status(randomUUID()), /^transaction store unavailable$/);
      expect(lines.filter((line) => line.level === 50)).to.deep.equal([]);
    });
  });
});
