// What the operator commands know of each backend's request queues, from one look: the CLI
// runs no queue monitor, so a command asks the broker once, as the monitor would on a tick.

import type { Channel } from "amqplib";
import type { Broker } from "../shared/broker/amqp";
import { consumedQueues } from "../shared/broker/ordering";
import type { QueueSample } from "../shared/broker/queue-monitor";
import type { SluiceConfig } from "../shared/config/config";
import type { TopologyNames } from "../shared/protocol/names";

/**
 * One look at each backend's request queues (partitions summed), keyed as the queue monitor
 * keys its samples; a backend whose queue (or a partition) the broker did not show has none.
 */
export async function requestQueueSamples(
  config: SluiceConfig,
  broker: Broker,
  names: TopologyNames,
  now: number,
): Promise<Map<string, QueueSample>> {
  // Plain channels that declare nothing: a look must not create or change a queue. A queue
  // that is missing closes its channel (nothing to log: its backend has no sample, which
  // `backends list` shows as "?"); the next check opens another.
  let probe: Channel | null = null;
  const check = async (queue: string) => {
    try {
      probe ??= await broker.probeChannel();
      return await probe.checkQueue(queue);
    } catch {
      probe = null;
      return null;
    }
  };
  const samples = new Map<string, QueueSample>();
  try {
    for (const backend of Object.values(config.backends)) {
      const key = names.requestsQueue(backend.name);
      let depth = 0;
      let consumers = 0;
      let seen = true;
      for (const queue of consumedQueues(backend.name, key, backend.ordering)) {
        const info = await check(queue);
        if (!info) {
          seen = false;
          break;
        }
        depth += info.messageCount;
        consumers += info.consumerCount;
      }
      if (seen) samples.set(key, { depth, consumers, at: now, drainRate: null });
    }
  } finally {
    await (probe as Channel | null)?.close().catch(() => undefined);
  }
  return samples;
}
