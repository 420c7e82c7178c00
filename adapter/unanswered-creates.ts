// Undoing the record of a submission whose create Redis did not answer: the caller was told 503,
// yet the create may still run (Redis was silent, or ioredis sends it again after a reconnect).

import type { Logger } from "pino";
import { messageLogger } from "../shared/observability/logger";
import type { TransactionMeta, TransactionStore } from "../shared/store/transaction-store";
import { isCommandTimeout } from "../shared/store/redis";

/** Undos waiting for Redis at once; beyond it a resubmission's adoption keeps things right. */
const MAX_PENDING = 10_000;

/**
 * Sends a discard behind each unanswered create. The discard goes over the same connection, so
 * Redis runs it after the create when it runs that at all; it removes the record and its
 * de-duplication key (when still this message's) and leaves the refused marker, which a later
 * run of the create respects. The caller's resubmission then is a new message, not a duplicate
 * of a record whose request was never published.
 *
 * A discard that cannot be sent (Redis disconnected) is tried again until `windowMs` passes:
 * after that a resubmission takes an unconfirmed record over and publishes it (adoption), so
 * a create that runs after the last try still ends in one message, under its first id.
 */
export class UnansweredCreates {
  private pending = 0;

  constructor(
    private readonly store: Pick<TransactionStore, "discard">,
    private readonly log: Logger,
    private readonly windowMs: number,
  ) {}

  /** Starts the undo of `meta`'s create; the promise (never rejected) says when it is done. */
  undo(meta: TransactionMeta): Promise<void> {
    if (this.pending >= MAX_PENDING) return Promise.resolve();
    this.pending += 1;
    return this.discard(meta, Date.now() + this.windowMs).finally(() => (this.pending -= 1));
  }

  private async discard(meta: TransactionMeta, until: number): Promise<void> {
    for (let delayMs = 100; ; delayMs = Math.min(delayMs * 2, 1_000)) {
      try {
        await this.store.discard(meta);
        return;
      } catch (error) {
        // Sent and unanswered: it runs after the create, in the same order, or neither runs.
        if (isCommandTimeout(error)) return;
        if (Date.now() + delayMs > until) {
          messageLogger(this.log, meta).warn(
            { err: (error as Error).message },
            "could not undo a create Redis did not answer; a resubmission adopts its record",
          );
          return;
        }
      }
      await new Promise((resolve) => setTimeout(resolve, delayMs));
    }
  }
}
