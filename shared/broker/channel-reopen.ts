// Opening a channel again that the broker closed while the connection stayed up: a delivery held
// past RabbitMQ's consumer_timeout, an ack the broker does not know, a refused declaration.
// amqp-connection-manager waits for the next reconnect, so a consumer stopped for good.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { Logger } from "pino";

/** What of the wrapper this reaches into: amqp-connection-manager 4.1 has no public reopen. */
interface ReopenableWrapper {
  _channel?: unknown;
  _onConnect(event: { connection: unknown }): Promise<void>;
}

const FIRST_DELAY_MS = 1_000;
const MAX_DELAY_MS = 30_000;

/**
 * Watches one wrapper: when a channel it runs closes while its connection lives on, the wrapper
 * is given a new channel on that connection (its setup runs again: declarations, prefetch,
 * `basic.consume`) after a pause that grows while the channel keeps being closed.
 */
export class ChannelReopener {
  private delayMs = FIRST_DELAY_MS;
  private closed = false;

  constructor(
    private readonly wrapper: ChannelWrapper,
    /** The connection of the manager right now (changes at each reconnect), or undefined. */
    private readonly currentConnection: () => unknown,
    private readonly log: Logger,
    private readonly name: string,
  ) {
    wrapper.once("close", () => {
      this.closed = true;
    });
  }

  /** Call from the wrapper's setup: `channel` runs on `connection`. */
  watch(channel: { once(event: "close", listener: () => void): unknown }, connection: unknown) {
    channel.once("close", () => {
      const delayMs = this.delayMs;
      this.delayMs = Math.min(this.delayMs * 2, MAX_DELAY_MS);
      setTimeout(() => void this.reopen(connection), delayMs).unref();
    });
  }

  /** The setup ran through on a new channel: the next close waits the first pause again. */
  settled(): void {
    this.delayMs = FIRST_DELAY_MS;
  }

  private async reopen(connection: unknown): Promise<void> {
    const wrapper = this.wrapper as unknown as ReopenableWrapper;
    // Closed on purpose, the connection gone (its reconnect gives every wrapper a channel), or
    // a channel given already: nothing to do.
    if (this.closed || wrapper._channel !== undefined) return;
    if (connection === undefined || this.currentConnection() !== connection) return;
    this.log.warn({ channel: this.name }, "opening the channel the broker closed again");
    await wrapper._onConnect({ connection }).catch(() => undefined);
  }
}
