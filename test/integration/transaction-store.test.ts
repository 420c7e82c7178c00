// The transaction store's state machine on the real Redis: one record per submission, one
// terminal outcome, claims that lapse, and responses stored once per seq.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import { wakeCodec, wakeHead } from "../../shared/protocol/codec";
import type { ResponseMessage } from "../../shared/protocol/envelope";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { cancelByOperator } from "../../shared/operator/operator-cancel";
import type { SlotAsk } from "../../shared/store/inflight-slot";
import {
  EXPIRY_CLAIM,
  TransactionStore,
  type Transaction,
  type TransactionMeta,
} from "../../shared/store/transaction-store";
import { withCutRedis } from "../support/cut-redis";
import { REDIS_URL } from "../support/harness";
import { transactionMeta } from "../support/messages";
import type { AnswerCutter } from "../support/tcp-proxy";

describe("transaction store (Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  let redis: Redis;
  let store: TransactionStore;

  before(() => {
    redis = new Redis(REDIS_URL);
    store = new TransactionStore(redis, prefix, 60_000);
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length) await redis.del(...keys);
    redis.disconnect();
  });

  const meta = transactionMeta;

  /** Hears the wakes of adapter `instances` (`heard`, as sent); `wakes(n)` waits for n, decoded. */
  async function wakeListener(...instances: string[]) {
    const subscriber = redis.duplicate();
    const heard: Buffer[] = [];
    subscriber.on("messageBuffer", (_channel: Buffer, message: Buffer) => heard.push(message));
    const keys = redisKeys(prefix);
    await subscriber.subscribe(...instances.map((instance) => keys.wake(instance)));
    const wakes = async (count: number) => {
      while (heard.length < count) await new Promise((resolve) => setTimeout(resolve, 10));
      return heard.map((message) => {
        const decoded = wakeCodec.decode(message);
        return decoded.ok && decoded.message;
      });
    };
    return { heard, wakes, close: () => subscriber.disconnect() };
  }
  /**
   * A record Redis lost while the backend worked, written again (`accepted`) by its worker
   * under claim "A", with the backend's answer kept beside it.
   */
  async function rebuiltWithAnswer() {
    const m = meta();
    await store.rebuild(m);
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    expect(
      await store.recordAnswer(m.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");
    return m;
  }
  /** `token`'s ask for one of `max` in-flight slots kept under `slots`, each a minute's lease. */
  const slotAsk = (slots: string, token: string, max = 5): SlotAsk => ({
    key: slots,
    token,
    channel: `${prefix}freed`,
    waiting: `${slots}:waiting`,
    max,
    leaseMs: 60_000,
    waitMs: 60_000,
  });

  function response(
    id: string,
    seq: number,
    final: boolean,
    outcome: ResponseMessage["outcome"] = "completed",
  ): ResponseMessage {
    return {
      id,
      seq,
      final,
      outcome,
      status: 200,
      contentType: "text/plain",
      body: `r${seq}`,
      producedAt: Date.now(),
    };
  }

  it("deduplicates by client, service and X-Road id, and a resent create is still its own", async () => {
    const first = meta({ xroadId: "x:1" });
    expect(await store.create(first)).to.deep.equal({ created: true });
    // The same command again (as ioredis resends it after a reconnect) is not a duplicate of itself.
    expect(await store.create(first)).to.deep.equal({ created: true });
    expect(await store.create(meta({ xroadId: "x:1" }))).to.deep.equal({
      created: false,
      existingId: first.id,
    });
    // A client whose id ends where another's X-Road id begins gets no collision.
    expect(await store.create(meta({ client: "EE/GOV/1/app:x", xroadId: "1" }))).to.deep.equal({
      created: true,
    });
    expect(await store.create(meta({ client: "EE/GOV/2/app", xroadId: "x:1" }))).to.deep.equal({
      created: true,
    });
    // The same client and X-Road id to another service is another message.
    expect(await store.create(meta({ service: "other", xroadId: "x:1" }))).to.deep.equal({
      created: true,
    });
    // Nor may a service whose name ends where an X-Road id begins collide with another pair.
    expect(await store.create(meta({ service: "svc:x", xroadId: "2" }))).to.deep.equal({
      created: true,
    });
    expect(await store.create(meta({ service: "svc", xroadId: "x:2" }))).to.deep.equal({
      created: true,
    });
  });

  it("finds a duplicate of a message Sluice 0.1.0 accepted, by its (client, X-Road id) key", async () => {
    const keys = redisKeys(prefix);
    const client = "EE/GOV/1/app";
    // What 0.1.0 left: the record, and a de-duplication key without the service.
    const asV1 = async (first: TransactionMeta) => {
      expect(await store.create(first)).to.deep.equal({ created: true });
      const xroadId = first.xroadId as string;
      await redis.rename(keys.dedup(client, first.service, xroadId), keys.dedupV1(client, xroadId));
    };
    const first = meta({ xroadId: "v1:1" });
    await asV1(first);
    const ttl = await redis.pttl(keys.dedupV1(client, "v1:1"));
    expect(await store.create(meta({ xroadId: "v1:1" }))).to.deep.equal({
      created: false,
      existingId: first.id,
    });
    // Copied to the current key, no longer lived than the old one.
    expect(await redis.get(keys.dedup(client, "svc", "v1:1"))).to.equal(first.id);
    expect(await redis.pttl(keys.dedup(client, "svc", "v1:1"))).to.be.within(1, ttl);
    expect((await store.findByXroadId(client, "svc", "v1:1"))?.id).to.equal(first.id);

    // The old key names a message to another service: that is another message.
    const elsewhere = meta({ service: "other", xroadId: "v1:2" });
    await asV1(elsewhere);
    expect((await store.create(meta({ xroadId: "v1:2" }))).created).to.equal(true);
    expect((await store.findByXroadId(client, "other", "v1:2"))?.id).to.equal(elsewhere.id);

    // A current key can spell an old one ("svc", "1" and X-Road id "3:svc:1"): not a duplicate.
    const current = meta({ xroadId: "1" });
    expect(await store.create(current)).to.deep.equal({ created: true });
    expect(await redis.get(keys.dedupV1(client, "3:svc:1"))).to.equal(current.id);
    expect(await store.findByXroadId(client, "svc", "3:svc:1")).to.equal(null);
    expect((await store.create(meta({ xroadId: "3:svc:1" }))).created).to.equal(true);
  });

  it("published: unknown until marked (or a later state proves it); marking a vanished record does not recreate it", async () => {
    const m = meta({ xroadId: "p-1" });
    await store.create(m);
    expect((await store.get(m.id))!.published).to.equal(false);
    await store.markPublished(m.id);
    expect((await store.get(m.id))!.published).to.equal(true);
    const claimed = meta();
    await store.create(claimed);
    await store.transition(claimed.id, ["accepted"], "processing");
    await store.transition(claimed.id, ["processing"], "accepted");
    expect((await store.get(claimed.id))!.published).to.equal(true);
    const gone = randomUUID();
    await store.markPublished(gone);
    expect(await redis.exists(store.key(gone))).to.equal(0);
  });

  it("a noted confirm mark lands with the creates of its turn, or alone; never recreates a record", async () => {
    const first = meta({ xroadId: "n-1" });
    await store.create(first);
    // Noted in the same turn as another message's create: both go in one script call.
    const second = meta({ xroadId: "n-2" });
    const gone = randomUUID();
    store.notePublished(first.id);
    store.notePublished(gone);
    await store.create(second);
    expect((await store.get(first.id))!.published).to.equal(true);
    expect((await store.get(second.id))!.published).to.equal(false);
    expect(await redis.exists(store.key(gone))).to.equal(0);
    // Noted with no create to ride on: sent alone at the end of the turn.
    store.notePublished(second.id);
    await new Promise((resolve) => setImmediate(resolve));
    await redis.ping();
    expect((await store.get(second.id))!.published).to.equal(true);
  });

  it("reads a record's responses for a reader its owner check admits only, after the check", async () => {
    const m = meta({ client: "EE/GOV/1/owner" });
    await store.create(m);
    await store.addResponse(response(m.id, 1, true));
    const seen: number[] = [];
    const owns = (client: string) => (tx: Transaction) => {
      seen.push(tx.responses.length);
      return tx.client === client;
    };
    // Another client's read stops at the record's fields: its answer is never read.
    expect(await store.get(m.id, owns("EE/GOV/2/other"))).to.equal(null);
    expect(await store.get(randomUUID(), owns("EE/GOV/1/owner"))).to.equal(null);
    const own = await store.get(m.id, owns("EE/GOV/1/owner"));
    expect(seen).to.deep.equal([0, 0]);
    expect(own).to.deep.equal(await store.get(m.id));
    expect(own?.responses.map((r) => r.seq)).to.deep.equal([1]);
  });

  it("the final response wakes the owner and each watcher once: over pub/sub where one listens, else named as unreached", async () => {
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    expect(await store.watch(m.id, "adapter-b")).to.equal("accepted");
    expect(await store.watch(m.id, "adapter-b")).to.equal("accepted");
    expect(await store.watch(m.id, "adapter-c")).to.equal("accepted");
    expect(await store.watch(randomUUID(), "adapter-b")).to.equal(null);
    const listener = await wakeListener("adapter-b");
    try {
      const head = (r: ResponseMessage) =>
        wakeHead({ id: r.id, state: r.outcome, error: r.error ?? null });
      const partial = await store.addResponse(response(m.id, 1, false));
      expect(partial.unreached).to.deep.equal([]);
      expect(partial.tx?.state).to.equal("accepted");
      const last = response(m.id, 2, true);
      const final = await store.addResponse(last, head(last));
      expect(final.unreached).to.deep.equal(["adapter-a", "adapter-c"]);
      expect(final.tx?.owner).to.equal("adapter-a");
      expect(final.tx?.state).to.equal("completed");
      expect(final.tx?.responses.map((r) => r.seq)).to.deep.equal([1, 2]);
      expect(final.tx).to.deep.equal(await store.get(m.id));
      // The response worker may stop between storing and waking: a redelivery wakes again.
      const again = await store.addResponse(last, head(last));
      expect(again.result).to.equal("duplicate");
      expect(again.unreached).to.deep.equal(["adapter-a", "adapter-c"]);
      for (const wake of await listener.wakes(2)) {
        expect(wake).to.deep.equal({
          id: m.id,
          state: "completed",
          response: final.stored,
          error: null,
        });
      }
    } finally {
      listener.close();
    }
    expect(await store.watch(m.id, "adapter-d")).to.equal("completed");
  });

  /**
   * Finishing for `client`'s sync callers alone (no callback target, no hub listener): the
   * instances its wake reached no subscriber of, with that wake, are collected in `unreached`.
   */
  function answeredAlone(client: string) {
    const unreached: Array<{ instances: string[]; wake: string }> = [];
    const alone = {
      client,
      unreached: (instances: string[], wake: Buffer) =>
        unreached.push({ instances, wake: wake.toString() }),
    };
    return { alone, unreached };
  }

  /** Finishing whose responses are always published (a callback target, say). */
  const published = { client: null, unreached: () => undefined };

  it("an answer that nobody but its sync callers hears of is answered in place: outcome stored, callers woken, nothing kept to publish", async () => {
    const client = `EE/GOV/${randomUUID().slice(0, 8)}/app`;
    const m = meta({ replyMode: "sync", owner: "adapter-a", client });
    await store.create(m);
    await store.watch(m.id, "adapter-c");
    await store.transition(m.id, ["accepted"], "processing");
    // adapter-c has no subscription: it is named, with the wake, for its reply queue.
    const listener = await wakeListener("adapter-a");
    const { alone, unreached } = answeredAlone(client);
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    try {
      expect(await store.recordAnswer(m.id, answer, undefined, null, alone)).to.equal("answered");
      const [decoded] = await listener.wakes(1);
      const tx = await store.get(m.id);
      expect(tx?.state).to.equal("completed");
      expect(tx?.responses.map((r) => r.seq)).to.deep.equal([1]);
      expect(decoded).to.deep.equal({
        id: m.id,
        state: "completed",
        response: tx?.responses[0],
        error: null,
      });
      expect(unreached).to.deep.equal([
        { instances: ["adapter-c"], wake: listener.heard[0].toString() },
      ]);
    } finally {
      listener.close();
    }
    // Nothing is kept to publish: a redelivered copy finds the message processed.
    const seen = await store.peek(m.id);
    expect(seen !== "refused" && seen?.answer).to.equal(null);
    expect(seen !== "refused" && seen?.processedAt).to.be.a("number");
    expect(await store.recordAnswer(m.id, answer, undefined, null, alone)).to.equal("terminal");

    // A client with a hub listener hears of its outcomes: those are published.
    const listened = meta({ replyMode: "sync", owner: "adapter-a", client });
    await store.create(listened);
    await store.transition(listened.id, ["accepted"], "processing");
    await redis.sadd(redisKeys(prefix).hubClient(client), "listener-1");
    const its = { responses: [response(listened.id, 1, true)], deadLetter: null };
    expect(await store.recordAnswer(listened.id, its, undefined, null, alone)).to.equal("finished");
  });

  it("an answer recorded with finish stores the outcome and wakes the sync callers at once; the answer stays until the response worker stores the final", async () => {
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    await store.watch(m.id, "adapter-b");
    await store.watch(m.id, "adapter-c");
    await store.transition(m.id, ["accepted"], "processing");
    // adapter-c has no subscription (an adapter of an earlier release, or one reconnecting).
    const listener = await wakeListener("adapter-a", "adapter-b");
    const last = response(m.id, 2, true);
    const answer = { responses: [response(m.id, 1, false), last], deadLetter: null };
    try {
      expect(await store.recordAnswer(m.id, answer, undefined, null, published)).to.equal(
        "finished",
      );
      const tx = await store.get(m.id);
      expect(tx?.state).to.equal("completed");
      expect(tx?.history.map((h) => h.state)).to.deep.equal([
        "accepted",
        "processing",
        "completed",
      ]);
      expect(tx?.responses.map((r) => r.seq)).to.deep.equal([1, 2]);
      for (const wake of await listener.wakes(2)) {
        expect(wake).to.deep.equal({
          id: m.id,
          state: "completed",
          response: tx?.responses[1],
          error: null,
        });
      }
      // A redelivered copy of the request still finds the answer to publish.
      const kept = await store.peek(m.id);
      expect(kept !== "refused" && kept?.answer).to.deep.equal(answer);
      // The response worker's first store of the final response is its first handling of it.
      // An earlier response is handled as the record stood right after it.
      const earlier = await store.addResponse(response(m.id, 1, false));
      expect(earlier.result).to.equal("ok");
      expect(earlier.tx?.state).to.equal("processing");
      expect(earlier.tx?.responses.map((r) => r.seq)).to.deep.equal([1]);
      const head = wakeHead({ id: m.id, state: "completed", error: null });
      const stored = await store.addResponse(last, head);
      expect(stored.result).to.equal("ok");
      expect(stored.tx?.state).to.equal("completed");
      // Woken again: only the instance the worker's wake did not reach (through the broker).
      expect(stored.unreached).to.deep.equal(["adapter-c"]);
      const after = await store.peek(m.id);
      expect(after !== "refused" && after?.answer).to.equal(null);
      // A repeat (the response requeued) wakes every one again, as before.
      const again = await store.addResponse(last, head);
      expect(again.result).to.equal("duplicate");
      expect(again.unreached).to.deep.equal(["adapter-c"]);
      await listener.wakes(4);
      // Pub/sub keeps order per connection: a wake the first store had sent would come before this.
      await redis.publish(redisKeys(prefix).wake("adapter-a"), "end");
      await listener.wakes(5);
      expect(listener.heard.at(-1)?.toString()).to.equal("end");
      expect(listener.heard).to.have.length(5);
    } finally {
      listener.close();
    }
    expect((await store.get(m.id))?.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
      "completed",
    ]);
  });

  it("a record rebuilt while the backend worked, with the answer recorded, cannot be cancelled", async () => {
    // Redis lost the record during the call: the worker writes it again (`accepted`) and keeps
    // the answer beside it until the response worker stores the final. A cancel meanwhile
    // would say the backend never saw the message, and drop its answer as late.
    const m = await rebuiltWithAnswer();
    expect(
      (await store.transition(m.id, ["accepted"], "cancelled", { by: "client" })).result,
    ).to.equal("conflict");
    expect((await store.addResponse(response(m.id, 1, true))).result).to.equal("ok");
    expect((await store.get(m.id))?.state).to.equal("completed");
  });

  it("an answer recorded with finish and recorded again under its claim is still to be published: recorded", async () => {
    // The same record run twice (a reply a reconnect lost, a command that timed out): the second
    // run finds the outcome stored; told "terminal", its worker would publish nothing.
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", { claimMs: 60_000, token: "A" });
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    const claim = { token: "A", called: true };
    expect(await store.recordAnswer(m.id, answer, undefined, claim, published)).to.equal(
      "finished",
    );
    expect(await store.recordAnswer(m.id, answer, undefined, claim, published)).to.equal(
      "recorded",
    );
    // Another claim's record (a worker whose claim was taken over) is no such repeat.
    expect(
      await store.recordAnswer(m.id, answer, undefined, { token: "B", called: true }, published),
    ).to.equal("terminal");
    // A record Redis lost and the worker wrote again holds no claim: its repeat is the same.
    const rebuilt = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.rebuild(rebuilt);
    const again = { responses: [response(rebuilt.id, 1, true)], deadLetter: null };
    expect(await store.recordAnswer(rebuilt.id, again, undefined, claim, published)).to.equal(
      "finished",
    );
    expect(await store.recordAnswer(rebuilt.id, again, undefined, claim, published)).to.equal(
      "recorded",
    );
    // Once the response worker stored the final, the answer is gone: nothing left to publish.
    await store.addResponse(response(m.id, 1, true));
    expect(await store.recordAnswer(m.id, answer, undefined, claim, published)).to.equal(
      "terminal",
    );
  });

  it("an answer told in place and recorded again under its claim is told in place again, with the same instances to wake", async () => {
    // The same record run twice (a reply a reconnect lost, a command that timed out): the second
    // run finds the outcome stored and no answer kept. Told "terminal", its worker would wake no
    // instance the first run's pub/sub missed (their callers wait out their whole wait).
    const client = `EE/GOV/${randomUUID().slice(0, 8)}/app`;
    const m = meta({ replyMode: "sync", owner: "adapter-a", client });
    await store.create(m);
    await store.watch(m.id, "adapter-c");
    await store.transition(m.id, ["accepted"], "processing", { claimMs: 60_000, token: "A" });
    const { alone, unreached } = answeredAlone(client);
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    const claim = { token: "A", called: true };
    // adapter-a hears its wake over pub/sub; adapter-c has no subscription.
    const listener = await wakeListener("adapter-a");
    try {
      expect(await store.recordAnswer(m.id, answer, undefined, claim, alone)).to.equal("answered");
      expect(await store.recordAnswer(m.id, answer, undefined, claim, alone)).to.equal("answered");
      const [first] = unreached;
      expect(first.instances).to.deep.equal(["adapter-c"]);
      expect(unreached).to.deep.equal([first, first]);
      // Another claim's record (a worker whose claim was taken over) is no such repeat.
      expect(
        await store.recordAnswer(m.id, answer, undefined, { token: "B", called: true }, alone),
      ).to.equal("terminal");
      expect(unreached).to.have.length(2);
      // The repeat sent no second pub/sub wake: the instances that heard the first were answered.
      await redis.publish(redisKeys(prefix).wake("adapter-a"), "end");
      await listener.wakes(2);
      expect(listener.heard.map((wake) => wake.toString())).to.deep.equal([first.wake, "end"]);
    } finally {
      listener.close();
    }
    expect((await store.get(m.id))?.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
      "completed",
    ]);
    const seen = await store.peek(m.id);
    expect(seen !== "refused" && seen?.answer).to.equal(null);

    // A record Redis lost and the worker wrote again holds no claim: its repeat is the same.
    // Its owner has no subscription either.
    const rebuilt = meta({ replyMode: "sync", owner: "adapter-r", client });
    await store.rebuild(rebuilt);
    const again = { responses: [response(rebuilt.id, 1, true)], deadLetter: null };
    unreached.length = 0;
    expect(await store.recordAnswer(rebuilt.id, again, undefined, claim, alone)).to.equal(
      "answered",
    );
    expect(await store.recordAnswer(rebuilt.id, again, undefined, claim, alone)).to.equal(
      "answered",
    );
    expect(unreached.map((u) => u.instances)).to.deep.equal([["adapter-r"], ["adapter-r"]]);
    expect(
      await store.recordAnswer(rebuilt.id, again, undefined, { token: "B", called: true }, alone),
    ).to.equal("terminal");
  });

  it("an answer with a dead-letter copy is recorded without its outcome, even with finish", async () => {
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing");
    const answer = { responses: [response(m.id, 1, true, "failed")], deadLetter: "x" };
    expect(await store.recordAnswer(m.id, answer, undefined, null, published)).to.equal("ok");
    expect((await store.get(m.id))?.state).to.equal("processing");
  });

  it("a cancel wakes the owner and each watcher with the cancelled outcome, as a final response does", async () => {
    // No response is stored for a cancel: without its own wake, a sync caller waiting on the
    // message would wait out its whole wait for an outcome already in the record.
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    await store.watch(m.id, "adapter-b");
    const listener = await wakeListener("adapter-a", "adapter-b");
    try {
      const cancelled = await cancelByOperator(store, m.id);
      expect(cancelled.result).to.equal("cancelled");
      // Both heard it: none to wake through a reply queue.
      expect(cancelled.result === "cancelled" && cancelled.unheard.instances).to.deep.equal([]);
      for (const wake of await listener.wakes(2)) {
        expect(wake).to.deep.equal({
          id: m.id,
          state: "cancelled",
          response: null,
          error: { code: "Cancelled", message: "cancelled by the operator" },
        });
      }
    } finally {
      listener.close();
    }
  });

  it("a cancel names the instances its wake reached no subscriber of, again on a repeat of it", async () => {
    // adapter-a listens, adapter-b (a watcher) does not: its subscription is down.
    const m = meta({ replyMode: "sync", owner: "adapter-a" });
    await store.create(m);
    await store.watch(m.id, "adapter-b");
    const listener = await wakeListener("adapter-a");
    try {
      const cancel = (token: string, by = "client") =>
        store.transition(m.id, ["accepted"], "cancelled", { by, token, wake: `wake-${token}` });
      const first = await cancel("T");
      expect(first).to.deep.include({ result: "ok", unreached: ["adapter-b"] });
      // The same command sent again (its reply lost): the first run's unheard instances.
      expect(await cancel("T")).to.deep.include({ result: "ok", unreached: ["adapter-b"] });
      // The same party repeating its cancel: a conflict that names them too.
      expect(await cancel("U")).to.deep.include({
        result: "conflict",
        changedBy: "client",
        unreached: ["adapter-b"],
      });
      // Anyone else's cancel is a conflict that wakes nobody.
      expect(await cancel("V", "operator")).to.deep.include({
        result: "conflict",
        unreached: [],
      });
      await listener.wakes(1);
      expect(listener.heard.map((wake) => wake.toString())).to.deep.equal(["wake-T"]);
    } finally {
      listener.close();
    }
  });

  it("claims once; another claim waits until the lease lapses; renewal extends it", async () => {
    const m = meta();
    await store.create(m);
    expect(
      (
        await store.transition(m.id, ["accepted"], "processing", {
          claimMs: 60_000,
          token: "A",
        })
      ).result,
    ).to.equal("ok");
    expect(
      (
        await store.transition(m.id, ["accepted"], "processing", {
          claimMs: 60_000,
        })
      ).result,
    ).to.equal("claimed");
    // Only the claim's own token renews it: no token is nobody's.
    expect(await store.renewClaim(m.id, 60_000, "")).to.equal("lost");
    expect(await store.renewClaim(m.id, -1, "A")).to.equal("held");
    // Lapsed, it is taken over only by a claim that asks to (one that would call the backend):
    // a claim from `accepted` alone (to end the message `expired`) finds it still claimed.
    expect(
      (
        await store.transition(m.id, ["accepted"], "processing", {
          claimMs: 60_000,
        })
      ).result,
    ).to.equal("claimed");
    expect(
      (
        await store.transition(m.id, ["accepted", "processing"], "processing", {
          claimMs: 60_000,
        })
      ).result,
    ).to.equal("ok");
    expect((await store.transition(m.id, ["accepted"], "cancelled")).result).to.equal("conflict");
  });

  it("a lapsed claim whose worker recorded the answer is not taken over: processed", async () => {
    // The worker died after its record and before its ack: the taker would call the backend
    // again, and its own answer would only find the first one kept.
    const m = meta();
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", { claimMs: 60_000, token: "A" });
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    expect(
      await store.recordAnswer(m.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");
    expect(await store.renewClaim(m.id, -1, "A")).to.equal("held");
    const takeOver = () =>
      store.transition(m.id, ["accepted", "processing"], "processing", {
        claimMs: 60_000,
        token: "B",
      });
    expect((await takeOver()).result).to.equal("processed");
    expect(await store.renewClaim(m.id, 60_000, "A")).to.equal("held");
    // The same once the response worker stored the outcome and dropped the kept answer (the
    // record is terminal then) and, before that, for a record marked processed alone.
    await redis.hdel(store.key(m.id), "answer");
    await store.renewClaim(m.id, -1, "A");
    expect((await takeOver()).result).to.equal("processed");
  });

  it("a record written again with the answer beside it (accepted) is never claimed: processed", async () => {
    // Redis lost the record while the backend worked; its worker wrote it again and kept the
    // answer beside it, in `accepted` until the response worker stores the outcome. A copy
    // that looked before that record must publish the answer: claimed, it would call the
    // backend again, or end the message `expired` with the backend's answer in hand.
    const m = await rebuiltWithAnswer();
    expect((await store.get(m.id))?.state).to.equal("accepted");
    const call = await store.transition(m.id, ["accepted", "processing"], "processing", {
      claimMs: 60_000,
      token: "B",
    });
    expect(call.result).to.equal("processed");
    const expiry = await store.transition(m.id, ["accepted"], "processing", {
      claimMs: 60_000,
      token: "E",
      by: EXPIRY_CLAIM,
    });
    expect(expiry.result).to.equal("processed");
    const record = await store.get(m.id);
    expect(record?.state).to.equal("accepted");
    expect(record?.history.map((h) => h.state)).to.deep.equal(["accepted"]);
  });

  /** The two ways a worker `token` claims a message, each able to take over a lapsed claim. */
  const takeOversBy = (token: string, slots: string) => [
    (id: string) => store.claimWithSlot(id, 60_000, slotAsk(slots, token)),
    (id: string) =>
      store.transition(id, ["accepted", "processing"], "processing", { claimMs: 60_000, token }),
  ];

  it("a lapsed expiry claim is taken over as the message stood before it: accepted, never sent", async () => {
    // Its worker claimed it only to end it `expired`, and stood still past the claim: it never
    // called, so the taker must still judge the expiry, not call it as possibly sent.
    for (const takeOver of takeOversBy("B", `${prefix}slots-expiry`)) {
      const m = meta();
      await store.create(m);
      await store.transition(m.id, ["accepted"], "processing", {
        claimMs: -1,
        token: "A",
        by: EXPIRY_CLAIM,
      });
      const taken = await takeOver(m.id);
      expect(taken).to.include({ result: "ok", previous: "accepted" });
      // The same claim sent again (a lost reply) tells the same.
      expect(await takeOver(m.id)).to.include({ result: "ok", previous: "accepted" });
      // A lapsed claim of a worker that calls is taken over as possibly sent.
      await store.renewClaim(m.id, -1, "B");
      const third = await store.claimWithSlot(m.id, 60_000, slotAsk(`${prefix}slots-expiry`, "C"));
      expect(third).to.deep.equal({ result: "ok", previous: "processing", called: true });
      await redis.del(`${prefix}slots-expiry`);
    }
  });

  it("a lapsed claim taken over to call is marked called: its worker may have reached the backend", async () => {
    // Given back by the taker before a call of its own, the message is still not one the
    // backend never saw: no cancel ends it.
    const slots = `${prefix}slots-taken-over`;
    for (const takeOver of takeOversBy("B", slots)) {
      const m = meta();
      await store.create(m);
      await store.transition(m.id, ["accepted"], "processing", { claimMs: -1, token: "A" });
      expect(await takeOver(m.id)).to.include({ result: "ok", previous: "processing" });
      expect(await store.wasCalled(m.id)).to.equal(true);
      await store.transition(m.id, ["processing"], "accepted", { holding: "B" });
      expect(await cancelByOperator(store, m.id)).to.deep.equal({
        result: "conflict",
        state: "accepted",
      });
      await redis.del(slots);
    }
    // A lapsed expiry claim never called: taken over, nothing is marked.
    const m = meta();
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", {
      claimMs: -1,
      token: "A",
      by: EXPIRY_CLAIM,
    });
    expect(await store.claimWithSlot(m.id, 60_000, slotAsk(slots, "B"))).to.include({
      result: "ok",
      previous: "accepted",
    });
    expect(await store.wasCalled(m.id)).to.equal(false);
    await redis.del(slots);
  });

  it("claims with an in-flight slot in one script: the record as a transition leaves it, the slot as a lease", async () => {
    const slots = `${prefix}slots`;
    const slot = (token: string) => slotAsk(slots, token, 1);
    const m = meta();
    await store.create(m);
    const claimed = await store.claimWithSlot(m.id, 60_000, slot("a"));
    expect(claimed).to.deep.equal({ result: "ok", previous: "accepted", called: false });
    const record = await store.get(m.id);
    expect(record?.state).to.equal("processing");
    expect(record?.history.map((h) => h.state)).to.deep.equal(["accepted", "processing"]);
    expect(await redis.zrange(slots, 0, -1)).to.deep.equal(["a"]);
    // The same claim run again (ioredis resends a command whose reply a reconnect lost) is
    // still this holder's, from the state it first came from, with its one slot.
    expect(await store.claimWithSlot(m.id, 60_000, slot("a"))).to.deep.equal(claimed);
    expect(await redis.zrange(slots, 0, -1)).to.deep.equal(["a"]);
    // A second copy neither takes a slot nor the claim while the claim lasts.
    expect(await store.claimWithSlot(m.id, 60_000, slot("b"))).to.deep.equal({
      result: "claimed",
    });
    // Another message finds no slot free (max 1) and changes nothing.
    const other = meta();
    await store.create(other);
    const busy = await store.claimWithSlot(other.id, 60_000, slot("c"));
    expect(busy.result).to.equal("busy");
    expect((await store.get(other.id))?.state).to.equal("accepted");
    // Recording the answer frees the slot in the same round trip.
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    expect(await store.recordAnswer(m.id, answer, slot("a"))).to.equal("ok");
    expect(await redis.zcard(slots)).to.equal(0);
    // A processed message is shown, not claimed; so is a refused or a missing one.
    const seen = await store.claimWithSlot(m.id, 60_000, slot("d"));
    expect(seen.result).to.equal("view");
    expect(seen.result === "view" && seen.view !== "refused" && seen.view?.answer).to.deep.equal(
      answer,
    );
    expect(await redis.zcard(slots)).to.equal(0);
    expect(await store.claimWithSlot(randomUUID(), 0, slot("e"))).to.deep.equal({
      result: "view",
      view: null,
    });
    await store.discard(other);
    expect(await store.claimWithSlot(other.id, 0, slot("f"))).to.deep.equal({
      result: "view",
      view: "refused",
    });
    expect(await redis.zcard(slots)).to.equal(0);
  });

  it("the answer's record announces the slot it frees only while a claim waits for one", async () => {
    const slots = `${prefix}slots-told`;
    const channel = `${prefix}told`;
    const slot = (token: string) => ({ ...slotAsk(slots, token, 1), channel });
    // Heard in the order Redis ran the commands: a mark published after the records comes
    // back after every notice they made.
    const subscriber = redis.duplicate();
    const heard: string[] = [];
    subscriber.on("message", (_channel: string, message: string) => heard.push(message));
    await subscriber.subscribe(channel);
    const heardUntil = async (mark: string) => {
      await redis.publish(channel, mark);
      while (!heard.includes(mark)) await new Promise((resolve) => setTimeout(resolve, 10));
      return heard.filter((message) => message === "1");
    };
    try {
      const [first, second, third] = [meta(), meta(), meta()];
      for (const m of [first, second, third]) await store.create(m);
      const answerTo = (id: string) => ({ responses: [response(id, 1, true)], deadLetter: null });
      expect((await store.claimWithSlot(first.id, 60_000, slot("a"))).result).to.equal("ok");
      expect(await store.recordAnswer(first.id, answerTo(first.id), slot("a"))).to.equal("ok");
      expect(await heardUntil("m1"), "nobody waited").to.deep.equal([]);
      expect((await store.claimWithSlot(second.id, 60_000, slot("b"))).result).to.equal("ok");
      // Refused a slot, the claim waits for one: the record that frees it says so.
      expect((await store.claimWithSlot(third.id, 60_000, slot("c"))).result).to.equal("busy");
      expect(await redis.zrange(`${slots}:waiting`, 0, -1)).to.deep.equal(["c"]);
      expect(await store.recordAnswer(second.id, answerTo(second.id), slot("b"))).to.equal("ok");
      expect(await heardUntil("m2"), "a claim waited").to.deep.equal(["1"]);
      expect((await store.claimWithSlot(third.id, 60_000, slot("c"))).result).to.equal("ok");
      expect(await redis.zcard(`${slots}:waiting`), "admitted, it waits no more").to.equal(0);
      expect(await store.recordAnswer(third.id, answerTo(third.id), slot("c"))).to.equal("ok");
      expect(await heardUntil("m3"), "nobody waits again").to.deep.equal(["1"]);
    } finally {
      subscriber.disconnect();
    }
  });

  it("a lapsed claim is taken over through the slot script, keeping one history entry", async () => {
    const slots = `${prefix}slots-lapsed`;
    const slot = slotAsk(slots, "t");
    const m = meta();
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", { claimMs: -1 });
    const taken = await store.claimWithSlot(m.id, 60_000, slot);
    expect(taken).to.deep.equal({ result: "ok", previous: "processing", called: true });
    expect((await store.get(m.id))?.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
    ]);
  });

  it("a claim taken over after it lapsed is fenced: its first holder can neither renew it, release it nor answer under it", async () => {
    // Two claimants on one message: A's lease lapses (a paused process, a long GC, Redis out
    // of reach), B takes the message over. A, back, must learn that it lost the claim and touch
    // nothing of B's: extended or released by A, B's claim would end when A's worker says so.
    const slots = `${prefix}slots-fenced`;
    const slot = (token: string) => slotAsk(slots, token);
    const m = meta();
    await store.create(m);
    const a = await store.transition(m.id, ["accepted"], "processing", { claimMs: -1, token: "A" });
    expect(a.result).to.equal("ok");
    expect(await store.claimWithSlot(m.id, 60_000, slot("B"))).to.deep.equal({
      result: "ok",
      previous: "processing",
      called: true,
    });

    expect(await store.renewClaim(m.id, 60_000, "A")).to.equal("lost");
    const released = await store.transition(m.id, ["processing"], "accepted", {
      holding: "A",
      called: true,
    });
    expect(released.result).to.equal("lost");
    expect((await store.get(m.id))?.state).to.equal("processing");
    expect(await store.claimHeld(m.id)).to.equal(true);
    // So a third copy (A's retry copy coming back, say) is not claimed beside B's call.
    expect((await store.claimWithSlot(m.id, 60_000, slot("C"))).result).to.equal("claimed");
    // A's answer is not kept (B's call decides the outcome); the call it made is noted.
    const answerOf = (body: string) => ({
      responses: [{ ...response(m.id, 1, true), body }],
      deadLetter: null,
    });
    expect(
      await store.recordAnswer(m.id, answerOf("A"), undefined, { token: "A", called: true }),
    ).to.equal("lost");
    const seen = await store.peek(m.id);
    expect(seen !== "refused" && seen?.answer).to.equal(null);
    expect(await store.wasCalled(m.id)).to.equal(true);

    // B holds on and answers.
    expect(await store.renewClaim(m.id, 60_000, "B")).to.equal("held");
    expect(
      await store.recordAnswer(m.id, answerOf("B"), slot("B"), { token: "B", called: true }),
    ).to.equal("ok");
    const kept = await store.peek(m.id);
    expect(kept !== "refused" && kept?.answer?.responses[0].body).to.equal("B");
    // B's release is its own: the fence lets it through.
    expect(
      (await store.transition(m.id, ["processing"], "accepted", { holding: "B" })).result,
    ).to.equal("ok");
    expect(await store.renewClaim(m.id, 60_000, "B")).to.equal("lost");
    expect(await store.renewClaim(randomUUID(), 60_000, "B")).to.equal("missing");
  });

  it("an answer under a claim that lapsed but nobody took over is kept, and a rebuilt record takes one", async () => {
    const m = meta();
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", { claimMs: -1, token: "A" });
    expect(await store.renewClaim(m.id, 60_000, "A")).to.equal("held");
    const answer = { responses: [response(m.id, 1, true)], deadLetter: null };
    expect(
      await store.recordAnswer(m.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");
    // Redis lost the record while the backend worked: rebuilt, it was claimed by nobody since.
    const lost = meta();
    await store.rebuild(lost);
    expect(
      await store.recordAnswer(lost.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");
  });

  /** Runs `work` with a store whose Redis connection can lose an answer (see cut-redis.ts). */
  async function withAnswersCut(
    work: (
      cut: AnswerCutter,
      proxied: TransactionStore,
      /** Lets the client reconnect (and resend) when `held` kept it out after the cut. */
      release: () => void,
    ) => Promise<void>,
    /** Refuses the client's reconnects after a cut until `release`: others act meanwhile. */
    held = false,
  ): Promise<void> {
    await withCutRedis("resend-test", { held }, ({ redis: client, cut, release }) =>
      work(cut, new TransactionStore(client, prefix, 60_000), release),
    );
  }

  it("an adoption whose reply was lost is still the adopter's when the command is sent again", async () => {
    // Told "adopted by another", the adapter would publish nothing, and the orphaned
    // submission would never reach the broker.
    await withAnswersCut(async (cut, proxied) => {
      const m = meta({ xroadId: `x-${randomUUID()}` });
      await store.create(m);
      cut.arm((command) => command.includes(store.key(m.id)));
      expect(await proxied.adopt(m.id, "adapter-1", 60_000)).to.equal(true);
      expect(cut.dropped, "the adoption's reply was cut").to.equal(1);
      // Another adopter meanwhile still finds it taken.
      expect(await store.adopt(m.id, "adapter-2", 60_000)).to.equal(false);
    });
  });

  it("a transition whose reply was lost is still its caller's when the command is sent again", async () => {
    // A cancel told "conflict" would answer its caller 409 for a message it did cancel.
    await withAnswersCut(async (cut, proxied) => {
      const m = meta();
      await store.create(m);
      cut.arm((command) => command.includes(store.key(m.id)));
      expect(
        await proxied.transition(m.id, ["accepted"], "cancelled", { by: "client" }),
      ).to.deep.equal({
        result: "ok",
        previous: "accepted",
        changedBy: "client",
        unreached: [],
        called: false,
      });
      expect(cut.dropped, "the transition's reply was cut").to.equal(1);
      // A second cancel is another change: a conflict, which names who made the state, so
      // the adapter can tell its client's repeat from a cancel by the operator.
      expect(
        await store.transition(m.id, ["accepted"], "cancelled", { by: "operator" }),
      ).to.deep.equal({
        result: "conflict",
        previous: "cancelled",
        changedBy: "client",
        unreached: [],
        called: false,
      });
    });
  });

  it("a conflict names who made the state, never an earlier state's maker", async () => {
    const m = meta();
    await store.create(m);
    const slot = slotAsk(`${prefix}slots-by`, "t");
    await store.transition(m.id, ["accepted"], "processing", { claimMs: -1, by: "w1" });
    expect(await store.claimWithSlot(m.id, 60_000, slot)).to.deep.equal({
      result: "ok",
      previous: "processing",
      called: true,
    });
    expect(await store.transition(m.id, ["accepted"], "cancelled", { by: "x" })).to.deep.equal({
      result: "conflict",
      previous: "processing",
      changedBy: null,
      unreached: [],
      called: false,
    });
  });

  it("stores each response once; the first final decides the outcome; after it the list is closed", async () => {
    const m = meta();
    await store.create(m);
    expect((await store.addResponse(response(m.id, 1, false))).result).to.equal("ok");
    expect((await store.addResponse(response(m.id, 1, false))).result).to.equal("duplicate");
    expect((await store.addResponse(response(m.id, 2, true))).result).to.equal("ok");
    const before = await redis.hgetall(store.key(m.id));
    // A late final, one more part after the final, and a late duplicate with other content.
    expect((await store.addResponse(response(m.id, 3, true, "failed"))).result).to.equal("late");
    expect((await store.addResponse(response(m.id, 4, false))).result).to.equal("late");
    const changed = { ...response(m.id, 2, true, "failed"), body: "other" };
    expect((await store.addResponse(changed)).result).to.equal("duplicate");
    expect(await redis.hgetall(store.key(m.id))).to.deep.equal(before);
    const tx = (await store.get(m.id))!;
    expect(tx.state).to.equal("completed");
    expect(tx.responses.map((r) => [r.seq, r.body])).to.deep.equal([
      [1, "r1"],
      [2, "r2"],
    ]);
    expect(tx.history.map((h) => h.state)).to.deep.equal(["accepted", "completed"]);
    expect((await store.addResponse(response(randomUUID(), 1, true))).result).to.equal("missing");
  });

  it("a response stored after the final it precedes still belongs to the outcome; nothing after the final does", async () => {
    const m = meta();
    await store.create(m);
    // Two response workers (or a requeue after a Redis error) may store seq 3 before 1 and 2.
    expect((await store.addResponse(response(m.id, 3, true))).result).to.equal("ok");
    const filled = await store.addResponse(response(m.id, 1, false));
    expect(filled).to.deep.include({ result: "ok", previous: "completed" });
    expect((await store.addResponse(response(m.id, 1, false))).result).to.equal("duplicate");
    expect((await store.addResponse(response(m.id, 2, false))).result).to.equal("ok");
    expect((await store.addResponse(response(m.id, 4, false))).result).to.equal("late");
    expect((await store.addResponse(response(m.id, 2, true, "failed"))).result).to.equal(
      "duplicate",
    );
    const tx = (await store.get(m.id))!;
    expect(tx.state).to.equal("completed");
    expect(tx.responses.map((r) => [r.seq, r.body])).to.deep.equal([
      [1, "r1"],
      [2, "r2"],
      [3, "r3"],
    ]);
    expect(tx.history.map((h) => h.state)).to.deep.equal(["accepted", "completed"]);
  });

  it("a cancelled message takes no outcome from a late response", async () => {
    const m = meta();
    await store.create(m);
    expect((await store.transition(m.id, ["accepted"], "cancelled")).result).to.equal("ok");
    expect((await store.addResponse(response(m.id, 1, true))).result).to.equal("late");
    expect((await store.addResponse(response(m.id, 2, false))).result).to.equal("late");
    const tx = (await store.get(m.id))!;
    expect(tx.state).to.equal("cancelled");
    expect(tx.responses).to.deep.equal([]);
  });

  it("the outcome renews retention; recording an answer for a vanished record does not recreate it", async () => {
    const m = meta();
    await store.create(m);
    await redis.pexpire(store.key(m.id), 5_000);
    await store.addResponse(response(m.id, 1, true));
    expect(await redis.pttl(store.key(m.id))).to.be.greaterThan(50_000);
    const gone = randomUUID();
    await store.recordAnswer(gone, { responses: [], deadLetter: null });
    expect(await redis.exists(store.key(gone))).to.equal(0);
  });

  it("discard removes the record and its de-duplication key", async () => {
    const m = meta();
    await store.create(m);
    expect(await store.discard(m)).to.equal("discarded");
    expect(await store.get(m.id)).to.equal(null);
    expect(await store.create(meta({ xroadId: "d-1" }))).to.deep.equal({ created: true });
  });

  it("a create that runs after its own discard (sent again behind it after a reconnect) writes nothing", async () => {
    // The adapter told its caller 503 when the create went unanswered, and discarded it: a
    // record written now would make the caller's resubmission a duplicate of a message nobody
    // published (and the worker would refuse it, as the marker says).
    const xroadId = `d-${randomUUID()}`;
    const unanswered = meta({ xroadId });
    expect(await store.discard(unanswered)).to.equal("discarded");
    let refused: unknown = null;
    await store.create(unanswered).catch((error: unknown) => (refused = error));
    expect(refused).to.be.instanceOf(Error);
    expect((await store.peek(unanswered.id)) as unknown).to.equal("refused");
    expect(await store.get(unanswered.id)).to.equal(null);
    const resubmitted = meta({ xroadId });
    expect(await store.create(resubmitted)).to.deep.equal({ created: true });
  });

  it("discard keeps a record a worker took: the broker had the message, only its confirm was lost", async () => {
    // Discarded, the processed copy would have no record while its caller, told 503, submits
    // it again: the backend would see it twice.
    const claimed = meta({ xroadId: `d-${randomUUID()}` });
    await store.create(claimed);
    await store.transition(claimed.id, ["accepted"], "processing", { claimMs: 60_000 });
    expect(await store.discard(claimed)).to.equal("taken");
    expect((await store.get(claimed.id))?.state).to.equal("processing");
    expect(await store.create(meta({ xroadId: claimed.xroadId }))).to.deep.equal({
      created: false,
      existingId: claimed.id,
    });
    // Claimed and handed back (its worker stopped): still a message the broker has.
    const handedBack = meta();
    await store.create(handedBack);
    await store.transition(handedBack.id, ["accepted"], "processing", { claimMs: 60_000 });
    await store.transition(handedBack.id, ["processing"], "accepted");
    expect(await store.discard(handedBack)).to.equal("taken");
    expect((await store.get(handedBack.id))?.state).to.equal("accepted");
  });

  it("discard keeps a record a worker wrote again: the broker had the message, and its answer may be beside it", async () => {
    // Redis lost the record before the adapter's confirm timed out; the worker that got the
    // message wrote it again (accepted) and kept the backend's answer beside it. Discarded,
    // that answer would be gone and the caller, told 503, would have the backend called again.
    const lost = meta({ xroadId: `d-${randomUUID()}` });
    await store.create(lost);
    await redis.del(store.key(lost.id));
    expect(await store.rebuild(lost)).to.equal(true);
    expect(await store.discard(lost)).to.equal("taken");
    const answer = { responses: [response(lost.id, 1, true)], deadLetter: null };
    expect(
      await store.recordAnswer(lost.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");
    expect(await store.discard(lost)).to.equal("taken");
    const kept = await store.peek(lost.id);
    expect(kept !== "refused" && kept?.answer?.responses.length).to.equal(1);
  });

  it("a discard after Redis lost a record whose create ran keeps it unconfirmed: the claim's worker takes it back, a resubmission finds it", async () => {
    // A worker claimed the message (the broker had it; only the adapter's confirm was late),
    // then Redis lost its data. A refused marker here would have the caller, told 503, submit
    // it again as a new message while that worker calls the backend with the first copy.
    const xroadId = `d-${randomUUID()}`;
    const claimed = meta({ xroadId });
    await store.create(claimed);
    expect(
      (await store.transition(claimed.id, ["accepted"], "processing", { token: "A" })).result,
    ).to.equal("ok");
    await redis.del(
      store.key(claimed.id),
      redisKeys(prefix).dedup(claimed.client, claimed.service, xroadId),
    );
    expect(await store.discard(claimed, true)).to.equal("kept");
    // The same discard run again (ioredis resends it after a reconnect) is told the same.
    expect(await store.discard(claimed, true)).to.equal("kept");
    const kept = (await store.get(claimed.id))!;
    expect(kept).to.deep.include({ state: "accepted", published: false });
    expect(await store.create(meta({ xroadId }))).to.deep.equal({
      created: false,
      existingId: claimed.id,
    });
    // The worker still calling renews its claim: the record is its claim's again.
    expect(
      await store.renewClaim(claimed.id, 60_000, "A", { called: true, meta: claimed }),
    ).to.equal("held");
    expect(await store.adopt(claimed.id, "adapter-2", 60_000)).to.equal(false);

    // Nobody claimed it: a resubmission adopts it once the confirm deadline has passed (the
    // record's age, by Redis's clock, starts at the discard), publishing it under its first id.
    const queued = meta({ xroadId: `d-${randomUUID()}`, createdAt: Date.now() - 60_000 });
    await store.create(queued);
    await redis.del(store.key(queued.id));
    expect(await store.discard(queued, true)).to.equal("kept");
    expect(await store.ageMs(queued)).to.be.lessThan(60_000);
    expect(await store.adopt(queued.id, "adapter-2", 60_000)).to.equal(true);

    // A create not answered may not have run: a record missing then leaves the marker.
    const unanswered = meta({ xroadId: `d-${randomUUID()}` });
    expect(await store.discard(unanswered)).to.equal("discarded");
    expect(await store.peek(unanswered.id)).to.equal("refused");
  });

  it("a discard whose reply was lost, sent again after a new submission took the X-Road id, leaves that one's key", async () => {
    // Deleting the new submission's key would let a third one with the same X-Road id through
    // as a new message: the backend would see it twice.
    await withAnswersCut(async (cut, proxied, release) => {
      const xroadId = `d-${randomUUID()}`;
      const refused = meta({ xroadId });
      await store.create(refused);
      cut.arm((command) => command.includes(store.key(refused.id)));
      const discarding = proxied.discard(refused);
      await waitFor(() => cut.dropped === 1);
      // The caller's resubmission, at another adapter, while this one reconnects.
      const resubmitted = meta({ xroadId });
      expect(await store.create(resubmitted)).to.deep.equal({ created: true });
      release();
      expect(await discarding).to.equal("discarded");
      expect(await store.create(meta({ xroadId }))).to.deep.equal({
        created: false,
        existingId: resubmitted.id,
      });
      expect((await store.peek(refused.id)) as unknown).to.equal("refused");
    }, true);
  });

  it("a delivery change answers the state it changed from; none when the guard or a missing record stops it", async () => {
    const m = meta();
    expect(await store.create(m)).to.deep.equal({ created: true });
    expect(await store.changeDelivery(m.id, "delivery_failed", ["delivered"])).to.equal(null);
    expect(await store.changeDelivery(m.id, "delivery_failed", ["pending"])).to.equal("pending");
    expect(await store.changeDelivery(m.id, "delivered", ["pending", "delivery_failed"])).to.equal(
      "delivery_failed",
    );
    expect(await store.changeDelivery(m.id, "delivered")).to.equal(null);
    expect((await store.get(m.id))!.delivery).to.equal("delivered");
    expect(await store.setDelivery(m.id, "pending")).to.equal(true);
    expect(await store.changeDelivery(meta().id, "delivered")).to.equal(null);
  });

  it("rebuild writes a lost record again, never over a record or a refused submission's marker", async () => {
    const lost = meta({ xroadId: "r-1", createdAt: 1_000 });
    expect(await store.rebuild(lost)).to.equal(true);
    const rebuilt = (await store.get(lost.id))!;
    expect(rebuilt).to.deep.include({ state: "accepted", delivery: "pending", createdAt: 1_000 });
    expect(rebuilt.history).to.deep.equal([{ state: "accepted", at: 1_000 }]);
    expect(await redis.pttl(store.key(lost.id))).to.be.greaterThan(50_000);
    // The de-duplication key came back with it.
    expect(await store.create(meta({ xroadId: "r-1" }))).to.deep.equal({
      created: false,
      existingId: lost.id,
    });

    const live = meta();
    await store.create(live);
    await store.transition(live.id, ["accepted"], "processing");
    expect(await store.rebuild(live)).to.equal(false);
    expect((await store.get(live.id))!.state).to.equal("processing");

    const refused = meta({ xroadId: "r-2" });
    await store.create(refused);
    await store.discard(refused);
    expect(await store.peek(refused.id)).to.equal("refused");
    expect(await store.rebuild(refused)).to.equal(false);
    expect(await store.get(refused.id)).to.equal(null);
  });

  it("a record written again says the broker has its message: a resubmission publishes no second copy", async () => {
    // Only a role that got the message (or its response) from the broker writes a lost record
    // again; unmarked, a resubmission of its X-Road id would adopt it and publish it once more.
    const lost = meta({ xroadId: `w-${randomUUID()}` });
    await store.create(lost);
    await redis.del(store.key(lost.id));
    expect(await store.rebuild(lost)).to.equal(true);
    expect((await store.get(lost.id))?.published).to.equal(true);
    expect(await store.adopt(lost.id, "adapter-2", 60_000)).to.equal(false);
    // The same for one its claim's holder wrote again while it called.
    const renewed = meta({ xroadId: `w-${randomUUID()}` });
    expect(await store.renewClaim(renewed.id, 60_000, "A", { meta: renewed })).to.equal("held");
    await store.transition(renewed.id, ["processing"], "accepted", { holding: "A" });
    expect(await store.adopt(renewed.id, "adapter-2", 60_000)).to.equal(false);
  });

  it("a record a worker claimed says the broker has its message, though its confirm mark never landed: no adoption", async () => {
    // The adapter died before its confirm mark (or the mark was lost); a worker then claimed
    // the message and gave it back (a retry parked, a hand-back): `accepted` again, unmarked.
    // The claim in its history proves the broker had it: adopted, a second copy is published.
    const m = meta({ xroadId: `c-${randomUUID()}` });
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing", { claimMs: 60_000, token: "A" });
    await store.transition(m.id, ["processing"], "accepted", { holding: "A", parkedAttempt: 2 });
    expect(await store.adopt(m.id, "adapter-2", 60_000)).to.equal(false);
    expect((await redis.hexists(store.key(m.id), "adoptedBy")) === 1).to.equal(false);
  });

  it("a worker whose call may have reached the backend writes a lost record again marked called: no cancel", async () => {
    // Released after such a call (a shutdown, a retry parked) while its record was gone.
    const lost = meta();
    expect(await store.rebuild(lost, true)).to.equal(true);
    expect(await store.wasCalled(lost.id)).to.equal(true);
    expect(await cancelByOperator(store, lost.id)).to.deep.equal({
      result: "conflict",
      state: "accepted",
    });
    // Another copy wrote it again first: the mark is added; a message that ended keeps none.
    const first = meta();
    expect(await store.rebuild(first)).to.equal(true);
    expect(await store.rebuild(first, true)).to.equal(false);
    expect(await store.wasCalled(first.id)).to.equal(true);
    const ended = meta();
    await store.create(ended);
    await store.transition(ended.id, ["accepted"], "cancelled");
    expect(await store.rebuild(ended, true)).to.equal(false);
    expect(await store.wasCalled(ended.id)).to.equal(false);
  });

  it("a renewal of a claim Redis lost writes the record again under it, or takes back one a copy wrote again", async () => {
    const slots = `${prefix}slots-lost-claim`;
    // Gone: written again as this claim's, marked called; a copy finds it claimed.
    const gone = meta();
    expect(await store.renewClaim(gone.id, 60_000, "A", { called: true })).to.equal("missing");
    expect(await store.get(gone.id)).to.equal(null);
    expect(await store.renewClaim(gone.id, 60_000, "A", { called: true, meta: gone })).to.equal(
      "held",
    );
    expect((await store.get(gone.id))?.state).to.equal("processing");
    expect(await store.wasCalled(gone.id)).to.equal(true);
    expect((await store.claimWithSlot(gone.id, 60_000, slotAsk(slots, "B"))).result).to.equal(
      "claimed",
    );
    expect(await cancelByOperator(store, gone.id)).to.deep.equal({
      result: "conflict",
      state: "processing",
    });
    // Still this claim's: its answer is kept.
    const answer = { responses: [response(gone.id, 1, true)], deadLetter: null };
    expect(
      await store.recordAnswer(gone.id, answer, undefined, { token: "A", called: true }),
    ).to.equal("ok");

    // Written again by a copy (claimed by nobody since): taken back.
    const copied = meta();
    await store.rebuild(copied);
    expect(await store.renewClaim(copied.id, 60_000, "A", { meta: copied })).to.equal("held");
    expect((await store.get(copied.id))?.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
    ]);
    expect(await store.wasCalled(copied.id)).to.equal(false);

    // Written again and claimed by the copy: lost, the call noted.
    const claimed = meta();
    await store.rebuild(claimed);
    expect((await store.claimWithSlot(claimed.id, 60_000, slotAsk(slots, "C"))).result).to.equal(
      "ok",
    );
    expect(
      await store.renewClaim(claimed.id, 60_000, "A", { called: true, meta: claimed }),
    ).to.equal("lost");
    expect(await store.wasCalled(claimed.id)).to.equal(true);

    // Written again with an answer beside it: processed, not claimed again.
    const answered = await rebuiltWithAnswer();
    expect(await store.renewClaim(answered.id, 60_000, "B", { meta: answered })).to.equal("lost");
    expect((await store.get(answered.id))?.state).to.equal("accepted");

    // A refused submission's marker is not written over.
    const refused = meta();
    await store.create(refused);
    await store.discard(refused);
    expect(await store.renewClaim(refused.id, 60_000, "A", { meta: refused })).to.equal("missing");
    expect(await store.peek(refused.id)).to.equal("refused");
  });

  it("a recorded answer stays until the outcome is stored, and the first one recorded wins", async () => {
    const m = meta();
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing");
    const first = { responses: [response(m.id, 1, true)], deadLetter: null };
    expect(await store.recordAnswer(m.id, first)).to.equal("ok");
    expect(
      await store.recordAnswer(m.id, { responses: [response(m.id, 1, true)], deadLetter: "x" }),
    ).to.equal("recorded");
    const seen = await store.peek(m.id);
    expect(seen !== "refused" && seen?.answer).to.deep.equal(first);
    expect(seen !== "refused" && seen?.processedAt).to.be.a("number");
    await store.addResponse(response(m.id, 1, true));
    const after = await store.peek(m.id);
    expect(after !== "refused" && after?.answer).to.equal(null);
    expect(await store.recordAnswer(m.id, first)).to.equal("terminal");
  });
});

/** Resolves once `done` holds (the test's timeout bounds the wait). */
async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}
