// `sluice messages show` and the admin port's GET /admin/messages show an operator the same
// document for a message (protocol, callback, dead letter, redactions and all), by gateway id
// and by caller; and a CLI command whose Redis never gets ready leaves no client reconnecting.

import { randomUUID } from "node:crypto";
import { once } from "node:events";
import { expect } from "chai";
import Redis from "ioredis";
import pino from "pino";
import type { Broker } from "../../shared/broker/amqp";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { compileConfig } from "../../shared/config/config";
import { AdminServer } from "../../shared/observability/admin-server";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { addOperatorRoutes } from "../../shared/operator/operator-routes";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { topologyNames } from "../../shared/protocol/names";
import { systemClock } from "../../shared/runtime/clock";
import { TransactionStore } from "../../shared/store/transaction-store";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { connectRedis } from "../../cli/operator-context";
import { call, REDIS_URL } from "../support/harness";
import {
  recordDeadLetter,
  requestMessage,
  responseMessage,
  TEST_CLIENT,
  transactionMeta,
} from "../support/messages";

const TOKEN = "a-message-show-test-admin-token-0123456789";
const SECRETS = {
  callback: `cb-${randomUUID()}`,
  authorization: `Bearer tok-${randomUUID()}`,
  cookie: `session=ck-${randomUUID()}`,
};

describe("`sluice messages show` and GET /admin/messages (real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const config = compileConfig(
    {
      prefix,
      services: {
        svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" },
        other: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" },
      },
      backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
    },
    ".",
  );
  const log = pino({ level: "silent" });
  const redis = new Redis(REDIS_URL);
  const store = new TransactionStore(redis, prefix, config.retentionMs);
  const deadLetters = new DeadLetters(redis, prefix, config.retentionMs);
  const admin = new AdminServer(log, TOKEN);
  let port = 0;
  const xroadId = `x-${randomUUID()}`;
  let id = "";

  before(async () => {
    addOperatorRoutes({
      admin,
      config,
      redis,
      store,
      broker: {} as Broker,
      names: topologyNames(prefix),
      monitor: { get: () => undefined } as unknown as QueueMonitor,
      log,
      pauses: new BackendPauses(redis, prefix),
      deadLetters,
      failures: new RecentFailures(redis, prefix),
      clock: systemClock,
      afterPauseChange: async () => undefined,
    });
    port = await admin.listen(0, "127.0.0.1");
    // A message with everything an operator may see: a callback target whose query holds the
    // caller's token, a response with credential headers, a dead letter.
    const meta = transactionMeta({
      xroadId,
      protocol: "rest",
      callback: `https://cb.example.org/hooks?token=${SECRETS.callback}&n=1`,
    });
    id = meta.id;
    expect(await store.create(meta)).to.deep.equal({ created: true });
    const response = responseMessage(id, {
      final: false,
      headers: { authorization: SECRETS.authorization, "set-cookie": SECRETS.cookie, "x-n": "1" },
    });
    expect((await store.addResponse(response)).result).to.equal("ok");
    await recordDeadLetter(deadLetters, requestMessage({ id, xroadId, service: "svc" }));
  });

  after(async () => {
    await admin.close();
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  async function adminShows(path: string): Promise<Record<string, unknown>> {
    const answer = await call(`http://127.0.0.1:${port}${path}`, {
      method: "GET",
      client: null,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    expect(answer.status, answer.text).to.equal(200);
    return answer.json as Record<string, unknown>;
  }

  async function cliShows(args: string[]): Promise<Record<string, unknown>> {
    const parsed = parseOperatorArgs("messages", ["show", ...args, "--json"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("messages", parsed, config, (text) => printed.push(text));
    expect(code).to.equal(0);
    return JSON.parse(printed.join("\n")) as Record<string, unknown>;
  }

  /** The dead letter's age counts from when it is read: the one field two reads may differ in. */
  function withoutAge(doc: Record<string, unknown>) {
    const dead = doc.deadLetter as Record<string, unknown>;
    expect(dead.ageSeconds).to.be.a("number");
    return { ...doc, deadLetter: { ...dead, ageSeconds: 0 } };
  }

  it("shows by id what the admin port shows, protocol, callback and dead letter included", async () => {
    const shown = await cliShows([id]);
    expect(withoutAge(shown)).to.deep.equal(withoutAge(await adminShows(`/admin/messages/${id}`)));
    expect(shown).to.include({ id, protocol: "rest", client: TEST_CLIENT, backend: "b" });
    expect(shown.callback).to.equal("https://cb.example.org/hooks?token=[redacted]&n=[redacted]");
    expect(shown.deadLetter).to.include({ id, reason: "retries_exhausted", service: "svc" });
    const [first] = shown.responses as Array<{ headers: Record<string, string> }>;
    expect(first.headers).to.deep.equal({
      authorization: "[redacted]",
      "set-cookie": "[redacted]",
      "x-n": "1",
    });
    const text = JSON.stringify(shown);
    for (const secret of Object.values(SECRETS)) expect(text).to.not.include(secret);
  });

  it("shows by caller what the admin port shows", async () => {
    const shown = await cliShows(["--client", TEST_CLIENT, "--xroad-id", xroadId]);
    const query = new URLSearchParams({ client: TEST_CLIENT, xroadId });
    expect(withoutAge(shown)).to.deep.equal(
      withoutAge(await adminShows(`/admin/messages?${query}`)),
    );
    expect(shown.id).to.equal(id);
  });

  it("finds a message and its dead letter by an id written in upper case, as the admin port does", async () => {
    // RFC 9562 reads UUIDs without regard to case; a client's log may print them in upper case.
    const upper = id.toUpperCase();
    const shown = await cliShows([upper]);
    expect(withoutAge(shown)).to.deep.equal(
      withoutAge(await adminShows(`/admin/messages/${upper}`)),
    );
    expect((await adminShows(`/admin/dead-letters/${upper}`)).id).to.equal(id);
    const listed = await adminShows(`/admin/dead-letters?id=${upper}`);
    expect((listed.deadLetters as Array<{ id: string }>).map((d) => d.id)).to.deep.equal([id]);
    const parsed = parseOperatorArgs("dead-letters", ["show", upper, "--json"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, config, (t) => printed.push(t));
    expect(code).to.equal(0);
    expect(JSON.parse(printed.join("\n"))).to.include({ id });
  });

  it("disconnects a Redis client that never gets ready, so the command can exit", async () => {
    let seen: Redis | null = null;
    const neverReady = async (client: Redis) => {
      seen = client;
      throw new Error("Redis did not become ready");
    };
    let failed: Error | null = null;
    try {
      await connectRedis(config, log, neverReady);
    } catch (error) {
      failed = error as Error;
    }
    expect(failed?.message).to.equal("Redis did not become ready");
    const client = seen as Redis | null;
    expect(client).to.not.equal(null);
    try {
      // Disconnected, it ends; left alone, it goes on to connect to this (reachable) Redis.
      const next = await Promise.race([
        once(client!, "end").then(() => "end"),
        once(client!, "ready").then(() => "ready"),
      ]);
      expect(next).to.equal("end");
    } finally {
      client!.disconnect();
    }
  });
});
