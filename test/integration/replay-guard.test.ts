// A dead letter is replayed only when its original has no other outcome and no worker holds it:
// the broker dead-letters a message past its delivery limit while a worker may still be
// calling the backend for it, and a replay then would call the backend a second time.
// A callback original's replay keeps its target even when the original's record is gone.
// Real broker and Redis; the original's record is put in each state by the store itself.

import { expect } from "chai";
import type { Replayer } from "../../shared/operator/replay";
import { whenReady } from "../../shared/store/redis";
import {
  type BrokerSide,
  connectBroker,
  replayerFor,
  takeQueued,
  testScope,
} from "../support/broker-scope";
import { recordDeadLetter, requestMessage, transactionMeta } from "../support/messages";
import { cancelByOperator } from "../../shared/operator/operator-cancel";

describe("dead-letter replay and the original's own state (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("replay-guard-test");
  const { names, redis, store, deadLetters } = scope;
  let amqp: BrokerSide;
  let replayer: Replayer;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
    replayer = replayerFor(scope, amqp);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  /** An original in `accepted` (its record kept unless `recorded` is false) and its dead letter. */
  async function original(recorded = true, callback: string | null = null): Promise<string> {
    const now = Date.now();
    const request = requestMessage({
      replyMode: callback ? "callback" : "ack",
      createdAt: now,
      callback,
    });
    if (recorded) await store.create(transactionMeta({ id: request.id, createdAt: now }));
    return recordDeadLetter(deadLetters, request, {
      reason: "delivery_limit",
      at: now,
      error: "the broker dead-lettered it",
      attempts: 3,
    });
  }

  /** The ids of the requests now queued for backend b (taken off the queue). */
  const queued = () => takeQueued(amqp.channel, names.requestsQueue("b"));

  const processing = (id: string) =>
    store.transition(id, ["accepted"], "processing", { claimMs: 60_000 });

  it("refuses while a worker holds the original, and replays it once it failed", async () => {
    const id = await original();
    await processing(id);
    const early = await replayer.replay(id);
    expect(early).to.include({ result: "refused", replayedAs: null });
    expect(early.error).to.include("still being processed");
    expect(await queued()).to.deep.equal([]);
    expect((await deadLetters.get(id))?.replayedAs).to.equal(null);

    await store.transition(id, ["processing"], "failed");
    const later = await replayer.replay(id);
    expect(later).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([later.replayedAs]);
  });

  it("refuses an original that completed after it was dead-lettered, or whose answer is being recorded", async () => {
    const completed = await original();
    await processing(completed);
    await store.transition(completed, ["processing"], "completed");
    const answered = await original();
    await processing(answered);
    await store.recordAnswer(answered, { responses: [], deadLetter: null });
    for (const id of [completed, answered]) {
      const result = await replayer.replay(id);
      expect(result, id).to.include({ result: "refused" });
      expect(result.error).to.include("would call the backend again");
    }
    const bulk = await replayer.replayMany(
      [(await deadLetters.get(completed))!, (await deadLetters.get(answered))!],
      () => 0,
    );
    expect(bulk.replayed.map((r) => r.result)).to.deep.equal(["refused", "refused"]);
    expect(await queued()).to.deep.equal([]);
  });

  it("replays an original whose recorded answer is its dead letter's, or whose record is gone", async () => {
    const deadAnswer = await original();
    await processing(deadAnswer);
    await store.recordAnswer(deadAnswer, { responses: [], deadLetter: "retries_exhausted" });
    const gone = await original(false);
    const replays: string[] = [];
    for (const id of [deadAnswer, gone]) {
      const result = await replayer.replay(id);
      expect(result, id).to.include({ result: "replayed" });
      replays.push(result.replayedAs!);
    }
    expect((await queued()).sort()).to.deep.equal(replays.sort());
  });

  it("replays anew, by its id only, a dead letter whose replay was cancelled before a worker took it", async () => {
    const id = await original();
    const first = await replayer.replay(id);
    expect(first).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([first.replayedAs]);
    expect(await cancelByOperator(store, first.replayedAs!)).to.include({ result: "cancelled" });

    // A bulk run passes over it: someone decided that replay should not be processed. So does
    // one that read the entry before the cancel, when it was still waiting.
    const entries = await deadLetters.oldestPending({}, 100);
    expect(entries.map((e) => e.id)).to.not.include(id);
    const bulk = await replayer.replayMany([(await deadLetters.get(id))!], () => 0);
    expect(bulk.replayed).to.deep.equal([]);
    const readBefore = { ...(await deadLetters.get(id))!, replayedAs: null };
    const stale = await replayer.replayMany([readBefore], () => 0);
    expect(stale.replayed).to.deep.equal([{ id, replayedAs: first.replayedAs, result: "already" }]);
    const staleDry = await replayer.previewMany([readBefore], () => 0);
    expect(staleDry.replayed).to.deep.equal([
      { id, replayedAs: first.replayedAs, result: "already" },
    ]);
    expect(await queued()).to.deep.equal([]);

    // Asked for by its id, it is replayed again (a dry run says so first), linked anew.
    const preview = await replayer.preview(id);
    expect(preview).to.include({ result: "would replay" });
    const second = await replayer.replay(id);
    expect(second).to.include({ result: "replayed", previousReplay: first.replayedAs });
    expect(second.replayedAs).to.not.equal(first.replayedAs);
    expect(await queued()).to.deep.equal([second.replayedAs]);
    expect((await deadLetters.get(id))?.replayedAs).to.equal(second.replayedAs);
    expect((await store.get(id))?.replayedAs).to.equal(second.replayedAs);
    // Once: the new replay, not cancelled, is the one every later request finds.
    expect(await replayer.replay(id)).to.include({
      result: "already",
      replayedAs: second.replayedAs,
    });
    expect(await queued()).to.deep.equal([]);
  });

  it("keeps a dead letter whose replay is waiting, processing or finished linked to it", async () => {
    const id = await original();
    const first = await replayer.replay(id);
    await queued();
    await store.transition(first.replayedAs!, ["accepted"], "processing", { claimMs: 60_000 });
    await store.transition(first.replayedAs!, ["processing"], "failed");
    expect(await replayer.replay(id)).to.include({
      result: "already",
      replayedAs: first.replayedAs,
    });
    expect(await queued()).to.deep.equal([]);
  });

  it("keeps a callback original's target when its record is gone", async () => {
    const target = "https://callbacks.example.org/hook";
    const id = await original(false, target);
    const result = await replayer.replay(id);
    expect(result).to.include({ result: "replayed" });
    expect(await queued()).to.deep.equal([result.replayedAs]);
    expect(await store.get(result.replayedAs!)).to.include({
      replyMode: "callback",
      callback: target,
    });
  });
});
