// The worker's last look before a call, on the real broker and Redis with a clock the test
// moves: expiry is judged after every wait (slot, rate token), a delivery whose channel closed
// starts no call, and a copy of a message whose answer is recorded publishes that answer
// instead of calling the backend again.

import { randomUUID } from "node:crypto";
import type { ConsumeMessage } from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { FixedClock } from "../../shared/runtime/clock";
import { endToEnd, messagesExpired } from "../../shared/observability/metrics";
import { compileConfig } from "../../shared/config/config";
import type { RequestMessage, ResponseMessage } from "../../shared/protocol/envelope";
import { responseCodec, wakeCodec } from "../../shared/protocol/codec";
import { HEADERS } from "../../shared/protocol/names";
import {
  BackendRejectedError,
  BackendUnavailableError,
  type BackendResponse,
} from "../../shared/protocol/errors";
import { isStateNotice } from "../../shared/protocol/state-notice";
import {
  EXPIRY_CLAIM,
  TransactionStore,
  metaOfRequest,
  type RequestView,
  type TransitionResult,
} from "../../shared/store/transaction-store";
import { cancelByOperator } from "../../shared/operator/operator-cancel";
import {
  createBackendLimits,
  type BackendLimits,
  type CallPermit,
} from "../../worker/backend-guard";
import { BackendGates } from "../../worker/backend-gates";
import { InflightLeases } from "../../worker/inflight-leases";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { compileServiceWindows } from "../../shared/config/service-windows";
import { redisKeys } from "../../shared/protocol/redis-keys";
import {
  RequestProcessor,
  type CallGuard,
  type ProcessorDeps,
} from "../../worker/request-processor";
import type { Translator, TranslatorCall } from "../../worker/translators/translator";
import { type BrokerSide, connectBroker, processorFor, testScope } from "../support/broker-scope";
import { withCutRedis } from "../support/cut-redis";
import { eventually } from "../support/harness";
import { DeadLetterWatch } from "../../response-worker/dead-letter-watch";
import {
  deliveryOf,
  requestMessage,
  responseMessage as responseMessageOf,
  transactionMeta,
} from "../support/messages";
import type { AnswerCutter } from "../support/tcp-proxy";

const log = pino({ level: "silent" });
const T0 = Date.parse("2026-03-01T10:00:00Z");

/** A translator that records each call and answers 200 (or what `answer` says). */
class RecordingTranslator implements Translator {
  readonly calls: Array<{ id: string; at: number }> = [];
  answer: (request: RequestMessage, call: TranslatorCall) => Promise<BackendResponse[]> =
    async () => [{ status: 200, contentType: "application/json", body: "{}" }];
  constructor(private readonly clock: FixedClock) {}
  call(request: RequestMessage, call: TranslatorCall): Promise<BackendResponse[]> {
    this.calls.push({ id: request.id, at: this.clock.now() });
    return this.answer(request, call);
  }
}

/** A guard whose slot and token waits are moves of the test's clock (plus optional hooks). */
function movingGuard(
  clock: FixedClock,
  waits: { slotMs?: number; tokenMs?: number; duringToken?: () => void } = {},
): CallGuard {
  return async () => {
    clock.advance(waits.slotMs ?? 0);
    const permit: CallPermit = {
      async beforeCall() {
        clock.advance(waits.tokenMs ?? 0);
        waits.duringToken?.();
        return null;
      },
      release: async () => undefined,
    };
    return permit;
  };
}

describe("request processor: the last look before the call (real broker and Redis)", function () {
  this.timeout(20_000);
  const scope = testScope("processor-test", (prefix) => ({
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: {
      b: { url: "http://127.0.0.1:9", translator: "rest-json", timeout: "5s" },
      // One call a second, calls of 400 ms at most: a second message waits longer for its
      // token than its call may take.
      slow: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        timeout: "400ms",
        maxInFlight: 2,
        rate: { limit: 1, per: "1s", burst: 0 },
      },
      // Retries in place, one call at a time, after a long delay.
      orderedNarrow: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        timeout: "5s",
        ordering: { key: "client", partitions: 4 },
        maxInFlight: 1,
        retry: { attempts: 2, backoff: ["2s"] },
      },
      // Retries in place, in line.
      ordered: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        timeout: "5s",
        ordering: "strict",
        retry: { attempts: 3, backoff: ["50ms"] },
      },
    },
  }));
  const { prefix, rawConfig, config, names, redis, store } = scope;
  const backend = config.backends.b;
  /** sluice_messages_expired_total of this suite's backend. */
  const expiredCount = async () =>
    (await messagesExpired.get()).values.find((v) => v.labels.backend === backend.name)?.value ?? 0;
  let amqp: BrokerSide;
  const shutdown = new AbortController();

  before(async () => {
    amqp = await connectBroker(scope);
  });
  after(async () => {
    shutdown.abort();
    await amqp?.close();
    await scope.close();
  });

  /** A processor of backend b (unless `deps` says otherwise) on the test's broker and store. */
  function processor(
    clock: FixedClock,
    translator: Translator,
    guard: CallGuard,
    deps: Partial<ProcessorDeps> = {},
  ) {
    return processorFor(scope, amqp, {
      translator,
      guard,
      shutdown: shutdown.signal,
      clock,
      // Every client counts as listened to: each claim sends its `processing` notice.
      listened: undefined,
      ...deps,
    });
  }

  /**
   * Backend `name`'s own limits over `client` (no service windows, not paused), and switches
   * to pause and resume it.
   */
  function limitsOf(name: string, client = redis) {
    const config = compileConfig(rawConfig, ".").backends[name];
    const pauses = new BackendPauses(client, prefix);
    const gates = new BackendGates(
      new Map([[name, compileServiceWindows([], `backends.${name}.windows`).windows]]),
      pauses,
      log,
    );
    const limits = createBackendLimits({ redis: client, prefix, backend: config, gates });
    const pause = async () => {
      await pauses.pause(name);
      await gates.refresh();
    };
    return { config, limits, pause, resume: () => pauses.resume(name) };
  }

  /** A request accepted at `createdAt` that expires `expireAfterMs` later, and its record. */
  async function accepted(createdAt: number, expireAfterMs: number | null, owner?: string) {
    const expiresAt = expireAfterMs === null ? null : createdAt + expireAfterMs;
    const meta = transactionMeta({ createdAt, expiresAt, owner: owner ?? null });
    const { id } = meta;
    await store.create(meta);
    // Without the optional headers, owner and callback: the message this test always sent.
    const request = requestMessage({
      id,
      path: "",
      createdAt,
      expiresAt,
      headers: undefined,
      owner,
      callback: undefined,
    });
    const delivery = deliveryOf(request);
    return { id, delivery };
  }

  /** The record as the worker sees it. */
  async function view(id: string): Promise<RequestView> {
    const seen = await store.peek(id);
    if (!seen || seen === "refused") throw new Error(`no record for ${id}`);
    return seen;
  }

  /** The responses published for `id` so far, as published (read off the responses queue). */
  async function rawResponsesOf(id: string): Promise<Buffer[]> {
    const raw: Buffer[] = [];
    for (;;) {
      const message = await amqp.channel.get(names.responsesQueue, { noAck: true });
      if (!message) break;
      if (isStateNotice(message.properties)) continue;
      if (message.properties.messageId?.startsWith(`${id}.`)) raw.push(message.content);
    }
    return raw;
  }

  /** The responses published for `id` so far (read off the responses queue). */
  const published = new Map<string, ResponseMessage[]>();
  async function responsesOf(id: string): Promise<ResponseMessage[]> {
    for (;;) {
      const message = await amqp.channel.get(names.responsesQueue, { noAck: true });
      if (!message) break;
      if (isStateNotice(message.properties)) continue;
      const response = JSON.parse(message.content.toString()) as ResponseMessage;
      published.set(response.id, [...(published.get(response.id) ?? []), response]);
    }
    return published.get(id) ?? [];
  }

  /**
   * A message handed back before this worker's call, after one that may have reached the
   * backend (a claim taken over from a worker that died mid-call): it can no longer be
   * cancelled, and past its expiry the next copy ends it failed, without a call.
   */
  async function expectHandedBackAsCalled(
    clock: FixedClock,
    translator: RecordingTranslator,
    id: string,
    delivery: ConsumeMessage,
  ): Promise<void> {
    expect(translator.calls).to.deep.equal([]);
    expect(await cancelByOperator(store, id)).to.deep.equal({
      result: "conflict",
      state: "accepted",
    });
    clock.advance(5_000);
    expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
      "ack",
    );
    expect(translator.calls).to.deep.equal([]);
    expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["failed"]);
  }

  it("a message that expires while it waits for its rate token is never sent: expired", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 3_000);
    // Taken at once (well before expiry), the slot takes 1 s, the token 2.5 s more.
    const settlement = await processor(
      clock,
      translator,
      movingGuard(clock, { slotMs: 1_000, tokenMs: 2_500 }),
    ).process(delivery);
    expect(settlement).to.equal("ack");
    expect(translator.calls).to.deep.equal([]);
    const [response] = await responsesOf(id);
    expect(response).to.include({ outcome: "expired", final: true });
    expect(response.error?.code).to.equal("Expired");
  });

  it("a worker whose claim was taken over while its message expired neither ends it nor counts it expired", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 3_000);
    const expiredBefore = await expiredCount();
    // While this worker waits for its token, past the expiry, its claim lapses and another
    // worker takes the message over.
    const guard: CallGuard = async () => ({
      async beforeCall() {
        clock.advance(5_000);
        await redis.hset(store.key(id), "claimUntil", "0");
        await store.transition(id, ["accepted", "processing"], "processing", {
          claimMs: 60_000,
          token: "other",
        });
        return null;
      },
      release: async () => undefined,
    });
    const settled = processor(clock, translator, guard).process(delivery);
    expect(await settled).to.equal("ack");
    expect(translator.calls).to.deep.equal([]);
    expect(await responsesOf(id)).to.deep.equal([]);
    expect((await store.get(id))?.state).to.equal("processing");
    expect(await store.renewClaim(id, 60_000, "other")).to.equal("held");
    expect(await expiredCount()).to.equal(expiredBefore);
  });

  it("a message that expires while it waits for its in-flight slot is never sent: expired", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 3_000);
    await processor(clock, translator, movingGuard(clock, { slotMs: 3_001 })).process(delivery);
    expect(translator.calls).to.deep.equal([]);
    expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["expired"]);
  });

  it("a message still within expireAfter after every wait is sent, and no call starts after expiry", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const expiries = new Map<string, number>();
    // Ten messages, each waiting one more second for its token: the first four are in time.
    for (let n = 0; n < 10; n++) {
      const { id, delivery } = await accepted(T0, 3_500);
      expiries.set(id, T0 + 3_500);
      await processor(clock, translator, movingGuard(clock, { tokenMs: 1_000 })).process(delivery);
    }
    expect(translator.calls).to.have.length(3);
    for (const call of translator.calls) expect(call.at).to.be.at.most(expiries.get(call.id)!);
    const outcomes = await Promise.all([...expiries.keys()].map(async (id) => responsesOf(id)));
    expect(outcomes.map((r) => r[0].outcome)).to.deep.equal([
      ...Array(3).fill("completed"),
      ...Array(7).fill("expired"),
    ]);
  });

  it("a claim taken over from a worker that died mid-call is not expired (it may have been sent)", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 1_000);
    // Another worker claimed it and died: its claim has lapsed.
    await store.transition(id, ["accepted"], "processing", { claimMs: -1 });
    clock.advance(5_000);
    await processor(clock, translator, movingGuard(clock)).process(delivery);
    expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
    expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
  });

  it("a claim taken over from a worker that died mid-call, handed back before its own call, can no longer be cancelled or expire", async () => {
    // The dead worker may have reached the backend: the message is not "never sent", whether
    // the worker that took it over called or gave it back first (its channel closed).
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 1_000);
    await store.transition(id, ["accepted"], "processing", { claimMs: -1 });
    const gone = new AbortController();
    const guard = movingGuard(clock, { duringToken: () => gone.abort() });
    expect(await processor(clock, translator, guard).process(delivery, gone.signal)).to.equal(
      "requeue",
    );
    await expectHandedBackAsCalled(clock, translator, id, delivery);
    const dead = await amqp.channel.get(names.deadLetterQueue, { noAck: true });
    expect(dead && dead.properties.messageId).to.equal(id);
  });

  it("no call starts for a delivery whose channel closed while it waited; its claim is released", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const gone = new AbortController();
    const settlement = await processor(
      clock,
      translator,
      movingGuard(clock, { duringToken: () => gone.abort() }),
    ).process(delivery, gone.signal);
    expect(settlement).to.equal("requeue");
    expect(translator.calls).to.deep.equal([]);
    expect((await view(id)).state).to.equal("accepted");

    // The copy the broker hands out next is sent, once.
    await processor(clock, translator, movingGuard(clock)).process(delivery);
    expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
  });

  it("no call starts for a delivery whose channel closed while its claim was confirmed before the call", async () => {
    const slow = config.backends.slow;
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const channel = new AbortController();
    let waited = false;
    // Renewals while the token is awaited answer as if the record were gone, so the claim is
    // not confirmed meanwhile and the last look asks Redis; the channel closes as it does.
    const renewing: TransactionStore = Object.create(store);
    renewing.renewClaim = async (...args: Parameters<TransactionStore["renewClaim"]>) => {
      if (!waited) return "missing";
      channel.abort();
      return store.renewClaim(...args);
    };
    const guard: CallGuard = async () => ({
      async beforeCall() {
        // Past half the claim's lease (the backend's timeout + 5 s), on the monotonic clock.
        await new Promise((resolve) => setTimeout(resolve, (slow.timeoutMs + 5_000) / 2 + 200));
        waited = true;
        return null;
      },
      release: async () => undefined,
    });
    const settled = await processor(clock, translator, guard, {
      backend: slow,
      store: renewing,
    }).process(delivery, channel.signal);
    expect(settled).to.equal("requeue");
    expect(translator.calls).to.deep.equal([]);
    expect((await store.get(id))?.state).to.equal("accepted");
  });

  it("a delivery whose channel closed before it got a slot is handed back without a claim", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const gone = new AbortController();
    const guard: CallGuard = async (_request, signal) => {
      gone.abort();
      throw signal.reason;
    };
    expect(await processor(clock, translator, guard).process(delivery, gone.signal)).to.equal(
      "requeue",
    );
    expect(translator.calls).to.deep.equal([]);
    expect((await view(id)).state).to.equal("accepted");
  });

  it("the answer is recorded before it is published: a copy redelivered meanwhile publishes it, never calls", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const gone = new AbortController();
    // The channel closes while the backend works: the broker hands the message out again.
    translator.answer = async () => {
      gone.abort();
      return [{ status: 200, contentType: "text/plain", body: "answered once" }];
    };
    await processor(clock, translator, movingGuard(clock)).process(delivery, gone.signal);
    const recorded = await view(id);
    expect(recorded.answer?.responses.map((r) => r.body)).to.deep.equal(["answered once"]);

    // The redelivered copy (its claim still held, or lapsed through a long outage).
    await redis.hset(store.key(id), "claimUntil", "0");
    await processor(clock, translator, movingGuard(clock)).process(delivery);
    expect(translator.calls).to.have.length(1);
    const responses = await responsesOf(id);
    expect(responses.map((r) => r.body)).to.deep.equal(["answered once", "answered once"]);
    expect(new Set(responses.map((r) => r.seq))).to.deep.equal(new Set([1]));
  });

  it("a lapsed claim whose worker recorded the answer before it died is not taken over: the answer is published, the backend not called again", async () => {
    // This copy looked while the other worker still called (processing, no answer yet), then
    // waited for its slot; meanwhile that worker recorded the answer and died before its ack,
    // and its claim lapsed. Taken over, the message would be called a second time.
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, 1_000);
    await store.transition(id, ["accepted"], "processing", { claimMs: 60_000, token: "dead" });
    clock.advance(2_000);
    const answer = {
      responses: [{ ...responseMessageOf(id), body: "answered once" }],
      deadLetter: null,
    };
    const guard: CallGuard = async () => {
      expect(
        await store.recordAnswer(id, answer, undefined, { token: "dead", called: true }),
      ).to.equal("ok");
      await redis.hset(store.key(id), "claimUntil", "0");
      return { beforeCall: async () => null, release: async () => undefined };
    };
    expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
    expect(translator.calls).to.deep.equal([]);
    expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["answered once"]);
    expect((await view(id)).answer?.responses.map((r) => r.body)).to.deep.equal(["answered once"]);
  });

  it("a record written again with the answer beside it while this copy waited for its slot is not claimed: the answer is published, the backend not called again", async () => {
    // Redis lost the record while another worker called; that worker wrote it again
    // (`accepted`, claimed by nobody) with its answer beside it. This copy looked before
    // (accepted, no answer) and waited for its slot: claimed, it would call a second time.
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const answer = {
      responses: [{ ...responseMessageOf(id), body: "answered once" }],
      deadLetter: null,
    };
    const guard: CallGuard = async () => {
      expect(
        await store.recordAnswer(id, answer, undefined, { token: "lost", called: true }),
      ).to.equal("ok");
      expect((await store.get(id))?.state).to.equal("accepted");
      return { beforeCall: async () => null, release: async () => undefined };
    };
    expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
    expect(translator.calls).to.deep.equal([]);
    expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["answered once"]);
  });

  it("a sync caller's outcome is stored with the answer; a copy redelivered before the publish still publishes it, never calls", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null, "adapter-a");
    const gone = new AbortController();
    translator.answer = async () => {
      gone.abort();
      return [{ status: 200, contentType: "text/plain", body: "answered once" }];
    };
    await processor(clock, translator, movingGuard(clock)).process(delivery, gone.signal);
    // The caller could be answered: the outcome is stored, and the answer kept beside it.
    expect((await store.get(id))?.state).to.equal("completed");
    expect((await view(id)).answer?.responses.map((r) => r.body)).to.deep.equal(["answered once"]);

    await redis.hset(store.key(id), "claimUntil", "0");
    await processor(clock, translator, movingGuard(clock)).process(delivery);
    expect(translator.calls).to.have.length(1);
    const responses = await responsesOf(id);
    expect(responses.map((r) => r.body)).to.deep.equal(["answered once", "answered once"]);
  });

  it("a sync caller's outcome stored with the answer: a request the broker dead-letters before the publish still has its answer published", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null, "adapter-a");
    translator.answer = async () => [
      { status: 200, contentType: "text/plain", body: "answered once" },
    ];
    // The worker dies before its publish of the answer is confirmed.
    const dying = Object.create(amqp.broker) as typeof amqp.broker;
    const died = new AbortController();
    dying.publish = async (...args: Parameters<typeof amqp.broker.publish>) => {
      if (args[4]?.messageId !== `${id}.1`) return amqp.broker.publish(...args);
      died.abort();
      throw new Error("the worker died");
    };
    await processor(clock, translator, movingGuard(clock), { broker: dying, shutdown: died.signal })
      .process(delivery)
      .catch(() => undefined);
    expect((await store.get(id))?.state).to.equal("completed");
    expect(await responsesOf(id)).to.deep.equal([]);
    // The broker dead-letters the request (past its delivery limit) instead of handing it out
    // again: the watch is what publishes the answer, or the response is never handled.
    const handled: ConsumeMessage[] = [];
    const watch = new DeadLetterWatch(
      amqp.broker,
      amqp.publisher,
      names,
      log,
      undefined,
      store,
      async (message) => void handled.push(message),
    );
    const dead = {
      ...delivery,
      properties: {
        ...delivery.properties,
        headers: {
          "x-death": [
            { queue: names.requestsQueue(backend.name), reason: "delivery_limit", count: 20 },
          ],
        },
      },
    } as unknown as ConsumeMessage;
    await watch.handle(dead);
    expect(translator.calls).to.have.length(1);
    const responses = await responsesOf(id);
    expect(responses.map((r) => r.body)).to.deep.equal(["answered once"]);
    expect(responses[0]).to.include({ outcome: "completed", final: true });
  });

  it("a sync caller's answer that nobody else hears of is not published; a redelivered copy neither calls nor publishes", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null, "adapter-a");
    const alone = { listened: async () => false };
    const gone = new AbortController();
    translator.answer = async () => {
      gone.abort();
      return [{ status: 200, contentType: "text/plain", body: "answered once" }];
    };
    await processor(clock, translator, movingGuard(clock), alone).process(delivery, gone.signal);
    const tx = await store.get(id);
    expect(tx?.state).to.equal("completed");
    expect(tx?.responses.map((r) => r.body)).to.deep.equal(["answered once"]);

    await redis.hset(store.key(id), "claimUntil", "0");
    await processor(clock, translator, movingGuard(clock), alone).process(delivery);
    expect(translator.calls).to.have.length(1);
    expect(await responsesOf(id)).to.deep.equal([]);
  });

  it("a rate token that cannot be had in time is a retry, not a call", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const guard: CallGuard = async () => ({
      async beforeCall() {
        throw new BackendUnavailableError("no rate-limit token could be taken");
      },
      release: async () => undefined,
    });
    expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
    expect(translator.calls).to.deep.equal([]);
    // Claim released, and the copy waits in the first retry tier.
    expect((await view(id)).state).to.equal("accepted");
    const retry = await amqp.channel.get(names.retryQueue("b", backend.retry.backoffMs[0]), {
      noAck: true,
    });
    expect(retry && JSON.parse(retry.content.toString()).id).to.equal(id);
  });

  it("a queued request whose record Redis lost is rebuilt from the request and processed", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    await redis.del(store.key(id));
    expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
      "ack",
    );
    expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
    const [response] = await responsesOf(id);
    expect(response.outcome).to.equal("completed");
    // The response carries the record's fixed part, for the response worker should Redis lose
    // the record again before the response is stored.
    expect(response.meta).to.deep.include({ id, service: "svc", client: "EE/GOV/1/app" });
    expect((await view(id)).answer).to.not.equal(null);
  });

  it("a request refused to its caller (its publish was never confirmed) is dead-lettered, never sent", async () => {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    const record = await store.get(id);
    await store.discard(record!);
    expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
      "ack",
    );
    expect(translator.calls).to.deep.equal([]);
    const dead = await amqp.channel.get(names.deadLetterQueue, { noAck: true });
    expect(dead && dead.properties.messageId).to.equal(id);
    expect(dead && dead.properties.headers?.["x-sluice-reason"]).to.equal("no_transaction");
  });

  /** A message whose record Redis loses while the backend works on its call, answered "late". */
  async function lostWhileCalling() {
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    translator.answer = async () => {
      await redis.del(store.key(id));
      return [{ status: 200, contentType: "text/plain", body: "late" }];
    };
    return { clock, translator, id, delivery };
  }

  /**
   * The store, but running `meanwhile` just before its second recordAnswer: the answer's, after
   * the worker wrote the lost record again. `records()` counts the recordAnswer calls.
   */
  function atSecondRecord(meanwhile: () => Promise<void>) {
    let records = 0;
    const wrapped: TransactionStore = Object.create(store);
    wrapped.recordAnswer = async (...args: Parameters<TransactionStore["recordAnswer"]>) => {
      if (++records === 2) await meanwhile();
      return store.recordAnswer(...args);
    };
    return { store: wrapped, records: () => records };
  }

  it("a record lost while the backend worked is written again with the answer", async () => {
    const { clock, translator, id, delivery } = await lostWhileCalling();
    await processor(clock, translator, movingGuard(clock)).process(delivery);
    expect((await view(id)).answer?.responses.map((r) => r.body)).to.deep.equal(["late"]);
    expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["late"]);
  });

  it("a record lost while the backend worked, written again for the answer, cannot be cancelled before the answer lands", async () => {
    // The worker writes the lost record again, then records the answer beside it: a cancel
    // between the two would end `cancelled` ("never sent") a message the backend answered.
    const { clock, translator, id, delivery } = await lostWhileCalling();
    let cancel: Awaited<ReturnType<typeof cancelByOperator>> | null = null;
    const cancelling = atSecondRecord(async () => {
      cancel = await cancelByOperator(store, id);
    });
    await processor(clock, translator, movingGuard(clock), { store: cancelling.store }).process(
      delivery,
    );
    expect(cancelling.records(), "recorded again after the rewrite").to.equal(2);
    expect(cancel).to.have.property("result", "conflict");
    expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["late"]);
  });

  it("a record lost while the backend worked, written again for the answer, is not claimed by a copy before the answer lands", async () => {
    // A copy handed out meanwhile (the worker's channel closed) that claims the record between
    // its rewrite and the answer's record would call the backend again, and the answer in
    // hand would be dropped as another claim's.
    const { clock, translator, id, delivery } = await lostWhileCalling();
    let copy: TransitionResult | null = null;
    const racing = atSecondRecord(async () => {
      copy = (
        await store.transition(id, ["accepted", "processing"], "processing", {
          claimMs: 60_000,
          token: "copy",
        })
      ).result;
    });
    await processor(clock, translator, movingGuard(clock), { store: racing.store }).process(
      delivery,
    );
    expect(racing.records(), "recorded again after the rewrite").to.equal(2);
    expect(copy).to.equal("claimed");
    expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["late"]);
  });

  describe("a record Redis lost while its worker called is written again marked called: no cancel, no expiry", () => {
    // `cancelled` and `expired` tell the caller the backend never saw the message. A record
    // written again from the request starts at `accepted` and knows nothing of the call: the
    // worker whose call may have reached the backend puts the mark back when it next touches it.

    /** Redis loses the record while the backend works on the call. */
    const losing = (id: string) => () => redis.del(store.key(id));

    /** A call that hangs until its signal aborts (a shutdown cuts it short). */
    const untilAborted = (call: TranslatorCall) =>
      new Promise<never>((_resolve, reject) =>
        call.signal.addEventListener("abort", () => reject(call.signal.reason), { once: true }),
      );

    /** A guard that runs `duringWait` while the message waits for its slot. */
    const guardRunning = (clock: FixedClock, duringWait: () => Promise<void>): CallGuard => {
      const moving = movingGuard(clock);
      return async (request, signal) => {
        await duringWait();
        return moving(request, signal);
      };
    };

    /**
     * A message (expiring after `expireAfterMs`) whose record Redis lost while the backend
     * worked on its call, which a shutdown then cut short: its copy is back on the queue.
     */
    async function cutShortAfterLoss(expireAfterMs: number | null) {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, expireAfterMs);
      const stop = new AbortController();
      translator.answer = async (_request, call) => {
        await losing(id)();
        stop.abort();
        return untilAborted(call);
      };
      const first = processor(clock, translator, movingGuard(clock), { shutdown: stop.signal });
      expect(await first.process(delivery)).to.equal("requeue");
      return { clock, translator, id, delivery };
    }

    it("a record lost again between its rebuild and the claim is written again, not dropped", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      await losing(id)();
      // Once the worker has written the record again, Redis loses it a second time while the
      // message waits for its slot, just before the claim.
      let lostAgain = false;
      const guard = guardRunning(clock, async () => {
        if (!lostAgain && (await redis.exists(store.key(id))) === 1) {
          lostAgain = true;
          await losing(id)();
        }
      });
      expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
      expect(lostAgain, "lost after its rebuild").to.equal(true);
      expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    });

    it("a call cut short by shutdown: the next copy can no longer be cancelled", async () => {
      const { clock, translator, id, delivery } = await cutShortAfterLoss(null);

      // The copy handed back is taken again; the operator cancels while it waits for a slot.
      translator.answer = async () => [{ status: 200, contentType: "text/plain", body: "ok" }];
      let cancel: Awaited<ReturnType<typeof cancelByOperator>> | null = null;
      const guard = guardRunning(clock, async () => {
        cancel = await cancelByOperator(store, id);
      });
      expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
      expect(cancel).to.deep.equal({ result: "conflict", state: "accepted" });
      // Window 2: the call shutdown cut short may have reached the backend; it is made again.
      expect(translator.calls).to.have.length(2);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    });

    it("a call cut short by shutdown: past its expiry the next copy ends failed, not expired", async () => {
      const { clock, translator, id, delivery } = await cutShortAfterLoss(3_000);

      clock.advance(5_000);
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      expect(translator.calls).to.have.length(1);
      const [response] = await responsesOf(id);
      expect(response).to.include({ outcome: "failed", final: true });
    });

    it("a claim taken over from a worker that died mid-call, handed back before its own call: written again marked called", async () => {
      // The dead worker may have reached the backend. The worker that took its claim over
      // gives the message back before a call of its own (its channel closed), just after Redis
      // lost the record: the copy handed back must not find a record that says never sent.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 1_000);
      await store.transition(id, ["accepted"], "processing", { claimMs: -1 });
      const gone = new AbortController();
      const guard: CallGuard = async () => ({
        async beforeCall() {
          await losing(id)();
          gone.abort();
          return null;
        },
        release: async () => undefined,
      });
      expect(await processor(clock, translator, guard).process(delivery, gone.signal)).to.equal(
        "requeue",
      );
      await expectHandedBackAsCalled(clock, translator, id, delivery);
    });

    it("a message an earlier attempt called, its record lost while it waits for its token: past its expiry it ends failed, not expired", async () => {
      // An earlier attempt's call may have reached the backend (it was handed back at a
      // shutdown: its delivery carries no count of calls, only the record's mark says so). The
      // worker now holding the message writes the lost record again at its renewal: with the
      // mark, or the expiry at the last look ends the message `expired`, "never sent".
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 1_000);
      await store.transition(id, ["accepted"], "processing", { claimMs: 60_000, token: "A" });
      await store.transition(id, ["processing"], "accepted", { holding: "A", called: true });
      const guard: CallGuard = async () => ({
        async beforeCall() {
          await losing(id)();
          // The claim's keeper writes it again while the token is awaited.
          await eventually(async () => ((await redis.exists(store.key(id))) ? true : undefined));
          clock.advance(5_000);
          return null;
        },
        release: async () => undefined,
      });
      expect(await processor(clock, translator, guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.deep.equal([]);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["failed"]);
    });

    it("a call that failed, its retry copy parked, the record lost just before the release: the delivery back before its ack is not called", async () => {
      // The release writes the record again, marked called; it must also say which attempt was
      // parked, or the original (its channel closed before its ack) is called at once, before
      // the backoff and beyond `retry.attempts`, beside the parked copy.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      translator.answer = async () => {
        throw new BackendUnavailableError("backend b answered 503");
      };
      const losing: TransactionStore = Object.create(store);
      losing.transition = async (...args: Parameters<TransactionStore["transition"]>) => {
        const [, , to, options] = args;
        if (to === "accepted" && options?.parkedAttempt !== undefined) {
          await redis.del(store.key(id));
        }
        return store.transition(...args);
      };
      expect(
        await processor(clock, translator, movingGuard(clock), { store: losing }).process(delivery),
      ).to.equal("ack");
      const parked = await amqp.channel.get(names.retryQueue("b", backend.retry.backoffMs[0]), {
        noAck: true,
      });
      expect(parked && parked.properties.headers?.["x-sluice-attempt"]).to.equal(2);
      expect(await store.wasCalled(id)).to.equal(true);

      translator.answer = async () => [{ status: 200, contentType: "text/plain", body: "ok" }];
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      expect(translator.calls, "the original is dropped, not called again").to.have.length(1);
    });

    it("a call that failed and was parked for its retry: the parked copy can no longer be cancelled", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      translator.answer = async () => {
        await losing(id)();
        throw new BackendUnavailableError("backend b answered 503");
      };
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      const parked = await amqp.channel.get(names.retryQueue("b", backend.retry.backoffMs[0]), {
        noAck: true,
      });
      expect(parked && parked.properties.messageId).to.equal(id);

      translator.answer = async () => [{ status: 200, contentType: "text/plain", body: "ok" }];
      let cancel: Awaited<ReturnType<typeof cancelByOperator>> | null = null;
      const guard = guardRunning(clock, async () => {
        cancel = await cancelByOperator(store, id);
      });
      const again = { ...parked, fields: {} } as unknown as ConsumeMessage;
      expect(await processor(clock, translator, guard).process(again)).to.equal("ack");
      expect(cancel).to.deep.equal({ result: "conflict", state: "accepted" });
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    });

    /**
     * Redis loses the record while the backend works; `afterLoss` does what else happens then.
     * A cancel once the record is back must be refused: the backend has the message.
     */
    async function cancelledWhileCalling(
      afterLoss: (request: RequestMessage) => Promise<void>,
    ): Promise<void> {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      let cancel: Awaited<ReturnType<typeof cancelByOperator>> | null = null;
      translator.answer = async (request) => {
        await losing(id)();
        await afterLoss(request);
        // The claim's keeper renews it while the backend works.
        await eventually(async () =>
          (await store.get(id))?.state === "processing" ? true : undefined,
        );
        cancel = await cancelByOperator(store, id);
        return [{ status: 200, contentType: "text/plain", body: "ok" }];
      };
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      expect(cancel).to.deep.equal({ result: "conflict", state: "processing" });
      expect(await store.wasCalled(id)).to.equal(true);
      expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["ok"]);
    }

    it("still calling: the worker's renewal writes the record again under its claim", () =>
      cancelledWhileCalling(async () => undefined));

    it("still calling, the record written again by a copy: the worker's renewal claims it back", () =>
      // Another copy (its delivery handed out again) found no record and wrote it again
      // (`accepted`, claimed by nobody); an expiry or a cancel would end it never sent.
      cancelledWhileCalling(async (request) => {
        expect(await store.rebuild(metaOfRequest(request))).to.equal(true);
      }));
  });

  it("a translator's answer that is not a list of responses fails the message, readable to the response worker", async () => {
    // A translator module in plain JavaScript can return anything. What it returns is what the
    // response worker must read to end the message: one it cannot read (dead-lettered there)
    // would leave the message `processing` for ever.
    const broken: Array<() => unknown> = [
      () => [{ status: 200, body: { not: "a string" } }],
      () => ({ status: 200, contentType: "text/plain", body: "not in a list" }),
      () => [{ status: "200", contentType: "text/plain", body: "" }],
      () => [{ status: 42, contentType: "text/plain", body: "" }],
      () => {
        // A rejection without the answer the caller is to read.
        throw new BackendRejectedError("no", undefined as unknown as BackendResponse);
      },
    ];
    for (const answer of broken) {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      translator.answer = async () => answer() as BackendResponse[];
      const { id, delivery } = await accepted(T0, null);
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      const published = await rawResponsesOf(id);
      expect(published, String(answer)).to.have.length(1);
      const decoded = responseCodec.decode(published[0]);
      expect(decoded.ok, String(answer)).to.equal(true);
      expect(decoded.ok && decoded.message).to.include({ outcome: "failed", final: true });
      expect((await view(id)).deadLettered, String(answer)).to.equal(true);
    }
  });

  describe("a message whose expiry passes after a call was made is failed, not expired", () => {
    // `expired` tells the caller the backend never saw the message. After a call that failed
    // transiently (a timeout above all) the backend may have processed it: the expiry ends
    // the retries, and the outcome is `failed`.
    const unavailable = async (): Promise<BackendResponse[]> => {
      throw new BackendUnavailableError("backend b answered 503");
    };

    it("through a delay queue", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      translator.answer = unavailable;
      const { id, delivery } = await accepted(T0, 3_000);
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      const parked = await amqp.channel.get(names.retryQueue("b", backend.retry.backoffMs[0]), {
        noAck: true,
      });
      expect(parked && parked.properties.messageId).to.equal(id);
      // It comes back from the delay queue after its expiry.
      clock.advance(5_000);
      const again = { ...parked, fields: {} } as unknown as ConsumeMessage;
      expect(await processor(clock, translator, movingGuard(clock)).process(again)).to.equal("ack");
      expect(translator.calls).to.have.length(1);
      const [response] = await responsesOf(id);
      expect(response).to.include({ outcome: "failed", final: true });
      expect(response.error?.code).to.equal("BackendFailed");
      expect((await view(id)).deadLettered).to.equal(true);
    });

    it("in place, for an ordered backend", async () => {
      const ordered = compileConfig(rawConfig, ".").backends.ordered;
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      translator.answer = async () => {
        clock.advance(5_000);
        return unavailable();
      };
      const { id, delivery } = await accepted(T0, 3_000);
      const run = processor(clock, translator, movingGuard(clock), { backend: ordered });
      expect(await run.process(delivery)).to.equal("ack");
      expect(translator.calls).to.have.length(1);
      const [response] = await responsesOf(id);
      expect(response).to.include({ outcome: "failed", final: true });
      expect(response.error?.code).to.equal("BackendFailed");
    });

    it("at once, when its next try would come after its expiry", async () => {
      // Parked (or, for an ordered backend, holding its queue) it would wait only to end so.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      translator.answer = async () => {
        clock.advance(2_500);
        return unavailable();
      };
      // Expires at T0 + 3 s; the first retry is due 1 s after the failure at T0 + 2.5 s.
      const { id, delivery } = await accepted(T0, 3_000);
      expect(await processor(clock, translator, movingGuard(clock)).process(delivery)).to.equal(
        "ack",
      );
      expect(translator.calls).to.have.length(1);
      const [response] = await responsesOf(id);
      expect(response).to.include({ outcome: "failed", final: true });
      expect((await view(id)).deadLettered).to.equal(true);
    });

    it("through a delay queue of the previous release: its retry copy carries no count of calls", async () => {
      // Sluice 0.1.0 parked a retry copy with its attempt alone (test/fixtures/protocol/
      // request-retry-v1.json), after a call that failed; its record has no mark of that call.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 3_000);
      const parked = {
        ...delivery,
        properties: { headers: { [HEADERS.attempt]: 2 } },
      } as unknown as ConsumeMessage;
      clock.advance(5_000);
      expect(await processor(clock, translator, movingGuard(clock)).process(parked)).to.equal(
        "ack",
      );
      expect(translator.calls).to.have.length(0);
      const [response] = await responsesOf(id);
      expect(response).to.include({ outcome: "failed", final: true });
      expect(response.error?.code).to.equal("BackendFailed");
    });

    it("while a message never called before still expires, counted for the alert", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 3_000);
      clock.advance(5_000);
      const expiredBefore = await expiredCount();
      await processor(clock, translator, movingGuard(clock)).process(delivery);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["expired"]);
      expect(await expiredCount()).to.equal(expiredBefore + 1);
    });
  });

  it("a translator that ignores its call's signal is given up at the deadline: a timeout, not a hang", async () => {
    // Its slot and claim would otherwise be held for as long as the worker lives.
    const slow = compileConfig(rawConfig, ".").backends.slow;
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    translator.answer = () => new Promise<BackendResponse[]>(() => undefined);
    const released: string[] = [];
    const guard: CallGuard = async (request) => ({
      async beforeCall() {
        return null;
      },
      release: async () => void released.push(request.id),
    });
    const { id, delivery } = await accepted(T0, null);
    const run = processor(clock, translator, guard, { backend: slow });
    // The call's own 400 ms deadline is the bound, and a hang is the test's timeout: a timer of
    // the test's own raced against it would win on a machine that stalls, whatever the code did.
    expect(await run.process(delivery)).to.equal("ack");
    expect(translator.calls).to.have.length(1);
    expect(released).to.deep.equal([id]);
    expect((await view(id)).state).to.equal("accepted");
    const retry = await amqp.channel.get(names.retryQueue("slow", slow.retry.backoffMs[0]), {
      noAck: true,
    });
    expect(retry && retry.properties.messageId).to.equal(id);
  });

  describe("the translator is handed the call's deadline, which tells a timeout from a shutdown", () => {
    // A translator times the call with it rather than with a deadline of its own.
    const deadlineSeen = (translator: RecordingTranslator, atCall?: () => void) => {
      const seen: Array<{ same: boolean; timedOut: boolean | undefined }> = [];
      translator.answer = (_request, call) =>
        new Promise<never>((_resolve, reject) => {
          call.signal.addEventListener(
            "abort",
            () => {
              seen.push({
                same: call.deadline?.signal === call.signal,
                timedOut: call.deadline?.timedOut,
              });
              reject(call.signal.reason);
            },
            { once: true },
          );
          atCall?.();
        });
      return seen;
    };

    it("the backend's timeout: timed out", async () => {
      const slow = compileConfig(rawConfig, ".").backends.slow;
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const seen = deadlineSeen(translator);
      const { delivery } = await accepted(T0, null);
      await processor(clock, translator, movingGuard(clock), { backend: slow }).process(delivery);
      expect(seen).to.deep.equal([{ same: true, timedOut: true }]);
    });

    it("a shutdown: not timed out", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const stop = new AbortController();
      const seen = deadlineSeen(translator, () => stop.abort());
      const { delivery } = await accepted(T0, null);
      const run = processor(clock, translator, movingGuard(clock), { shutdown: stop.signal });
      expect(await run.process(delivery)).to.equal("requeue");
      expect(seen).to.deep.equal([{ same: true, timedOut: false }]);
    });
  });

  describe("a backend paused while a message waits at its last look: no call, handed back", () => {
    // Pause and a closed window mean no calls: a message waiting for its rate token or for an
    // in-place retry when the gate shuts goes back to its queue.
    it("while it waits for its rate token", async () => {
      const { config, limits, pause, resume } = limitsOf("slow");
      try {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        let paused: Promise<void> | null = null;
        translator.answer = async () => {
          // The first call is made; the second message now waits for its token.
          paused ??= pause();
          return [{ status: 200, contentType: "text/plain", body: "first" }];
        };
        const run = processor(clock, translator, limits.guard, { backend: config });
        const first = await accepted(T0, null);
        const second = await accepted(T0, null);
        const settlements = await Promise.all([
          run.process(first.delivery),
          run.process(second.delivery),
        ]);
        // Either may take the first token; the other is handed back without a call.
        expect(translator.calls).to.have.length(1);
        const calledFirst = translator.calls[0].id === first.id;
        expect(settlements).to.deep.equal(calledFirst ? ["ack", "requeue"] : ["requeue", "ack"]);
        expect((await view(calledFirst ? second.id : first.id)).state).to.equal("accepted");
      } finally {
        await resume();
        await limits.close();
      }
    });

    it("while it waits for an in-flight slot: handed back at once, not held as a failure", async () => {
      // A failure would be tried again for about a minute (with a warning each time) before
      // the message went back to its queue.
      const { config, limits, pause, resume } = limitsOf("slow");
      const holder = new InflightLeases(redis, prefix, "slow", { max: 2, leaseMs: 30_000 });
      const held = [await holder.acquire(), await holder.acquire()];
      try {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        const { id, delivery } = await accepted(T0, null);
        const run = processor(clock, translator, limits.guard, { backend: config });
        const settled = run.process(delivery);
        await new Promise((resolve) => setTimeout(resolve, 100));
        await pause();
        expect(await settled).to.equal("requeue");
        expect(translator.calls).to.deep.equal([]);
        expect((await view(id)).state).to.equal("accepted");
      } finally {
        await Promise.all(held.map((lease) => lease.release()));
        await holder.close();
        await resume();
        await limits.close();
      }
    });

    it("while an ordered backend's message waits to be retried in place", async () => {
      const { config, limits, pause, resume } = limitsOf("ordered");
      try {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        translator.answer = async () => {
          await pause();
          throw new BackendUnavailableError("backend ordered answered 503");
        };
        const { id, delivery } = await accepted(T0, null);
        const run = processor(clock, translator, limits.guard, { backend: config });
        expect(await run.process(delivery)).to.equal("requeue");
        expect(translator.calls).to.have.length(1);
        expect((await view(id)).state).to.equal("accepted");
      } finally {
        await resume();
        await limits.close();
      }
    });
  });

  it("a translator whose call answers without a promise is taken at its word", async () => {
    const clock = new FixedClock(T0);
    const { id, delivery } = await accepted(T0, null);
    const synchronous: Translator = {
      call: (() => [
        { status: 200, contentType: "text/plain", body: "at once" },
      ]) as unknown as Translator["call"],
    };
    expect(await processor(clock, synchronous, movingGuard(clock)).process(delivery)).to.equal(
      "ack",
    );
    const [response] = await responsesOf(id);
    expect(response).to.include({ outcome: "completed", body: "at once" });
  });

  it("an ordered backend's message claimed by a worker that died waits in line for the claim to lapse", async () => {
    // The standby that takes over an ordered queue gets the dead worker's message first. Parked
    // in a delay queue, it would come back to the backend's plain queue behind the messages of
    // its key that were accepted after it: out of order.
    const ordered = compileConfig(rawConfig, ".").backends.ordered;
    const clock = new FixedClock(T0);
    const translator = new RecordingTranslator(clock);
    const { id, delivery } = await accepted(T0, null);
    await store.transition(id, ["accepted"], "processing", { claimMs: 1_500 });
    const run = processor(clock, translator, movingGuard(clock), { backend: ordered });
    expect(await run.process(delivery)).to.equal("ack");
    expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
    expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    const parked = await amqp.channel.get(names.retryQueue("ordered", ordered.retry.backoffMs[0]), {
      noAck: true,
    });
    expect(parked).to.equal(false);
  });

  it("an in-place retry does not hold the in-flight slot while it waits", async () => {
    // The slot bounds calls open at the backend. Held through a retry's delay, it would stop
    // every other partition of an ordered backend (maxInFlight below partitions) for as long.
    const { config: narrow, limits } = limitsOf("orderedNarrow");
    const inflight = redisKeys(prefix).inflight("orderedNarrow");
    try {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      translator.answer = async () => {
        if (translator.calls.length > 1) {
          return [{ status: 200, contentType: "text/plain", body: "second" }];
        }
        throw new BackendUnavailableError("backend orderedNarrow answered 503");
      };
      // Looked at when the processor, its wait over, asks for a slot for the next call: a slot
      // kept through the wait is still held then. A look on a timer within the 2 s wait would
      // fall after it on a machine that stalls, when the next call holds its own slot. The
      // first call takes its slot with the claim (`claiming`); only the retry asks here.
      const slotsHeldWhenAsked: number[] = [];
      const guard: CallGuard = Object.assign(
        async (request: RequestMessage, signal: AbortSignal) => {
          slotsHeldWhenAsked.push(await redis.zcard(inflight));
          return limits.guard(request, signal);
        },
        { claiming: limits.guard.claiming },
      );
      const { id, delivery } = await accepted(T0, null);
      const run = processor(clock, translator, guard, { backend: narrow });
      expect(await run.process(delivery)).to.equal("ack");
      expect(translator.calls).to.have.length(2);
      expect(slotsHeldWhenAsked).to.deep.equal([0]);
      expect(await redis.zcard(inflight)).to.equal(0);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    } finally {
      await limits.close();
    }
  });

  it("the wait for a rate token is not taken out of the call's timeout", async () => {
    // The timeout bounds the call; a token wait longer than it must neither stop the call
    // from being made (a retry spent without a call) nor cut a call short (a timeout after
    // the backend got it, then a second call).
    const { config: slow, limits } = limitsOf("slow");
    try {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const signals: boolean[] = [];
      translator.answer = async (_request, call) => {
        signals.push(call.signal.aborted);
        return [{ status: 200, contentType: "text/plain", body: "in time" }];
      };
      const run = processor(clock, translator, limits.guard, { backend: slow });
      const messages = [await accepted(T0, null), await accepted(T0, null)];
      const settlements = await Promise.all(messages.map((m) => run.process(m.delivery)));
      expect(settlements).to.deep.equal(["ack", "ack"]);
      expect(translator.calls.map((c) => c.id).sort()).to.deep.equal(
        messages.map((m) => m.id).sort(),
      );
      expect(signals).to.deep.equal([false, false]);
      for (const { id } of messages) {
        expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
      }
    } finally {
      await limits.close();
    }
  });

  describe("with the worker's own limits: first look, slot and claim in one script", () => {
    let limits: BackendLimits;
    before(() => {
      limits = limitsOf("b").limits;
    });
    after(() => limits.close());
    const slotsHeld = () => redis.zcard(redisKeys(prefix).inflight("b"));

    it("calls once, and the answer's record frees the slot", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      let heldDuringCall = 0;
      translator.answer = async () => {
        heldDuringCall = await slotsHeld();
        return [{ status: 200, contentType: "text/plain", body: "once" }];
      };
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(heldDuringCall).to.equal(1);
      expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
      expect(await slotsHeld()).to.equal(0);
      expect((await view(id)).answer?.responses.map((r) => r.body)).to.deep.equal(["once"]);
      expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["once"]);

      // A copy redelivered after its claim lapsed publishes the recorded answer: no slot, no call.
      await redis.hset(store.key(id), "claimUntil", "0");
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.have.length(1);
      expect(await slotsHeld()).to.equal(0);
      expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["once", "once"]);
    });

    /**
     * What another worker does to a message whose claim this one held while this one stood
     * still past its lease (a paused process, a long GC, Redis out of reach): it takes the
     * lapsed claim over through its own slot and claim script, and calls the backend itself.
     */
    async function takenOverBy(token: string, id: string): Promise<void> {
      await redis.hset(store.key(id), "claimUntil", "0");
      const slot = {
        key: `${prefix}other-slots`,
        token,
        channel: `${prefix}x`,
        waiting: `${prefix}other-slots:waiting`,
        max: 9,
        leaseMs: 60_000,
        waitMs: 3_000,
      };
      const claim = await store.claimWithSlot(id, 60_000, slot);
      expect(claim).to.deep.equal({ result: "ok", previous: "processing" });
    }

    it("a worker whose claim was taken over during its call keeps and publishes nothing of its answer", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      translator.answer = async () => {
        await takenOverBy("other-worker", id);
        return [{ status: 200, contentType: "text/plain", body: "stale" }];
      };
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.have.length(1);
      // The other worker's call decides the outcome; its claim is untouched.
      expect((await view(id)).answer).to.equal(null);
      expect(await responsesOf(id)).to.deep.equal([]);
      expect(await store.claimHeld(id)).to.equal(true);
      expect(await store.renewClaim(id, 60_000, "other-worker")).to.equal("held");
      // The call this worker made is noted: the message can no longer be cancelled or expire.
      expect(await store.wasCalled(id)).to.equal(true);
      expect(await slotsHeld()).to.equal(0);
    });

    it("a worker whose claim was taken over during a call that failed neither parks a retry nor releases the other's claim", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      translator.answer = async () => {
        await takenOverBy("other-worker", id);
        throw new BackendUnavailableError("backend b answered 503");
      };
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.have.length(1);
      // Released, the claim would let a third copy (this retry copy, back) be called beside the
      // other worker's call.
      expect((await store.get(id))?.state).to.equal("processing");
      expect(await store.claimHeld(id)).to.equal(true);
      for (const delayMs of new Set(backend.retry.backoffMs)) {
        const parked = await amqp.channel.get(names.retryQueue("b", delayMs), { noAck: true });
        expect(parked, `a retry copy in the ${delayMs} ms delay queue`).to.equal(false);
      }
      expect(await store.wasCalled(id)).to.equal(true);
      expect(await slotsHeld()).to.equal(0);
    });

    it("a copy another worker holds the claim of is parked without a slot or a call", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      await store.transition(id, ["accepted"], "processing", { claimMs: 60_000 });
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.deep.equal([]);
      expect(await slotsHeld()).to.equal(0);
      const parked = await amqp.channel.get(
        names.retryQueue("b", Math.min(...backend.retry.backoffMs)),
        {
          noAck: true,
        },
      );
      expect(parked && parked.properties.messageId).to.equal(id);
    });

    /** The copy parked in backend b's shortest delay queue, or false. */
    const parkedCopy = () =>
      amqp.channel.get(names.retryQueue("b", Math.min(...backend.retry.backoffMs)), {
        noAck: true,
      });

    it("an expired copy of a message whose worker died mid-call is parked until that claim lapses, then called: never dropped", async () => {
      // The worker died mid-call: the broker hands its delivery out again at once, while the
      // dead worker's claim still lasts. Acked as "claimed by another worker", this copy (the
      // only one left) would be gone and the record stay `processing` for good.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 1_000);
      await store.transition(id, ["accepted"], "processing", { claimMs: 60_000, token: "dead" });
      clock.advance(2_000);
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.deep.equal([]);
      expect(await slotsHeld()).to.equal(0);
      const parked = await parkedCopy();
      expect(parked && parked.properties.messageId, "the copy is parked").to.equal(id);

      // Back once the dead worker's claim lapsed: it may have reached the backend, so it is
      // called again (the Idempotency-Key window), never told `expired` (never sent).
      await redis.hset(store.key(id), "claimUntil", "0");
      const copy = parked as unknown as ConsumeMessage;
      expect(await processor(clock, translator, limits.guard).process(copy)).to.equal("ack");
      expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
      expect(await slotsHeld()).to.equal(0);
    });

    it("an expired copy of a message whose worker's claim lapsed mid-call is called, not expired", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 1_000);
      await store.transition(id, ["accepted"], "processing", { claimMs: -1, token: "dead" });
      clock.advance(2_000);
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
      expect(await parkedCopy()).to.equal(false);
      expect(await slotsHeld()).to.equal(0);
    });

    it("a lapsed claim made only to end the message expired is taken over as never sent: expired, not called", async () => {
      // The worker that claimed it to end it `expired` stood still past that claim's 5 s (or
      // died) before recording the outcome. It never calls: the message was never sent.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, 1_000);
      await store.transition(id, ["accepted"], "processing", {
        claimMs: -1,
        token: "stalled",
        by: EXPIRY_CLAIM,
      });
      clock.advance(2_000);
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.deep.equal([]);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["expired"]);
      expect(await slotsHeld()).to.equal(0);
    });

    /**
     * Runs `work` with a processor whose Redis connection passes through a proxy that can cut
     * an answer: the connection drops after Redis ran a command and before its reply arrived,
     * and ioredis sends the unanswered command again on its new connection.
     */
    async function throughCuttingProxy(
      work: (
        cut: AnswerCutter,
        processorOf: (
          clock: FixedClock,
          translator: Translator,
          deps?: Partial<ProcessorDeps>,
        ) => RequestProcessor,
      ) => Promise<void>,
    ): Promise<void> {
      await withCutRedis("resend-test", {}, async ({ redis: proxied, cut }) => {
        const proxiedLimits = limitsOf("b", proxied).limits;
        try {
          await work(cut, (clock, translator, deps = {}) =>
            processor(clock, translator, proxiedLimits.guard, {
              store: new TransactionStore(proxied, prefix, 60_000),
              ...deps,
            }),
          );
        } finally {
          await proxiedLimits.close();
        }
      });
    }

    it("a claim whose reply was lost is still this worker's when ioredis sends it again", async () => {
      // The second run must find the claim its own: no park, one call, and the slot the first
      // run took is freed by the answer's record.
      await throughCuttingProxy(async (cut, processorOf) => {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        const { id, delivery } = await accepted(T0, null);
        cut.arm((command) => command.includes(store.key(id)));
        expect(await processorOf(clock, translator).process(delivery)).to.equal("ack");
        expect(cut.dropped, "the claim's reply was cut").to.equal(1);
        expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
        expect(await slotsHeld()).to.equal(0);
        expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
      });
    });

    it("a claim whose reply never came is given back, not left to lapse and be taken over as called", async () => {
      // The reply is cut and the client cannot reconnect: the claim fails at its deadline though
      // Redis ran it. Left `processing` under that claim, the next copy would wait it out and
      // take it over marked called: no cancel, no expiry, though the backend was never called.
      await withCutRedis("give-back", { held: true }, async ({ redis: proxied, cut, release }) => {
        const proxiedLimits = limitsOf("b", proxied).limits;
        try {
          const clock = new FixedClock(T0);
          const translator = new RecordingTranslator(clock);
          const { id, delivery } = await accepted(T0, null);
          cut.arm((command) => command.includes(store.key(id)) && command.includes("processing"));
          const failed = await processor(clock, translator, proxiedLimits.guard, {
            store: new TransactionStore(proxied, prefix, 60_000),
          })
            .process(delivery)
            .then(
              () => null,
              (error: Error) => error,
            );
          expect(failed, "the claim failed at its deadline").to.be.instanceOf(Error);
          expect(cut.dropped, "the claim's reply was cut").to.equal(1);
          expect((await view(id)).state, "Redis ran the claim").to.equal("processing");
          release();
          await eventually(async () => ((await view(id)).state === "accepted" ? true : undefined));
          expect(await redis.hexists(store.key(id), "called")).to.equal(0);
          await eventually(async () => ((await slotsHeld()) === 0 ? true : undefined));
          expect(translator.calls).to.deep.equal([]);
          // Still one the backend never saw: a cancel ends it.
          const cancelled = await store.transition(id, ["accepted"], "cancelled", { by: "client" });
          expect(cancelled.result).to.equal("ok");
        } finally {
          await proxiedLimits.close();
        }
      });
    });

    it("a sync caller's outcome stored with the answer whose reply was lost is still published when the record is sent again", async () => {
      // Someone else hears of it (here every client counts as listened to): the outcome is stored
      // with the answer, and its responses must still reach the response worker (hub events,
      // callbacks). The record sent again finds its own outcome stored: told "terminal", the
      // worker published nothing and acked, and the kept answer stayed in the record unsent.
      await throughCuttingProxy(async (cut, processorOf) => {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        const { id, delivery } = await accepted(T0, null, "adapter-a");
        translator.answer = async () => [
          { status: 200, contentType: "text/plain", body: "answered once" },
        ];
        cut.arm((command) => command.includes(store.key(id)) && command.includes("answered once"));
        expect(await processorOf(clock, translator).process(delivery)).to.equal("ack");
        expect(cut.dropped, "the record's reply was cut").to.equal(1);
        expect(translator.calls).to.have.length(1);
        expect((await store.get(id))?.state).to.equal("completed");
        expect((await responsesOf(id)).map((r) => r.body)).to.deep.equal(["answered once"]);
      });
    });

    it("a sync caller's outcome told in place whose reply was lost still wakes, when the record is sent again, the instance pub/sub missed", async () => {
      // Nobody but the sync caller hears of it: the outcome is stored and the caller's adapter
      // woken in the record's round trip. Its adapter has no subscription here, so the worker
      // wakes it through its reply queue. The record sent again found the outcome stored with no
      // answer kept: told "terminal", the worker sent no such wake and the caller waited out its
      // whole wait.
      const { channel } = amqp;
      const instance = `adapter-${randomUUID().slice(0, 8)}`;
      const { queue } = await channel.assertQueue("", { exclusive: true });
      await channel.bindQueue(queue, names.repliesExchange, instance);
      try {
        const ended = async () =>
          (await endToEnd.get()).values.find(
            (v) => v.metricName === "sluice_end_to_end_seconds_count" && v.labels.service === "svc",
          )?.value ?? 0;
        const endedBefore = await ended();
        await throughCuttingProxy(async (cut, processorOf) => {
          const clock = new FixedClock(T0);
          const translator = new RecordingTranslator(clock);
          const { id, delivery } = await accepted(T0, null, instance);
          translator.answer = async () => [
            { status: 200, contentType: "text/plain", body: "answered once" },
          ];
          cut.arm(
            (command) => command.includes(store.key(id)) && command.includes("answered once"),
          );
          const alone = { listened: async () => false };
          expect(await processorOf(clock, translator, alone).process(delivery)).to.equal("ack");
          expect(cut.dropped, "the record's reply was cut").to.equal(1);
          expect(translator.calls).to.have.length(1);
          expect((await store.get(id))?.state).to.equal("completed");
          expect(await responsesOf(id)).to.deep.equal([]);
          const wake = await eventually(async () => {
            const message = await channel.get(queue, { noAck: true });
            return message || undefined;
          });
          const decoded = wakeCodec.decode(wake.content);
          expect(decoded.ok && decoded.message).to.deep.include({ id, state: "completed" });
          expect(await ended(), "the outcome's end-to-end time").to.equal(endedBefore + 1);
        });
      } finally {
        await channel.deleteQueue(queue);
      }
    });

    it("an expiring message whose claim's reply was lost still ends expired", async () => {
      // Expired in the queue: the worker claims it only to end it `expired`. A resent claim
      // taken for another worker's would ack the delivery with the record left `processing`.
      await throughCuttingProxy(async (cut, processorOf) => {
        const clock = new FixedClock(T0);
        const translator = new RecordingTranslator(clock);
        const { id, delivery } = await accepted(T0, 1_000);
        clock.advance(2_000);
        cut.arm((command) => command.includes(store.key(id)) && command.includes("processing"));
        expect(await processorOf(clock, translator).process(delivery)).to.equal("ack");
        expect(cut.dropped, "the claim's reply was cut").to.equal(1);
        expect(translator.calls).to.deep.equal([]);
        expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["expired"]);
      });
    });

    it("a failed look-up of hub listeners neither fails a claimed message nor strands its slot", async () => {
      // Asked beside the claim, it only decides whether a `processing` notice is sent.
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      const settlement = await processor(clock, translator, limits.guard, {
        listened: () => Promise.reject(new Error("hub listeners unreadable")),
      })
        .process(delivery)
        .catch((error: Error) => error.message);
      expect(settlement).to.equal("ack");
      expect(translator.calls.map((c) => c.id)).to.deep.equal([id]);
      expect(await slotsHeld()).to.equal(0);
      expect((await responsesOf(id)).map((r) => r.outcome)).to.deep.equal(["completed"]);
    });

    it("a cancelled message is skipped without a slot or a call", async () => {
      const clock = new FixedClock(T0);
      const translator = new RecordingTranslator(clock);
      const { id, delivery } = await accepted(T0, null);
      await store.transition(id, ["accepted"], "cancelled");
      expect(await processor(clock, translator, limits.guard).process(delivery)).to.equal("ack");
      expect(translator.calls).to.deep.equal([]);
      expect(await slotsHeld()).to.equal(0);
      expect((await view(id)).state).to.equal("cancelled");
    });
  });
});
