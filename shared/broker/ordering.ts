// Per-backend ordering: which request queue a message goes to and how workers consume it, so
// that `strict` keeps one order overall and `{ key, partitions }` keeps order per key in parallel.

import { createHash } from "node:crypto";
import type { Ordering } from "../config/config";
import type { RequestMessage } from "../protocol/envelope";

/** How many partitions a partitioned backend may have (matches the configuration's bound). */
export const MAX_PARTITIONS = 256;

export function isPartitioned(ordering: Ordering): ordering is { key: string; partitions: number } {
  return typeof ordering === "object";
}

/** Ordered backends take one message at a time per queue; the others fill every in-flight slot. */
export function isOrdered(ordering: Ordering): boolean {
  return ordering !== "none";
}

/** Partition queue name: `<requestsQueue>.p<k>`. */
export function partitionQueueName(requestsQueue: string, partition: number): string {
  return `${requestsQueue}.p${partition}`;
}

/** Routing key of a partition on the requests exchange: `<backend>.p<k>`. */
export function partitionRoutingKey(backend: string, partition: number): string {
  return `${backend}.p${partition}`;
}

/**
 * Stable partition of a key: the first 32 bits of its SHA-256 modulo the partition count. It
 * depends on nothing but the key and the count, so every adapter instance and release agrees.
 */
export function partitionOf(key: string, partitions: number): number {
  return createHash("sha256").update(key, "utf8").digest().readUInt32BE(0) % partitions;
}

/**
 * The ordering key of a request: the X-Road client for `client`; otherwise the named header,
 * read from the X-Road REST headers or, for SOAP, the X-Road header field of that name
 * (`X-Road-UserId` and `userId` both name the SOAP `userId` field). Null when the request has none.
 */
export function orderingKey(key: string, message: RequestMessage): string | null {
  if (key.toLowerCase() === "client") return message.client;
  const header = key.toLowerCase();
  const fromRest = message.xroadHeaders?.[header];
  if (typeof fromRest === "string" && fromRest !== "") return fromRest;
  const field = header.startsWith("x-road-") ? header.slice("x-road-".length) : header;
  const soapField = message.soap?.headers.find((h) => h.name.toLowerCase() === field);
  if (!soapField) return null;
  const text = /^<[^>]*>([\s\S]*)<\/[^>]*>$/.exec(soapField.xml.trim())?.[1];
  // Structured fields (client, service) compare by their XML, which is stable per caller.
  return text !== undefined && text.trim() !== "" ? text.trim() : soapField.xml;
}

/**
 * Where the adapter (or a retry) publishes a request on the requests exchange. Messages without
 * an ordering key carry no order to keep, so their id spreads them over the partitions.
 */
export function routingKeyFor(
  backend: string,
  ordering: Ordering,
  message: RequestMessage,
): string {
  if (!isPartitioned(ordering)) return backend;
  const key = orderingKey(ordering.key, message) ?? message.id;
  return partitionRoutingKey(backend, partitionOf(key, ordering.partitions));
}

/** Extra `requests.*` queue arguments: an ordered queue has one active consumer across all workers. */
export function orderedQueueArguments(ordering: Ordering): Record<string, unknown> {
  return isOrdered(ordering) ? { "x-single-active-consumer": true } : {};
}

/**
 * Unacknowledged messages a worker takes per request queue. Ordered queues take one, so the next
 * message of a key is not started before the previous one is settled; unordered queues take one
 * per in-flight slot, so a message waiting for a rate token does not hoard others.
 */
export function consumerPrefetch(ordering: Ordering, maxInFlight: number): number {
  return isOrdered(ordering) ? 1 : Math.max(1, maxInFlight);
}

/**
 * The partition queues of a partitioned backend and their routing keys (none otherwise). They
 * come in addition to `requests.<backend>`, which stays bound to the backend's name so that a
 * message published without a partition is still kept, in order, rather than dropped.
 */
export function partitionBindings(
  backend: string,
  requestsQueue: string,
  ordering: Ordering,
): Array<{ queue: string; routingKey: string }> {
  if (!isPartitioned(ordering)) return [];
  return Array.from({ length: ordering.partitions }, (_, k) => ({
    queue: partitionQueueName(requestsQueue, k),
    routingKey: partitionRoutingKey(backend, k),
  }));
}

/** Every queue a worker consumes for a backend: the request queue and any partition queues. */
export function consumedQueues(
  backend: string,
  requestsQueue: string,
  ordering: Ordering,
): string[] {
  return [
    requestsQueue,
    ...partitionBindings(backend, requestsQueue, ordering).map((b) => b.queue),
  ];
}
