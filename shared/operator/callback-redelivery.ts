// Sending a dead callback again, at the operator's request: the message's delivery goes back to
// pending (claimed in Redis, so it is sent once however many ask at once), and its current
// status document goes onto the callback queue as a fresh delivery with the same webhook-id.
// The response workers then deliver and settle it like any callback.

import type { ChannelWrapper } from "amqp-connection-manager";
import { randomUUID } from "node:crypto";
import type { Broker } from "../broker/amqp";
import { DEFAULT_AMQP_MAX_MESSAGE_BYTES } from "../config/config";
import { jobRefs } from "../protocol/callback-job";
import { callbackJobCodec } from "../protocol/codec";
import { SluiceError, type ErrorCode } from "../protocol/errors";
import type { TopologyNames } from "../protocol/names";
import { statusDocument } from "../store/status-document";
import type { Transaction, TransactionStore } from "../store/transaction-store";
import type { DeadCallback, DeadCallbacks } from "./dead-callbacks";
import {
  failedAt,
  skipped as skip,
  stoppedBy,
  withErrorShape,
  type Skipped,
} from "./operator-answers";

/** How long past its publish timeout a redelivery's publisher may still be undoing its claim. */
const PUBLISHING_GRACE_MS = 5_000;

/** A redelivery's refusal of an id with no dead callback (answered NotFound). */
export const NO_SUCH_DEAD_CALLBACK = "no such dead callback";

export interface RedeliveryResult {
  id: string;
  /**
   * redelivered: sent now; already: not sent, its delivery is not delivery_failed (a
   * redelivery is under way, or the callback got through); refused: see error.
   */
  result: "redelivered" | "already" | "refused";
  /** The message's delivery state when the redelivery was not made. */
  delivery?: string;
  webhookId?: string;
  /** A redelivery claimed earlier whose publisher stopped before the broker took it. */
  resumed?: boolean;
  error?: string;
  /** A refusal in a bulk run's list: the error shape's code and message (`withErrorShape`). */
  type?: ErrorCode;
  message?: string;
  /**
   * Refused because the broker was out of reach or did not confirm in time: the claim was
   * undone, so ask again after this many seconds. The admin port answers it as 503
   * Unavailable with Retry-After, as a replay's.
   */
  retryAfter?: number;
}

/** What a dry run says of a dead callback a real run would send now: nothing claimed or sent. */
export interface RedeliveryPreview {
  id: string;
  result: "would redeliver";
  webhookId: string;
}

/** A bulk run's answer: each entry tried (or, in a dry run, judged), and those skipped. */
export interface RedeliveryRun<R = RedeliveryResult> {
  redelivered: R[];
  skipped: Skipped[];
  /** What ended the run early (Redis not answering): the rest are skipped, not thrown away. */
  failure?: string;
  /**
   * More entries matched than the run's limit let it take (it took the oldest): asking again
   * takes the next ones. Absent when the run took every match.
   */
  more?: true;
}

export interface RedeliveryDeps {
  store: TransactionStore;
  deadCallbacks: DeadCallbacks;
  broker: Broker;
  publisher: ChannelWrapper;
  names: TopologyNames;
  /** The publisher channel's confirm timeout. */
  publishTimeoutMs: number;
  /** `amqpMaxMessageSize`: a larger job is refused, as the response worker refuses it. */
  maxJobBytes?: number;
}

export class CallbackRedeliverer {
  private readonly markMs: number;

  constructor(private readonly deps: RedeliveryDeps) {
    this.markMs = deps.publishTimeoutMs + PUBLISHING_GRACE_MS;
  }

  async redeliver(id: string): Promise<RedeliveryResult> {
    const { store, deadCallbacks, broker, publisher, names } = this.deps;
    const entry = await deadCallbacks.get(id);
    if (!entry) return { id, result: "refused", error: NO_SUCH_DEAD_CALLBACK };
    const token = randomUUID();
    const claim = await deadCallbacks.claim(id, token, this.markMs);
    if (claim === "missing") return { id, result: "refused", error: NO_SUCH_DEAD_CALLBACK };
    if (claim === "gone") {
      return { id, result: "refused", error: "the message's record is gone (past its retention)" };
    }
    if (claim === "already") return { id, result: "already", delivery: entry.delivery };
    // Read after the claim: the document the receiver gets says `delivery: pending`, as the
    // first delivery's did, and holds everything the message has now.
    const tx = await store.get(id);
    if (!tx) {
      await deadCallbacks.unclaim(id, token).catch(() => undefined);
      return { id, result: "refused", error: "the message's record is gone (past its retention)" };
    }
    const job = jobOf(entry, tx);
    const tooLarge = this.tooLarge(id, job);
    if (tooLarge !== null) {
      await deadCallbacks.unclaim(id, token).catch(() => undefined);
      return tooLarge;
    }
    try {
      // Mandatory: a callback queue missing (no response worker ever declared it) is an error,
      // not a silently dropped redelivery.
      await broker.publish(publisher, "", names.callbacksQueue, job, {
        messageId: `${entry.webhookId}.redelivery.${token}`,
        contentType: "application/json",
        mandatory: true,
      });
    } catch (error) {
      await deadCallbacks.unclaim(id, token).catch(() => undefined);
      const retryAfter = error instanceof SluiceError ? error.retryAfter : undefined;
      return {
        id,
        result: "refused",
        error: `the broker did not take the redelivery: ${(error as Error).message}`,
        ...(retryAfter !== undefined ? { retryAfter } : {}),
      };
    }
    // Lost, this mark only lets a later request send it again once the claim's mark expired:
    // the same webhook-id, which the receiver drops as a duplicate.
    await deadCallbacks.confirmed(id, token).catch(() => undefined);
    return {
      id,
      result: "redelivered",
      webhookId: entry.webhookId,
      ...(claim === "resumed" ? { resumed: true } : {}),
    };
  }

  /**
   * Published, a job past `amqpMaxMessageSize` would close the channel on a broker that takes
   * no larger message, or be delivered past the bound the response worker keeps: refused, with
   * no Retry-After (asking again does not help; a bulk redelivery goes on with the others).
   */
  private tooLarge(id: string, job: Buffer): RedeliveryResult | null {
    const maxJobBytes = this.deps.maxJobBytes ?? DEFAULT_AMQP_MAX_MESSAGE_BYTES;
    if (job.length <= maxJobBytes) return null;
    return {
      id,
      result: "refused",
      error:
        `the callback job is ${job.length} bytes, larger than amqpMaxMessageSize of ` +
        `${maxJobBytes} bytes; GET /messages/<id> still has the status document`,
    };
  }

  /**
   * What `redeliver(id)` would answer now, short of the broker's part, claiming and sending
   * nothing: every refusal it makes before publishing (no such entry, the record gone, a job
   * too large, judged on the document as the claim would leave it), `already` for a delivery
   * no longer delivery_failed, else `would redeliver`.
   */
  async preview(id: string): Promise<RedeliveryResult | RedeliveryPreview> {
    const { store, deadCallbacks } = this.deps;
    const entry = await deadCallbacks.get(id);
    if (!entry) return { id, result: "refused", error: NO_SUCH_DEAD_CALLBACK };
    const tx = await store.get(id);
    if (!tx) {
      return { id, result: "refused", error: "the message's record is gone (past its retention)" };
    }
    if (tx.delivery !== "delivery_failed") {
      return { id, result: "already", delivery: tx.delivery };
    }
    const now = Date.now();
    const claimed = {
      ...tx,
      delivery: "pending" as const,
      updatedAt: now,
      history: [...tx.history, { state: "pending" as const, at: now }],
    };
    return (
      this.tooLarge(id, jobOf(entry, claimed)) ?? {
        id,
        result: "would redeliver",
        webhookId: entry.webhookId,
      }
    );
  }

  /**
   * Redelivers each entry still delivery_failed, oldest first. Once the broker did not take one
   * (out of reach, refused, no confirm in time) the rest are skipped, as they are once the
   * process shuts down: all go to the one callbacks queue, and each would wait out the publish
   * timeout again and leave another refused copy in flight.
   */
  async redeliverMany(
    entries: DeadCallback[],
    /** True once the process shuts down: the rest are skipped, to be asked for again. */
    stopping: () => boolean = () => false,
  ): Promise<RedeliveryRun> {
    return this.run(entries, stopping, (id) => this.redeliver(id));
  }

  /**
   * A dry run of `redeliverMany`: the same entries in the same order, the same skips and the
   * refusals known without sending; nothing is claimed or sent.
   */
  async previewMany(
    entries: DeadCallback[],
    stopping: () => boolean = () => false,
  ): Promise<RedeliveryRun<RedeliveryResult | RedeliveryPreview>> {
    return this.run(entries, stopping, (id) => this.preview(id));
  }

  private async run<R extends RedeliveryResult | RedeliveryPreview>(
    entries: DeadCallback[],
    stopping: () => boolean,
    redeliverOne: (id: string) => Promise<R>,
  ): Promise<RedeliveryRun<R>> {
    const redelivered: R[] = [];
    const skipped: Skipped[] = [];
    let stopped: string | null = null;
    let failure: string | undefined;
    for (const entry of [...entries].sort((a, b) => a.at - b.at)) {
      if (stopped === null && stopping()) stopped = "the process is shutting down; ask again";
      if (stopped !== null) {
        skipped.push(skip(entry.id, "Unavailable", stopped));
        continue;
      }
      let result: R;
      try {
        result = await redeliverOne(entry.id);
      } catch (error) {
        failure = error instanceof Error ? error.message : String(error);
        skipped.push(skip(entry.id, "Unavailable", failedAt(failure)));
        stopped = stoppedBy(failure);
        continue;
      }
      redelivered.push(withErrorShape(result, NO_SUCH_DEAD_CALLBACK));
      if (result.result === "refused" && result.retryAfter !== undefined) {
        stopped = `the broker did not take a redelivery; ask again after ${result.retryAfter} s`;
      }
    }
    return failure === undefined ? { redelivered, skipped } : { redelivered, skipped, failure };
  }
}

/** The callback job of a redelivery of `entry`, carrying `tx`'s status document. */
function jobOf(entry: DeadCallback, tx: Transaction): Buffer {
  return callbackJobCodec.encode({
    webhookId: entry.webhookId,
    messageId: entry.id,
    ...jobRefs(tx),
    target: entry.target,
    attempt: 1,
    payload: JSON.stringify(statusDocument(tx)),
    settlesDelivery: true,
    enqueuedAt: Date.now(),
  });
}
