// The response-worker role: consumes `responses`, correlates each response and state notice
// to its transaction and delivers it. Draining stops consuming and lets the work in hand finish.

import type { Logger } from "pino";
import { SettlingConsumer } from "../shared/broker/settling-consumer";
import type { Role, Runtime } from "../shared/runtime/runtime";
import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import { DeadLetterWatch } from "./dead-letter-watch";
import { Correlator, type ResponseListener, type StateChangeListener } from "./correlator";

/**
 * `listeners` hear of every stored response, `stateListeners` of every state change without
 * one (accepted, processing, cancelled); without state listeners, state notices are dropped.
 */
export async function startResponseWorker(
  runtime: Runtime,
  listeners: ResponseListener[] = [],
  stateListeners: StateChangeListener[] = [],
): Promise<Role> {
  const { config, broker, names, store } = runtime;
  const log: Logger = runtime.log.child({ component: "response-worker" });
  const publisher = broker.channel("response-worker.publisher", async (channel) =>
    declareAllBackends(channel, config, names, roleTopologyOptions(broker, log)),
  );
  await publisher.waitForConnect();
  const correlator = new Correlator({
    broker,
    publisher,
    store,
    names,
    log,
    listeners,
    stateListeners,
    tellOnce: true,
  });
  // Each delivery is handled patiently, acked when done, handed back if it cannot be done.
  const settling = new SettlingConsumer(log, "response handling interrupted; requeued");
  const watch = new DeadLetterWatch(
    broker,
    publisher,
    names,
    log,
    runtime.deadLetters,
    store,
    (message) => correlator.handle(message),
  );
  const consumers = [
    broker.consume("responses", {
      queue: names.responsesQueue,
      prefetch: 64,
      onMessage: settling.handler((message) => correlator.handle(message)),
    }),
    broker.consume("dead-letter-watch", {
      queue: names.deadLetterWatchQueue,
      prefetch: 16,
      onMessage: settling.handler((message) => watch.handle(message)),
    }),
  ];
  await Promise.all(consumers.map((consumer) => consumer.waitForConnect()));
  log.info("response worker consuming");
  return {
    name: "response-worker",
    async drain(deadline) {
      settling.stop();
      await Promise.all(consumers.map((consumer) => consumer.cancel()));
      // Unfinished at the deadline: unacked, so the broker hands it out again after the close.
      await settling.drain(deadline);
    },
    async close() {
      await Promise.all(consumers.map((consumer) => consumer.close().catch(() => undefined)));
      await publisher.close().catch(() => undefined);
    },
  };
}
