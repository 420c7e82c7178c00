// Samples the depth and consumer count of every queue Sluice owns, on a timer, with one
// passive declare per queue: cheap enough for every role, and the adapter's backpressure
// reads its figures instead of asking the broker on every request.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "./amqp";
import type { SluiceConfig } from "./config";
import { metrics } from "./metrics";
import type { TopologyNames } from "./topology";

export interface QueueSample {
  depth: number;
  consumers: number;
  at: number;
  /** Messages per second leaving the queue, smoothed; null until two samples exist. */
  drainRate: number | null;
}

export class QueueMonitor {
  private readonly samples = new Map<string, QueueSample>();
  private readonly queues: string[];
  private readonly channel: ChannelWrapper;
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;
  private readonly log: Logger;
  /** Messages this process published per queue since the last sample (to estimate drain). */
  private readonly published = new Map<string, number>();
  private raw: ConfirmChannel | null = null;

  constructor(
    broker: Broker,
    config: SluiceConfig,
    names: TopologyNames,
    log: Logger,
    intervalMs = 1000,
  ) {
    this.log = log;
    this.intervalMs = intervalMs;
    this.queues = [names.responsesQueue, names.deadLetterQueue];
    for (const backend of Object.values(config.backends)) {
      this.queues.push(names.requestsQueue(backend.name));
      for (const delayMs of new Set(backend.retry.backoffMs))
        this.queues.push(names.retryQueue(backend.name, delayMs));
      metrics.queueHighWater.set(
        { queue: names.requestsQueue(backend.name) },
        backend.queue.highWater,
      );
    }
    // The raw channel of the wrapper, captured on every (re)connect for passive declares.
    this.channel = broker.channel("queue-monitor", async (channel) => {
      this.raw = channel;
    });
  }

  start(): void {
    const tick = () => {
      this.sampleAll().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.channel.close().catch(() => undefined);
  }

  /** Latest sample of a queue, or undefined before the first one. */
  get(queue: string): QueueSample | undefined {
    return this.samples.get(queue);
  }

  /** Counts a publish so the depth estimate between samples includes it. */
  notePublished(queue: string): void {
    this.published.set(queue, (this.published.get(queue) ?? 0) + 1);
  }

  /** Depth now: the last sample plus what this process published since. */
  estimatedDepth(queue: string): number | undefined {
    const sample = this.samples.get(queue);
    if (!sample) return undefined;
    return sample.depth + (this.published.get(queue) ?? 0);
  }

  async sampleAll(): Promise<void> {
    if (!this.raw) return;
    try {
      await this.readAll(this.raw);
    } catch (error) {
      this.log.debug({ err: (error as Error).message }, "queue sampling failed");
    }
  }

  private async readAll(channel: ConfirmChannel): Promise<void> {
    const now = Date.now();
    for (const queue of this.queues) {
      const info = await channel.checkQueue(queue);
      const previous = this.samples.get(queue);
      const publishedSince = this.published.get(queue) ?? 0;
      this.published.set(queue, 0);
      let drainRate = previous?.drainRate ?? null;
      if (previous && now > previous.at) {
        const drained = previous.depth + publishedSince - info.messageCount;
        const rate = Math.max(0, (drained * 1000) / (now - previous.at));
        drainRate = drainRate === null ? rate : drainRate * 0.7 + rate * 0.3;
      }
      this.samples.set(queue, {
        depth: info.messageCount,
        consumers: info.consumerCount,
        at: now,
        drainRate,
      });
      metrics.queueDepth.set({ queue }, info.messageCount);
      metrics.queueConsumers.set({ queue }, info.consumerCount);
    }
  }
}
