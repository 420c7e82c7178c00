// A worker's claim on one message, known by its token: every later change the worker makes to
// the message's record (renewal, release, its answer) is fenced by it, so a worker whose claim
// lapsed and was taken over (a paused process, a long GC, Redis out of reach) learns that it
// lost the message instead of acting on the other worker's claim.

import { performance } from "node:perf_hooks";
import type { TransactionStore } from "../shared/store/transaction-store";

export class ClaimHold {
  /** Another worker holds the message now (or it moved on): this worker stops. */
  lost = false;
  /** When (this process's monotonic clock) the last command that set the lease was sent. */
  private confirmedAt: number;

  constructor(
    private readonly store: TransactionStore,
    readonly id: string,
    readonly token: string,
    /** How long the lease runs from its last setting. */
    private lengthMs: number,
    /** When the claim's command was sent (`performance.now()`). */
    sentAt: number,
  ) {
    this.confirmedAt = sentAt;
  }

  /**
   * Extends the claim to `ms` from now; false once it is no longer this worker's. A record
   * gone with Redis's data is nobody else's claim either: the worker carries on (its answer
   * writes the record again).
   */
  async renew(ms: number): Promise<boolean> {
    if (this.lost) return false;
    const sent = performance.now();
    const renewal = await this.store.renewClaim(this.id, ms, this.token);
    if (renewal === "lost") {
      this.lost = true;
      return false;
    }
    if (renewal === "held") {
      this.confirmedAt = sent;
      this.lengthMs = ms;
    }
    return true;
  }

  /**
   * Whether this worker still holds the claim, asked right before a backend call. Redis is
   * asked only when half the lease has passed since it was last set: a process that was paused
   * (or starved) for longer may have lost it, and the renewal that would tell it so may not
   * have been answered yet when the call is about to go out. Monotonic time, so the machine's
   * clock being set meanwhile changes nothing.
   */
  async stillHeld(): Promise<boolean> {
    if (this.lost) return false;
    if (performance.now() - this.confirmedAt < this.lengthMs / 2) return true;
    return this.renew(this.lengthMs);
  }
}
