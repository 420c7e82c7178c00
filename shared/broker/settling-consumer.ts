// The settle logic every consumer loop of Sluice shares: handle a delivery patiently through
// short Redis or broker outages, then ack it or hand it back, once, on the channel it came on.
// Draining stops new work and waits for the work in hand until the shutdown deadline.

import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import type { Logger } from "pino";
import type { ShutdownDeadline } from "../runtime/shutdown-deadline";
import { safeAck, safeNack } from "./amqp";
import { patiently } from "./patient-retry";

/**
 * What becomes of a delivery: `ack` (done, including a message the handler dead-lettered
 * itself) or `requeue` (handed back to the broker for another attempt).
 */
export type Settlement = "ack" | "requeue";

export type SettlingHandler = (
  message: ConsumeMessage,
  gone: AbortSignal,
) => Promise<Settlement | void>;

/** A gap before a requeue, so a message that cannot be handled now is not spun on. */
const REQUEUE_PAUSE_MS = 1_000;

export class SettlingConsumer {
  private consuming = true;
  private readonly inProgress = new Set<Promise<void>>();

  constructor(
    private readonly log: Logger,
    /** Logged when work is interrupted, e.g. "processing interrupted; message requeued". */
    private readonly interrupted: string,
  ) {}

  /** Whether new deliveries are taken (false once draining). */
  get active(): boolean {
    return this.consuming;
  }

  /**
   * The `onMessage` of a consumer: runs `handle` (tried again while the consumer is active and
   * the delivery's channel lives), then acks or requeues the delivery. A delivery that comes
   * while draining is handed back at once.
   */
  handler(
    handle: SettlingHandler,
    context: Record<string, unknown> = {},
  ): (message: ConsumeMessage, channel: ConfirmChannel, gone: AbortSignal) => Promise<void> {
    return async (message, channel, gone) => {
      if (!this.consuming) return safeNack(channel, message, true);
      const work = patiently(
        () => handle(message, gone),
        this.log,
        // A delivery whose channel closed is the broker's again: trying on is pointless.
        () => this.consuming && !gone.aborted,
      ).then(
        (settlement) =>
          settlement === "requeue" ? safeNack(channel, message, true) : safeAck(channel, message),
        (error: Error) => {
          // Trouble that outlasted the patient retries: hand the message back.
          this.log.warn({ ...context, err: error.message }, this.interrupted);
          setTimeout(() => safeNack(channel, message, true), REQUEUE_PAUSE_MS);
        },
      );
      this.inProgress.add(work);
      await work.finally(() => this.inProgress.delete(work));
    };
  }

  /** Stops taking deliveries; work in hand goes on. */
  stop(): void {
    this.consuming = false;
  }

  /** Waits for the work in hand until the deadline; true when all of it settled in time. */
  async drain(deadline: ShutdownDeadline): Promise<boolean> {
    this.stop();
    return deadline.within(Promise.allSettled([...this.inProgress]));
  }

  /** Waits for the work in hand, however long it takes. */
  async settled(): Promise<void> {
    await Promise.allSettled([...this.inProgress]);
  }
}
