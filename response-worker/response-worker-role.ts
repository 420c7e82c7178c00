// The response-worker role: consumes `responses`, correlates each response and state notice
// to its transaction and delivers it. Draining stops consuming and lets the work in hand finish.

import type { Logger } from "pino";
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import { safeAck, safeNack } from "../shared/broker/amqp";
import { patiently } from "../shared/broker/patient-retry";
import type { Role, Runtime } from "../shared/runtime/runtime";
import { declareAllBackends } from "../shared/broker/topology";
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
  const publisher = broker.publisherChannel(async (channel) =>
    declareAllBackends(channel, config, names),
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
  const inProgress = new Set<Promise<unknown>>();
  let consuming = true;
  /** Handles a delivery patiently, acks it when done, hands it back if it cannot be done. */
  const settled =
    (handle: (message: ConsumeMessage) => Promise<void>) =>
    async (message: ConsumeMessage, channel: ConfirmChannel) => {
      const work = patiently(
        () => handle(message),
        log,
        () => consuming,
      ).then(
        () => safeAck(channel, message),
        (error: Error) => {
          log.warn({ err: error.message }, "response handling interrupted; requeued");
          setTimeout(() => safeNack(channel, message, true), 1_000);
        },
      );
      inProgress.add(work);
      await work.finally(() => inProgress.delete(work));
    };
  const watch = new DeadLetterWatch(broker, publisher, names, log, runtime.deadLetters);
  const consumers = [
    broker.consume("responses", {
      queue: names.responsesQueue,
      prefetch: 64,
      onMessage: settled((message) => correlator.handle(message)),
    }),
    broker.consume("dead-letter-watch", {
      queue: names.deadLetterWatchQueue,
      prefetch: 16,
      onMessage: settled((message) => watch.handle(message)),
    }),
  ];
  await Promise.all(consumers.map((consumer) => consumer.waitForConnect()));
  log.info("response worker consuming");
  return {
    name: "response-worker",
    async drain() {
      consuming = false;
      await Promise.all(consumers.map((consumer) => consumer.cancel()));
      const grace = new Promise((resolve) => setTimeout(resolve, config.shutdownGraceMs).unref());
      await Promise.race([Promise.allSettled([...inProgress]), grace]);
    },
    async close() {
      await Promise.all(consumers.map((consumer) => consumer.close().catch(() => undefined)));
    },
  };
}
