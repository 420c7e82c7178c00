// A dry run of a bulk replay or redelivery (`"dryRun": true` on the admin port, `--dry-run` on
// the CLI) against the real admin port, Redis and broker: it lists exactly what the real run
// then does (the same oldest-first selection up to the limit, the same refusals known before
// sending, the same high-water skips), and sends, claims, notes and changes nothing.

import { expect } from "chai";
import pino from "pino";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { AdminServer } from "../../shared/observability/admin-server";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { addOperatorRoutes } from "../../shared/operator/operator-routes";
import type { JournalRecord } from "../../shared/operator/operator-journal";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { systemClock } from "../../shared/runtime/clock";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  declareCallbacksQueue,
  oneBackendConfig,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { call, type CallOptions } from "../support/harness";
import {
  recordDeadCallback,
  recordDeadLetter,
  requestMessage,
  transactionMeta,
} from "../support/messages";

const TOKEN = "a-bulk-dry-run-test-admin-token-0123456789";
const silent = pino({ level: "silent" });

interface Run {
  dryRun?: boolean;
  more?: boolean;
  replayed?: Array<{ id: string; result: string; error?: string }>;
  redelivered?: Array<{ id: string; result: string }>;
  skipped: Array<{ id: string; reason: string; type: string }>;
  until?: string;
}

/** Each entry's id and result, in the order answered. */
const results = (entries: Array<{ id: string; result: string }> = []) =>
  entries.map((r) => [r.id, r.result]);

/** A dry run's entries as the real run then answers them: `would replay` made `replayed`. */
const asReplayed = (planned: Run) =>
  results(planned.replayed).map(([id, result]) => [
    id,
    result === "would replay" ? "replayed" : result,
  ]);

describe("dry runs of bulk replays and redeliveries (real admin port, Redis and broker)", function () {
  this.timeout(60_000);
  const scope = testScope("bulk-dry-run-test", (prefix) =>
    oneBackendConfig(prefix, { queue: { highWater: 3, maxLength: 10 } }),
  );
  const { config, names, redis, store, deadLetters, prefix } = scope;
  const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
  const journalKey = redisKeys(prefix).operatorJournal;
  const admin = new AdminServer(silent, TOKEN);
  let amqp: BrokerSide;
  let url = "";
  /** What the admin port told its queue monitor it published since the test began. */
  let noted = 0;

  const ask = (path: string, options: CallOptions = {}) =>
    call(`${url}${path}`, {
      client: null,
      method: "POST",
      ...options,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
  const newest = async (): Promise<JournalRecord> => {
    const answer = await call(`${url}/admin/journal?limit=1`, {
      client: null,
      headers: { authorization: `Bearer ${TOKEN}` },
    });
    return (answer.json.entries as JournalRecord[])[0];
  };
  /** The admin port's answer to a dry run of `body` on `path`: 200, with `"dryRun": true`. */
  const dryRunOf = async (path: string, body: object): Promise<Run> => {
    const dry = await ask(path, { body: JSON.stringify({ ...body, dryRun: true }) });
    expect(dry.status, dry.text).to.equal(200);
    expect(dry.json).to.include({ dryRun: true });
    return dry.json as Run;
  };
  /** The admin port's answer to the real run of `body` on `path`: 200, with no `dryRun`. */
  const realRunOf = async (path: string, body: object): Promise<Run> => {
    const real = await ask(path, { body: JSON.stringify(body) });
    expect(real.status, real.text).to.equal(200);
    expect(real.json).to.not.have.property("dryRun");
    return real.json as Run;
  };
  /** The newest journal entry is a bulk `action` on `body`, done, with `counts`. */
  const expectDone = async (action: string, body: object, counts: Record<string, number>) =>
    expect(await newest()).to.deep.include({
      action,
      target: JSON.stringify(body),
      result: "done",
      counts,
    });
  const requestsQueued = async () =>
    (await amqp.channel.checkQueue(names.requestsQueue("b"))).messageCount;
  const callbacksQueued = async () =>
    (await amqp.channel.checkQueue(names.callbacksQueue)).messageCount;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
    await declareCallbacksQueue(amqp, names);
    addOperatorRoutes({
      admin,
      config,
      redis,
      store,
      broker: amqp.broker,
      names,
      // The queue's depth as the monitor estimates it: what the port noted it published.
      monitor: {
        estimatedDepth: () => noted,
        notePublished: () => {
          noted += 1;
        },
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
    await takeQueued(amqp.channel, names.requestsQueue("b"));
    await takeQueued(amqp.channel, names.callbacksQueue);
    noted = 0;
  });

  /**
   * Six dead letters, oldest first: the first one's original completed after it was
   * dead-lettered (a refusal known before sending), the others replayable.
   */
  async function sixDeadLetters(): Promise<string[]> {
    const at = Date.now() - 60_000;
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) {
      ids.push(await recordDeadLetter(deadLetters, requestMessage(), { at: at + i }));
    }
    await store.create(transactionMeta({ id: ids[0] }));
    await store.transition(ids[0], ["accepted"], "processing", { claimMs: 60_000 });
    await store.transition(ids[0], ["processing"], "completed");
    return ids;
  }

  it("lists on the admin port the dead letters a replay then replays, sending and changing nothing", async () => {
    const ids = await sixDeadLetters();
    const body = { all: true, limit: 5 };
    const planned = await dryRunOf("/admin/dead-letters/replay", body);
    // Oldest first, up to the limit (the sixth is not selected): the refused original, then
    // three up to the queue's high-water mark of 3, then the fifth skipped as Busy.
    expect(results(planned.replayed)).to.deep.equal([
      [ids[0], "refused"],
      [ids[1], "would replay"],
      [ids[2], "would replay"],
      [ids[3], "would replay"],
    ]);
    expect(planned.replayed?.[0].error).to.include("the original completed");
    expect(planned.skipped.map((s) => [s.id, s.type])).to.deep.equal([[ids[4], "Busy"]]);
    // The sixth matched too: the answer says more wait, or it reads as every match taken.
    expect(planned.more).to.equal(true);

    // Nothing was sent, claimed or counted against the queue's room.
    expect(await requestsQueued()).to.equal(0);
    expect(noted).to.equal(0);
    for (const id of ids) expect((await deadLetters.get(id))?.replayedAs, id).to.equal(null);
    await expectDone("dead-letter.replay-bulk-dry-run", body, {
      "would replay": 3,
      already: 0,
      refused: 1,
      skipped: 1,
    });

    const done = await realRunOf("/admin/dead-letters/replay", body);
    expect(results(done.replayed)).to.deep.equal(asReplayed(planned));
    expect(done.skipped).to.deep.equal(planned.skipped);
    expect(done.more).to.equal(true);
    expect(await requestsQueued()).to.equal(3);
    expect((await newest()).action).to.equal("dead-letter.replay-bulk");
  });

  it("lists on the admin port the dead callbacks a redelivery then redelivers, sending and changing nothing", async () => {
    const at = Date.now() - 60_000;
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) {
      ids.push((await recordDeadCallback(store, deadCallbacks, { at: at + i })).id);
    }
    const body = { all: true, limit: 2 };
    const planned = await dryRunOf("/admin/dead-callbacks/redeliver", body);
    expect(results(planned.redelivered)).to.deep.equal([
      [ids[0], "would redeliver"],
      [ids[1], "would redeliver"],
    ]);
    expect(await callbacksQueued()).to.equal(0);
    for (const id of ids) {
      expect((await store.get(id))?.delivery, id).to.equal("delivery_failed");
      expect((await deadCallbacks.get(id))?.redeliveries ?? 0, id).to.equal(0);
    }
    await expectDone("dead-callback.redeliver-bulk-dry-run", body, {
      "would redeliver": 2,
      already: 0,
      refused: 0,
      skipped: 0,
    });

    expect(planned.more).to.equal(true);

    const done = await realRunOf("/admin/dead-callbacks/redeliver", body);
    expect(results(done.redelivered)).to.deep.equal([
      [ids[0], "redelivered"],
      [ids[1], "redelivered"],
    ]);
    expect(done.more).to.equal(true);
    expect(await callbacksQueued()).to.equal(2);
    // The third, asked for again: the last match, so no more.
    const rest = await realRunOf("/admin/dead-callbacks/redeliver", body);
    expect(results(rest.redelivered)).to.deep.equal([[ids[2], "redelivered"]]);
    expect(rest).to.not.have.property("more");
    expect(await callbacksQueued()).to.equal(3);
  });

  it("refuses a dryRun that is not a boolean, acting on and journaling nothing", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const before = await redis.xlen(journalKey);
    for (const path of ["/admin/dead-letters/replay", "/admin/dead-callbacks/redeliver"]) {
      for (const dryRun of ["true", 1, null]) {
        const answer = await ask(path, { body: JSON.stringify({ all: true, dryRun }) });
        expect(answer.status, `${path} ${JSON.stringify(dryRun)}`).to.equal(400);
        expect(answer.json).to.deep.equal({
          type: "InvalidRequest",
          message: "dryRun is true or false",
        });
      }
    }
    expect(await redis.xlen(journalKey)).to.equal(before);
    expect((await deadLetters.get(id))?.replayedAs).to.equal(null);
    expect(await requestsQueued()).to.equal(0);
  });

  it("keeps a run given its dry run's `until` to what the dry run saw", async () => {
    // A backend's failures, then a dry run; one more fails while the operator reads it.
    const at = Date.now() - 60_000;
    const backend = { client: "until-test", backend: "b" };
    const seen = [
      await recordDeadLetter(deadLetters, requestMessage(backend), { at }),
      await recordDeadLetter(deadLetters, requestMessage(backend), { at: at + 1 }),
    ];
    const body = { client: "until-test" };
    const planned = await dryRunOf("/admin/dead-letters/replay", body);
    expect(results(planned.replayed).map(([id]) => id)).to.deep.equal(seen);
    expect(planned).to.include({ until: new Date(at + 1).toISOString() });
    const later = await recordDeadLetter(deadLetters, requestMessage(backend), { at: at + 2 });
    const done = await realRunOf("/admin/dead-letters/replay", { ...body, until: planned.until });
    expect(results(done.replayed)).to.deep.equal(seen.map((id) => [id, "replayed"]));
    expect((await deadLetters.get(later))?.replayedAs, "failed after the dry run").to.equal(null);
    expect((await newest()).target).to.equal(
      JSON.stringify({ ...body, until: planned.until, limit: 1000 }),
    );

    // The same for dead callbacks, and the CLI's --until (printed by its dry run).
    const callbacks = [
      (await recordDeadCallback(store, deadCallbacks, { at, target: "https://until.example/a" }))
        .id,
    ];
    // The support's entries keep their default receiver: the test selects by target.
    const target = { target: "https://until.example/a" };
    const plannedCallbacks = await dryRunOf("/admin/dead-callbacks/redeliver", target);
    expect(plannedCallbacks).to.include({ until: new Date(at).toISOString() });
    const lateCallback = (
      await recordDeadCallback(store, deadCallbacks, {
        at: at + 5,
        target: "https://until.example/a",
      })
    ).id;
    const parsed = parseOperatorArgs("dead-callbacks", [
      "redeliver",
      "--target",
      target.target,
      "--until",
      plannedCallbacks.until!,
      "--json",
    ]);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    expect(
      await runOperatorCommand("dead-callbacks", parsed, config, (t) => printed.push(t)),
    ).to.equal(0);
    expect(results((JSON.parse(printed.join("\n")) as Run).redelivered)).to.deep.equal(
      callbacks.map((id) => [id, "redelivered"]),
    );
    expect((await store.get(lateCallback))?.delivery).to.equal("delivery_failed");

    // An `until` the dry run did not write is refused, as is one alone, which selects nothing.
    for (const until of ["yesterday", "2026-12-06", "2026-13-01T00:00:00Z", 1_700_000_000_000]) {
      const answer = await ask("/admin/dead-letters/replay", {
        body: JSON.stringify({ ...body, until }),
      });
      expect(answer.status, String(until)).to.equal(400);
      expect(answer.json.message).to.match(/^until is a time as a dry run answers it/);
    }
    const alone = await ask("/admin/dead-letters/replay", {
      body: JSON.stringify({ until: planned.until }),
    });
    expect(alone.status).to.equal(400);
    expect((await deadLetters.get(later))?.replayedAs).to.equal(null);
  });

  it("lists with `--dry-run` on the CLI what the same command then replays and redelivers", async () => {
    const cli = async (command: "dead-letters" | "dead-callbacks", ...args: string[]) => {
      const parsed = parseOperatorArgs(command, args);
      if (typeof parsed === "string") throw new Error(parsed);
      const printed: string[] = [];
      const code = await runOperatorCommand(command, parsed, config, (text) => printed.push(text));
      return { code, text: printed.join("\n") };
    };
    // What the earlier tests left, and the six new ones: the CLI selects from them all.
    await sixDeadLetters();
    const pending = (await deadLetters.oldestPending({}, 100)).map((e) => e.id);
    const dry = await cli("dead-letters", "replay", "--all", "--limit", "5", "--dry-run", "--json");
    expect(dry.code).to.equal(0);
    const planned = JSON.parse(dry.text) as Run;
    expect(planned.dryRun).to.equal(true);
    expect([...results(planned.replayed), ...planned.skipped.map((s) => [s.id, "skipped"])])
      .to.have.length(5)
      .and.to.satisfy((found: string[][]) =>
        found.every(([id]) => pending.slice(0, 5).includes(id)),
      );
    expect(await requestsQueued()).to.equal(0);
    for (const id of pending) expect((await deadLetters.get(id))?.replayedAs, id).to.equal(null);
    const text = await cli("dead-letters", "replay", "--all", "--limit", "5", "--dry-run");
    expect(text.text).to.match(/: would replay \(backend b\)/);
    // The refused ones are counted too, not left out of the sum as if none were found.
    // More matched than --limit 5 took: the last line says so.
    expect(text.text).to.match(
      /3 would be replayed, \d+ refused, \d+ skipped \(dry run: nothing was sent\)\n\(more match than --limit 5; the oldest 5 were taken: run it again for the rest\)\n\(to act on these alone, run it again without --dry-run, with --until \d{4}-\d\d-\d\dT[\d:.]+Z\)$/,
    );

    const real = await cli("dead-letters", "replay", "--all", "--limit", "5", "--json");
    expect(real.code).to.equal(0);
    const done = JSON.parse(real.text) as Run;
    expect(results(done.replayed)).to.deep.equal(asReplayed(planned));
    expect(done.skipped).to.deep.equal(planned.skipped);
    expect(await requestsQueued()).to.equal(3);

    const callback = (await recordDeadCallback(store, deadCallbacks)).id;
    const waiting = (await deadCallbacks.list({ delivery: "delivery_failed" }, 100, "oldest")).map(
      (e) => e.id,
    );
    expect(waiting).to.include(callback);
    const dryRedeliver = await cli("dead-callbacks", "redeliver", "--all", "--dry-run", "--json");
    expect(dryRedeliver.code).to.equal(0);
    const plannedCallbacks = JSON.parse(dryRedeliver.text) as Run;
    expect(plannedCallbacks.dryRun).to.equal(true);
    expect(plannedCallbacks).to.not.have.property("more");
    expect(results(plannedCallbacks.redelivered)).to.deep.equal(
      waiting.map((id) => [id, "would redeliver"]),
    );
    expect(await callbacksQueued()).to.equal(0);
    expect((await store.get(callback))?.delivery).to.equal("delivery_failed");
    const redelivered = await cli("dead-callbacks", "redeliver", "--all", "--json");
    expect(results((JSON.parse(redelivered.text) as Run).redelivered)).to.deep.equal(
      waiting.map((id) => [id, "redelivered"]),
    );
    expect(await callbacksQueued()).to.equal(waiting.length);
  });
});
