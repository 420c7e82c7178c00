// `sluice backends list|pause NAME|resume NAME`: the admin port's pause and resume, and what the
// status page says of each backend's queue, from a shell (inside a container too, where the
// admin port may be out of reach and no curl installed). Straight to Redis and the broker.

import type Redis from "ioredis";
import type { SluiceConfig } from "../shared/config/config";
import type { Broker } from "../shared/broker/amqp";
import { BackendPauses } from "../shared/operator/backend-pauses";
import { BackendStatusReader, type BackendStatus } from "../shared/operator/backend-status";
import { pauseOutcome } from "../shared/operator/journal-entries";
import { journaled } from "../shared/operator/operator-journal";
import type { DeadLetters } from "../shared/operator/dead-letters";
import { RecentFailures } from "../shared/operator/recent-failures";
import type { TopologyNames } from "../shared/protocol/names";
import { StartupError } from "../shared/runtime/startup-error";
import { exitCodeOf } from "./exit-codes";
import { fail, type OperatorContext } from "./operator-context";
import { age, columns } from "./operator-tables";
import { requestQueueSamples } from "./request-queue-samples";

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
  /** Its dead letters not replayed yet (as the status page counts them). */
  deadLetters: number;
}

/** The names `pause` and `resume` accept, or the one-line problem (exit 2) for another. */
export function unknownBackend(config: SluiceConfig, name: string): string | null {
  const names = Object.keys(config.backends);
  return names.includes(name) ? null : `no backend named ${name} (${names.join(", ")})`;
}

/**
 * Every configured backend's pause, window, queue and dead letters, as `sluice backends list`
 * prints them: the status page's reading of each backend, given one look at its queues.
 */
export async function backendRows(
  deps: {
    config: SluiceConfig;
    redis: Redis;
    pauses: BackendPauses;
    deadLetters: DeadLetters;
    /** Null when it is out of reach: no depths, no consumers. */
    broker: Broker | null;
    names: TopologyNames;
  },
  now = Date.now(),
): Promise<BackendRow[]> {
  const { config, redis, broker, names } = deps;
  const samples =
    broker === null ? new Map() : await requestQueueSamples(config, broker, names, now);
  const reader = new BackendStatusReader({
    ...deps,
    monitor: { get: (queue) => samples.get(queue) },
    failures: new RecentFailures(redis, config.prefix),
  });
  return (await reader.read(now)).backends.map(backendRow);
}

function backendRow(status: BackendStatus): BackendRow {
  return {
    backend: status.name,
    state: status.paused ? "paused" : status.window.open ? "running" : "outside service window",
    pausedSince: status.pausedSince,
    queued: status.queue.depth,
    highWater: status.queue.highWater,
    consumers: status.queue.consumers,
    deadLetters: Object.values(status.deadLetters).reduce((sum, n) => sum + n, 0),
  };
}

/** `pause NAME`, `resume NAME` (a name the configuration knows) or `list`. */
export async function runBackendCommand(context: OperatorContext): Promise<number> {
  const { config, verb, id, redis, names, deadLetters, record, print, connectBroker } = context;
  const pauses = new BackendPauses(redis, config.prefix);
  if (verb === "list") {
    // The broker out of reach (when this is most needed, at 3 a.m.): pauses, windows and dead
    // letters come from Redis and are still printed; depths and consumers are "?", exit 3 (1
    // when the broker answered and refused: a login, a virtual host, a certificate).
    let broker: Broker | null = null;
    let unreachable: StartupError | null = null;
    try {
      broker = await connectBroker();
    } catch (error) {
      if (!(error instanceof StartupError)) throw error;
      unreachable = error;
    }
    const rows = await backendRows({ config, redis, pauses, deadLetters, broker, names });
    print(rows, backendTable(rows));
    if (unreachable === null) return 0;
    // What to do (check that it runs, that this machine reaches it) is kept after the cause.
    const [cause, ...todo] = unreachable.message.split("; ");
    return fail(
      [`${cause}: queued and consumers unknown (?)`, ...todo].join("; "),
      exitCodeOf(unreachable),
    );
  }
  const pausing = verb === "pause";
  const state = await journaled(
    record,
    pausing ? "backend.pause" : "backend.resume",
    id,
    () => (pausing ? pauses.pause(id) : pauses.resume(id)),
    pauseOutcome,
  );
  const since = state.since === null ? null : new Date(state.since).toISOString();
  print(
    { backend: id, paused: state.paused, since, ...(state.already ? { already: true } : {}) },
    pauseLine(id, since, state.already),
  );
  return 0;
}

/** What `pause` and `resume` print; a repeat says `already` (the workers obey since the first). */
function pauseLine(id: string, since: string | null, already: boolean): string {
  if (already) return since ? `${id}: paused since ${since} (already)` : `${id}: running (already)`;
  return since
    ? `${id}: paused since ${since}; workers stop taking its messages within a second`
    : `${id}: running; workers take its messages again within a second`;
}

function backendTable(rows: BackendRow[]): string {
  const count = (n: number | null) => (n === null ? "?" : String(n));
  return columns([
    ["BACKEND", "STATE", "SINCE", "QUEUED", "HIGH WATER", "CONSUMERS", "DEAD LETTERS"],
    ...rows.map((r) => [
      r.backend,
      r.state,
      r.pausedSince ? `${r.pausedSince} (${age(Date.parse(r.pausedSince))} ago)` : "-",
      count(r.queued),
      String(r.highWater),
      count(r.consumers),
      String(r.deadLetters),
    ]),
  ]);
}
