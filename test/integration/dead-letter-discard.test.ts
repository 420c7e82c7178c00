// Discarding a dead letter on the real broker and Redis: a discarded one is never replayed again,
// by a bulk run or by its id, no longer counts as waiting, is journaled; and of a discard and a
// replay of the same dead letter asked at once, exactly one wins.

import type { ConsumeMessage } from "amqplib";
import { expect } from "chai";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { Discarder, REPLAY_IN_PROGRESS } from "../../shared/operator/discard";
import { actionAnswer } from "../../shared/operator/operator-answers";
import { NO_SUCH_DEAD_LETTER } from "../../shared/operator/replay";
import { cancelByOperator } from "../../shared/operator/operator-cancel";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { whenReady } from "../../shared/store/redis";
import { REFUSED_BY_DISCARD } from "../../shared/store/transaction-store";
import {
  type BrokerSide,
  connectBroker,
  processorFor,
  replayerFor,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { heldBroker } from "../support/held-broker";
import { recordDeadLetter, requestMessage, transactionMeta } from "../support/messages";

/** What a discard leaves of an abandoned replay's record: the marker of a refused submission. */
const DISCARD_MARKER = { refused: "1", refusedBy: REFUSED_BY_DISCARD };

describe("discarding a dead letter (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("dead-letter-discard-test");
  const { prefix, names, redis, deadLetters, store } = scope;
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  async function cli(...words: string[]): Promise<{ code: number; printed: string }> {
    const parsed = parseOperatorArgs("dead-letters", words);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, scope.config, (text) =>
      printed.push(text),
    );
    return { code, printed: printed.join("\n") };
  }

  const queued = () => takeQueued(amqp.channel, names.requestsQueue("b"));

  it("keeps a discarded dead letter out of every later replay, its count and the waiting list", async () => {
    const kept = await recordDeadLetter(deadLetters, requestMessage(), { at: Date.now() - 2 });
    const poison = await recordDeadLetter(deadLetters, requestMessage(), { at: Date.now() - 1 });
    expect(await deadLetters.waitingCounts()).to.deep.equal([
      { backend: "b", reason: "retries_exhausted", count: 2 },
    ]);

    const discarded = await cli("discard", poison.toUpperCase(), "--note", "poison: schema v2");
    expect(discarded.code).to.equal(0);
    expect(discarded.printed).to.match(new RegExp(`^${poison}: discarded at \\d{4}-`));
    expect(await deadLetters.waitingCounts()).to.deep.equal([
      { backend: "b", reason: "retries_exhausted", count: 1 },
    ]);
    expect(await cli("discard", poison)).to.deep.include({ code: 0 });
    expect((await cli("discard", poison)).printed).to.include("already discarded");

    // A bulk run takes the other one only; a replay by its id sends nothing.
    const all = JSON.parse((await cli("replay", "--all", "--json")).printed);
    expect(all.replayed.map((r: { id: string }) => r.id)).to.deep.equal([kept]);
    const byId = JSON.parse((await cli("replay", poison, "--json")).printed);
    expect(byId).to.include({ result: "already", replayedAs: null, discarded: true });
    expect(await queued()).to.deep.equal([all.replayed[0].replayedAs]);

    // Listed as discarded, not as waiting.
    expect((await deadLetters.list({ replayed: false })).map((e) => e.id)).to.not.include(poison);
    const [shown] = await deadLetters.list({ id: poison });
    expect(shown).to.include({ replayedAs: null });
    expect(shown.discardedAt).to.be.a("number");
    // Its note is kept on the record (the first discard's: a repeat changes nothing), and shown.
    expect(shown).to.include({ discardNote: "poison: schema v2" });
    await cli("discard", poison, "--note", "another note");
    const show = JSON.parse((await cli("show", poison, "--json")).printed);
    expect(show).to.include({ discardNote: "poison: schema v2" });
    expect(show.discardedAt).to.be.a("number");

    // A replayed one is not discarded: its replay was sent.
    const late = JSON.parse((await cli("discard", kept, "--json")).printed);
    expect(late).to.include({ result: "already", replayedAs: all.replayed[0].replayedAs });

    // Journaled, with its result, as every operator action is.
    const journal = JSON.stringify(await redis.xrange(redisKeys(prefix).operatorJournal, "-", "+"));
    expect(journal).to.include("dead-letter.discard");
    expect((await cli("discard", "no-such-id")).code).to.equal(1);
  });

  it("discards by its id a dead letter whose replay was cancelled before a worker took it", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const replay = await replayerFor(scope, amqp).replay(id);
    expect(replay).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([replay.replayedAs]);
    expect(await cancelByOperator(store, replay.replayedAs!)).to.include({ result: "cancelled" });

    // By its id it is discarded: the cancelled replay has nothing left to cancel.
    const discarded = JSON.parse((await cli("discard", id, "--json")).printed);
    expect(discarded).to.include({
      result: "discarded",
      replayedAs: null,
      previousReplay: replay.replayedAs,
    });
    const [shown] = await deadLetters.list({ id });
    expect(shown).to.include({ replayedAs: null });
    expect(shown.discardedAt).to.be.a("number");
    expect((await deadLetters.list({ replayed: true })).map((e) => e.id)).to.not.include(id);
    expect((await deadLetters.list({ replayed: false })).map((e) => e.id)).to.not.include(id);
    expect(await replayerFor(scope, amqp).replay(id)).to.include({
      result: "already",
      discarded: true,
    });
    expect((await cli("discard", id)).printed).to.include("already discarded");
    expect(await queued()).to.deep.equal([]);
  });

  it("discards in bulk, as by its id, a dead letter whose replay was cancelled before a worker took it", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const early = await recordDeadLetter(deadLetters, requestMessage());
    const sent = await recordDeadLetter(deadLetters, requestMessage());
    const replayer = replayerFor(scope, amqp);
    const replays = [await replayer.replay(id), await replayer.replay(early)];
    const kept = await replayer.replay(sent);
    expect(await queued()).to.have.length(3);
    for (const r of replays) {
      expect(await cancelByOperator(store, r.replayedAs!)).to.include({ result: "cancelled" });
    }
    // A bulk replay leaves them: it would undo the cancel. A bulk discard agrees with it.
    expect((await deadLetters.oldestPending({}, 100)).map((e) => e.id)).to.not.include(id);
    // A run that read the entry before its replay replaces the link too.
    const readBefore = { ...(await deadLetters.get(early))!, replayedAs: null };
    const [late] = (await new Discarder(redis, deadLetters).discardMany([readBefore], () => false))
      .discarded;
    expect(late).to.include({ result: "discarded", previousReplay: replays[1].replayedAs });

    const note = ["--note", "cancelled, and never to be sent"];
    const dry = await cli("discard", "--all", ...note, "--dry-run");
    expect(dry.printed).to.include(
      `${id}: would discard (backend b) (in place of replay ${replays[0].replayedAs}, cancelled)`,
    );
    const run = JSON.parse((await cli("discard", "--all", ...note, "--json")).printed);
    const ours = (r: { id: string }) => [id, early, sent].includes(r.id);
    expect(run.discarded.filter(ours)).to.have.length(1);
    expect(run.discarded.find(ours)).to.include({
      id,
      result: "discarded",
      replayedAs: null,
      previousReplay: replays[0].replayedAs,
    });
    // One whose replay was not cancelled is not selected, and stays replayed.
    expect((await deadLetters.get(sent))!.replayedAs).to.equal(kept.replayedAs);
    for (const each of [id, early]) {
      expect((await deadLetters.get(each))!.discardedAt).to.be.a("number");
    }
    expect(await queued()).to.deep.equal([]);
  });

  it("answers a discard resent by Redis after it replaced a cancelled replay as its first run did", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const replay = await replayerFor(scope, amqp).replay(id);
    expect(await queued()).to.deep.equal([replay.replayedAs]);
    expect(await cancelByOperator(store, replay.replayedAs!)).to.include({ result: "cancelled" });
    new Discarder(redis, deadLetters);
    // The script as a discard by id runs it, twice with one token: ioredis resending it after a
    // reconnect lost the first reply.
    const script = redis as unknown as {
      sluiceDeadLetterDiscard(...keysAndArgs: string[]): Promise<string[]>;
    };
    const keys = redisKeys(prefix);
    const run = () =>
      script.sluiceDeadLetterDiscard(
        deadLetters.key(id),
        ...deadLetters.tally.scriptKeys,
        keys.tx(replay.replayedAs!),
        keys.replayPublishing(replay.replayedAs!),
        keys.tx(id),
        id,
        String(Date.now()),
        "one-token",
        replay.replayedAs!,
        "1",
        "",
      );
    const first = await run();
    expect(first).to.deep.equal(["discarded", first[1], replay.replayedAs, ""]);
    expect(await run()).to.deep.equal(first);
    expect(await queued()).to.deep.equal([]);
  });

  /** A broker whose publish waits until `settle` is called, then refuses it or takes it. */
  it("refuses a discard while a replay's publish waits for the broker, and discards once it was refused", async () => {
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const held = heldBroker();
    const replaying = replayerFor(scope, amqp, { broker: held.broker }).replay(id);
    await held.publishing;
    const claimed = (await deadLetters.get(id))!.replayedAs;
    expect(claimed).to.be.a("string");

    // Not "already replayed": the broker may yet refuse it, and the dead letter wait again.
    const during = await cli("discard", id, "--json");
    expect(during.code).to.equal(1);
    const answer = JSON.parse(during.printed);
    expect(answer).to.include({
      result: "refused",
      type: "Conflict",
      message: REPLAY_IN_PROGRESS,
      replayedAs: claimed,
    });
    expect(actionAnswer(answer, NO_SUCH_DEAD_LETTER).status).to.equal(409);
    // The CLI's line names the replay in progress, as its JSON does.
    const line = await cli("discard", id);
    expect(line.code).to.equal(1);
    expect(line.printed).to.equal(
      `${id}: refused (Conflict): ${REPLAY_IN_PROGRESS} (replay ${claimed})`,
    );

    held.settle(true);
    expect(await replaying).to.include({ result: "refused", retryAfter: 5 });
    expect((await deadLetters.get(id))!.replayedAs).to.equal(null);
    expect((await cli("discard", id, "--json")).printed).to.include('"result": "discarded"');
    expect(await queued()).to.deep.equal([]);
  });

  it("answers a discard with the replay once the broker took it", async () => {
    // Taken: the replay was sent.
    const sent = await recordDeadLetter(deadLetters, requestMessage());
    const taking = heldBroker();
    const replaying = replayerFor(scope, amqp, { broker: taking.broker }).replay(sent);
    await taking.publishing;
    taking.settle(false);
    const replayed = await replaying;
    expect(replayed).to.include({ result: "replayed" });
    const discarder = new Discarder(redis, deadLetters);
    expect(await discarder.discard(sent)).to.deep.equal({
      id: sent,
      result: "already",
      replayedAs: replayed.replayedAs,
    });
  });

  it("discards one whose replay was claimed and never confirmed, its publisher gone, marking that replay refused", async () => {
    // Claimed, with no publishing mark (its publisher stopped and the mark lapsed, or a claim
    // of a release before the mark): nothing confirmed it, so the discard replaces the link,
    // and a copy the broker may have got is refused by the worker that meets it.
    const discarder = new Discarder(redis, deadLetters);
    const keys = redisKeys(prefix);
    const stopped = await recordDeadLetter(deadLetters, requestMessage());
    const stalled = heldBroker();
    const stalling = replayerFor(scope, amqp, { broker: stalled.broker }).replay(stopped);
    await stalled.publishing;
    const claimed = (await deadLetters.get(stopped))!.replayedAs!;
    await redis.del(keys.replayPublishing(claimed));
    const line = await cli("discard", stopped);
    expect(line.code).to.equal(0);
    expect(line.printed).to.match(
      new RegExp(
        `^${stopped}: discarded at \\S+ \\(in place of replay ${claimed}, never confirmed, its publisher gone\\)$`,
      ),
    );
    expect(await redis.hgetall(keys.tx(claimed))).to.deep.equal(DISCARD_MARKER);
    expect((await deadLetters.get(stopped))!.discardedAt).to.be.a("number");
    expect(await replayerFor(scope, amqp).replay(stopped)).to.include({
      result: "already",
      discarded: true,
    });
    expect(await discarder.discard(stopped)).to.include({ result: "already" });
    // Its publisher was alive after all, only slow, and the broker confirms it now: the copy is
    // the refused marker's (the worker dead-letters it), so its caller is not told it was replayed.
    stalled.settle(false);
    expect(await stalling).to.include({
      result: "already",
      discarded: true,
      replayedAs: null,
      discardReplaced: claimed,
    });
    expect(await redis.hgetall(keys.tx(claimed))).to.deep.equal(DISCARD_MARKER);

    // In bulk too: the run selects it, as a discard by id takes it.
    const bulk = await recordDeadLetter(deadLetters, requestMessage());
    const held = heldBroker();
    const holding = replayerFor(scope, amqp, { broker: held.broker }).replay(bulk);
    await held.publishing;
    const bulkClaim = (await deadLetters.get(bulk))!.replayedAs!;
    await redis.del(keys.replayPublishing(bulkClaim));
    // Its dry run names it as the real run does, not as a cancelled replay.
    const dryLine = await cli("discard", "--all", "--note", "never confirmed", "--dry-run");
    expect(dryLine.printed).to.include(
      `${bulk}: would discard (backend b) (in place of replay ${bulkClaim}, never confirmed, its publisher gone)`,
    );
    const dry = JSON.parse(
      (await cli("discard", "--all", "--note", "never confirmed", "--dry-run", "--json")).printed,
    );
    expect(dry.discarded.find((r: { id: string }) => r.id === bulk)).to.deep.include({
      result: "would discard",
      previousReplay: bulkClaim,
      previousReplayAbandoned: true,
    });
    const run = JSON.parse(
      (await cli("discard", "--all", "--note", "never confirmed", "--json")).printed,
    );
    expect(run.discarded.find((r: { id: string }) => r.id === bulk)).to.include({
      result: "discarded",
      previousReplay: bulkClaim,
      previousReplayAbandoned: true,
    });
    held.settle(false);
    await holding;
    expect(await queued()).to.deep.equal([]);
  });

  it("leaves no link to an abandoned replay a discard replaced, but in discardReplaced", async () => {
    const keys = redisKeys(prefix);
    const request = requestMessage();
    await store.create(transactionMeta({ id: request.id, createdAt: request.createdAt }));
    const id = await recordDeadLetter(deadLetters, request);
    const held = heldBroker();
    const holding = replayerFor(scope, amqp, { broker: held.broker }).replay(id);
    await held.publishing;
    const claimed = (await deadLetters.get(id))!.replayedAs!;
    expect((await store.get(id))?.replayedAs).to.equal(claimed);
    await redis.del(keys.replayPublishing(claimed));
    expect(await new Discarder(redis, deadLetters).discard(id)).to.include({
      result: "discarded",
      previousReplay: claimed,
    });
    // The original's status names no replay (the claimed id is only a refusal marker now); the
    // dead letter keeps the link where a discard keeps it, as the API and the CLI show it.
    expect((await store.get(id))?.replayedAs ?? null).to.equal(null);
    expect(await deadLetters.get(id)).to.include({ replayedAs: null, discardReplaced: claimed });
    const shown = JSON.parse((await cli("show", id)).printed);
    expect(shown).to.include({
      replayedAs: null,
      discardReplaced: claimed,
      discardAbandoned: true,
    });
    held.settle(false);
    expect(await holding).to.include({ replayedAs: null, discardReplaced: claimed });
    expect((await store.get(id))?.replayedAs ?? null).to.equal(null);
    expect(await queued()).to.deep.equal([]);
  });

  it("dead-letters a copy of an abandoned replay the broker took as discarded by an operator, never calling the backend", async () => {
    const keys = redisKeys(prefix);
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const held = heldBroker();
    const holding = replayerFor(scope, amqp, { broker: held.broker }).replay(id);
    await held.publishing;
    const claimed = (await deadLetters.get(id))!.replayedAs!;
    await redis.del(keys.replayPublishing(claimed));
    expect(await new Discarder(redis, deadLetters).discard(id)).to.include({
      result: "discarded",
      previousReplayAbandoned: true,
    });
    // The publisher was only slow: the broker took its copy, which a worker now meets.
    held.settle(false);
    await holding;
    const calls: string[] = [];
    const processor = processorFor(scope, amqp, {
      translator: {
        call: async (request) => {
          calls.push(request.id);
          return [];
        },
      },
      shutdown: new AbortController().signal,
      deadLetters,
    });
    const copy = { content: held.published(), fields: {}, properties: { headers: {} } };
    expect(await processor.process(copy as unknown as ConsumeMessage)).to.equal("ack");
    expect(calls).to.deep.equal([]);
    const dead = (await deadLetters.get(claimed))!;
    expect(dead).to.include({ reason: "no_transaction", attempts: 0 });
    expect(dead.error).to.match(/discarded by an operator/);
    expect(dead.error).to.not.match(/refused to its caller|no broker confirm/);
    const queued = await amqp.channel.get(names.deadLetterQueue, { noAck: true });
    expect(queued && queued.properties.headers?.["x-sluice-reason"]).to.equal("no_transaction");
  });

  it("answers a replay that read the dead letter before a discard replaced its abandoned replay as discarded", async () => {
    const keys = redisKeys(prefix);
    const id = await recordDeadLetter(deadLetters, requestMessage());
    const held = heldBroker();
    const holding = replayerFor(scope, amqp, { broker: held.broker }).replay(id);
    await held.publishing;
    const claimed = (await deadLetters.get(id))!.replayedAs!;
    await redis.del(keys.replayPublishing(claimed));
    // A replay (a resume of that claim) read the entry here, before the discard.
    const stale = (await deadLetters.get(id))!;
    expect(await new Discarder(redis, deadLetters).discard(id)).to.include({
      result: "discarded",
      previousReplayAbandoned: true,
    });
    held.settle(true);
    await holding;
    const readBefore = Object.create(deadLetters, { get: { value: async () => stale } });
    const late = await replayerFor(scope, amqp, { deadLetters: readBefore }).replay(id);
    expect(late).to.include({ result: "already", discarded: true });
    expect(await redis.hgetall(keys.tx(claimed))).to.deep.equal(DISCARD_MARKER);
    expect(await queued()).to.deep.equal([]);
  });

  it("of a discard and replays of one dead letter asked at once, exactly one wins", async () => {
    for (let round = 0; round < 5; round++) {
      const id = await recordDeadLetter(deadLetters, requestMessage());
      const replayer = replayerFor(scope, amqp);
      const discarder = new Discarder(redis, deadLetters);
      const [replays, discards] = await Promise.all([
        Promise.all([0, 1, 2].map(() => replayer.replay(id))),
        Promise.all([0, 1, 2].map(() => discarder.discard(id))),
      ]);
      const replayed = replays.filter((r) => r.result === "replayed");
      const discarded = discards.filter((r) => r.result === "discarded");
      expect(replayed.length + discarded.length, `round ${round}`).to.equal(1);
      for (const r of replays.filter((r) => r.result !== "replayed")) {
        expect(r.result).to.equal("already");
      }
      // A discard that came while the winning replay's publish waited for its confirm is told
      // so (and asking again answers `already`).
      for (const r of discards.filter((r) => r.result !== "discarded")) {
        if (r.result === "refused") expect(r.error).to.equal(REPLAY_IN_PROGRESS);
        else expect(r.result).to.equal("already");
      }
      const sent = await queued();
      expect(sent).to.deep.equal(replayed.map((r) => r.replayedAs));
      if (discarded.length) expect(replays.every((r) => r.result === "already")).to.equal(true);
      else expect(discards.every((r) => r.replayedAs === replayed[0].replayedAs)).to.equal(true);
    }
  });
});
