// The worker role: one consumer per backend on `requests.<backend>`, each message processed by
// the backend's translator under the backend's limits. Draining stops consuming and lets calls
// in progress finish (or hands them back when the grace time runs out).

import type { Logger } from "pino";
import { safeAck, safeNack, type Consumer } from "../shared/amqp";
import type { BackendConfig } from "../shared/config";
import type { Role, Runtime } from "../shared/runtime";
import { declareAllBackends } from "../shared/topology";
import { RequestProcessor, type CallGuard } from "./request-processor";
import { loadTranslator } from "./translators/load-translator";
import type { Translator } from "./translators/translator";

/** Builds the guard that enforces a backend's limits; the default lets every call through. */
export type GuardFactory = (backend: BackendConfig, runtime: Runtime) => CallGuard;
const unguarded: GuardFactory = () => async () => async () => undefined;

export async function startWorker(
  runtime: Runtime,
  guardFactory: GuardFactory = unguarded,
): Promise<Role> {
  const { config, broker, names, store } = runtime;
  const log: Logger = runtime.log.child({ component: "worker" });
  const translators = new Map<string, Translator>();
  for (const backend of Object.values(config.backends)) {
    translators.set(
      backend.name,
      await loadTranslator(backend.translator, backend, config.baseDir),
    );
  }
  const publisher = broker.publisherChannel(async (channel) =>
    declareAllBackends(channel, config, names),
  );
  await publisher.waitForConnect();

  const shutdown = new AbortController();
  const inProgress = new Set<Promise<unknown>>();
  const consumers: Consumer[] = [];
  let consuming = true;

  for (const backend of Object.values(config.backends)) {
    const processor = new RequestProcessor({
      backend,
      translator: translators.get(backend.name)!,
      broker,
      publisher,
      store,
      names,
      log: log.child({ backend: backend.name }),
      guard: guardFactory(backend, runtime),
      shutdown: shutdown.signal,
    });
    const consumer = broker.consume(`worker-${backend.name}`, {
      queue: names.requestsQueue(backend.name),
      prefetch: Math.max(1, backend.maxInFlight),
      onMessage: async (message, channel) => {
        if (!consuming) return safeNack(channel, message, true);
        const work = processor.process(message).then(
          (settlement) =>
            settlement === "ack" ? safeAck(channel, message) : safeNack(channel, message, true),
          (error: Error) => {
            // Redis or broker trouble mid-way: hand the message back; the claim lapses and
            // another attempt (here or elsewhere) picks it up.
            log.warn(
              { err: error.message, backend: backend.name },
              "processing interrupted; message requeued",
            );
            setTimeout(() => safeNack(channel, message, true), 1_000);
          },
        );
        inProgress.add(work);
        await work.finally(() => inProgress.delete(work));
      },
    });
    consumers.push(consumer);
  }
  await Promise.all(consumers.map((c) => c.waitForConnect()));
  log.info({ backends: [...translators.keys()] }, "worker consuming");

  return {
    name: "worker",
    async drain() {
      consuming = false;
      await Promise.all(consumers.map((c) => c.cancel()));
      const grace = new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
      await Promise.race([Promise.allSettled([...inProgress]), grace]);
      shutdown.abort();
      await Promise.allSettled([...inProgress]);
    },
    async close() {
      await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
      for (const translator of translators.values()) await translator.close?.();
    },
  };
}
