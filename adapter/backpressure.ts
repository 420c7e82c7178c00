// Decides whether the adapter may accept one more message for a backend, from the sampled
// depth of its request queue, the broker's blocked state and the adapter's own limits, and
// estimates the Retry-After a refused (or accepted) caller should honour.

import type { Broker } from "../shared/amqp";
import type { BackendConfig } from "../shared/config";
import { SluiceError } from "../shared/errors";
import { metrics } from "../shared/metrics";
import type { QueueMonitor } from "../shared/queue-monitor";
import type { TopologyNames } from "../shared/topology";

const MIN_RETRY_AFTER = 1;
const MAX_RETRY_AFTER = 300;

export class Backpressure {
  private inFlightPublishes = 0;

  constructor(
    private readonly broker: Broker,
    private readonly monitor: QueueMonitor,
    private readonly names: TopologyNames,
    private readonly maxInFlightPublishes = 5_000,
  ) {}

  /** Throws `Busy`/`Unavailable` (503 with Retry-After) when the message must be refused. */
  check(backend: BackendConfig): void {
    if (!this.broker.isConnected()) {
      this.refuse(
        "broker_down",
        new SluiceError("Unavailable", "message broker unavailable", { retryAfter: 5 }),
      );
    }
    if (this.broker.blocked) {
      this.refuse(
        "broker_blocked",
        new SluiceError("Busy", "message broker is refusing publishes", { retryAfter: 30 }),
      );
    }
    if (this.inFlightPublishes >= this.maxInFlightPublishes) {
      this.refuse(
        "publishes_full",
        new SluiceError("Busy", "too many messages being persisted", { retryAfter: 1 }),
      );
    }
    const queue = this.names.requestsQueue(backend.name);
    const depth = this.monitor.estimatedDepth(queue) ?? 0;
    if (depth >= backend.queue.highWater) {
      const retryAfter = this.retryAfter(backend, depth - backend.queue.highWater + 1);
      this.refuse(
        "high_water",
        new SluiceError(
          "Busy",
          `the backlog for this service is full (${depth} waiting); retry later`,
          {
            retryAfter,
          },
        ),
      );
    }
  }

  /** Seconds until `ahead` messages of the backend's queue are likely drained (1..300). */
  retryAfter(backend: BackendConfig, ahead?: number): number {
    const queue = this.names.requestsQueue(backend.name);
    const waiting = ahead ?? this.monitor.estimatedDepth(queue) ?? 0;
    const measured = this.monitor.get(queue)?.drainRate ?? 0;
    const configured = backend.rate ? (backend.rate.limit * 1000) / backend.rate.perMs : 0;
    const drainRate = measured > 0.1 ? measured : configured > 0 ? configured : 10;
    const seconds = Math.ceil(waiting / drainRate);
    return Math.min(MAX_RETRY_AFTER, Math.max(MIN_RETRY_AFTER, seconds));
  }

  /** Tracks a publish in flight for the adapter's own limit and the depth estimate. */
  async tracked<T>(backend: BackendConfig, publish: () => Promise<T>): Promise<T> {
    this.inFlightPublishes++;
    try {
      const result = await publish();
      this.monitor.notePublished(this.names.requestsQueue(backend.name));
      return result;
    } finally {
      this.inFlightPublishes--;
    }
  }

  private refuse(reason: string, error: SluiceError): never {
    metrics.backpressureRejections.inc({ reason });
    throw error;
  }
}
