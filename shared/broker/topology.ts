// Declarations of every exchange and queue Sluice owns (their names: shared/protocol/names.ts).
// Each role declares the topology it uses on every (re)connect, so a fresh broker is set up again.

import type { ConfirmChannel } from "amqplib";
import type { BackendConfig, SluiceConfig } from "../config/config";
import { RESPONSES_ROUTING_KEY, type TopologyNames } from "../protocol/names";
import { orderedQueueArguments, partitionBindings } from "./ordering";

/** A redelivered message that keeps crashing consumers is dead-lettered after this many tries. */
export const DELIVERY_LIMIT = 20;

/** Queue arguments of `requests.<backend>`: quorum, bounded, dead-lettering poison messages. */
export function requestsQueueArguments(
  names: TopologyNames,
  backend: BackendConfig,
): Record<string, unknown> {
  return {
    "x-queue-type": "quorum",
    "x-max-length": backend.queue.maxLength,
    "x-overflow": "reject-publish",
    "x-delivery-limit": DELIVERY_LIMIT,
    "x-dead-letter-exchange": names.deadLetterExchange,
    "x-dead-letter-routing-key": backend.name,
    ...orderedQueueArguments(backend.ordering),
  };
}

/** Exchanges and shared queues every role relies on. */
export async function declareCoreTopology(
  channel: ConfirmChannel,
  names: TopologyNames,
): Promise<void> {
  await channel.assertExchange(names.requestsExchange, "direct", { durable: true });
  await channel.assertExchange(names.responsesExchange, "direct", { durable: true });
  await channel.assertExchange(names.repliesExchange, "direct", { durable: true });
  await channel.assertExchange(names.deadLetterExchange, "fanout", { durable: true });
  await channel.assertQueue(names.responsesQueue, {
    durable: true,
    arguments: {
      "x-queue-type": "quorum",
      "x-delivery-limit": DELIVERY_LIMIT,
      "x-dead-letter-exchange": names.deadLetterExchange,
      "x-dead-letter-routing-key": RESPONSES_ROUTING_KEY,
    },
  });
  await channel.bindQueue(names.responsesQueue, names.responsesExchange, RESPONSES_ROUTING_KEY);
  await channel.assertQueue(names.deadLetterQueue, {
    durable: true,
    arguments: { "x-queue-type": "quorum" },
  });
  await channel.bindQueue(names.deadLetterQueue, names.deadLetterExchange, "");
  await channel.assertQueue(names.deadLetterWatchQueue, {
    durable: true,
    // Bounded: without a response worker it would only grow; the operator's copy is the DLQ.
    arguments: { "x-queue-type": "quorum", "x-max-length": 100_000, "x-overflow": "drop-head" },
  });
  await channel.bindQueue(names.deadLetterWatchQueue, names.deadLetterExchange, "");
}

/**
 * The request queue of one backend and its retry delay queues: one queue per backoff tier
 * whose TTL dead-letters the message back onto the request exchange when the delay is over.
 */
export async function declareBackendTopology(
  channel: ConfirmChannel,
  names: TopologyNames,
  backend: BackendConfig,
): Promise<void> {
  const queue = names.requestsQueue(backend.name);
  await channel.assertQueue(queue, {
    durable: true,
    arguments: requestsQueueArguments(names, backend),
  });
  await channel.bindQueue(queue, names.requestsExchange, backend.name);
  for (const partition of partitionBindings(backend.name, queue, backend.ordering)) {
    await channel.assertQueue(partition.queue, {
      durable: true,
      arguments: requestsQueueArguments(names, backend),
    });
    await channel.bindQueue(partition.queue, names.requestsExchange, partition.routingKey);
  }
  for (const delayMs of new Set(backend.retry.backoffMs)) {
    await channel.assertQueue(names.retryQueue(backend.name, delayMs), {
      durable: true,
      arguments: {
        "x-queue-type": "quorum",
        "x-message-ttl": delayMs,
        // Not a bound (there is no x-max-length, so nothing is ever rejected): a quorum queue
        // dead-letters at least once only with overflow reject-publish; with the default
        // drop-head the broker falls back to at-most-once and an expiring retry could be lost.
        // Kept as declared: changing a queue's arguments fails its redeclaration on a broker
        // that holds it (PRECONDITION_FAILED).
        "x-overflow": "reject-publish",
        "x-dead-letter-strategy": "at-least-once",
        "x-dead-letter-exchange": names.requestsExchange,
        "x-dead-letter-routing-key": backend.name,
      },
    });
  }
}

export async function declareAllBackends(
  channel: ConfirmChannel,
  config: SluiceConfig,
  names: TopologyNames,
): Promise<void> {
  await declareCoreTopology(channel, names);
  for (const backend of Object.values(config.backends)) {
    await declareBackendTopology(channel, names, backend);
  }
}
