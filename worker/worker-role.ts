// The worker role: one consumer per backend on `requests.<backend>`, each message processed by
// the backend's translator under the backend's limits. Draining stops consuming and lets calls
// in progress finish (or hands them back when the grace time runs out).

import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import { HubListeners } from "../shared/store/hub-listeners";
import { SettlingConsumer } from "../shared/broker/settling-consumer";
import type { BackendConfig } from "../shared/config/config";
import { consumedQueues, consumerPrefetch } from "../shared/broker/ordering";
import type { Role, Runtime } from "../shared/runtime/runtime";
import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import { RequestProcessor, type CallGuard } from "./request-processor";
import { loadTranslator } from "./translators/load-translator";
import { closeTranslators, type Translator } from "./translators/translator";
import { GatedConsumers } from "./gated-consumers";
import { translatorBackend } from "./translator-backend";
import { startWorkerLimits } from "./worker-limits";

/** Builds the guard that enforces a backend's limits (rate, in-flight slots, gate). */
export type GuardFactory = (backend: BackendConfig, runtime: Runtime) => CallGuard;

export async function startWorker(runtime: Runtime, guardFactory?: GuardFactory): Promise<Role> {
  const { config, broker, names, store } = runtime;
  const log: Logger = runtime.log.child({ component: "worker" });
  const translators = new Map<string, Translator>();
  const served = Object.values(config.backends).filter(
    (backend) => config.workerBackends === null || config.workerBackends.includes(backend.name),
  );
  for (const backend of served) {
    translators.set(
      backend.name,
      await loadTranslator(
        backend.translator,
        { ...translatorBackend(backend, config), log: log.child({ backend: backend.name }) },
        config.baseDir,
      ),
    );
  }
  const publisher = broker.channel("worker.publisher", async (channel) =>
    declareAllBackends(channel, config, names, roleTopologyOptions(broker, log)),
  );
  await publisher.waitForConnect();

  const shutdown = new AbortController();
  // The drain's start: waits end and nothing more is called (before shutdown, which cuts calls).
  const draining = new AbortController();
  setMaxListeners(0, draining.signal);
  // Every call in flight listens to it (up to maxInFlight per backend): no leak to warn about.
  setMaxListeners(0, shutdown.signal);
  const settling = new SettlingConsumer(log, "processing interrupted; message requeued");
  const consumers: GatedConsumers[] = [];
  const limits = await startWorkerLimits(runtime, log);
  const hubListeners = new HubListeners(runtime.redis, config.prefix);

  for (const backend of served) {
    const backendLimits = limits.forBackend(backend);
    const processor = new RequestProcessor({
      backend,
      translator: translators.get(backend.name)!,
      broker,
      publisher,
      store,
      names,
      log: log.child({ backend: backend.name }),
      guard: guardFactory ? guardFactory(backend, runtime) : backendLimits.guard,
      shutdown: shutdown.signal,
      draining: draining.signal,
      listened: (client) => hubListeners.hasAny(client),
      clock: runtime.clock,
      deadLetters: runtime.deadLetters,
      failures: runtime.failures,
      maxMessageBytes: config.amqpMaxMessageBytes,
    });
    const consumer = new GatedConsumers({
      broker,
      backend: backend.name,
      queues: consumedQueues(backend.name, names.requestsQueue(backend.name), backend.ordering),
      prefetch: consumerPrefetch(backend.ordering, backend.maxInFlight),
      gates: limits.gates,
      log,
      // Redis or broker trouble that outlasts the patient retries hands the message back; its
      // claim lapses and another attempt (here or elsewhere) picks it up.
      onMessage: settling.handler((message, gone) => processor.process(message, gone), {
        backend: backend.name,
      }),
    });
    consumers.push(consumer);
  }
  await Promise.all(consumers.map((c) => c.waitForConnect()));
  log.info({ backends: [...translators.keys()] }, "worker consuming");

  return {
    name: "worker",
    async drain(deadline) {
      settling.stop();
      draining.abort();
      await Promise.all(consumers.map((c) => c.cancel()));
      // Calls still running when the process's grace time is over are given up and handed back.
      await settling.drain(deadline);
      shutdown.abort();
      await settling.settled();
    },
    async close() {
      await Promise.all(consumers.map((c) => c.close().catch(() => undefined)));
      await publisher.close().catch(() => undefined);
      await limits.close();
      await closeTranslators(translators.values());
    },
  };
}
