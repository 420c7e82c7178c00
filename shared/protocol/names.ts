// Every name two Sluice processes must agree on in RabbitMQ: exchanges, queues, routing keys,
// AMQP headers and message types. Renaming one is a protocol change (docs/architecture.md).

import { randomUUID } from "node:crypto";

/** Routing key of every answer and state notice on the responses exchange. */
export const RESPONSES_ROUTING_KEY = "responses";

/** AMQP headers Sluice sets on its messages. */
export const HEADERS = {
  /** 1-based attempt of a request travelling through a retry delay queue. */
  attempt: "x-sluice-attempt",
  /** Why Sluice dead-lettered a message (e.g. `retries_exhausted`, `unreadable`). */
  reason: "x-sluice-reason",
  /** The backend (or `responses`) a dead letter came from. */
  backend: "x-sluice-backend",
  /** What the protocol codec could not read in a dead-lettered message. */
  error: "x-sluice-error",
  /**
   * How many calls of a request were made before it went to a retry delay queue: a request
   * that may have reached the backend never ends `expired` ("never sent").
   */
  calls: "x-sluice-calls",
  /** Epoch ms a request was put on a queue, for the queue-wait span. */
  enqueuedAt: "x-sluice-enqueued-at",
  /**
   * `true` on a dead letter whose message id Sluice made up: the message it could not read
   * named no gateway id, and a mandatory publish needs one to tell its return apart.
   */
  generatedId: "x-sluice-generated-id",
} as const;

/** `x-sluice-backend` of dead letters the response worker sends. */
export const RESPONSES_DEAD_LETTER_SOURCE = "responses";

/**
 * The headers of a message Sluice dead-letters itself: why, where from (a backend, or
 * `responses`), and for a message it could not read, what was wrong with it.
 */
export function deadLetterHeaders(
  reason: string,
  source: string,
  error?: string,
): Record<string, string> {
  return {
    [HEADERS.reason]: reason,
    [HEADERS.backend]: source,
    ...(error ? { [HEADERS.error]: error } : {}),
  };
}

/**
 * The message id and headers of a dead letter Sluice sends itself (see deadLetterHeaders): its
 * gateway id, or for a message that named none a new one, marked HEADERS.generatedId so the
 * operator does not take it for a gateway id.
 */
export function deadLetterIdentity(
  id: string | null,
  headers: Record<string, string>,
): { messageId: string; headers: Record<string, string | boolean> } {
  if (id !== null) return { messageId: id, headers };
  return { messageId: randomUUID(), headers: { ...headers, [HEADERS.generatedId]: true } };
}

/** AMQP `type` of a state notice; responses carry none, so older consumers still read them. */
export const STATE_NOTICE_TYPE = "sluice.state";

export interface TopologyNames {
  requestsExchange: string;
  responsesExchange: string;
  repliesExchange: string;
  deadLetterExchange: string;
  responsesQueue: string;
  deadLetterQueue: string;
  /** Copies of every dead letter for the response worker: a request the broker itself
   * dead-lettered (delivery limit) still needs its `failed` outcome. */
  deadLetterWatchQueue: string;
  requestsQueue(backend: string): string;
  retryQueue(backend: string, delayMs: number): string;
  replyQueue(instanceId: string): string;
  /** Callback and hub event deliveries waiting to be sent. */
  callbacksQueue: string;
  /** Deliveries that ran out of attempts. */
  callbacksDeadQueue: string;
  /** The delay tier holding a delivery for `delayMs` before it is sent again. */
  callbacksDelayQueue(delayMs: number): string;
  /** Where a delivery whose receiver was busy waits `delayMs` for its turn (not an attempt). */
  callbacksAsideQueue(delayMs: number): string;
}

/** The names of one deployment: `prefix` isolates deployments (and tests) on one broker. */
export function topologyNames(prefix: string): TopologyNames {
  return {
    requestsExchange: `${prefix}sluice.requests`,
    responsesExchange: `${prefix}sluice.responses`,
    repliesExchange: `${prefix}sluice.replies`,
    deadLetterExchange: `${prefix}sluice.dead-letter`,
    responsesQueue: `${prefix}responses`,
    deadLetterQueue: `${prefix}dead-letter`,
    deadLetterWatchQueue: `${prefix}dead-letter.watch`,
    requestsQueue: (backend) => `${prefix}requests.${backend}`,
    retryQueue: (backend, delayMs) => `${prefix}retry.${backend}.${delayMs}ms`,
    replyQueue: (instanceId) => `${prefix}reply.${instanceId}`,
    callbacksQueue: `${prefix}callbacks`,
    callbacksDeadQueue: `${prefix}callbacks.dead`,
    callbacksDelayQueue: (delayMs) => `${prefix}callbacks.delay.${delayMs}ms`,
    callbacksAsideQueue: (delayMs) => `${prefix}callbacks.aside.${delayMs}ms`,
  };
}
