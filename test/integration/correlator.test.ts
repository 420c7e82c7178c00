// The response worker's correlation (real broker and Redis): a response whose record Redis
// lost, when it carries the record's fixed part, writes the record again and is stored, never
// dropped; one of a submission refused to its caller is kept in the dead-letter queue. The
// wake reaches an adapter over Redis, or through its reply queue when it does not listen there.

import { randomUUID } from "node:crypto";
import type { ConsumeMessage } from "amqplib";
import * as amqplib from "amqplib";
import { expect } from "chai";
import type { Correlator } from "../../response-worker/correlator";
import type { ResponseMessage } from "../../shared/protocol/envelope";
import { responseCodec, wakeCodec } from "../../shared/protocol/codec";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { cancelByOperator } from "../../shared/operator/operator-cancel";
import type { TransactionMeta } from "../../shared/store/transaction-store";
import { type BrokerSide, connectBroker, correlatorFor, testScope } from "../support/broker-scope";
import { AMQP_URL, eventually } from "../support/harness";
import { transactionMeta } from "../support/messages";

describe("correlator (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("correlator-test");
  const { prefix, names, redis, store } = scope;
  let amqp: BrokerSide;
  let correlator: Correlator;
  const heard: string[] = [];

  before(async () => {
    amqp = await connectBroker(scope);
    correlator = correlatorFor(scope, amqp, {
      listeners: [async (tx) => void heard.push(`${tx.id}:${tx.state}`)],
    });
  });
  after(async () => {
    await amqp?.close();
    await scope.close();
  });

  const meta = (): TransactionMeta =>
    transactionMeta({ xroadId: "x-1", createdAt: Date.parse("2026-03-01T10:00:00Z") });

  function delivery(response: ResponseMessage): ConsumeMessage {
    return {
      content: responseCodec.encode(response),
      fields: {},
      properties: { headers: {} },
    } as unknown as ConsumeMessage;
  }

  const answer = (m: TransactionMeta, withMeta: boolean): ResponseMessage => ({
    id: m.id,
    seq: 1,
    final: true,
    outcome: "completed",
    status: 200,
    contentType: "text/plain",
    body: "done",
    producedAt: m.createdAt + 1_000,
    ...(withMeta ? { meta: m } : {}),
  });

  it("writes the record again from the response and stores the outcome", async () => {
    const m = meta();
    await correlator.handle(delivery(answer(m, true)));
    const tx = await store.get(m.id);
    expect(tx).to.deep.include({ state: "completed", service: "svc", createdAt: m.createdAt });
    expect(tx!.responses.map((r) => r.body)).to.deep.equal(["done"]);
    expect(heard).to.include(`${m.id}:completed`);
  });

  it("a record written again from a response before the final cannot be cancelled: the backend answered", async () => {
    // Redis lost the record after the worker had published its answer's responses: the first
    // writes it again (`accepted`), and until the final is stored a cancel would end as "never
    // sent" a message the backend answered, and drop that answer as late.
    const m = { ...meta(), xroadId: randomUUID() };
    const first = { ...answer(m, true), seq: 1, final: false, body: "part" };
    const final = { ...answer(m, true), seq: 2 };
    await correlator.handle(delivery(first));
    expect((await store.get(m.id))?.state).to.equal("accepted");
    expect(await cancelByOperator(store, m.id)).to.deep.equal({
      result: "conflict",
      state: "accepted",
    });
    await correlator.handle(delivery(final));
    const tx = await store.get(m.id);
    expect(tx?.state).to.equal("completed");
    expect(tx?.responses.map((r) => r.body)).to.deep.equal(["part", "done"]);
  });

  it("hands over a response that reaches it after the final it precedes, not as late", async () => {
    const m = { ...meta(), xroadId: randomUUID() };
    await store.create(m);
    const first = { ...answer(m, false), seq: 1, final: false, body: "part" };
    const final = { ...answer(m, false), seq: 2 };
    await correlator.handle(delivery(final));
    await correlator.handle(delivery(first));
    const tx = await store.get(m.id);
    expect(tx!.state).to.equal("completed");
    expect(tx!.responses.map((r) => r.body)).to.deep.equal(["part", "done"]);
    expect(heard.filter((h) => h === `${m.id}:completed`)).to.have.length(2);
  });

  it("hands over each response of a sync caller's outcome the worker stored as the document stood right after it, the final's handling once", async () => {
    const m = { ...meta(), xroadId: randomUUID(), replyMode: "sync" as const, owner: "adapter-a" };
    await store.create(m);
    await store.transition(m.id, ["accepted"], "processing");
    const part = (seq: number): ResponseMessage => ({
      ...answer(m, false),
      seq,
      final: seq === 3,
      body: `part ${seq}`,
    });
    const responses = [part(1), part(2), part(3)];
    expect(
      await store.recordAnswer(m.id, { responses, deadLetter: null }, undefined, null, {
        client: null,
        unreached: () => undefined,
      }),
    ).to.equal("finished");
    const told: Array<{ seq: number; state: string; seqs: number[] }> = [];
    const sync = correlatorFor(scope, amqp, {
      listeners: [
        async (tx, response) =>
          void told.push({
            seq: response.seq,
            state: tx.state,
            seqs: tx.responses.map((r) => r.seq),
          }),
      ],
    });
    for (const response of responses) await sync.handle(delivery(response));
    // docs/semantics.md, Several responses: each callback and hub event carries the status
    // document as it stood right after its response; the final one has the terminal state.
    expect(told).to.deep.equal([
      { seq: 1, state: "processing", seqs: [1] },
      { seq: 2, state: "processing", seqs: [1, 2] },
      { seq: 3, state: "completed", seqs: [1, 2, 3] },
    ]);
    // Handled again (requeued after a listener failed): the same documents, the record unchanged.
    for (const response of responses) await sync.handle(delivery(response));
    expect(told.slice(3)).to.deep.equal([
      { seq: 1, state: "completed", seqs: [1, 2, 3] },
      { seq: 2, state: "completed", seqs: [1, 2, 3] },
      { seq: 3, state: "completed", seqs: [1, 2, 3] },
    ]);
    expect((await store.get(m.id))?.history.map((h) => h.state)).to.deep.equal([
      "accepted",
      "processing",
      "completed",
    ]);
  });

  it("keeps no chain of a message once its responses are handled, whatever became of them", async () => {
    // A correlator of its own, whose listener fails for one message: the chain of each id in
    // hand is kept only while work on it is under way.
    const failing = { ...meta(), xroadId: randomUUID() };
    const own = correlatorFor(scope, amqp, {
      listeners: [
        async (tx) => {
          if (tx.id === failing.id) throw new Error("listener failed");
        },
      ],
    });
    const chains = (own as unknown as { chains: Map<string, unknown> }).chains;
    const answered = { ...meta(), xroadId: randomUUID() };
    const refused = meta();
    for (const m of [answered, failing, refused]) await store.create(m);
    await store.discard(refused);
    const part = { ...answer(answered, false), seq: 1, final: false, body: "part" };
    const unreadable = {
      content: Buffer.from("not a response"),
      fields: {},
      properties: { headers: {} },
    } as unknown as ConsumeMessage;
    const handled = await Promise.allSettled([
      own.handle(delivery(part)),
      own.handle(delivery({ ...answer(answered, false), seq: 2 })),
      own.handle(delivery(answer(failing, false))),
      own.handle(delivery(answer(refused, false))),
      own.handle(unreadable),
    ]);
    expect(handled.map((h) => h.status)).to.deep.equal([
      "fulfilled",
      "fulfilled",
      "rejected",
      "fulfilled",
      "fulfilled",
    ]);
    expect((await store.get(answered.id))?.state).to.equal("completed");
    expect(chains.size).to.equal(0);
    // The refused and unreadable ones were dead-lettered: taken off for the tests that follow.
    const connection = await amqplib.connect(AMQP_URL);
    try {
      await (await connection.createChannel()).purgeQueue(names.deadLetterQueue);
    } finally {
      await connection.close();
    }
  });

  it("keeps a response of a refused submission in the dead-letter queue", async () => {
    const m = meta();
    await store.create(m);
    await store.discard(m);
    await correlator.handle(delivery(answer(m, true)));
    expect(await store.get(m.id)).to.equal(null);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const dead = await channel.get(names.deadLetterQueue, { noAck: true });
      expect(dead && dead.properties.messageId).to.equal(m.id);
      expect(dead && dead.properties.headers?.["x-sluice-reason"]).to.equal("unknown_transaction");
    } finally {
      await connection.close();
    }
  });

  it("wakes a subscribed adapter over Redis only, and one of the previous release (no subscription) through its reply queue", async () => {
    const subscribed = `adapter-new-${randomUUID().slice(0, 8)}`;
    const previous = `adapter-old-${randomUUID().slice(0, 8)}`;
    const subscriber = redis.duplicate({ enableOfflineQueue: true });
    const overRedis: string[] = [];
    subscriber.on("message", (_channel: string, text: string) => overRedis.push(text));
    await subscriber.subscribe(redisKeys(prefix).wake(subscribed));
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      const queues: Record<string, string> = {};
      for (const instance of [subscribed, previous]) {
        const { queue } = await channel.assertQueue("", { exclusive: true });
        await channel.bindQueue(queue, names.repliesExchange, instance);
        queues[instance] = queue;
      }
      const first = { ...meta(), xroadId: null, replyMode: "sync" as const, owner: subscribed };
      const second = { ...meta(), xroadId: null, replyMode: "sync" as const, owner: previous };
      for (const m of [first, second]) {
        expect(await store.create(m)).to.deep.equal({ created: true });
        await correlator.handle(delivery(answer(m, false)));
      }
      const queued = await eventually(async () => {
        const message = await channel.get(queues[previous], { noAck: true });
        return message || undefined;
      });
      const fromQueue = wakeCodec.decode(queued.content);
      expect(fromQueue.ok && fromQueue.message).to.deep.include({
        id: second.id,
        state: "completed",
      });
      await eventually(async () => (overRedis.length > 0 ? true : undefined));
      const fromRedis = wakeCodec.decode(Buffer.from(overRedis[0]));
      expect(fromRedis.ok && fromRedis.message.response?.body).to.equal("done");
      expect(fromRedis.ok && fromRedis.message.id).to.equal(first.id);
      // The subscribed one was not woken twice: its reply queue stays empty.
      expect(await channel.get(queues[subscribed], { noAck: true })).to.equal(false);
      expect(overRedis).to.have.length(1);
    } finally {
      subscriber.disconnect();
      await connection.close();
    }
  });
});
