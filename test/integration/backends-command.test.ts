// `sluice backends list|pause|resume` against real Redis and RabbitMQ: the pause the workers
// obey (the same Redis hash as the admin port's), and each backend's state, since when, and
// how many messages wait, as the runbooks in docs/operations.md use them.

import { randomUUID } from "node:crypto";
import amqplib from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { backendRows } from "../../cli/backend-commands";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { Broker } from "../../shared/broker/amqp";
import { compileConfig, type SluiceConfig } from "../../shared/config/config";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { OperatorJournal } from "../../shared/operator/operator-journal";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { topologyNames } from "../../shared/protocol/names";
import { createRedis, whenReady } from "../../shared/store/redis";
import { AMQP_URL, deletePrefix, REDIS_URL } from "../support/harness";

const log = pino({ level: "silent" });

describe("sluice backends (real Redis and RabbitMQ)", function () {
  this.timeout(30_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: {
      a: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      b: { protocols: ["rest"], reply: { mode: "ack" }, backend: "other" },
    },
    backends: {
      legacy: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        queue: { highWater: 50, maxLength: 100 },
      },
      other: { url: "http://127.0.0.1:9", translator: "rest-json" },
    },
  };
  const redis = createRedis(REDIS_URL, log, "backends-command-test");
  let config: SluiceConfig;
  let replayedOne: string | undefined;

  before(async () => {
    await whenReady(redis);
    config = compileConfig(rawConfig, ".");
    // Three messages wait in legacy's queue; other's queue was never declared.
    const connection = await amqplib.connect(AMQP_URL);
    const channel = await connection.createChannel();
    await channel.assertQueue(`${prefix}requests.legacy`, { durable: false });
    for (let i = 0; i < 3; i++) channel.sendToQueue(`${prefix}requests.legacy`, Buffer.from("{}"));
    await channel.close();
    await connection.close();
    // One dead letter of legacy not replayed, one replayed (not counted).
    const deadLetters = new DeadLetters(redis, prefix, 60_000);
    for (const id of [randomUUID(), randomUUID()]) {
      await deadLetters.record(
        {
          id,
          reason: "retries_exhausted",
          backend: "legacy",
          service: "a",
          client: "EE/GOV/1/sub",
          xroadId: id,
          at: Date.now(),
          error: "backend legacy answered 503",
          attempts: 2,
        },
        Buffer.from("{}"),
      );
      replayedOne ??= id;
    }
    // As a replay's claim links it.
    await redis.hset(redisKeys(prefix).deadLetter(replayedOne!), "replayedAs", randomUUID());
  });

  after(async () => {
    redis.disconnect();
    await deletePrefix(prefix, rawConfig);
  });

  async function run(...argv: string[]): Promise<{ code: number; text: string }> {
    const parsed = parseOperatorArgs("backends", argv);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("backends", parsed, config, (text) => printed.push(text));
    return { code, text: printed.join("\n") };
  }

  it("pauses a backend in the hash the workers read, and says since when", async () => {
    const { code, text } = await run("pause", "legacy", "--json");
    expect(code).to.equal(0);
    const answer = JSON.parse(text) as { backend: string; paused: boolean; since: string };
    expect(answer).to.include({ backend: "legacy", paused: true });
    const state = await new BackendPauses(redis, prefix).state("legacy");
    expect(state.paused).to.equal(true);
    expect(new Date(state.since!).toISOString()).to.equal(answer.since);
  });

  it("says and journals a repeated pause as already, keeping the first pause time", async () => {
    const first = await new BackendPauses(redis, prefix).state("legacy");
    const since = new Date(first.since!).toISOString();
    const json = await run("pause", "legacy", "--json");
    expect(json.code).to.equal(0);
    expect(JSON.parse(json.text)).to.deep.equal({
      backend: "legacy",
      paused: true,
      since,
      already: true,
    });
    const line = await run("pause", "legacy");
    expect(line.code).to.equal(0);
    expect(line.text).to.equal(`legacy: paused since ${since} (already)`);
    const entries = await new OperatorJournal(redis, prefix, log).newest(3);
    expect(entries.map((e) => [e.action, e.target, e.result, e.via])).to.deep.equal([
      ["backend.pause", "legacy", "already", "cli"],
      ["backend.pause", "legacy", "already", "cli"],
      ["backend.pause", "legacy", "paused", "cli"],
    ]);
  });

  it("lists each backend's state, pause time, waiting messages and consumers", async () => {
    const { code, text } = await run("list", "--json");
    expect(code).to.equal(0);
    const rows = JSON.parse(text) as Array<Record<string, unknown>>;
    const since = (await new BackendPauses(redis, prefix).state("legacy")).since!;
    expect(rows).to.deep.equal([
      {
        backend: "legacy",
        state: "paused",
        pausedSince: new Date(since).toISOString(),
        queued: 3,
        highWater: 50,
        consumers: 0,
        deadLetters: 1,
      },
      // Its queue does not exist: the broker said nothing, and the list says so.
      {
        backend: "other",
        state: "running",
        pausedSince: null,
        queued: null,
        highWater: config.backends.other.queue.highWater,
        consumers: null,
        deadLetters: 0,
      },
    ]);
    const table = (await run("list")).text.split("\n");
    expect(table[0]).to.match(
      /^BACKEND +STATE +SINCE +QUEUED +HIGH WATER +CONSUMERS +DEAD LETTERS$/,
    );
    expect(table[1]).to.match(/^legacy +paused +\S+Z \(\d+s ago\) +3 +50 +0 +1$/);
  });

  it("still lists the pauses and dead letters with the broker out of reach, depths unknown, exit 1", async () => {
    const parsed = parseOperatorArgs("backends", ["list", "--json"]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const unreachable = { ...config, amqpUrls: ["amqp://guest:guest@127.0.0.1:1"] };
    const said: string[] = [];
    const write = process.stderr.write;
    process.stderr.write = ((text: string) => (said.push(String(text)), true)) as typeof write;
    let code: number;
    try {
      code = await runOperatorCommand("backends", parsed, unreachable, (text) =>
        printed.push(text),
      );
    } finally {
      process.stderr.write = write;
    }
    // The broker out of reach: ask again later (3), not the answer "no" (1).
    expect(code).to.equal(3);
    // The cause, what is unknown for it, and what to do about it (the start's own hint).
    const line = said.join("");
    expect(line).to.match(/cannot connect to RabbitMQ at .*127\.0\.0\.1:1 \(/);
    expect(line).to.include("queued and consumers unknown (?); ");
    expect(line).to.match(/start it|check that it runs/);
    const rows = JSON.parse(printed.join("\n")) as Array<Record<string, unknown>>;
    expect(
      rows.map(({ backend, state, queued, consumers, deadLetters }) => ({
        backend,
        state,
        queued,
        consumers,
        deadLetters,
      })),
    ).to.deep.equal([
      { backend: "legacy", state: "paused", queued: null, consumers: null, deadLetters: 1 },
      { backend: "other", state: "running", queued: null, consumers: null, deadLetters: 0 },
    ]);
  });

  it("says a running backend is outside its service window when it is", async () => {
    const windowed = compileConfig(
      {
        ...rawConfig,
        backends: {
          ...rawConfig.backends,
          other: {
            ...rawConfig.backends.other,
            windows: [{ days: ["mon"], from: "08:00", to: "09:00", tz: "UTC" }],
          },
        },
      },
      ".",
    );
    const broker = await Broker.connect(AMQP_URL, log);
    try {
      const at = (iso: string) =>
        backendRows(
          {
            config: windowed,
            redis,
            pauses: new BackendPauses(redis, prefix),
            deadLetters: new DeadLetters(redis, prefix, 60_000),
            broker,
            names: topologyNames(prefix),
          },
          Date.parse(iso),
        );
      // A Sunday noon, then a Monday inside the window; legacy stays paused either way.
      const sunday = await at("2026-01-04T12:00:00Z");
      expect(sunday.map((r) => r.state)).to.deep.equal(["paused", "outside service window"]);
      const monday = await at("2026-01-05T08:30:00Z");
      expect(monday.map((r) => r.state)).to.deep.equal(["paused", "running"]);
    } finally {
      await broker.close();
    }
  });

  it("resumes it; resuming again says and journals already", async () => {
    const { code, text } = await run("resume", "legacy");
    expect(code).to.equal(0);
    expect(text).to.equal("legacy: running; workers take its messages again within a second");
    expect((await new BackendPauses(redis, prefix).state("legacy")).paused).to.equal(false);
    const again = await run("resume", "legacy");
    expect(again).to.deep.equal({ code: 0, text: "legacy: running (already)" });
    const json = await run("resume", "legacy", "--json");
    expect(JSON.parse(json.text)).to.deep.equal({
      backend: "legacy",
      paused: false,
      since: null,
      already: true,
    });
    const entries = await new OperatorJournal(redis, prefix, log).newest(3);
    expect(entries.map((e) => [e.action, e.result])).to.deep.equal([
      ["backend.resume", "already"],
      ["backend.resume", "already"],
      ["backend.resume", "resumed"],
    ]);
  });

  it("refuses a name the configuration does not know, before connecting (exit 2)", async () => {
    const { code } = await run("pause", "legacyy");
    expect(code).to.equal(2);
    expect([...(await new BackendPauses(redis, prefix).pausedBackends())]).to.deep.equal([]);
  });
});
