// When a failed callback is tried again, and the broker queues that hold it meanwhile: one
// delay queue per backoff step whose expired messages dead-letter back into the delivery queue,
// so pending deliveries live in RabbitMQ and survive restarts of the response worker.

import type { Channel } from "amqplib";
import { topologyNames } from "../shared/protocol/names";

/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h: seven attempts over about 17.5 hours. */
export const DEFAULT_CALLBACK_BACKOFF_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
];

export interface DelayTier {
  delayMs: number;
  queue: string;
}

export interface CallbackTopology {
  /** Jobs ready to be sent now. */
  delivery: string;
  /** Jobs that will not be sent again: retries exhausted, receiver gone, or target refused. */
  dead: string;
  /** Distinct backoff delays, shortest first. */
  tiers: DelayTier[];
  /** The backoff as configured: the delay after the n-th failed attempt is backoffMs[n-1]. */
  backoffMs: readonly number[];
}

/**
 * Queue names under a prefix (e.g. "" in production, "t-1a2b3c4d." in tests). The delay is part
 * of each tier's name, so a changed backoff declares new queues instead of clashing with the
 * `x-message-ttl` of existing ones; old tiers still drain into the delivery queue.
 */
export function callbackTopology(
  prefix: string,
  backoffMs: readonly number[] = DEFAULT_CALLBACK_BACKOFF_MS,
): CallbackTopology {
  if (!backoffMs.every((ms) => Number.isInteger(ms) && ms > 0)) {
    throw new Error("callback backoff delays must be positive whole milliseconds");
  }
  const names = topologyNames(prefix);
  const delays = [...new Set(backoffMs)].sort((a, b) => a - b);
  return {
    delivery: names.callbacksQueue,
    dead: names.callbacksDeadQueue,
    tiers: delays.map((delayMs) => ({ delayMs, queue: names.callbacksDelayQueue(delayMs) })),
    backoffMs,
  };
}

/**
 * Arguments of a tier queue: hold each job for `delayMs`, then hand it back for delivery. A
 * quorum queue (replicated like every durable queue of Sluice) that dead-letters at least once:
 * a job leaves the tier only once the delivery queue has confirmed it.
 */
export function tierQueueArguments(
  delayMs: number,
  deliveryQueue: string,
): Record<string, unknown> {
  return {
    "x-queue-type": "quorum",
    "x-message-ttl": delayMs,
    "x-overflow": "reject-publish",
    "x-dead-letter-strategy": "at-least-once",
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": deliveryQueue,
  };
}

/** Arguments of the delivery and dead queues of callback jobs: quorum, like every durable queue. */
export const CALLBACK_QUEUE_ARGUMENTS: Readonly<Record<string, unknown>> = {
  "x-queue-type": "quorum",
};

/** Declares every queue of the topology (idempotent; run as a channel setup function). */
export async function declareCallbackTopology(
  channel: Pick<Channel, "assertQueue">,
  topology: CallbackTopology,
): Promise<void> {
  await channel.assertQueue(topology.delivery, {
    durable: true,
    arguments: { ...CALLBACK_QUEUE_ARGUMENTS },
  });
  await channel.assertQueue(topology.dead, {
    durable: true,
    arguments: { ...CALLBACK_QUEUE_ARGUMENTS },
  });
  for (const tier of topology.tiers) {
    await channel.assertQueue(tier.queue, {
      durable: true,
      arguments: tierQueueArguments(tier.delayMs, topology.delivery),
    });
  }
}

/**
 * Where a job goes after its `failedAttempt`-th attempt failed, or null when the backoff is
 * used up. A receiver's Retry-After longer than the scheduled delay wins: the job waits in the
 * shortest tier that is at least as long (or the longest tier when none is).
 */
export function nextTier(
  topology: CallbackTopology,
  failedAttempt: number,
  retryAfterMs?: number,
): DelayTier | null {
  if (failedAttempt < 1 || failedAttempt > topology.backoffMs.length) return null;
  const wanted = Math.max(topology.backoffMs[failedAttempt - 1], retryAfterMs ?? 0);
  return (
    topology.tiers.find((tier) => tier.delayMs >= wanted) ??
    topology.tiers[topology.tiers.length - 1]
  );
}
