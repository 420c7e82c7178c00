// Samples the depth and consumer count of every queue Sluice owns, on a timer, with one
// passive declare per queue: cheap enough for every role, and the adapter's backpressure
// reads its figures instead of asking the broker on every request.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { Channel, ConfirmChannel } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "./amqp";
import type { SluiceConfig } from "../config/config";
import { metrics } from "../observability/metrics";
import { consumedQueues } from "./ordering";
import type { TopologyNames } from "../protocol/names";

export interface QueueSample {
  /** Ready messages (not those a consumer holds unacknowledged). */
  depth: number;
  consumers: number;
  at: number;
  /** Messages per second leaving the queue, smoothed; null until two samples exist. */
  drainRate: number | null;
}

/** Weight of the newest measurement in the smoothed drain rate. */
const DRAIN_SMOOTHING = 0.3;

/**
 * Rounds between two looks for an optional queue the broker did not have: each look at a
 * missing queue costs a channel (and a line in the broker's log).
 */
const OPTIONAL_RECHECK_ROUNDS = 30;
/** Sampling rounds without a read after which a queue's figures leave /metrics. */
const STALE_ROUNDS = 3;

/**
 * Queues sampled as one: a backend's request queue and its partition queues, whose summed depth
 * is what backpressure compares with the backend's high-water mark. Other queues stand alone.
 */
interface QueueGroup {
  /** The name samples and publishes are kept under (`requests.<backend>` for a backend). */
  key: string;
  queues: string[];
  /**
   * Declared by another role (`callbacks`, by response workers): looked at on a channel of its
   * own, and its absence is no topology problem of this role, only gauges not there yet.
   */
  optional?: boolean;
}

export class QueueMonitor {
  /** Latest sample per group key (a request queue's includes its partitions). */
  private readonly samples = new Map<string, QueueSample>();
  private readonly groups: QueueGroup[];
  private readonly groupOf = new Map<string, QueueGroup>();
  private channel: ChannelWrapper | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** Messages this process published per group that the latest sample may not include. */
  private readonly published = new Map<string, number>();
  /** Queues the broker said do not exist at the last attempt. */
  private readonly missing = new Set<string>();
  /**
   * Groups a publish was returned from (no queue took it), by the mark's number: missing from
   * then until a read of the group begun after the mark finds them (noteUnrouted).
   */
  private readonly unrouted = new Map<string, number>();
  private unroutedMarks = 0;
  private raw: ConfirmChannel | null = null;
  /** The plain channel optional queues are looked at on, opened when needed. */
  private probe: Channel | null = null;
  private round = 0;
  /** The round each group was last read whole in, for what /metrics may still show. */
  private readonly readIn = new Map<string, number>();
  /** The round from which a missing optional queue is looked for again. */
  private readonly optionalRecheck = new Map<string, number>();
  /** The current channel was closed while the connection stayed up (e.g. by a 404). */
  private channelClosed = false;
  private sampledOnce = false;
  private sampling = false;
  /**
   * Set by the first refresh(), once this process's roles declared their queues: sampling an
   * empty broker before that would only find the queues missing (and have the channel closed).
   */
  private declared = false;

  constructor(
    private readonly broker: Broker,
    config: SluiceConfig,
    names: TopologyNames,
    private readonly log: Logger,
    private readonly intervalMs = 1000,
  ) {
    // Request queues first: they drive backpressure, and are read on the monitor's own channel
    // before a missing queue's 404 closes it.
    const requests: QueueGroup[] = [];
    const others: QueueGroup[] = [
      names.responsesQueue,
      names.deadLetterQueue,
      names.deadLetterWatchQueue,
    ].map(alone);
    // Every role reports the callbacks queue, not only the response workers that consume it:
    // with none of them running, its SluiceNoConsumers alert needs someone to say 0 consumers.
    others.push({ ...alone(names.callbacksQueue), optional: true });
    for (const backend of Object.values(config.backends)) {
      const queue = names.requestsQueue(backend.name);
      requests.push({ key: queue, queues: consumedQueues(backend.name, queue, backend.ordering) });
      for (const delayMs of new Set(backend.retry.backoffMs))
        others.push(alone(names.retryQueue(backend.name, delayMs)));
      metrics.queueHighWater.set(
        { queue: names.requestsQueue(backend.name) },
        backend.queue.highWater,
      );
      if (backend.rate) {
        // Calls per second, so dashboards can draw the agreed limit beside the call rate.
        metrics.backendRateLimit.set(
          { backend: backend.name },
          (backend.rate.limit * 1000) / backend.rate.perMs,
        );
      }
    }
    this.groups = [...requests, ...others];
    for (const group of this.groups) this.groupOf.set(group.key, group);
  }

  /** Also samples a role's own queues (declared before it calls this), e.g. callback delivery's. */
  watch(queues: readonly string[]): void {
    for (const queue of queues) {
      const known = this.groupOf.get(queue);
      if (known) {
        // Declared by this role after all: missing, it is now a topology problem.
        known.optional = false;
        continue;
      }
      const group = alone(queue);
      this.groups.push(group);
      this.groupOf.set(queue, group);
    }
  }

  start(): void {
    this.open();
    const tick = () => {
      void this.sampleAll().finally(() => {
        if (this.timer) this.timer = setTimeout(tick, this.intervalMs);
      });
    };
    this.timer = setTimeout(tick, 0);
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    void this.channel?.close().catch(() => undefined);
    this.channel = null;
    this.raw = null;
    this.dropProbe();
  }

  /** Latest sample of a queue (with its partitions), or undefined before the first one. */
  get(queue: string): QueueSample | undefined {
    return this.samples.get(queue);
  }

  /** Counts a confirmed publish so the depth estimate between samples includes it. */
  notePublished(queue: string): void {
    this.published.set(queue, (this.published.get(queue) ?? 0) + 1);
  }

  /** Depth now: the last sample plus what this process published since. */
  estimatedDepth(queue: string): number | undefined {
    const sample = this.samples.get(queue);
    if (!sample) return undefined;
    return sample.depth + (this.published.get(queue) ?? 0);
  }

  /**
   * Samples now, reopening the channel if a missing queue closed it: for a role that has just
   * declared the topology, so that its readiness and backpressure see the queues at once. No
   * sampling happens before the first call.
   */
  async refresh(): Promise<void> {
    if (!this.timer) return;
    this.declared = true;
    if (!this.raw) {
      this.open();
      await this.channel?.waitForConnect();
    }
    while (this.sampling) await new Promise((resolve) => setTimeout(resolve, 5));
    await this.sampleAll();
  }

  /**
   * A publish for the queue (or a partition) came back unroutable: it is missing now, not at
   * the next sample, so the requests until then are refused before their body instead of
   * each being recorded, published, returned and discarded.
   */
  noteUnrouted(queue: string): void {
    this.unrouted.set(queue, ++this.unroutedMarks);
  }

  /**
   * Whether the broker said at the last attempt that the queue (or a partition) does not exist,
   * or a publish for it came back unroutable since.
   */
  isMissing(queue: string): boolean {
    if (this.unrouted.has(queue)) return true;
    return (this.groupOf.get(queue)?.queues ?? [queue]).some((q) => this.missing.has(q));
  }

  /** Why the topology is not known to be declared (a readiness reason), or null. */
  topologyProblem(): string | null {
    const failure = this.broker.setupFailure();
    if (failure) return `declaring the topology failed on ${failure}`;
    if (this.missing.size > 0) return `missing queue ${[...this.missing][0]}`;
    if (!this.sampledOnce) return "not checked yet";
    return null;
  }

  async sampleAll(): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      await this.sampleOnce();
    } finally {
      this.sampling = false;
    }
  }

  private async sampleOnce(): Promise<void> {
    if (!this.declared) return;
    this.round++;
    try {
      await this.sampleOptional();
      if (!this.raw) {
        // A passive declare of a missing queue closes the channel, which the broker wrapper
        // opens again only after a pause: open a fresh one at once while the connection is up.
        if (this.channelClosed && this.broker.isConnected()) this.open();
        return;
      }
      try {
        await this.readAll(this.raw);
        this.sampledOnce = true;
      } catch (error) {
        this.log.debug({ err: (error as Error).message }, "queue sampling failed");
      }
    } finally {
      this.forgetUnread();
    }
  }

  /**
   * A queue not read in STALE_ROUNDS rounds (the broker out of reach, the channel closed) is
   * no longer exported: its last figure would stay on /metrics as if current for as long as the
   * process is cut off, and one instance that last saw a deep queue would keep `max by (queue)`
   * and the high-water alert up after the queue drained. A round or two without a read (a
   * channel being reopened) keeps the series, so they do not flap. The instances that can read
   * the queue report it; the series comes back with the next sample.
   */
  private forgetUnread(): void {
    for (const group of this.groups) {
      const read = this.readIn.get(group.key);
      if (read !== undefined && this.round - read < STALE_ROUNDS) continue;
      // A missing optional queue waiting for its recheck was forgotten when found missing.
      for (const queue of group.queues) {
        metrics.queueDepth.remove({ queue });
        metrics.queueConsumers.remove({ queue });
      }
    }
  }

  /**
   * Looks at the queues other roles declare on a plain channel of their own: the broker closes
   * it when such a queue is not declared yet (a first start before any response worker), which
   * is expected, so it is neither logged nor allowed to close the channel the others use.
   */
  private async sampleOptional(): Promise<void> {
    for (const group of this.groups) {
      if (!group.optional || (this.optionalRecheck.get(group.key) ?? 0) > this.round) continue;
      if (!this.broker.isConnected()) return;
      try {
        this.probe ??= await this.openProbe();
        await this.readGroup(this.probe, group);
      } catch (error) {
        this.dropProbe();
        if (!isNotFound(error)) {
          this.log.debug({ err: (error as Error).message }, "queue sampling failed");
          return;
        }
        this.optionalRecheck.set(group.key, this.round + OPTIONAL_RECHECK_ROUNDS);
        // A queue deleted since its last sample has no depth and no consumers to report.
        for (const queue of group.queues) {
          metrics.queueDepth.remove({ queue });
          metrics.queueConsumers.remove({ queue });
        }
      }
    }
    // Stopped while a look was on its way: the channel would outlive the monitor.
    if (!this.timer) this.dropProbe();
  }

  private async openProbe(): Promise<Channel> {
    const channel = await this.broker.probeChannel();
    channel.on("close", () => {
      if (this.probe === channel) this.probe = null;
    });
    return channel;
  }

  private dropProbe(): void {
    const channel = this.probe;
    this.probe = null;
    void channel?.close().catch(() => undefined);
  }

  private open(): void {
    void this.channel?.close().catch(() => undefined);
    this.raw = null;
    this.channelClosed = false;
    const wrapper = this.broker.channel("queue-monitor", async (channel) => {
      if (this.channel !== wrapper) return;
      // A channel error nobody listens to is raised on the connection, which would drop every
      // role's channels for a missing queue: it stays this channel's problem.
      channel.on("error", (error: Error) =>
        this.log.debug({ err: error.message }, "queue monitor channel closed"),
      );
      channel.on("close", () => {
        if (this.raw !== channel) return;
        this.raw = null;
        this.channelClosed = true;
      });
      this.raw = channel;
      // Sample at once: readiness and backpressure need a first figure without waiting a tick.
      setImmediate(() => void this.sampleAll());
    });
    this.channel = wrapper;
  }

  /**
   * Reads every queue this role declares, starting on the monitor's own channel. A missing
   * queue's 404 closes the channel it was asked on, and costs only that queue's sample: the
   * queues after it are read in the same round on a plain channel, opened again after each
   * further 404. Otherwise every queue after a missing one would keep its last depth (and a
   * missing mark, refused queue_missing once declared again) until that queue was declared.
   * The cost is one channel opened per missing queue per round; with none missing, none.
   */
  private async readAll(own: ConfirmChannel): Promise<void> {
    let channel: Channel | null = own;
    for (const group of this.groups) {
      if (group.optional) continue;
      // Any other failure (the connection lost) ends the round, as there is nothing to read on.
      channel ??= this.probe ??= await this.openProbe();
      try {
        await this.readGroup(channel, group);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        if (channel === this.probe) this.dropProbe();
        channel = null;
      }
    }
    // Stopped while a read was on its way: the channel would outlive the monitor.
    if (!this.timer) this.dropProbe();
  }

  private async readGroup(channel: Channel, { key, queues, optional }: QueueGroup): Promise<void> {
    // Publishes confirmed while the declares are on their way stay counted: they may or may
    // not be in this sample, and over-counting only makes backpressure a little earlier.
    const publishedBefore = this.published.get(key) ?? 0;
    // A return that comes while the declares are on their way may be of a queue deleted since.
    const marksBefore = this.unroutedMarks;
    let depth = 0;
    let consumers = 0;
    for (const queue of queues) {
      let info: { messageCount: number; consumerCount: number };
      try {
        info = await channel.checkQueue(queue);
      } catch (error) {
        if (!optional && isNotFound(error)) this.missing.add(queue);
        throw error;
      }
      this.missing.delete(queue);
      depth += info.messageCount;
      consumers += info.consumerCount;
      metrics.queueDepth.set({ queue }, info.messageCount);
      metrics.queueConsumers.set({ queue }, info.consumerCount);
    }
    if ((this.unrouted.get(key) ?? Infinity) <= marksBefore) this.unrouted.delete(key);
    const now = Date.now();
    this.published.set(key, Math.max(0, (this.published.get(key) ?? 0) - publishedBefore));
    const previous = this.samples.get(key);
    let drainRate = previous?.drainRate ?? null;
    if (previous && now > previous.at) {
      const drained = previous.depth + publishedBefore - depth;
      const rate = Math.max(0, (drained * 1000) / (now - previous.at));
      drainRate =
        drainRate === null ? rate : drainRate * (1 - DRAIN_SMOOTHING) + rate * DRAIN_SMOOTHING;
    }
    this.samples.set(key, { depth, consumers, at: now, drainRate });
    this.readIn.set(key, this.round);
  }
}

/** The broker's answer to a passive declare of a queue it does not have. */
function isNotFound(error: unknown): boolean {
  return /NOT_FOUND|404/.test((error as Error)?.message ?? "");
}

function alone(queue: string): QueueGroup {
  return { key: queue, queues: [queue] };
}
