// Every wait of a message ends when the worker drains or the delivery's channel closes, on the
// real broker and Redis with the real in-flight slots and rate limit: a rate token, an in-flight
// slot, a retry in place and the poll of a claim another worker holds (an hour's), each due
// minutes on. The message is handed back (requeue) without another call, and no listener is
// left on the signals the waits share. No time is asserted: a wait that did not end outlasts
// the test's own timeout.

import { getEventListeners } from "node:events";
import { expect } from "chai";
import pino from "pino";
import { FixedClock } from "../../shared/runtime/clock";
import { compileServiceWindows } from "../../shared/config/service-windows";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendUnavailableError } from "../../shared/protocol/errors";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { eitherSignal } from "../../shared/runtime/either-signal";
import { createBackendLimits } from "../../worker/backend-guard";
import { BackendGates } from "../../worker/backend-gates";
import type { Translator } from "../../worker/translators/translator";
import { type BrokerSide, connectBroker, processorFor, testScope } from "../support/broker-scope";
import { deliveryOf, requestMessage, transactionMeta } from "../support/messages";

const log = pino({ level: "silent" });
const T0 = Date.parse("2026-03-01T10:00:00Z");
const URL = "http://127.0.0.1:9";

describe("worker: a drain or a lost channel ends every wait of a message (real broker and Redis)", function () {
  this.timeout(60_000);
  const scope = testScope("worker-drain-waits-test", (prefix) => ({
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: {
      b: { url: URL, translator: "rest-json", timeout: "5s" },
      // One token in ten minutes: the second message waits for the next.
      rated: {
        url: URL,
        translator: "rest-json",
        timeout: "5s",
        maxInFlight: 1,
        rate: { limit: 1, per: "10m", burst: 0 },
      },
      // One call at a time: the second message waits for the first's slot.
      narrow: { url: URL, translator: "rest-json", timeout: "5s", maxInFlight: 1 },
      // Retries in place, ten minutes after a failed call; waits in line behind a claim held.
      ordered: {
        url: URL,
        translator: "rest-json",
        timeout: "5s",
        ordering: "strict",
        retry: { attempts: 2, backoff: ["10m"] },
      },
    },
  }));
  const { prefix, config, redis, store } = scope;
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

  /** A message of its own, accepted and delivered. */
  const accepted = async (expiresAt: number | null = null) => {
    const meta = transactionMeta({ createdAt: T0, expiresAt });
    await store.create(meta);
    const request = requestMessage({ id: meta.id, createdAt: T0, expiresAt });
    return { id: meta.id, delivery: deliveryOf(request) };
  };

  /** Resolves once something listens on one of `signals`: a wait began on it. */
  const listenedTo = async (...signals: AbortSignal[]) => {
    while (signals.every((signal) => getEventListeners(signal, "abort").length === 0)) {
      await new Promise((resolve) => setImmediate(resolve));
    }
  };

  type Wait = "a rate token" | "an in-flight slot" | "a retry in place" | "a claim held";
  const backendOf: Record<Wait, string> = {
    "a rate token": "rated",
    "an in-flight slot": "narrow",
    "a retry in place": "ordered",
    "a claim held": "ordered",
  };

  for (const wait of Object.keys(backendOf) as Wait[]) {
    for (const [end, expiresAt] of [
      ["the drain", null],
      ["the channel's loss", null],
      // One that expires (an hour on) waits on a signal of its own, linked to drain and channel.
      ["the drain", T0 + 3_600_000],
      ["the channel's loss", T0 + 3_600_000],
    ] as const) {
      const expiring = expiresAt === null ? "" : ", the message expiring";
      it(`${wait}${expiring}: ended by ${end}, the message handed back and no listener left`, async () => {
        const backend = config.backends[backendOf[wait]];
        const gates = new BackendGates(
          new Map([[backend.name, compileServiceWindows([], "windows").windows]]),
          new BackendPauses(redis, prefix),
          log,
        );
        const limits = createBackendLimits({ redis, prefix, backend, gates });
        const draining = new AbortController();
        const gone = new AbortController();
        let calls = 0;
        let release!: () => void;
        const held = new Promise<void>((resolve) => (release = resolve));
        const translator: Translator = {
          call: async () => {
            calls += 1;
            if (wait === "a retry in place") {
              throw new BackendUnavailableError(`backend ${backend.name} answered 503`, {});
            }
            // The first message keeps its slot until the test lets it go.
            if (wait === "an in-flight slot") await held;
            return [{ status: 200, contentType: "application/json", body: "{}" }];
          },
        };
        const processor = processorFor(scope, amqp, {
          translator,
          guard: limits.guard,
          backend,
          shutdown: shutdown.signal,
          draining: draining.signal,
          clock: new FixedClock(T0),
        });
        const shared = eitherSignal(draining.signal, gone.signal);
        try {
          let first: Promise<unknown> = Promise.resolve();
          if (wait === "a rate token") {
            // The token an earlier test took is not this one's to wait for.
            await redis.del(redisKeys(prefix).rate(backend.name));
            const { delivery } = await accepted();
            expect(await processor.process(delivery, gone.signal)).to.equal("ack");
          } else if (wait === "an in-flight slot") {
            const { delivery } = await accepted();
            // Its own channel: only the second message's wait is ended.
            first = processor.process(delivery, new AbortController().signal);
            while (calls === 0) await new Promise((resolve) => setImmediate(resolve));
          }
          const { id, delivery } = await accepted(expiresAt);
          if (wait === "a claim held") {
            await store.transition(id, ["accepted"], "processing", {
              claimMs: 3_600_000,
              token: "another",
            });
          }
          const before = calls;
          const settled = processor.process(delivery, gone.signal);
          // A message's own signal (it expires) listens on the drain's; the others share one.
          await listenedTo(shared, draining.signal);
          if (end === "the drain") draining.abort(new Error("draining"));
          else gone.abort(new Error("channel closed"));
          expect(await settled).to.equal("requeue");
          expect(calls, "no call after the wait ended").to.equal(
            wait === "a retry in place" ? before + 1 : before,
          );
          release();
          await first;
          for (const signal of [
            draining.signal,
            gone.signal,
            shared,
            gates.closingSignal(backend.name),
          ]) {
            expect(getEventListeners(signal, "abort"), "listeners left").to.have.length(0);
          }
        } finally {
          release();
          await limits.close();
        }
      });
    }
  }
});
