// `sluice backends list|pause NAME|resume NAME`: the admin port's pause and resume, and what the
// status page says of each backend's queue, from a shell (inside a container too, where the
// admin port may be out of reach and no curl installed). Straight to Redis and the broker.

import type { Channel } from "amqplib";
import type { SluiceConfig } from "../shared/config/config";
import type { Broker } from "../shared/broker/amqp";
import { consumedQueues } from "../shared/broker/ordering";
import { compileServiceWindows } from "../shared/config/service-windows";
import type { BackendPauses } from "../shared/operator/backend-pauses";
import type { DeadLetters } from "../shared/operator/dead-letters";
import type { TopologyNames } from "../shared/protocol/names";

export interface BackendRow {
  backend: string;
  /** `running`, `paused`, or `outside service window`: paused wins, as in the workers' gate. */
  state: string;
  /** When it was paused (ISO time); null when running. */
  pausedSince: string | null;
  /** Ready messages in its request queues (partitions summed); null when the broker did not say. */
  queued: number | null;
  highWater: number;
  consumers: number | null;
  /** Its dead letters not replayed yet, among the newest 10 000 (as the status page counts). */
  deadLetters: number;
}

/** The names `pause` and `resume` accept, or the one-line problem (exit 2) for another. */
export function unknownBackend(config: SluiceConfig, name: string): string | null {
  const names = Object.keys(config.backends);
  return names.includes(name) ? null : `no backend named ${name} (${names.join(", ")})`;
}

/**
 * Every configured backend's pause, window, queue and dead letters, as `sluice backends list`
 * prints them.
 */
export async function backendRows(
  config: SluiceConfig,
  pauses: BackendPauses,
  deadLetters: DeadLetters,
  broker: Broker,
  names: TopologyNames,
  now = Date.now(),
): Promise<BackendRow[]> {
  // Plain channels that declare nothing: listing must not create or change a queue. A queue
  // that is missing closes its channel (nothing to log: the list shows "?"); the next check
  // opens another.
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
  const dead = new Map<string, number>();
  for (const entry of await deadLetters.list({ replayed: false }, 10_000)) {
    dead.set(entry.backend, (dead.get(entry.backend) ?? 0) + 1);
  }
  const rows: BackendRow[] = [];
  try {
    for (const backend of Object.values(config.backends)) {
      const pause = await pauses.state(backend.name);
      const windowOpen = compileServiceWindows(backend.windows, "windows").windows.isOpen(now);
      let queued: number | null = 0;
      let consumers: number | null = 0;
      for (const queue of consumedQueues(
        backend.name,
        names.requestsQueue(backend.name),
        backend.ordering,
      )) {
        const info = await check(queue);
        queued = info && queued !== null ? queued + info.messageCount : null;
        consumers = info && consumers !== null ? consumers + info.consumerCount : null;
      }
      rows.push({
        backend: backend.name,
        state: pause.paused ? "paused" : windowOpen ? "running" : "outside service window",
        pausedSince: pause.since === null ? null : new Date(pause.since).toISOString(),
        queued,
        highWater: backend.queue.highWater,
        consumers,
        deadLetters: dead.get(backend.name) ?? 0,
      });
    }
  } finally {
    await (probe as Channel | null)?.close().catch(() => undefined);
  }
  return rows;
}
