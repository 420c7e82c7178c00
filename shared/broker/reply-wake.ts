// A wake sent to an adapter instance's reply queue: the way to an instance whose Redis
// subscription did not hear it (an adapter of an earlier release, or one whose subscription is
// down). The worker sends it for an outcome it stored itself, the response worker for one it
// stored, a cancel (the client's or the operator's) for the one it made. Transient and
// short-lived: the record has it all, and a caller whose wake never arrives reads the record
// at its deadline.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";
import type { TopologyNames } from "../protocol/names";
import type { Broker } from "./amqp";

/** How long a wake waits in a reply queue before the broker drops it. */
const WAKE_EXPIRATION_MS = 300_000;

/** Sends `wake` (an encoded wake message) to `instance`'s reply queue. */
export function wakeThroughReplyQueue(
  deps: { broker: Broker; publisher: ChannelWrapper; names: TopologyNames },
  instance: string,
  wake: Buffer,
): Promise<void> {
  return deps.broker.publish(deps.publisher, deps.names.repliesExchange, instance, wake, {
    persistent: false,
    expiration: WAKE_EXPIRATION_MS,
  });
}

/**
 * Sends `wake` to the reply queue of each instance in `unreached` (its Redis wake reached no
 * subscriber there). Never fails: the outcome is in the record, so a wake that cannot be sent
 * only makes its caller read the record, when the instance's subscription is back or at its
 * deadline.
 */
export async function wakeUnheard(
  deps: { broker: Broker; publisher: ChannelWrapper; names: TopologyNames; log: Logger },
  unreached: readonly string[],
  wake: Buffer | string,
  id: string,
): Promise<void> {
  const message = typeof wake === "string" ? Buffer.from(wake) : wake;
  await Promise.all(
    unreached.map((instance) =>
      wakeThroughReplyQueue(deps, instance, message).catch((error: Error) =>
        deps.log.warn({ err: error.message, id, instance }, "wake failed"),
      ),
    ),
  );
}
