// A bulk discard of dead letters (`POST /admin/dead-letters/discard`, `sluice dead-letters discard
// --backend B --note …`) on the real admin port, Redis and broker: the bulk replay's selection,
// a dry run that changes nothing, a required note kept in the journal, and, run beside a bulk
// replay of the same dead letters, each one ends replayed or discarded, never both or neither.
// A discard by id takes the same note, optionally.

import { expect } from "chai";
import pino from "pino";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { AdminServer } from "../../shared/observability/admin-server";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { discardDeadLetters, replayDeadLetters } from "../../shared/operator/bulk-actions";
import { Discarder } from "../../shared/operator/discard";
import { cancelByOperator } from "../../shared/operator/operator-cancel";
import { addOperatorRoutes } from "../../shared/operator/operator-routes";
import type { JournalRecord } from "../../shared/operator/operator-journal";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { systemClock } from "../../shared/runtime/clock";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  oneBackendConfig,
  replayerFor,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { call, type CallOptions } from "../support/harness";
import { heldBroker } from "../support/held-broker";
import { recordDeadLetter, requestMessage } from "../support/messages";

const TOKEN = "a-bulk-discard-test-admin-token-0123456789";
const silent = pino({ level: "silent" });

interface DiscardAnswer {
  dryRun?: true;
  until?: string;
  more?: true;
  discarded: Array<{ id: string; result: string; backend?: string }>;
  skipped: unknown[];
}

describe("bulk discard of dead letters (real admin port, Redis and broker)", function () {
  this.timeout(60_000);
  const scope = testScope("dead-letter-discard-bulk-test", (prefix) => ({
    ...oneBackendConfig(prefix, { queue: { highWater: 1000, maxLength: 2000 } }),
    backends: {
      b: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        queue: { highWater: 1000, maxLength: 2000 },
      },
      other: { url: "http://127.0.0.1:9", translator: "rest-json" },
    },
  }));
  const { config, names, redis, store, deadLetters, prefix } = scope;
  const admin = new AdminServer(silent, TOKEN);
  let amqp: BrokerSide;
  let url = "";

  const ask = (path: string, options: CallOptions = {}) =>
    call(`${url}${path}`, {
      client: null,
      method: "POST",
      ...options,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  const journal = async (limit: number): Promise<JournalRecord[]> => {
    const answer = await call(`${url}/admin/journal?limit=${limit}`, {
      client: null,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return answer.json.entries as JournalRecord[];
  };
  const queued = () => takeQueued(amqp.channel, names.requestsQueue("b"));

  async function cli(...words: string[]): Promise<{ code: number; printed: string }> {
    const parsed = parseOperatorArgs("dead-letters", words);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, config, (text) =>
      printed.push(text),
    );
    return { code, printed: printed.join("\n") };
  }

  /** `count` dead letters of `backend`, oldest first, a second apart in the past. */
  async function deadLettersOf(backend: string, count: number): Promise<string[]> {
    const at = Date.now() - 600_000;
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      ids.push(
        await recordDeadLetter(deadLetters, requestMessage({ backend }), { at: at + i * 1000 }),
      );
    }
    return ids;
  }

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
    addOperatorRoutes({
      admin,
      config,
      redis,
      store,
      broker: amqp.broker,
      names,
      monitor: {
        estimatedDepth: () => 0,
        notePublished: () => undefined,
      } as unknown as QueueMonitor,
      log: silent,
      pauses: new BackendPauses(redis, prefix),
      deadLetters,
      failures: new RecentFailures(redis, prefix),
      clock: systemClock,
      afterPauseChange: async () => undefined,
    });
    url = `http://127.0.0.1:${await admin.listen(0, "127.0.0.1")}`;
  });
  after(async () => {
    await admin.close();
    await amqp?.close();
    await scope.close();
  });
  afterEach(async () => {
    // Every dead letter of a test settled, so the next one's selection holds its own only.
    await new Discarder(redis, deadLetters).discardMany(
      await deadLetters.oldestPending({}, 10_000),
      () => false,
    );
    await queued();
  });

  it("dry-runs, then discards what the dry run saw; a replay of one answers already", async () => {
    const ids = await deadLettersOf("b", 3);
    const [otherBackend] = await deadLettersOf("other", 1);
    const before = await deadLetters.waitingCounts();
    const body = { backend: "b", note: "poison: the backend rejects these for good" };

    const dry = await ask("/admin/dead-letters/discard", {
      body: JSON.stringify({ ...body, dryRun: true }),
    });
    expect(dry.status, dry.text).to.equal(200);
    const planned = dry.json as DiscardAnswer;
    expect(planned.dryRun).to.equal(true);
    expect(planned.discarded).to.deep.equal(
      ids.map((id) => ({ id, result: "would discard", backend: "b" })),
    );
    // Nothing changed: counts, records, and a replay still takes them.
    expect(await deadLetters.waitingCounts()).to.deep.equal(before);
    for (const id of ids) expect((await deadLetters.get(id))?.discardedAt).to.equal(null);

    // One failing after the dry run is left alone by a run kept to what it saw.
    const late = await recordDeadLetter(deadLetters, requestMessage(), { at: Date.now() });
    const real = await ask("/admin/dead-letters/discard", {
      body: JSON.stringify({ ...body, until: planned.until }),
    });
    expect(real.status, real.text).to.equal(200);
    const done = real.json as DiscardAnswer;
    expect(done).to.not.have.property("dryRun");
    expect(done.discarded.map((r) => [r.id, r.result])).to.deep.equal(
      ids.map((id) => [id, "discarded"]),
    );
    expect((await deadLetters.get(late))?.discardedAt).to.equal(null);
    expect((await deadLetters.get(otherBackend))?.discardedAt).to.equal(null);
    // Each record keeps the run's note, as the journal does.
    for (const id of ids) expect((await deadLetters.get(id))?.discardNote).to.equal(body.note);

    // A replay of one of them, by its id, sends nothing.
    const replay = await ask(`/admin/dead-letters/${ids[1]}/replay`);
    expect(replay.status, replay.text).to.equal(200);
    expect(replay.json).to.include({ result: "already", discarded: true, replayedAs: null });
    expect(await queued()).to.deep.equal([]);

    // Journaled with the note, the dry run as its own action.
    // The newest entry is the replay by id, then the run and its dry run.
    const [, run, dryRun] = await journal(3);
    expect(run).to.deep.include({
      action: "dead-letter.discard-bulk",
      target: JSON.stringify({
        backend: "b",
        until: planned.until,
        limit: 1000,
        note: body.note,
      }),
      result: "done",
      counts: { discarded: 3, already: 0, refused: 0, skipped: 0 },
    });
    expect(dryRun).to.deep.include({
      action: "dead-letter.discard-bulk-dry-run",
      result: "done",
      counts: { "would discard": 3, already: 0, refused: 0, skipped: 0 },
    });
  });

  it("refuses a bulk discard without a note, or naming nothing, and journals neither", async () => {
    const [id] = await deadLettersOf("b", 1);
    const entries = (await journal(1000)).length;
    for (const body of [
      { backend: "b" },
      { backend: "b", note: "   " },
      { backend: "b", note: 7 },
      { backend: "b", note: "x".repeat(201) },
      { note: "why" },
      { backend: "b", note: "why", reason2: "x" },
    ]) {
      const answer = await ask("/admin/dead-letters/discard", { body: JSON.stringify(body) });
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(answer.json).to.include({ type: "InvalidRequest" });
    }
    expect((await deadLetters.get(id))?.discardedAt).to.equal(null);
    expect((await journal(1000)).length).to.equal(entries);
  });

  it("beside a bulk replay of the same dead letters, each ends replayed or discarded, once", async () => {
    for (let round = 0; round < 3; round++) {
      const ids = await deadLettersOf("b", 30);
      const replayer = replayerFor(scope, amqp);
      const discarder = new Discarder(redis, deadLetters);
      const unjournaled = async () => undefined;
      const [replayed, discarded] = await Promise.all([
        replayDeadLetters({
          replayer,
          deadLetters,
          filter: { backend: "b" },
          limit: 1000,
          dryRun: false,
          record: unjournaled,
          depthOf: () => 0,
          stopping: () => false,
        }),
        discardDeadLetters({
          discarder,
          deadLetters,
          filter: { backend: "b" },
          limit: 1000,
          dryRun: false,
          note: "racing a replay",
          record: unjournaled,
          stopping: () => false,
        }),
      ]);
      const won = (results: Array<{ id: string; result: string }>, result: string) =>
        results.filter((r) => r.result === result).map((r) => r.id);
      const byReplay = won(replayed.replayed, "replayed");
      const byDiscard = won(discarded.discarded, "discarded");
      expect([...byReplay, ...byDiscard].sort(), `round ${round}`).to.deep.equal([...ids].sort());
      // What one took, the other answered `already` (or did not select at all).
      for (const r of replayed.replayed) {
        if (r.result !== "replayed") expect(byDiscard).to.include(r.id);
      }
      for (const r of discarded.discarded) {
        if (r.result !== "discarded") expect(byReplay).to.include(r.id);
      }
      // The records agree, and only the replays won are in the queue.
      for (const id of ids) {
        const entry = await deadLetters.get(id);
        expect(entry?.replayedAs !== null, id).to.equal(byReplay.includes(id));
        expect(entry?.discardedAt !== null, id).to.equal(byDiscard.includes(id));
      }
      const sent = await queued();
      expect(sent.length).to.equal(byReplay.length);
    }
  });

  it("from the CLI: a dry run, then the run, with its note in the journal", async () => {
    const ids = await deadLettersOf("b", 2);
    const dry = await cli("discard", "--backend", "b", "--note", "resubmitted", "--dry-run");
    expect(dry.code).to.equal(0);
    expect(dry.printed).to.include(`${ids[0]}: would discard (backend b)`);
    expect(dry.printed).to.include(
      "2 would be discarded, 0 skipped (dry run: nothing was discarded)",
    );
    expect((await deadLetters.oldestPending({ backend: "b" }, 10)).map((e) => e.id)).to.deep.equal(
      ids,
    );

    const real = await cli("discard", "--backend=b", "--note=resubmitted", "--json");
    expect(real.code).to.equal(0);
    const answer = JSON.parse(real.printed) as DiscardAnswer;
    expect(answer.discarded.map((r) => [r.id, r.result])).to.deep.equal(
      ids.map((id) => [id, "discarded"]),
    );
    expect(JSON.parse((await cli("replay", ids[0], "--json")).printed)).to.include({
      result: "already",
      discarded: true,
    });
    const [run] = await journal(3).then((entries) =>
      entries.filter((e) => e.action === "dead-letter.discard-bulk"),
    );
    expect(run).to.deep.include({
      target: JSON.stringify({ backend: "b", limit: 1000, note: "resubmitted" }),
      result: "done",
      via: "cli",
    });
  });

  it("takes a discard by id's optional note, checked as a bulk one's, into the journal", async () => {
    const [byApi, byCli, plain, kept] = await deadLettersOf("b", 4);
    const note = "resubmitted by the caller 👍";
    const entries = (await journal(1000)).length;
    for (const body of [
      { note: "line\nbreak" },
      { note: "\u202egnp.exe" },
      { note: "x".repeat(201) },
      { note: "😀".repeat(201) },
      { note: 7 },
      { notes: "why" },
      ["why"],
    ]) {
      const answer = await ask(`/admin/dead-letters/${kept}/discard`, {
        body: JSON.stringify(body),
      });
      expect(answer.status, JSON.stringify(body)).to.equal(400);
      expect(answer.json).to.include({ type: "InvalidRequest" });
    }
    expect((await deadLetters.get(kept))?.discardedAt).to.equal(null);
    expect((await journal(1000)).length).to.equal(entries);

    const answer = await ask(`/admin/dead-letters/${byApi}/discard`, {
      body: JSON.stringify({ note: `  ${note}  ` }),
    });
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.json).to.include({ id: byApi, result: "discarded" });
    // The note, trimmed, is on the record too (GET /admin/dead-letters/<id> shows it).
    const shown = await ask(`/admin/dead-letters/${byApi}`, { method: "GET" });
    expect(shown.json).to.include({ discardNote: note });
    const [apiEntry] = await journal(1);
    expect(apiEntry).to.deep.include({
      action: "dead-letter.discard",
      target: byApi,
      note,
      result: "discarded",
      via: "admin",
    });

    const fromCli = await cli("discard", byCli, "--note", "😀".repeat(200));
    expect(fromCli.code, fromCli.printed).to.equal(0);
    const [cliEntry] = await journal(1);
    expect(cliEntry).to.deep.include({
      action: "dead-letter.discard",
      target: byCli,
      note: "😀".repeat(200),
      via: "cli",
    });

    // Without a note, or with a blank one, as before: journaled with none.
    for (const body of [undefined, "{}", JSON.stringify({ note: "  " })]) {
      const again = await ask(`/admin/dead-letters/${plain}/discard`, body ? { body } : {});
      expect(again.status, again.text).to.equal(200);
      const [entry] = await journal(1);
      expect(entry).to.include({ action: "dead-letter.discard", target: plain });
      expect(entry).to.not.have.property("note");
    }
    expect((await deadLetters.get(plain))?.discardedAt).to.be.a("number");
  });

  it("shows which replay a discard replaced, and whether it was abandoned, in the API and the CLI", async () => {
    const [cancelled, abandoned, plain] = await deadLettersOf("b", 3);
    const replay = await replayerFor(scope, amqp).replay(cancelled);
    expect(await cancelByOperator(store, replay.replayedAs!)).to.include({ result: "cancelled" });
    // Claimed, its publisher stopped before the confirm and its publishing mark gone.
    const held = heldBroker();
    const holding = replayerFor(scope, amqp, { broker: held.broker }).replay(abandoned);
    await held.publishing;
    const claimed = (await deadLetters.get(abandoned))!.replayedAs!;
    await redis.del(redisKeys(prefix).replayPublishing(claimed));
    for (const id of [cancelled, abandoned, plain]) {
      expect((await ask(`/admin/dead-letters/${id}/discard`)).json).to.include({
        result: "discarded",
      });
    }
    held.settle(true);
    await holding;

    const shown = async (id: string) => ({
      api: (await ask(`/admin/dead-letters/${id}`, { method: "GET" })).json,
      cli: JSON.parse((await cli("show", id)).printed),
    });
    for (const side of Object.values(await shown(cancelled))) {
      expect(side).to.include({ replayedAs: null, discardReplaced: replay.replayedAs });
      expect(side).to.not.have.property("discardAbandoned");
    }
    for (const side of Object.values(await shown(abandoned))) {
      expect(side).to.include({
        replayedAs: null,
        discardReplaced: claimed,
        discardAbandoned: true,
      });
    }
    for (const side of Object.values(await shown(plain))) {
      expect(side).to.include({ replayedAs: null });
      expect(side).to.not.have.any.keys("discardReplaced", "discardAbandoned");
    }
    await queued();
  });
});
