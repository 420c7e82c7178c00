// A backend's request consumers, attached only while its gate is open: outside a service window
// or while paused the worker holds no messages, so nothing waits unacknowledged for hours.

import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { Broker, Consumer } from "../shared/broker/amqp";
import { metrics } from "../shared/observability/metrics";
import type { BackendGates } from "./backend-gates";

export interface GatedConsumerOptions {
  broker: Broker;
  backend: string;
  /** The backend's request queues (one, or one per partition). */
  queues: readonly string[];
  prefetch: number;
  gates: BackendGates;
  log: Logger;
  onMessage(message: ConsumeMessage, channel: ConfirmChannel, gone: AbortSignal): Promise<void>;
}

/** One opening of the gate: its consumers and the messages they are still handling. */
interface Generation {
  consumers: Consumer[];
  work: Set<Promise<void>>;
}

export class GatedConsumers {
  private current: Generation | null = null;
  private readonly generations = new Set<Generation>();
  private stopped = false;

  constructor(private readonly options: GatedConsumerOptions) {
    options.gates.onChange(options.backend, (open) => {
      this.reportGate(open);
      if (open) this.attach();
      else void this.detach();
    });
    this.reportGate(options.gates.isOpen(options.backend));
    if (options.gates.isOpen(options.backend)) this.attach();
    else
      options.log.info(
        { backend: options.backend, reason: options.gates.closedReason(options.backend) },
        "not consuming while the backend's gate is shut",
      );
  }

  /** Resolves once the consumers of an open gate are attached (at once when shut). */
  async waitForConnect(): Promise<void> {
    await Promise.all(this.current?.consumers.map((c) => c.waitForConnect()) ?? []);
  }

  /** Stops deliveries for good; messages already delivered are still settled. */
  async cancel(): Promise<void> {
    this.stopped = true;
    await this.detach();
  }

  async close(): Promise<void> {
    this.stopped = true;
    const all = [...this.generations];
    this.generations.clear();
    this.current = null;
    await Promise.all(all.flatMap((g) => g.consumers.map((c) => c.close().catch(() => undefined))));
  }

  /**
   * A shut gate leaves the queues without consumers on purpose: the gauge lets the
   * SluiceNoConsumers alert tell a paused backend or a closed window from workers that are gone.
   */
  private reportGate(open: boolean): void {
    for (const queue of this.options.queues) metrics.queueGateOpen.set({ queue }, open ? 1 : 0);
  }

  private attach(): void {
    if (this.stopped || this.current) return;
    const { broker, backend, queues, prefetch } = this.options;
    const generation: Generation = { consumers: [], work: new Set() };
    generation.consumers = queues.map((queue) =>
      broker.consume(`worker-${queue}`, {
        queue,
        prefetch,
        onMessage: (message, channel, gone) => {
          const work = this.options.onMessage(message, channel, gone);
          generation.work.add(work);
          return work.finally(() => generation.work.delete(work));
        },
      }),
    );
    this.current = generation;
    this.generations.add(generation);
    this.options.log.debug({ backend, queues }, "consuming");
  }

  /**
   * Cancels the consumers; their channels stay open until the messages they delivered are
   * settled (a waiting message is handed back by its guard, a running call finishes).
   */
  private async detach(): Promise<void> {
    const generation = this.current;
    this.current = null;
    if (!generation) return;
    await Promise.all(generation.consumers.map((c) => c.cancel()));
    void Promise.allSettled([...generation.work]).then(async () => {
      // The worker hands a refused message back a second after refusing it.
      await new Promise((resolve) => setTimeout(resolve, 1_500).unref());
      if (!this.generations.delete(generation)) return;
      await Promise.all(generation.consumers.map((c) => c.close().catch(() => undefined)));
    });
  }
}
