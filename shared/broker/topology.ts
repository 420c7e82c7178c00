// Declarations of every exchange and queue Sluice owns (their names: shared/protocol/names.ts).
// Each role declares the topology it uses on every (re)connect, so a fresh broker is set up again.

import type { ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import type { BackendConfig, SluiceConfig } from "../config/config";
import { RESPONSES_ROUTING_KEY, type TopologyNames } from "../protocol/names";
import type { Broker } from "./amqp";
import {
  deliveryLimitKeptMessage,
  deliveryLimitPolicyCommand,
  prefixedPolicy,
} from "./delivery-limit";
import { orderedQueueArguments, partitionBindings } from "./ordering";
import {
  isInequivalentDeclaration,
  type ProbeChannel,
  queueExists,
  tryDeclare,
} from "./queue-probe";

/** A redelivered message that keeps crashing consumers is dead-lettered after this many tries. */
export const DELIVERY_LIMIT = 20;

/**
 * How often a copy in `dead-letter.watch` may be handed back before the broker drops it. The
 * response worker hands a copy back (a requeue, which counts as a delivery) while the worker
 * holding the message's claim lives on, and while Redis or the broker is out of reach: about
 * once a minute, so 10 000 keep it about a week, the default `retention`. Without a limit of
 * its own, RabbitMQ 4 gives a quorum queue one of 20, which would drop the copy after some
 * twenty minutes, and with it the `failed` outcome of a request the broker gave up on.
 */
export const WATCH_DELIVERY_LIMIT = 10_000;

/** Bounded: without a response worker it would only grow; the operator's copy is the DLQ. */
const WATCH_BOUND = { "x-max-length": 100_000, "x-overflow": "drop-head" };

/** Arguments of `dead-letter.watch`. */
export function deadLetterWatchArguments(): Record<string, unknown> {
  return { "x-queue-type": "quorum", ...WATCH_BOUND, "x-delivery-limit": WATCH_DELIVERY_LIMIT };
}

/**
 * The operator's fix for a `dead-letter.watch` an earlier release declared without its delivery
 * limit (the broker refuses to add arguments to an existing queue): a policy with the same
 * limit, which the broker applies to the live queue.
 */
export function watchPolicyCommand(queue: string): string {
  return deliveryLimitPolicyCommand(watchPolicy(queue), queue, WATCH_DELIVERY_LIMIT);
}

const WATCH_POLICY = "sluice-dead-letter-watch";

/** The name of that policy for `queue`, under the installation's prefix (`prefixedPolicy`). */
const watchPolicy = (queue: string) => prefixedPolicy(WATCH_POLICY, queue, "dead-letter.watch");

export interface TopologyOptions {
  /**
   * Opens a throwaway channel. With it, a queue an earlier release declared with other
   * arguments (the broker refuses the declaration: 406 inequivalent arg, and closes the
   * channel) is used as it is instead of failing the declaration and the role's start.
   */
  probe?: () => Promise<ProbeChannel>;
  /** Told, given `probe`, when `dead-letter.watch` exists without its delivery limit. */
  onWatchKept?: (queue: string) => void;
}

/** Brokers whose role was told of a watch queue kept as it is: the warning comes once. */
const toldOfKeptWatch = new WeakSet<Broker>();

/** How a role declares the topology: upgrades tolerated, the operator told what to do, once. */
export function roleTopologyOptions(broker: Broker, log: Logger): TopologyOptions {
  return {
    probe: () => broker.probeChannel(),
    onWatchKept: (queue) => {
      if (toldOfKeptWatch.has(broker)) return;
      toldOfKeptWatch.add(broker);
      log.warn(
        { queue, deliveryLimit: WATCH_DELIVERY_LIMIT },
        deliveryLimitKeptMessage(
          "the dead-letter watch queue",
          queue,
          watchPolicy(queue),
          WATCH_DELIVERY_LIMIT,
        ),
      );
    },
  };
}

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
  options: TopologyOptions = {},
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
  const watch = names.deadLetterWatchQueue;
  if (
    options.probe &&
    !(await declaredAsWanted(options.probe, watch, deadLetterWatchArguments()))
  ) {
    await channel.checkQueue(watch);
    options.onWatchKept?.(watch);
  } else {
    await channel.assertQueue(watch, { durable: true, arguments: deadLetterWatchArguments() });
  }
  await channel.bindQueue(names.deadLetterWatchQueue, names.deadLetterExchange, "");
}

/**
 * Declares `queue` on a probe channel: true when the broker took these arguments (declared, or
 * already so), false when the queue exists declared otherwise. Any other refusal is thrown.
 */
async function declaredAsWanted(
  probe: () => Promise<ProbeChannel>,
  queue: string,
  args: Record<string, unknown>,
): Promise<boolean> {
  const refused = await tryDeclare(probe, queue, args);
  if (refused === null) return true;
  if (isInequivalentDeclaration(refused) && (await queueExists(probe, queue))) return false;
  throw refused;
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
  options: TopologyOptions = {},
): Promise<void> {
  await declareCoreTopology(channel, names, options);
  for (const backend of Object.values(config.backends)) {
    await declareBackendTopology(channel, names, backend);
  }
}
