// A raw amqplib publisher with confirms: the broker's ceiling for persisted publishes (the
// baseline the adapter's ingest is compared with) and the fast pre-fill of backlog runs.

import { connect, type Channel, type ConfirmChannel, type ChannelModel } from "amqplib";
import { randomUUID } from "node:crypto";
import type { RequestMessage } from "../shared/protocol/envelope";
import { LatencySamples, round, summarise } from "./bench-result";

/** A request message as the adapter would publish it, carrying `body` (~1 KB on the wire). */
export function requestMessageFor(body: string, service: string, backend: string): Buffer {
  const message: RequestMessage = {
    id: randomUUID(),
    xroadId: randomUUID(),
    service,
    backend,
    protocol: "rest",
    client: "EE/BUSINESS/consumer",
    replyMode: "ack",
    method: "POST",
    path: "",
    query: "",
    xroadHeaders: { "x-road-client": "EE/BUSINESS/consumer" },
    contentType: "application/json",
    body,
    bodyEncoding: "utf8",
    createdAt: Date.now(),
    expiresAt: null,
  };
  return Buffer.from(JSON.stringify(message));
}

export interface PublishRate {
  published: number;
  durationS: number;
  rps: number;
  inFlight: number;
  /** Publish-to-confirm time of each message, ms. */
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

/** What several floods of one run add up to (rounds interleaved with other runs). */
export interface PublishTally {
  samples: LatencySamples;
  published: number;
  durationS: number;
}

export const newPublishTally = (): PublishTally => ({
  samples: new LatencySamples(),
  published: 0,
  durationS: 0,
});

/** One connection and confirm channel to the broker. */
export class RawPublisher {
  private constructor(
    private readonly connection: ChannelModel,
    readonly channel: ConfirmChannel,
  ) {}

  static async open(url: string): Promise<RawPublisher> {
    const connection = await connect(url);
    connection.on("error", () => undefined);
    const channel = await connection.createConfirmChannel();
    channel.on("error", () => undefined);
    return new RawPublisher(connection, channel);
  }

  /** Broker product version from the connection handshake, e.g. "3.10.8". */
  get serverVersion(): string {
    const properties = (
      this.connection as unknown as {
        connection: { serverProperties?: Record<string, unknown> };
      }
    ).connection.serverProperties;
    return String(properties?.version ?? "unknown");
  }

  async declareQuorumQueue(name: string): Promise<void> {
    await this.channel.assertQueue(name, {
      durable: true,
      arguments: { "x-queue-type": "quorum" },
    });
  }

  async depth(queue: string): Promise<number> {
    const { messageCount } = await this.channel.checkQueue(queue);
    return messageCount;
  }

  async purge(queue: string): Promise<void> {
    await this.channel.purgeQueue(queue);
  }

  /** Deletes the named queues; a queue that is already gone is fine. */
  deleteQueues(names: string[]): Promise<void> {
    return this.deleteEach(names, (channel, name) => channel.deleteQueue(name));
  }

  /** Deletes the named exchanges; one that is already gone is fine. */
  deleteExchanges(names: string[]): Promise<void> {
    return this.deleteEach(names, (channel, name) => channel.deleteExchange(name));
  }

  private async deleteEach(
    names: string[],
    remove: (channel: Channel, name: string) => Promise<unknown>,
  ): Promise<void> {
    for (const name of names) {
      // A failed delete closes its channel, so each delete gets a channel of its own.
      const channel = await this.connection.createChannel();
      channel.on("error", () => undefined);
      try {
        await remove(channel, name);
        await channel.close();
      } catch {
        // absent already, or the channel was closed by the broker: nothing to clean
      }
    }
  }

  /**
   * Publishes as fast as confirms come back, keeping `inFlight` unconfirmed messages, until
   * `durationS` passes or `count` messages are confirmed (whichever is given).
   */
  async flood(
    queue: string,
    makeMessage: () => Buffer,
    limit: { durationS?: number; count?: number },
    inFlight: number,
    tally: PublishTally = newPublishTally(),
  ): Promise<PublishRate> {
    const samples = tally.samples;
    const started = process.hrtime.bigint();
    const deadline = limit.durationS === undefined ? null : Date.now() + limit.durationS * 1000;
    let sent = 0;
    let confirmed = 0;
    let failure: Error | null = null;
    await new Promise<void>((resolve, reject) => {
      let outstanding = 0;
      const done = (): boolean =>
        failure !== null ||
        (deadline !== null && Date.now() >= deadline) ||
        (limit.count !== undefined && sent >= limit.count);
      const pump = (): void => {
        while (outstanding < inFlight && !done()) {
          const at = process.hrtime.bigint();
          outstanding++;
          sent++;
          this.channel.sendToQueue(
            queue,
            makeMessage(),
            { persistent: true, contentType: "application/json" },
            (error: unknown) => {
              outstanding--;
              if (error) failure ??= new Error(`publish not confirmed: ${String(error)}`);
              else {
                confirmed++;
                samples.push(Number(process.hrtime.bigint() - at) / 1e6);
              }
              if (outstanding === 0 && done()) {
                if (failure) reject(failure);
                else resolve();
              } else pump();
            },
          );
        }
      };
      pump();
    });
    tally.durationS += Number(process.hrtime.bigint() - started) / 1e9;
    tally.published += confirmed;
    return {
      published: tally.published,
      durationS: round(tally.durationS, 2),
      rps: round(tally.published / tally.durationS, 1),
      inFlight,
      latencyMs: summarise(samples.values()),
    };
  }

  async close(): Promise<void> {
    try {
      await this.connection.close();
    } catch {
      // already closed
    }
  }
}
