// The operator journal against real Redis, the real admin port and the real broker: every action
// asked of the admin port is journaled after it was taken, whatever came of it, with the client
// and how it signed in; read newest first within a bounded limit; the stream stays bounded; and
// a journal Redis cannot take leaves the action done, with a warning naming it.

import os from "node:os";
import { expect } from "chai";
import pino from "pino";
import {
  parseOperatorArgs,
  runOperatorCommand,
  type OperatorCommand,
} from "../../cli/operator-commands";
import { Broker } from "../../shared/broker/amqp";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { AdminServer } from "../../shared/observability/admin-server";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { addOperatorRoutes, type OperatorDeps } from "../../shared/operator/operator-routes";
import {
  JOURNAL_MAX_LENGTH,
  OperatorJournal,
  type JournalRecord,
} from "../../shared/operator/operator-journal";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { systemClock } from "../../shared/runtime/clock";
import { createRedis, whenReady } from "../../shared/store/redis";
import { testScope } from "../support/broker-scope";
import { closedPort } from "../support/closed-port";
import { AMQP_URL, call, type CallOptions } from "../support/harness";
import { recordDeadLetter, requestMessage, transactionMeta } from "../support/messages";

const TOKEN = "an-operator-journal-test-admin-token-0123456789";
const silent = pino({ level: "silent" });

describe("the operator journal (real Redis, admin port and broker)", function () {
  this.timeout(60_000);
  const scope = testScope("operator-journal-test");
  const { config, redis, store, deadLetters, prefix } = scope;
  const pauses = new BackendPauses(redis, prefix);
  const journalKey = redisKeys(prefix).operatorJournal;
  let broker: Broker;
  const servers: AdminServer[] = [];

  /** An admin port serving the operator routes on the scope's Redis; `deps` laid over them. */
  async function adminPort(deps: Partial<OperatorDeps> = {}): Promise<string> {
    const admin = new AdminServer(silent, TOKEN);
    servers.push(admin);
    addOperatorRoutes({
      admin,
      config,
      redis,
      store,
      broker,
      names: scope.names,
      monitor: {
        estimatedDepth: () => 0,
        notePublished: () => undefined,
      } as unknown as QueueMonitor,
      log: silent,
      pauses,
      deadLetters,
      failures: new RecentFailures(redis, prefix),
      clock: systemClock,
      afterPauseChange: async () => undefined,
      ...deps,
    });
    return `http://127.0.0.1:${await admin.listen(0, "127.0.0.1")}`;
  }
  let url = "";

  const ask = (path: string, options: CallOptions = {}) =>
    call(`${url}${path}`, {
      client: null,
      ...options,
      headers: { authorization: `Bearer ${TOKEN}`, ...(options.headers ?? {}) },
    });
  const newest = async (limit = 1): Promise<JournalRecord[]> => {
    const answer = await ask(`/admin/journal?limit=${limit}`);
    expect(answer.status, answer.text).to.equal(200);
    return answer.json.entries as JournalRecord[];
  };

  before(async () => {
    await whenReady(redis);
    broker = await Broker.connect(AMQP_URL, silent);
    url = await adminPort();
  });

  after(async () => {
    for (const server of servers) await server.close();
    await broker?.close();
    await scope.close();
  });

  it("journals an admin-port action: the action, target, result, via admin, the client's address and how it signed in", async () => {
    const paused = await ask("/admin/backends/b/pause", { method: "POST" });
    expect(paused.status).to.equal(200);
    const [entry] = await newest();
    expect(entry).to.include({
      action: "backend.pause",
      target: "b",
      result: "paused",
      via: "admin",
      remote: "127.0.0.1",
      credential: "bearer",
      instance: config.instanceId,
    });
    // The time is Redis's, in the entry's id.
    expect(Date.parse(entry.at)).to.equal(Number(entry.id.split("-")[0]));
    expect(Math.abs(Date.parse(entry.at) - Date.now())).to.be.below(60_000);

    // The status page's session: journaled as such, the session id as unseen as the token.
    const login = await fetch(`${url}/login`, {
      method: "POST",
      body: new URLSearchParams({ token: TOKEN }),
      redirect: "manual",
    });
    expect(login.status).to.equal(303);
    const cookie = (login.headers.get("set-cookie") ?? "").split(";")[0];
    const resumed = await call(`${url}/admin/backends/b/resume`, {
      method: "POST",
      client: null,
      headers: { cookie, "x-sluice-request": "1" },
    });
    expect(resumed.status, resumed.text).to.equal(200);
    const [bySession] = await newest();
    expect(bySession).to.include({
      action: "backend.resume",
      target: "b",
      result: "resumed",
      via: "admin",
      credential: "session",
    });
    const stored = JSON.stringify(await redis.xrange(journalKey, "-", "+"));
    expect(stored).to.not.include(TOKEN);
    expect(stored).to.not.include(cookie.split("=")[1]);
  });

  it("answers and journals a repeated pause or resume as already, the first pause time kept", async () => {
    const first = await ask("/admin/backends/b/pause", { method: "POST" });
    expect(first.status, first.text).to.equal(200);
    expect(first.json).to.not.have.property("already");
    const again = await ask("/admin/backends/b/pause", { method: "POST" });
    expect(again.status, again.text).to.equal(200);
    expect(again.json).to.deep.equal({ ...first.json, already: true });
    const resumed = await ask("/admin/backends/b/resume", { method: "POST" });
    expect(resumed.json).to.deep.equal({ backend: "b", paused: false, since: null });
    const resumedAgain = await ask("/admin/backends/b/resume", { method: "POST" });
    expect(resumedAgain.json).to.deep.equal({
      backend: "b",
      paused: false,
      since: null,
      already: true,
    });
    const entries = await newest(4);
    expect(entries.map((e) => [e.action, e.target, e.result])).to.deep.equal([
      ["backend.resume", "b", "already"],
      ["backend.resume", "b", "resumed"],
      ["backend.pause", "b", "already"],
      ["backend.pause", "b", "paused"],
    ]);
  });

  it("discards a dead letter from the admin port and journals it: discarded, then already, 404 for none", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const first = await ask(`/admin/dead-letters/${id}/discard`, { method: "POST" });
    expect(first.status, first.text).to.equal(200);
    expect(first.json).to.include({ id, result: "discarded", replayedAs: null });
    const again = await ask(`/admin/dead-letters/${id}/discard`, { method: "POST" });
    expect(again.json).to.include({ result: "already", discardedAt: first.json.discardedAt });
    const replay = await ask(`/admin/dead-letters/${id}/replay`, { method: "POST" });
    expect(replay.status, replay.text).to.equal(200);
    expect(replay.json).to.include({ result: "already", discarded: true, replayedAs: null });
    const waiting = await ask(`/admin/dead-letters?replayed=no`);
    expect(waiting.json.deadLetters.map((e: { id: string }) => e.id)).to.not.include(id);
    const none = await ask(`/admin/dead-letters/${id.replace(/.$/, "0")}x/discard`, {
      method: "POST",
    });
    expect(none.status).to.equal(404);
    const entries = await newest(4);
    expect(entries.map((e) => [e.action, e.result])).to.deep.equal([
      ["dead-letter.discard", "not found"],
      ["dead-letter.replay", "already"],
      ["dead-letter.discard", "already"],
      ["dead-letter.discard", "discarded"],
    ]);
  });

  it("journals refused and not-found actions too, and not a request refused as malformed", async () => {
    expect((await ask("/admin/backends/nope/pause", { method: "POST" })).status).to.equal(404);
    expect((await newest())[0]).to.include({
      action: "backend.pause",
      target: "nope",
      result: "not found",
    });

    const busy = transactionMeta();
    expect(await store.create(busy)).to.deep.equal({ created: true });
    await store.transition(busy.id, ["accepted"], "processing", { claimMs: 60_000 });
    expect((await ask(`/admin/messages/${busy.id}`, { method: "DELETE" })).status).to.equal(409);
    expect((await newest())[0]).to.include({
      action: "message.cancel",
      target: busy.id,
      result: "refused",
      error: "the message is processing and can no longer be cancelled",
    });

    const missing = transactionMeta().id;
    expect((await ask(`/admin/messages/${missing}/cancel`, { method: "POST" })).status).to.equal(
      404,
    );
    expect((await newest())[0]).to.include({
      action: "message.cancel",
      target: missing,
      result: "not found",
    });

    expect(
      (await ask("/admin/dead-letters/no-such-dead-letter/replay", { method: "POST" })).status,
    ).to.equal(404);
    expect((await newest())[0]).to.include({
      action: "dead-letter.replay",
      target: "no-such-dead-letter",
      result: "not found",
    });

    expect(
      (await ask("/admin/dead-callbacks/no-such-callback/redeliver", { method: "POST" })).status,
    ).to.equal(404);
    expect((await newest())[0]).to.include({
      action: "dead-callback.redeliver",
      target: "no-such-callback",
      result: "not found",
    });

    expect(
      (await ask("/admin/hub-listeners/no-such-listener", { method: "DELETE" })).status,
    ).to.equal(404);
    expect((await newest())[0]).to.include({
      action: "hub-listener.remove",
      target: "no-such-listener",
      result: "not found",
    });

    // A bulk run: its selection as JSON (a callback URL's query values redacted), its counts.
    const bulk = await ask("/admin/dead-letters/replay", {
      method: "POST",
      body: JSON.stringify({ reason: "translator_error", limit: 5 }),
    });
    expect(bulk.status, bulk.text).to.equal(200);
    expect((await newest())[0]).to.deep.include({
      action: "dead-letter.replay-bulk",
      target: JSON.stringify({ reason: "translator_error", limit: 5 }),
      result: "done",
      counts: { replayed: 0, already: 0, refused: 0, skipped: 0 },
    });
    const secret = "s3cret-capability";
    const redeliver = await ask("/admin/dead-callbacks/redeliver", {
      method: "POST",
      body: JSON.stringify({ target: `https://cb.example.org/hook?token=${secret}` }),
    });
    expect(redeliver.status, redeliver.text).to.equal(200);
    const [run] = await newest();
    expect(run).to.deep.include({
      action: "dead-callback.redeliver-bulk",
      target: JSON.stringify({
        target: "https://cb.example.org/hook?token=[redacted]",
        limit: 1000,
      }),
      result: "done",
      counts: { redelivered: 0, already: 0, refused: 0, skipped: 0 },
    });
    expect(JSON.stringify(await redis.xrange(journalKey, "-", "+"))).to.not.include(secret);

    // Refused before anything was tried (no filter): nothing acted, nothing journaled.
    const before = await redis.xlen(journalKey);
    expect(
      (await ask("/admin/dead-letters/replay", { method: "POST", body: "{}" })).status,
    ).to.equal(400);
    expect(await redis.xlen(journalKey)).to.equal(before);
  });

  it("bounds what it keeps of a request's id", async () => {
    const long = "x".repeat(5_000);
    expect((await ask(`/admin/hub-listeners/${long}`, { method: "DELETE" })).status).to.equal(404);
    const [entry] = await newest();
    expect(entry.target).to.have.length(512);
    expect(entry.target.endsWith("x…")).to.equal(true);
  });

  it("reads the newest first, up to the limit, refusing a limit that is not a count", async () => {
    for (const name of ["b", "c", "b"]) {
      expect((await ask(`/admin/backends/${name}/pause`, { method: "POST" })).status).to.be.oneOf([
        200, 404,
      ]);
    }
    const three = await newest(3);
    expect(three.map((e) => e.target)).to.deep.equal(["b", "c", "b"]);
    expect(three.map((e) => e.result)).to.deep.equal(["already", "not found", "paused"]);
    const ids = three.map((e) => e.id);
    expect([...ids].sort().reverse()).to.deep.equal(ids);
    expect(await newest(2)).to.deep.equal(three.slice(0, 2));
    for (const bad of ["0", "abc", "-5"]) {
      expect((await ask(`/admin/journal?limit=${bad}`)).status, bad).to.equal(400);
    }
    expect((await ask("/admin/journal?limt=5")).status).to.equal(400);
    expect((await call(`${url}/admin/journal`, { client: null })).status).to.equal(401);
  });

  it("keeps the stream bounded, and answers at most 1000 entries a request, refusing a larger limit", async () => {
    const journal = new OperatorJournal(redis, prefix, silent);
    const actor = { via: "cli", user: "load", host: "test", pid: 1 } as const;
    const total = JOURNAL_MAX_LENGTH + 1_000;
    for (let written = 0; written < total; written += 1_000) {
      await Promise.all(
        Array.from({ length: 1_000 }, (_, i) =>
          journal.record(actor, {
            action: "backend.pause",
            target: `b${written + i}`,
            result: "paused",
          }),
        ),
      );
    }
    const length = await redis.xlen(journalKey);
    // Trimmed approximately (whole stream nodes): never below the bound, well below all written.
    expect(length).to.be.at.least(JOURNAL_MAX_LENGTH);
    expect(length).to.be.below(total);
    expect(await newest(1_000)).to.have.length(1_000);
    // More than a request answers is refused, not cut to it without a word.
    const over = await ask("/admin/journal?limit=5000");
    expect(over.status, over.text).to.equal(400);
    expect(over.json.message).to.equal("limit is at most 1000, not 5000");
    expect((await newest())[0].target).to.equal(`b${total - 1}`);
  });

  it("journals the CLI's actions as its OS user, host and process, refused and not found too", async () => {
    const cli = async (command: OperatorCommand, ...args: string[]) => {
      const parsed = parseOperatorArgs(command, args);
      if (typeof parsed === "string") throw new Error(parsed);
      return runOperatorCommand(command, parsed, config, () => undefined);
    };
    const missing = transactionMeta().id;
    expect(await cli("messages", "cancel", missing)).to.equal(1);
    expect(await cli("dead-letters", "replay", "no-such-dead-letter")).to.equal(1);
    expect(await cli("dead-letters", "replay", "--reason", "translator_error")).to.equal(0);
    expect(await cli("hub-listeners", "remove", "no-such-listener")).to.equal(1);
    expect(await cli("backends", "resume", "b")).to.equal(0);
    const entries = await newest(5);
    expect(entries.map((e) => [e.action, e.target, e.result])).to.deep.equal([
      ["backend.resume", "b", "resumed"],
      ["hub-listener.remove", "no-such-listener", "not found"],
      [
        "dead-letter.replay-bulk",
        JSON.stringify({ reason: "translator_error", limit: 1000 }),
        "done",
      ],
      ["dead-letter.replay", "no-such-dead-letter", "not found"],
      ["message.cancel", missing, "not found"],
    ]);
    for (const entry of entries) {
      expect(entry).to.include({
        via: "cli",
        user: os.userInfo().username,
        host: os.hostname(),
        pid: process.pid,
      });
      expect(entry).to.not.have.any.keys("remote", "credential");
    }
  });

  it("leaves an action done when its journal cannot be written, with a warning naming it", async () => {
    const warnings: Array<Record<string, unknown>> = [];
    const log = pino(
      { level: "warn" },
      { write: (line: string) => warnings.push(JSON.parse(line)) },
    );
    // The journal's Redis is down (nothing listens there); the action's is the real one.
    const down = createRedis(`redis://127.0.0.1:${await closedPort()}`, silent, "journal-down");
    try {
      url = await adminPort({ journal: new OperatorJournal(down, prefix, log), log });
      const before = await redis.xlen(journalKey);
      await pauses.resume("b");
      const paused = await ask("/admin/backends/b/pause", { method: "POST" });
      expect(paused.status, paused.text).to.equal(200);
      expect(paused.json).to.include({ backend: "b", paused: true });
      expect(await pauses.state("b")).to.include({ paused: true });
      const warning = warnings.find(
        (w) => w.msg === "operator journal not written; the action stands",
      );
      expect(warning).to.include({ action: "backend.pause", target: "b", result: "paused" });
      expect(warning?.err).to.be.a("string").and.not.equal("");
      expect(await redis.xlen(journalKey)).to.equal(before);
    } finally {
      down.disconnect();
    }
  });
});
