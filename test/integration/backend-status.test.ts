// The status page's counts against a real Redis and broker: dead letters not replayed yet (by
// backend and reason) and dead callbacks not redelivered yet (by reason) are the same figures a
// read of every record gives, through replays, redeliveries and expiry, with more entries than
// the page lists; yet a status read sends a few commands, not one per record (each open status
// page asks every second).

import { expect } from "chai";
import type Redis from "ioredis";
import type { QueueMonitor } from "../../shared/broker/queue-monitor";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendStatusReader } from "../../shared/operator/backend-status";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { PendingTally } from "../../shared/operator/pending-tally";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { whenReady } from "../../shared/store/redis";
import { type BrokerSide, connectBroker, replayerFor, testScope } from "../support/broker-scope";
import {
  deadCallbackEntry,
  recordDeadLetter,
  requestMessage,
  transactionMeta,
} from "../support/messages";

/** The commands `redis` sends while `run` runs (a pipeline's and a script's included). */
async function commandsSent<T>(redis: Redis, run: () => Promise<T>): Promise<[T, number]> {
  let sent = 0;
  const original = redis.sendCommand.bind(redis);
  redis.sendCommand = ((...args: Parameters<Redis["sendCommand"]>) => {
    sent += 1;
    return original(...args);
  }) as Redis["sendCommand"];
  try {
    return [await run(), sent];
  } finally {
    redis.sendCommand = original;
  }
}

/** More than the page lists (the newest 50): the counts must not come from what it lists. */
const MANY = 60;

describe("status figures: dead-letter and dead-callback counts (real Redis and broker)", function () {
  this.timeout(60_000);
  const scope = testScope("backend-status-test");
  const { prefix, config, names, redis, store, deadLetters } = scope;
  const deadCallbacks = new DeadCallbacks(redis, prefix, 60_000);
  const reader = new BackendStatusReader({
    config,
    redis,
    monitor: { get: () => undefined } as unknown as QueueMonitor,
    names,
    pauses: new BackendPauses(redis, prefix),
    deadLetters,
    failures: new RecentFailures(redis, prefix),
  });
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  /** What a read of every record gives: the dead letters not replayed yet, by backend and reason. */
  async function deadLettersRead(): Promise<Record<string, Record<string, number>>> {
    const byBackend: Record<string, Record<string, number>> = {};
    for (const entry of await deadLetters.list({ replayed: false }, 10_000)) {
      const reasons = (byBackend[entry.backend] ??= {});
      reasons[entry.reason] = (reasons[entry.reason] ?? 0) + 1;
    }
    return byBackend;
  }

  it("counts the dead letters waiting, by backend and reason, through replays, in a few commands", async () => {
    // The first read of a deployment builds the counts from the records kept before them (none
    // here): from then on the scripts that record and replay keep them.
    expect((await reader.read()).deadLetters).to.deep.equal({});
    const ids: string[] = [];
    for (let i = 0; i < MANY; i++) {
      const reason = i % 3 === 0 ? "translator_error" : "retries_exhausted";
      ids.push(await recordDeadLetter(deadLetters, requestMessage(), { reason }));
    }
    // A backend no longer configured: in the total, on no backend's card.
    for (let i = 0; i < 3; i++) {
      await recordDeadLetter(deadLetters, requestMessage({ backend: "gone" }), {
        reason: "expired",
      });
    }
    // Recorded twice (a retried dead-lettering): counted once.
    const again = await deadLetters.get(ids[1]);
    await deadLetters.record(again!, Buffer.from(again!.request));
    const replayer = replayerFor(scope, amqp);
    for (const id of ids.slice(0, 7)) {
      expect(await replayer.replay(id)).to.include({ result: "replayed" });
    }

    // A replay the broker did not take is undone: waiting again, counted again.
    const refusing = replayerFor(scope, amqp, {
      broker: {
        publish: () => Promise.reject(new Error("the broker refused it")),
      } as unknown as BrokerSide["broker"],
    });
    expect(await refusing.replay(ids[7])).to.include({ result: "refused" });

    const [figures, sent] = await commandsSent(redis, () => reader.read());
    const read = await deadLettersRead();
    expect(read.b).to.deep.equal({ retries_exhausted: 36, translator_error: 17 });
    expect(figures.backends[0].deadLetters).to.deep.equal(read.b);
    expect(figures.deadLetters).to.deep.equal({ ...read.b, expired: 3 });
    // Pauses, in-flight calls, recent failures and the counts: never a command per record.
    expect(sent).to.be.below(MANY / 4);
  });

  it("builds the counts once from the records kept before them, and drops expired ones", async () => {
    // As a deployment finds them after an upgrade: records and their index, no counts.
    const tally = redisKeys(prefix).deadLetterTally;
    await redis.del(tally.members, tally.groups, tally.counts, tally.built);
    expect((await reader.read()).deadLetters).to.deep.equal({
      ...(await deadLettersRead()).b,
      expired: 3,
    });

    // Kept a millisecond (a deployment of its own): gone from the counts with its record, never
    // before it. Read again at once, as often as Redis answers: the millisecond the record
    // expires in is when the counts and the record could disagree.
    const brief = new DeadLetters(redis, `${prefix}brief.`, 1);
    for (let i = 0; i < 20; i++) {
      await recordDeadLetter(brief, requestMessage(), { reason: "unreadable" });
      let counted;
      do counted = await brief.waitingCounts();
      while (counted.length > 0);
      expect(await brief.list()).to.deep.equal([]);
    }
  });

  it("counts the dead callbacks not redelivered, by reason, through claims, undone claims and late deliveries", async () => {
    expect(await deadCallbacks.failedCounts()).to.deep.equal({}); // built, as above
    const ids: string[] = [];
    for (let i = 0; i < MANY; i++) {
      const meta = transactionMeta({
        replyMode: "callback",
        callback: "https://cb.example.org/hooks/1",
      });
      await store.create(meta);
      const reason = i % 4 === 0 ? "gone" : "exhausted";
      expect(await deadCallbacks.record(deadCallbackEntry(meta.id, { reason }))).to.equal(true);
      ids.push(meta.id);
    }
    // Claimed for a redelivery (no longer delivery_failed), one of them given back (the broker
    // did not take it), and one settled delivered by a late copy that got through.
    for (const id of ids.slice(1, 6)) {
      expect(await deadCallbacks.claim(id, `token-${id}`, 60_000)).to.equal("ok");
    }
    await deadCallbacks.unclaim(ids[5], `token-${ids[5]}`);
    // The late copy's settlement and the count's change are one step (one script call; the
    // script loaded first, on a message with no record, which changes nothing).
    expect(await deadCallbacks.delivered("no-such-message")).to.equal(null);
    const [from, settling] = await commandsSent(redis, () => deadCallbacks.delivered(ids[6]));
    expect(from).to.equal("delivery_failed");
    expect(settling).to.equal(1);
    const settled = await store.get(ids[6]);
    expect(settled!.delivery).to.equal("delivered");
    expect(settled!.history.at(-1)!.state).to.equal("delivered");
    expect(await deadCallbacks.delivered(ids[6])).to.equal(null);

    const [counts, sent] = await commandsSent(redis, () => deadCallbacks.failedCounts());
    const read: Record<string, number> = {};
    for (const entry of await deadCallbacks.list({ delivery: "delivery_failed" }, 10_000)) {
      read[entry.reason] = (read[entry.reason] ?? 0) + 1;
    }
    expect(read).to.deep.equal({ gone: 14, exhausted: 41 });
    expect(counts).to.deep.equal(read);
    expect(sent).to.be.below(5);

    // Built again from the records, the same.
    const tally = redisKeys(prefix).deadCallbackTally;
    await redis.del(tally.members, tally.groups, tally.counts, tally.built);
    expect(await new DeadCallbacks(redis, prefix, 60_000).failedCounts()).to.deep.equal(read);
  });

  it("takes expired entries out of the counts a bounded batch per Redis call, however many expired", async () => {
    const keys = redisKeys(`${prefix}batch.`).deadLetterTally;
    const tally = new PendingTally(redis, keys, async () => undefined, 2);
    expect([...(await tally.counts())]).to.deep.equal([]); // built (nothing to count)
    // Five entries whose records expired long ago, and one kept for ever, all of one group.
    for (let i = 0; i < 5; i++) {
      await redis.zadd(keys.members, 1, `expired-${i}`);
      await redis.hset(keys.groups, `expired-${i}`, "g");
    }
    await redis.zadd(keys.members, "+inf", "kept");
    await redis.hset(keys.groups, "kept", "g");
    await redis.hset(keys.counts, "g", 6);

    const [counts, sent] = await commandsSent(redis, () => tally.counts());
    expect([...counts]).to.deep.equal([["g", 1]]);
    // Two, two, then the last one with the counts: no call takes out more than its batch.
    expect(sent).to.equal(3);
    expect(await redis.zrange(keys.members, 0, -1)).to.deep.equal(["kept"]);
  });
});
