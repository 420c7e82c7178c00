// What a worker keeps of the messages it processed, on the real broker and Redis with the real
// in-flight slots and rate limit: the signals that end a message's waits are shared per drain,
// channel and gate, and every listener a wait put on them is gone once the messages settled,
// whatever their outcome (answered, failed for a retry, rejected, a retry in place).

import { getEventListeners } from "node:events";
import { expect } from "chai";
import pino from "pino";
import { FixedClock } from "../../shared/runtime/clock";
import { compileConfig } from "../../shared/config/config";
import { compileServiceWindows } from "../../shared/config/service-windows";
import { BackendPauses } from "../../shared/operator/backend-pauses";
import { BackendRejectedError, BackendUnavailableError } from "../../shared/protocol/errors";
import { eitherSignal } from "../../shared/runtime/either-signal";
import { createBackendLimits } from "../../worker/backend-guard";
import { BackendGates } from "../../worker/backend-gates";
import { RequestProcessor } from "../../worker/request-processor";
import type { Translator } from "../../worker/translators/translator";
import { type BrokerSide, connectBroker, processorFor, testScope } from "../support/broker-scope";
import { deliveryOf, requestMessage, transactionMeta } from "../support/messages";

const log = pino({ level: "silent" });
const T0 = Date.parse("2026-03-01T10:00:00Z");

/**
 * How many signals AbortSignal.any made on `signal` it still holds: Node keeps them in a set
 * of the source, and Node 20 never takes a collected one out of it.
 */
function dependants(signal: AbortSignal): number {
  const key = Object.getOwnPropertySymbols(signal).find(
    (symbol) => symbol.description === "kDependantSignals",
  );
  if (key === undefined) return 0;
  const set = (signal as unknown as Record<symbol, Set<unknown> | undefined>)[key];
  return set?.size ?? 0;
}

describe("worker: per-message signals return to idle (real broker and Redis)", function () {
  this.timeout(60_000);
  const scope = testScope("worker-signals-test", (prefix) => ({
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: {
      b: {
        url: "http://127.0.0.1:9",
        translator: "rest-json",
        timeout: "5s",
        maxInFlight: 4,
        rate: { limit: 10_000, per: "1s", burst: 10_000 },
        retry: { attempts: 3, backoff: ["10ms"] },
      },
    },
  }));
  const { prefix, rawConfig, store, redis } = scope;
  let amqp: BrokerSide;
  const shutdown = new AbortController();
  const draining = new AbortController();
  const gone = new AbortController();

  before(async () => {
    amqp = await connectBroker(scope);
  });
  after(async () => {
    shutdown.abort();
    await amqp?.close();
    await scope.close();
  });

  it("processing more messages of every outcome adds no signal and leaves no listener", async () => {
    const backend = compileConfig(rawConfig, ".").backends.b;
    const gates = new BackendGates(
      new Map([["b", compileServiceWindows([], "backends.b.windows").windows]]),
      new BackendPauses(redis, prefix),
      log,
    );
    const limits = createBackendLimits({ redis, prefix, backend, gates });
    let n = 0;
    const translator: Translator = {
      call: async () => {
        n += 1;
        if (n % 4 === 1) throw new BackendUnavailableError("backend b answered 503", {});
        if (n % 4 === 2)
          throw new BackendRejectedError("backend b answered 400", {
            status: 400,
            contentType: "text/plain",
            body: "no",
          });
        return [{ status: 200, contentType: "application/json", body: "{}" }];
      },
    };
    const processor: RequestProcessor = processorFor(scope, amqp, {
      translator,
      guard: limits.guard,
      backend,
      shutdown: shutdown.signal,
      draining: draining.signal,
      clock: new FixedClock(T0),
    });
    const run = async (count: number) => {
      for (let i = 0; i < count; i++) {
        // Every other message expires (an hour on), so its waits end at its expiry too.
        const expiresAt = i % 2 === 0 ? null : T0 + 3_600_000;
        const meta = transactionMeta({ createdAt: T0, expiresAt });
        await store.create(meta);
        const request = requestMessage({ id: meta.id, createdAt: T0, expiresAt });
        await processor.process(deliveryOf(request), gone.signal);
      }
    };
    const held = () => ({
      draining: dependants(draining.signal),
      gone: dependants(gone.signal),
      gate: dependants(gates.closingSignal("b")),
    });
    try {
      await run(8);
      const after8 = held();
      await run(40);
      expect(held()).to.deep.equal(after8);
      for (const signal of [
        shutdown.signal,
        draining.signal,
        gone.signal,
        gates.closingSignal("b"),
        eitherSignal(draining.signal, gone.signal),
        eitherSignal(eitherSignal(draining.signal, gone.signal), gates.closingSignal("b")),
      ]) {
        expect(getEventListeners(signal, "abort")).to.have.length(0);
      }
    } finally {
      await limits.close();
    }
  });
});
