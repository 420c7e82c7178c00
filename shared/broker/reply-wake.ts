// A wake sent to an adapter instance's reply queue: the way to an instance whose Redis
// subscription did not hear it (an adapter of an earlier release, or one whose subscription is
// down). The worker sends it for an outcome it stored itself, the response worker for one it
// stored. Transient and short-lived: the record has it all, and a caller whose wake never
// arrives reads the record at its deadline.

import type { ChannelWrapper } from "amqp-connection-manager";
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
