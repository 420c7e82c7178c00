// When a failed callback is tried again, and the broker queues that hold it meanwhile: one
// delay queue per backoff step whose expired messages dead-letter back into the delivery queue,
// so pending deliveries live in RabbitMQ and survive restarts of the response worker.

import type { Channel } from "amqplib";
import { DEFAULT_CALLBACK_DEAD_MAX_LENGTH, DEFAULT_RETENTION_MS } from "../shared/config/config";
import { topologyNames } from "../shared/protocol/names";
import {
  isInequivalentDeclaration,
  type ProbeChannel,
  queueExists,
  tryDeclare,
} from "../shared/broker/queue-probe";
import {
  deliveryLimitPolicyCommand,
  exactQueuePattern,
  prefixedPolicy,
} from "../shared/broker/delivery-limit";

/** 5 s, 5 min, 30 min, 2 h, 5 h, 10 h: seven attempts over about 17.5 hours. */
export const DEFAULT_CALLBACK_BACKOFF_MS: readonly number[] = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
];

/**
 * Waits of a job whose receiver had no free slot, by how often it stepped aside before: 1 s,
 * 2 s, 5 s, 10 s, then 30 s each time. Apart from the backoff (an operator's `[1h, ...]` would
 * park a job that merely found its receiver busy for an hour), and growing, so the jobs of a
 * receiver that hangs pass through the shared delivery queue ever more rarely (a thousand of
 * them, at most about 33 a second once they all wait 30 s) instead of every few seconds ahead
 * of other receivers' jobs. The cap bounds how long a job waits after its receiver recovered.
 */
export const STEP_ASIDE_DELAYS_MS: readonly number[] = [1_000, 2_000, 5_000, 10_000, 30_000];

/** AMQP header of a job that stepped aside: how many times it did so far (absent: none). */
export const STEPPED_ASIDE_HEADER = "x-sluice-stepped-aside";

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
  /** Where a job whose receiver is busy waits its turn, by how often it stepped aside. */
  aside: DelayTier[];
}

/**
 * Queue names under a prefix (e.g. "" in production, "t-1a2b3c4d." in tests). The delay is part
 * of each tier's name, so a changed backoff declares new queues instead of clashing with the
 * `x-message-ttl` of existing ones; old tiers still drain into the delivery queue.
 */
export function callbackTopology(
  prefix: string,
  backoffMs: readonly number[] = DEFAULT_CALLBACK_BACKOFF_MS,
  asideMs: readonly number[] = STEP_ASIDE_DELAYS_MS,
): CallbackTopology {
  if (!backoffMs.every((ms) => Number.isInteger(ms) && ms > 0)) {
    throw new Error("callback backoff delays must be positive whole milliseconds");
  }
  if (asideMs.length === 0 || !asideMs.every((ms) => Number.isInteger(ms) && ms > 0)) {
    throw new Error("step-aside delays must be positive whole milliseconds");
  }
  const names = topologyNames(prefix);
  const delays = [...new Set(backoffMs)].sort((a, b) => a - b);
  return {
    delivery: names.callbacksQueue,
    dead: names.callbacksDeadQueue,
    tiers: delays.map((delayMs) => ({ delayMs, queue: names.callbacksDelayQueue(delayMs) })),
    backoffMs,
    aside: asideMs.map((delayMs) => ({ delayMs, queue: names.callbacksAsideQueue(delayMs) })),
  };
}

/** Every queue of the topology: to watch their depths, or to delete them (tests). */
export function callbackQueues(topology: CallbackTopology): string[] {
  return [
    topology.delivery,
    topology.dead,
    ...topology.tiers.map((tier) => tier.queue),
    ...topology.aside.map((tier) => tier.queue),
  ];
}

/** Where a job whose receiver is busy waits, having stepped aside `before` times already. */
export function asideTier(topology: CallbackTopology, before: number): DelayTier {
  const { aside } = topology;
  return aside[Math.min(Math.max(0, Math.floor(before)), aside.length - 1)];
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
    // Not a bound (there is no x-max-length, so nothing is ever rejected): a quorum queue
    // dead-letters at least once only with overflow reject-publish; with the default drop-head
    // the broker falls back to at-most-once. Kept as declared: changing a queue's arguments
    // fails its redeclaration on a broker that holds it (PRECONDITION_FAILED).
    "x-overflow": "reject-publish",
    "x-dead-letter-strategy": "at-least-once",
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": deliveryQueue,
  };
}

/**
 * How often a job in `callbacks` may be handed back before the broker drops it. A response
 * worker hands a job back (a requeue, which counts as a delivery, as does a job returned by a
 * response worker that crashed or lost its channel holding it) a second after failing to settle
 * it while Redis or the broker is out of reach, and the broker delivers it again at once: about
 * once a second, so 1 000 000 keep it through an outage of some eleven days, longer than the
 * default `retention` (7 days), after which the message's record, and with it what the job
 * would deliver, is gone anyway. Without a limit of its own, RabbitMQ 4 gives a quorum queue
 * one of 20, and `callbacks` has no dead-letter exchange: a Redis outage of some twenty seconds
 * would drop the job and leave its delivery `pending` with nothing to deliver it again.
 */
export const CALLBACK_DELIVERY_LIMIT = 1_000_000;

/** Arguments of the delivery queue of callback jobs: quorum, with its own delivery limit. */
export const CALLBACK_QUEUE_ARGUMENTS: Readonly<Record<string, unknown>> = {
  "x-queue-type": "quorum",
  "x-delivery-limit": CALLBACK_DELIVERY_LIMIT,
};

/** The policy giving `callbacks` its delivery limit (see `callbacksPolicyCommand`). */
export const CALLBACKS_POLICY = "sluice-callbacks";

/** The name of that policy for `queue`, under the installation's prefix (`prefixedPolicy`). */
export function callbacksPolicy(queue: string): string {
  return prefixedPolicy(CALLBACKS_POLICY, queue, "callbacks");
}

/**
 * The operator's fix for a `callbacks` an earlier release declared without its delivery limit:
 * a policy with the same limit, which the broker applies to the live queue. Its pattern matches
 * that queue alone, so it overlaps neither `callbacks.dead`'s policy nor the watch queue's.
 */
export function callbacksPolicyCommand(queue: string): string {
  return deliveryLimitPolicyCommand(callbacksPolicy(queue), queue, CALLBACK_DELIVERY_LIMIT);
}

/**
 * How much of `callbacks.dead` the broker keeps. Nothing consumes that queue: it is the audit
 * copy of deliveries given up on (the operator redelivers from the Redis record, which expires
 * with `retention`), so unbounded it would only grow.
 */
export interface DeadQueueBound {
  /** Records kept; the oldest is dropped for a new one (`callbacks.deadMaxLength`). */
  maxLength: number;
  /** How long a record is kept: `retention`, as long as its Redis record. */
  ttlMs: number;
}

/** The bound with the configuration's defaults (`deadMaxLength` 100 000, `retention` 7 days). */
export const DEFAULT_DEAD_QUEUE_BOUND: DeadQueueBound = {
  maxLength: DEFAULT_CALLBACK_DEAD_MAX_LENGTH,
  ttlMs: DEFAULT_RETENTION_MS,
};

/**
 * Arguments of `callbacks.dead`: quorum and bounded, dropping the oldest records (`drop-head`)
 * so the newest failures, the ones an operator looks into, are kept.
 */
export function deadQueueArguments(bound: DeadQueueBound): Record<string, unknown> {
  return {
    "x-queue-type": "quorum",
    "x-max-length": bound.maxLength,
    "x-message-ttl": bound.ttlMs,
    "x-overflow": "drop-head",
  };
}

/** The policy bounding `callbacks.dead` (see `deadQueuePolicyCommand`). */
export const DEAD_QUEUE_POLICY = "sluice-callbacks-dead";

/** The name of that policy for `queue`, under the installation's prefix (`prefixedPolicy`). */
export function deadQueuePolicy(queue: string): string {
  return prefixedPolicy(DEAD_QUEUE_POLICY, queue, "callbacks.dead");
}

/**
 * The operator's fix for a `callbacks.dead` an earlier release declared without a bound (the
 * broker refuses to add arguments to an existing queue): a policy with the same bound, which
 * the broker applies to the live queue without a redeclaration. Named under the installation's
 * prefix, so installations sharing a broker each keep their own.
 */
export function deadQueuePolicyCommand(queue: string, bound: DeadQueueBound): string {
  const pattern = exactQueuePattern(queue);
  const definition = JSON.stringify({
    "max-length": bound.maxLength,
    overflow: "drop-head",
    "message-ttl": bound.ttlMs,
  });
  const policy = deadQueuePolicy(queue);
  return `rabbitmqctl set_policy --apply-to queues ${policy} '${pattern}' '${definition}'`;
}

/**
 * Arguments of a tier queue as releases before the quorum callback queues declared it (a
 * classic queue): kept for a broker that still holds such a queue.
 */
export function classicTierQueueArguments(
  delayMs: number,
  deliveryQueue: string,
): Record<string, unknown> {
  return {
    "x-message-ttl": delayMs,
    "x-dead-letter-exchange": "",
    "x-dead-letter-routing-key": deliveryQueue,
  };
}

export interface DeclareCallbackOptions {
  /**
   * Opens a throwaway channel. With it, a callback queue that an earlier release declared as a
   * classic queue (the broker refuses its quorum declaration: 406 inequivalent arg) is kept as
   * it is, with the arguments that release gave it, instead of failing the declaration.
   */
  probe?: () => Promise<ProbeChannel>;
  /** Told the queues kept as classic queues (when there are any), once per declaration. */
  onClassic?: (queues: string[]) => void;
  /** The bound of `callbacks.dead`; DEFAULT_DEAD_QUEUE_BOUND unless given. */
  deadBound?: DeadQueueBound;
  /**
   * Told, given `probe`, when `callbacks.dead` already exists without this bound (an earlier
   * release's declaration, classic or quorum, or another bound): it is used as it is.
   */
  onUnboundedDead?: (queue: string) => void;
  /**
   * Told, given `probe`, when `callbacks` exists as a quorum queue without its delivery limit
   * (an earlier release's declaration): it is used as it is.
   */
  onDeliveryLimitKept?: (queue: string) => void;
}

/**
 * Declares `queue` as a quorum queue on a probe channel: "quorum" when the broker took it
 * (declared, or already quorum), "classic" when it refused it and took the earlier release's
 * classic declaration instead (the broker names whichever argument it compares first:
 * x-queue-type, or x-overflow for a tier), and, given `keepAny`, "existing" when it refused
 * both but the queue exists (declared with other arguments). Any other refusal is thrown.
 */
async function queueKind(
  probe: () => Promise<ProbeChannel>,
  queue: string,
  quorumArguments: Record<string, unknown>,
  classicArguments: Record<string, unknown> | undefined,
  keepAny: boolean,
): Promise<"quorum" | "classic" | "existing"> {
  const refused = await tryDeclare(probe, queue, quorumArguments);
  if (refused === null) return "quorum";
  if (!isInequivalentDeclaration(refused)) throw refused;
  if ((await tryDeclare(probe, queue, classicArguments)) === null) return "classic";
  if (keepAny && (await queueExists(probe, queue))) return "existing";
  throw refused;
}

/**
 * Declares every queue of the topology (idempotent; run as a channel setup function). Each is a
 * quorum queue, except, given `options.probe`, a queue an earlier release left as a classic
 * queue: that one is used as it is (nothing in it is lost, the service keeps running) and
 * reported to `options.onClassic`; docs/operations.md says how to move it to quorum. Likewise
 * a `callbacks.dead` declared without `options.deadBound` is used as it is and reported to
 * `options.onUnboundedDead` (the operator bounds it with a policy), never refused, and a quorum
 * `callbacks` declared without its delivery limit is used as it is and reported to
 * `options.onDeliveryLimitKept` (the operator gives the limit with a policy).
 */
export async function declareCallbackTopology(
  channel: Pick<Channel, "assertQueue" | "checkQueue">,
  topology: CallbackTopology,
  options: DeclareCallbackOptions = {},
): Promise<void> {
  const classic: string[] = [];
  const declare = async (
    queue: string,
    quorumArguments: Record<string, unknown>,
    classicArguments: Record<string, unknown> | undefined,
    keepAny = false,
  ) => {
    const kind = options.probe
      ? await queueKind(options.probe, queue, quorumArguments, classicArguments, keepAny)
      : "quorum";
    if (kind === "classic") classic.push(queue);
    if (kind === "existing") await channel.checkQueue(queue);
    else
      await channel.assertQueue(queue, {
        durable: true,
        arguments: kind === "quorum" ? quorumArguments : classicArguments,
      });
    return kind;
  };
  if (
    (await declare(topology.delivery, { ...CALLBACK_QUEUE_ARGUMENTS }, undefined, true)) ===
    "existing"
  ) {
    options.onDeliveryLimitKept?.(topology.delivery);
  }
  const deadArguments = deadQueueArguments(options.deadBound ?? DEFAULT_DEAD_QUEUE_BOUND);
  if ((await declare(topology.dead, deadArguments, undefined, true)) !== "quorum") {
    options.onUnboundedDead?.(topology.dead);
  }
  for (const tier of [...topology.tiers, ...topology.aside]) {
    await declare(
      tier.queue,
      tierQueueArguments(tier.delayMs, topology.delivery),
      classicTierQueueArguments(tier.delayMs, topology.delivery),
    );
  }
  if (classic.length > 0) options.onClassic?.(classic);
}

/** Where the next attempt after a failed one waits, and for how long in all. */
export interface NextWait {
  tier: DelayTier;
  /** The whole wait: longer than the tier's own when a Retry-After is (see `notBefore`). */
  delayMs: number;
}

/**
 * Where a job goes after its `failedAttempt`-th attempt failed, or null when the backoff is
 * used up. A receiver's Retry-After longer than the scheduled delay wins: the job waits in the
 * shortest tier that is at least as long, or, when none is, in the longest and again after it
 * (`waitTier`) until the whole wait is over.
 */
export function nextTier(
  topology: CallbackTopology,
  failedAttempt: number,
  retryAfterMs?: number,
): NextWait | null {
  if (failedAttempt < 1 || failedAttempt > topology.backoffMs.length) return null;
  const delayMs = Math.max(topology.backoffMs[failedAttempt - 1], retryAfterMs ?? 0);
  return { tier: waitTier(topology, delayMs), delayMs };
}

/** The shortest tier at least `ms` long, or the longest tier when none is. */
export function waitTier(topology: CallbackTopology, ms: number): DelayTier {
  return (
    topology.tiers.find((tier) => tier.delayMs >= ms) ?? topology.tiers[topology.tiers.length - 1]
  );
}
