// Which dead letters the operator's lists and bulk replays pick, on a real role's admin port
// and the CLI: entries are seeded in Redis with chosen times, so the order is known, and no
// worker runs, so each replay stays in its request queue where the test reads it.

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import type { Readable } from "node:stream";
import * as amqplib from "amqplib";
import { expect } from "chai";
import Redis from "ioredis";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { topologyNames } from "../../shared/protocol/names";
import { redisKeys } from "../../shared/protocol/redis-keys";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  REDIS_URL,
  type SluiceProcess,
  type CallOptions,
  START_TIMEOUT_MS,
} from "../support/harness";
import { takeQueued } from "../support/broker-scope";
import { FULL_DISK_LINE, sluiceToFullDisk } from "../support/full-output";
import { recordDeadLetter, requestMessage } from "../support/messages";
import { spawn } from "../support/spawned-children";

const CLIENT = "EE/GOV/70000001/case-app";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const HOUR_MS = 3_600_000;

describe("dead letters the operator selects (lists, bulk replay, CLI)", function () {
  // A test starts a response worker of its own: a start takes up to START_TIMEOUT_MS under load.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  const redis = new Redis(REDIS_URL);
  const deadLetters = new DeadLetters(redis, harness.prefix, 24 * HOUR_MS);
  const names = topologyNames(harness.prefix);
  let sluice: SluiceProcess;
  let connection: amqplib.ChannelModel;
  let channel: amqplib.Channel;
  /** A time all seeded entries are placed after, a second apart. */
  const base = Date.now() - 12 * HOUR_MS;
  let seeded = 0;

  before(async () => {
    await harness.startSim();
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
      backends: { b: {} },
    });
    // Serves the operator endpoints like every role, and consumes no request queue.
    sluice = await harness.spawn("response-worker");
    connection = await amqplib.connect(AMQP_URL);
    channel = await connection.createChannel();
  });
  after(async () => {
    await connection?.close().catch(() => undefined);
    redis.disconnect();
    await harness.cleanup();
  });

  const admin = (route: string, options?: CallOptions) => harness.admin(sluice, route, options);
  const cli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args, "--config", harness.configFile], {
      env: { ...process.env, LOG_LEVEL: "warn" },
      encoding: "utf8",
      timeout: 30_000,
    });

  /**
   * All a child prints, read a chunk at a time with a pause after each, as a busy machine's
   * reader does: the CLI must not exit before the last chunk left it. Kept as bytes until the
   * end, so a character split between two chunks stays whole.
   */
  function readSlowly(stream: Readable): Promise<string> {
    const chunks: Buffer[] = [];
    stream.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      stream.pause();
      setTimeout(() => stream.resume(), 10);
    });
    return new Promise((resolve, reject) => {
      stream.once("end", () => resolve(Buffer.concat(chunks).toString("utf8")));
      stream.once("error", reject);
    });
  }

  /** Records a dead letter of backend b, each seeded one a second after the one before. */
  async function seed(options: { replayedAs?: string; client?: string } = {}): Promise<string> {
    const at = base + seeded++ * 1000;
    const request = requestMessage({
      xroadId: `x-${seeded}`,
      service: "orders",
      client: options.client ?? CLIENT,
      createdAt: at,
    });
    const id = await recordDeadLetter(deadLetters, request, { at });
    if (options.replayedAs) await redis.hset(deadLetters.key(id), "replayedAs", options.replayedAs);
    return id;
  }

  /** The originals of the replays now queued for backend b, in queue order (taken off it). */
  async function queuedReplays(): Promise<string[]> {
    const originals: string[] = [];
    for (const replayId of await takeQueued(channel, names.requestsQueue("b"))) {
      originals.push(String(await redis.hget(redisKeys(harness.prefix).tx(replayId), "replayOf")));
    }
    return originals;
  }

  it("lists those not replayed yet however many newer ones were replayed (replayed=no before the limit)", async () => {
    const client = "EE/GOV/1/listing";
    const waiting = [await seed({ client }), await seed({ client }), await seed({ client })];
    for (let i = 0; i < 4; i++) await seed({ client, replayedAs: randomUUID() });
    const listed = await admin(
      `/admin/dead-letters?client=${encodeURIComponent(client)}&replayed=no&limit=2`,
    );
    expect(listed.status).to.equal(200);
    expect(listed.json.deadLetters.map((e: { id: string }) => e.id)).to.deep.equal([
      waiting[2],
      waiting[1],
    ]);
    const replayed = await admin(
      `/admin/dead-letters?client=${encodeURIComponent(client)}&replayed=yes`,
    );
    expect(replayed.json.deadLetters).to.have.length(4);
    expect((await admin("/admin/dead-letters?replayed=maybe")).status).to.equal(400);
  });

  it("bulk replay takes the oldest first and stops at its limit", async () => {
    const client = "EE/GOV/1/bulk";
    const ids = [await seed({ client }), await seed({ client }), await seed({ client })];
    const bulk = await admin("/admin/dead-letters/replay", {
      method: "POST",
      body: JSON.stringify({ client, limit: 2 }),
    });
    expect(bulk.status).to.equal(200);
    expect(bulk.json.replayed.map((r: { id: string }) => r.id)).to.deep.equal(ids.slice(0, 2));
    expect(await queuedReplays()).to.deep.equal(ids.slice(0, 2));
  });

  it("a misspelt key of a list or a bulk replay is 400 and nothing is replayed", async () => {
    const client = "EE/GOV/1/misspelt";
    await seed({ client });
    const listed = await admin(`/admin/dead-letters?clinet=${encodeURIComponent(client)}`);
    expect(listed.status).to.equal(400);
    expect(listed.json.message).to.match(/unknown key "clinet"/);
    const bulk = await admin("/admin/dead-letters/replay", {
      method: "POST",
      body: JSON.stringify({ client, backnd: "b" }),
    });
    expect(bulk.status).to.equal(400);
    expect(bulk.json.message).to.match(/unknown key "backnd"/);
    expect(await queuedReplays()).to.deep.equal([]);
  });

  it("bulk replay still finds those waiting once more than a scan's worth of older ones were replayed", async () => {
    const client = "EE/GOV/1/many";
    // 10 000 dead letters (a list's scan) older than the one waiting, all replayed already.
    const pipeline = redis.pipeline();
    for (let i = 0; i < 10_000; i++) {
      const id = randomUUID();
      const at = base - 2 * HOUR_MS + i;
      pipeline.hset(deadLetters.key(id), {
        id,
        reason: "retries_exhausted",
        backend: "b",
        service: "orders",
        client,
        at: String(at),
        attempts: "1",
        replayedAs: randomUUID(),
      });
      pipeline.zadd(redisKeys(harness.prefix).deadLetterIndex, at, id);
    }
    await pipeline.exec();
    const waiting = await seed({ client });
    const bulk = await admin("/admin/dead-letters/replay", {
      method: "POST",
      body: JSON.stringify({ client, limit: 5 }),
    });
    expect(bulk.status).to.equal(200);
    expect(bulk.json.replayed.map((r: { id: string }) => r.id)).to.deep.equal([waiting]);
    expect(await queuedReplays()).to.deep.equal([waiting]);
  });

  it("bulk replay from the command line does too, with --limit", async () => {
    const client = "EE/GOV/1/cli";
    const ids = [await seed({ client }), await seed({ client }), await seed({ client })];
    const run = cli(["dead-letters", "replay", "--client", client, "--limit", "2", "--json"]);
    expect(run.status, run.stderr).to.equal(0);
    const outcome = JSON.parse(run.stdout) as { replayed: Array<{ id: string }> };
    expect(outcome.replayed.map((r) => r.id)).to.deep.equal(ids.slice(0, 2));
    expect(await queuedReplays()).to.deep.equal(ids.slice(0, 2));
  });

  it("a bulk replay under way when SIGTERM comes stops and answers what it did; the rest is skipped", async () => {
    const client = "EE/GOV/1/draining";
    const ids: string[] = [];
    for (let i = 0; i < 3000; i += 100) {
      ids.push(...(await Promise.all(Array.from({ length: 100 }, () => seed({ client })))));
    }
    // A role of its own, stopped by the test; the suite's keeps serving.
    const stopping = await harness.spawn("response-worker");
    const answer = call(`${stopping.adminUrl}/admin/dead-letters/replay`, {
      client: null,
      method: "POST",
      headers: harness.adminHeaders(),
      body: JSON.stringify({ client, limit: 3000 }),
    });
    await eventually(async () =>
      (await redis.hget(deadLetters.key(ids[0]), "replayedAs")) ? true : undefined,
    );
    stopping.child.kill("SIGTERM");
    const bulk = await answer;
    expect(bulk.status).to.equal(200);
    const { replayed, skipped } = bulk.json as {
      replayed: Array<{ id: string; result: string }>;
      skipped: Array<{ id: string; reason: string }>;
    };
    expect(replayed.length).to.be.greaterThan(0);
    expect(skipped.length).to.be.greaterThan(0);
    expect(replayed.length + skipped.length).to.equal(ids.length);
    expect(new Set(replayed.map((r) => r.result))).to.deep.equal(new Set(["replayed"]));
    expect(skipped[0].reason).to.include("shutting down");
    expect(await stopping.exited).to.equal(0);
    // Exactly what it answered was sent.
    expect((await queuedReplays()).sort()).to.deep.equal(replayed.map((r) => r.id).sort());
  });

  it("a bulk replay from the command line stopped by Ctrl-C prints what it did, exit 0", async () => {
    const client = "EE/GOV/1/interrupted";
    const ids: string[] = [];
    for (let i = 0; i < 3000; i += 100) {
      ids.push(...(await Promise.all(Array.from({ length: 100 }, () => seed({ client })))));
    }
    const child = spawn(
      process.execPath,
      [BIN, "dead-letters", "replay", "--client", client, "--limit", "3000", "--json"].concat([
        "--config",
        harness.configFile,
      ]),
      { env: { ...process.env, LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    const output = readSlowly(child.stdout);
    // "close", not "exit": the exit can come before the parent has read all the piped output.
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    // The command's own start (Node, the configuration, its connections) comes first: on a busy
    // machine that alone can take longer than eventually's default.
    await eventually(
      async () => ((await redis.hget(deadLetters.key(ids[0]), "replayedAs")) ? true : undefined),
      60_000,
      "the first replay",
    );
    child.kill("SIGINT");
    expect(await exited).to.equal(0);
    const { replayed, skipped } = JSON.parse(await output) as {
      replayed: Array<{ id: string; result: string }>;
      skipped: Array<{ id: string; reason: string }>;
    };
    expect(replayed.length).to.be.greaterThan(0);
    expect(skipped.length).to.be.greaterThan(0);
    expect(replayed.length + skipped.length).to.equal(ids.length);
    expect((await queuedReplays()).sort()).to.deep.equal(replayed.map((r) => r.id).sort());
  });

  it("prints a --json answer larger than a pipe holds whole to a slow reader, then exits", async () => {
    // About 1.5 MB of output, several times what the pipe and the socket buffers hold.
    const body = JSON.stringify({ note: "Sluice – tõrge ".repeat(80_000) });
    const id = await recordDeadLetter(
      deadLetters,
      requestMessage({ service: "orders", client: "EE/GOV/1/large", body }),
    );
    const child = spawn(
      process.execPath,
      [BIN, "dead-letters", "show", id, "--json", "--config", harness.configFile],
      { env: { ...process.env, LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "inherit"] },
    );
    const output = readSlowly(child.stdout);
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(await exited).to.equal(0);
    // The request as the admin port gives it: parsed, its credential headers redacted.
    const shown = JSON.parse(await output) as { id: string; request: { body: string } };
    expect(shown.id).to.equal(id);
    expect(shown.request.body).to.equal(body);
  });

  it("exits 1 naming the failure when its answer cannot be written (a full disk)", async () => {
    const id = await recordDeadLetter(
      deadLetters,
      requestMessage({ service: "orders", client: "EE/GOV/1/full" }),
    );
    for (const args of [
      ["dead-letters", "list", "--json"],
      ["dead-letters", "show", id],
    ]) {
      const result = sluiceToFullDisk([...args, "--config", harness.configFile], {
        LOG_LEVEL: "warn",
      });
      expect(result.status, `${args.join(" ")}: ${result.stderr}`).to.equal(1);
      expect(result.stderr).to.equal(FULL_DISK_LINE);
    }
  });

  it("takes a reader that stops reading early (| head) as the end of the output, not a failure", async () => {
    const body = JSON.stringify({ note: "x".repeat(1_500_000) });
    const id = await recordDeadLetter(
      deadLetters,
      requestMessage({ service: "orders", client: "EE/GOV/1/head", body }),
    );
    const child = spawn(
      process.execPath,
      [BIN, "dead-letters", "show", id, "--json", "--config", harness.configFile],
      { env: { ...process.env, LOG_LEVEL: "warn" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    let stderr = "";
    child.stderr.setEncoding("utf8").on("data", (text: string) => (stderr += text));
    child.stdout.once("data", () => child.stdout.destroy());
    const exited = new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(await exited, stderr).to.equal(0);
    expect(stderr).to.equal("");
  });
});
