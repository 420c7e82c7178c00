// A delivery left over once a retry copy of a later attempt is parked: the original, back
// because its channel closed after the copy's confirm but before its ack, or a copy parked
// beside another worker's claim. Neither may be called: the parked copy carries the message on
// after its backoff. Real broker and Redis, each delivery handed to the processor as the
// worker's consumer hands it; both claim paths (the claim in the slot's round trip, and the
// claim after a plain slot).

import type { ConsumeMessage } from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { compileServiceWindows } from "../../shared/config/service-windows";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendUnavailableError, type BackendResponse } from "../../shared/protocol/errors";
import { HEADERS } from "../../shared/protocol/names";
import { whenReady } from "../../shared/store/redis";
import { BackendGates } from "../../worker/backend-gates";
import { createBackendLimits } from "../../worker/backend-guard";
import type { CallGuard } from "../../worker/request-processor";
import type { Translator } from "../../worker/translators/translator";
import {
  type BrokerSide,
  connectBroker,
  freeGuard,
  processorFor,
  testScope,
} from "../support/broker-scope";
import { acceptedRequest } from "../support/messages";

const log = pino({ level: "silent" });

/** A backend whose calls fail with 503 (each after `hold`, when set), counted. */
class DownBackend implements Translator {
  calls = 0;
  hold: Promise<void> | null = null;
  private called: (() => void) | null = null;
  /** Resolves once the backend has been called `n` times in all. */
  calledTimes(n: number): Promise<void> {
    if (this.calls >= n) return Promise.resolve();
    return new Promise((resolve) => {
      this.called = () => {
        if (this.calls >= n) resolve();
      };
    });
  }
  async call(): Promise<BackendResponse[]> {
    this.calls += 1;
    this.called?.();
    if (this.hold) await this.hold;
    throw new BackendUnavailableError("backend b answered 503");
  }
}

describe("a delivery older than the parked retry copy (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("stale-retry-test", (prefix) => ({
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: {
      // One delay queue, long enough that no copy leaves it while the test reads it.
      b: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        timeout: "5s",
        retry: { attempts: 3, backoff: ["60s"] },
      },
    },
  }));
  const { prefix, config, names, redis, store } = scope;
  const backend = config.backends.b;
  const delayQueue = names.retryQueue("b", backend.retry.backoffMs[0]);
  const shutdown = new AbortController();
  let amqp: BrokerSide;
  let closeLimits: () => Promise<void> = async () => undefined;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
  });
  after(async () => {
    shutdown.abort();
    await closeLimits();
    await amqp?.close();
    await scope.close();
  });

  /** Backend b's own in-flight slots and gate: the claim is taken in the slot's round trip. */
  function claimingGuard(): CallGuard {
    const gates = new BackendGates(
      new Map([["b", compileServiceWindows([], "backends.b.windows").windows]]),
      new BackendPauses(redis, prefix),
      log,
    );
    const limits = createBackendLimits({ redis, prefix, backend, gates });
    const previous = closeLimits;
    closeLimits = async () => {
      await previous();
      await limits.close();
    };
    expect(limits.guard.claiming).to.be.a("function");
    return limits.guard;
  }

  const processorOf = (translator: Translator, guard: CallGuard) =>
    processorFor(scope, amqp, { translator, guard, shutdown: shutdown.signal });
  const accepted = () => acceptedRequest(store);

  /** The copies of `id` in the delay queue, as the broker would deliver them back. */
  async function parkedCopies(id: string): Promise<ConsumeMessage[]> {
    const copies: ConsumeMessage[] = [];
    for (;;) {
      const copy = await amqp.channel.get(delayQueue, { noAck: true });
      if (!copy) return copies;
      if (copy.properties.messageId === id) copies.push(copy as unknown as ConsumeMessage);
    }
  }

  const attemptOf = (copy: ConsumeMessage) => copy.properties.headers?.[HEADERS.attempt];

  for (const [path, guardOf] of [
    ["claim in the slot's round trip", claimingGuard],
    ["claim after the slot", () => freeGuard],
  ] as const) {
    describe(path, () => {
      it("drops the original redelivered after its retry copy was parked: no call before the backoff", async () => {
        const backendDown = new DownBackend();
        const processor = processorOf(backendDown, guardOf());
        const { request, delivery } = await accepted();
        expect(await processor.process(delivery)).to.equal("ack");
        expect(backendDown.calls).to.equal(1);

        // The channel closed after the copy's confirm, before the ack: the broker delivers the
        // original, attempt 1, again. Its claim was released for the parked copy, attempt 2.
        expect(await processor.process(delivery)).to.equal("ack");
        expect(backendDown.calls).to.equal(1);

        // The parked copy is the message: back from its delay, it is called as attempt 2.
        const [copy, ...others] = await parkedCopies(request.id);
        expect(others).to.have.length(0);
        expect(attemptOf(copy)).to.equal(2);
        expect(await processor.process(copy)).to.equal("ack");
        expect(backendDown.calls).to.equal(2);
        const [next] = await parkedCopies(request.id);
        expect(attemptOf(next)).to.equal(3);
      });

      it("drops a copy parked beside another worker's claim once that worker parked its retry", async () => {
        const backendDown = new DownBackend();
        let answer = () => undefined as void;
        backendDown.hold = new Promise<void>((resolve) => (answer = resolve));
        const holder = processorOf(backendDown, guardOf());
        const other = processorOf(backendDown, guardOf());
        const { request, delivery } = await accepted();
        const holding = holder.process(delivery);
        await backendDown.calledTimes(1);

        // A second delivery of attempt 1 (a redelivery) finds the claim held: parked as it is.
        expect(await other.process(delivery)).to.equal("ack");
        answer();
        expect(await holding).to.equal("ack");

        // The delay queue holds the copy parked beside the claim (attempt 1) and the holder's
        // retry (attempt 2). Back first, the leftover is dropped; the retry is called.
        const copies = await parkedCopies(request.id);
        expect(copies.map(attemptOf)).to.deep.equal([1, 2]);
        backendDown.hold = null;
        expect(await other.process(copies[0])).to.equal("ack");
        expect(backendDown.calls).to.equal(1);
        expect(await other.process(copies[1])).to.equal("ack");
        expect(backendDown.calls).to.equal(2);
        const [next, ...more] = await parkedCopies(request.id);
        expect(more).to.have.length(0);
        expect(attemptOf(next)).to.equal(3);
      });

      it("an original handed back at shutdown, its retry copy never parked, is called as the next attempt: no call past retry.attempts", async () => {
        const backendDown = new DownBackend();
        // The worker stops while its retry copy's publish fails (the channel closing under it):
        // the copy is never parked, and the delivery goes back with the claim held.
        const stopping = new AbortController();
        const broker = Object.create(amqp.broker) as typeof amqp.broker;
        broker.publish = async (...args: Parameters<typeof amqp.broker.publish>) => {
          if (args[2] !== delayQueue) return amqp.broker.publish(...args);
          stopping.abort();
          throw new Error("channel closed");
        };
        const stopped = processorFor(scope, amqp, {
          translator: backendDown,
          guard: guardOf(),
          shutdown: stopping.signal,
          broker,
        });
        const { request, delivery } = await accepted();
        expect(await stopped.process(delivery)).to.equal("requeue");
        expect(backendDown.calls).to.equal(1);
        expect(await parkedCopies(request.id)).to.have.length(0);

        // The broker delivers the original (attempt 1, no call counted) to another worker once
        // the stopped worker's claim has lapsed. It carries the message on as attempt 2.
        await redis.hset(store.key(request.id), "claimUntil", "0");
        const other = processorOf(backendDown, guardOf());
        expect(await other.process(delivery)).to.equal("ack");
        expect(backendDown.calls).to.equal(2);
        const [copy, ...others] = await parkedCopies(request.id);
        expect(others).to.have.length(0);
        expect(attemptOf(copy)).to.equal(3);
        expect(copy.properties.headers?.[HEADERS.calls]).to.equal(2);

        // Attempt 3 is the last `retry.attempts` allows: failed, nothing parked again.
        expect(await other.process(copy)).to.equal("ack");
        expect(backendDown.calls).to.equal(backend.retry.attempts);
        expect(await parkedCopies(request.id)).to.have.length(0);
        const seen = await store.peek(request.id);
        expect(seen && seen !== "refused" && seen.answer?.responses.at(-1)?.outcome).to.equal(
          "failed",
        );
      });
    });
  }
});
