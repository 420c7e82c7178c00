// A worker's claim on one message, known by its token: every later change the worker makes to
// the message's record (renewal, release, its answer) is fenced by it, so a worker whose claim
// lapsed and was taken over (a paused process, a long GC, Redis out of reach) learns that it
// lost the message instead of acting on the other worker's claim.

import { performance } from "node:perf_hooks";
import { untilAnswered } from "../../shared/runtime/until-answered";
import type {
  Reached,
  TransactionMeta,
  TransactionStore,
} from "../../shared/store/transaction-store";

/**
 * How long one worker holds the `processing` claim beyond the backend timeout: long enough to
 * publish the answer, short enough that a crashed worker's message is taken over soon.
 */
export const CLAIM_SLACK_MS = 5_000;

export class ClaimHold {
  /** Another worker holds the message now (or it moved on): this worker stops. */
  lost = false;
  /**
   * A call of the message (this worker's, or one before it) may have reached the backend: a
   * renewal that finds the record lost with Redis's data writes it again marked so.
   */
  called = false;
  /**
   * The outcome is recorded (or this worker's claim on it lost): a record lost since is not
   * written again, or it would stay `processing` when nothing comes to end it (an outcome told
   * in place); a response the response worker stores writes it again with the outcome.
   */
  recorded = false;
  /**
   * The attempt and call count the record kept when the claim was made: a worker that could
   * not park its retry copy handed back a delivery with earlier ones (see `renew`).
   */
  reached: Reached = { attempt: 0, calls: 0 };
  /** When (this process's monotonic clock) the last command that set the lease was sent. */
  private confirmedAt: number;

  constructor(
    private readonly store: TransactionStore,
    /** The message's fixed part, which its record is written again from should Redis lose it. */
    readonly meta: TransactionMeta,
    readonly token: string,
    /** How long the lease runs from its last setting. */
    private lengthMs: number,
    /** When the claim's command was sent (`performance.now()`). */
    sentAt: number,
  ) {
    this.confirmedAt = sentAt;
  }

  get id(): string {
    return this.meta.id;
  }

  /**
   * Extends the claim to `ms` from now; false once it is no longer this worker's. A record
   * gone with Redis's data is nobody else's claim either: it is written again under this claim
   * (and one a copy wrote again meanwhile, claimed by nobody since, is taken back), marked
   * `called` when a call may have reached the backend, so no cancel or expiry ends the message
   * as never sent while this worker still holds it. `reached`: the attempt and call count to
   * keep in the record for the next claim, when the delivery handed back carries earlier ones.
   */
  async renew(ms: number, reached?: Reached): Promise<boolean> {
    if (this.lost) return false;
    const sent = performance.now();
    const options: Parameters<TransactionStore["renewClaim"]>[3] = {
      called: this.called,
      meta: this.recorded ? undefined : this.meta,
    };
    if (reached) options.reached = reached;
    const renewal = await this.store.renewClaim(this.id, ms, this.token, options);
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
   * Writes a record Redis lost again under this claim for a lease's length (a renewal, which
   * does so for a record that is gone); false once the claim is another's, or the record
   * cannot be written (the marker of a refused submission is there).
   */
  async writeAgain(): Promise<boolean> {
    if (this.lost || this.recorded) return false;
    const renewal = await this.store.renewClaim(this.id, this.lengthMs, this.token, {
      called: this.called,
      meta: this.meta,
    });
    if (renewal === "lost") this.lost = true;
    return renewal === "held";
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

  /**
   * Releases the claim (fenced by its token: one taken over by another worker meanwhile stays
   * that worker's), so the message is `accepted` again. A record Redis lost meanwhile is
   * written again when a call may have reached the backend (`called`, or this hold's own mark:
   * a claim taken over from a worker that died may have been called before this worker made
   * a call of its own), marked so: the next copy would write it again knowing nothing of that
   * call, and a cancel or an expiry could then end the message as never sent. So it is when a
   * retry copy was parked (`parkedAttempt`), noting the copy's attempt: written again by a
   * delivery of an earlier attempt (the original, back if its channel closed before its ack),
   * the record would let that one be called at once, before the backoff, beside the copy.
   */
  async release(callMade: boolean, parkedAttempt?: number) {
    const called = callMade || this.called;
    const released = await this.store.transition(this.id, ["processing"], "accepted", {
      called,
      holding: this.token,
      parkedAttempt,
    });
    if (released.result === "missing" && (called || parkedAttempt !== undefined)) {
      await this.store.rebuild(this.meta, called, parkedAttempt);
    }
  }
}

/**
 * The claim lasts as long as this worker holds the message, however long recording the
 * answer takes through an outage: another copy may take it over only if this worker died
 * (or stopped long enough for it to lapse: then the renewal finds it lost and stops).
 * Returns the keeping's stop.
 */
export function keepClaim(hold: ClaimHold, claimMs: number): () => void {
  const keeper = setInterval(
    () =>
      void hold.renew(claimMs).then(
        (held) => held || clearInterval(keeper),
        () => undefined,
      ),
    Math.max(1_000, Math.floor(CLAIM_SLACK_MS / 2)),
  );
  keeper.unref();
  return () => clearInterval(keeper);
}

/**
 * Gives back a claim whose command got no answer (Redis did not answer in time, or the
 * connection broke and the client gave up on it): Redis may have run it, and then the message
 * is `processing` under a claim nobody holds. Left to lapse, it would be taken over as one whose
 * worker may have reached the backend, and marked called: never again cancellable, nor ended
 * `expired`, though no call was made. The release is fenced by the claim's token, so it changes
 * nothing when the claim never ran or another worker took it over since, and it marks nothing
 * called. It goes out after the claim on the same connection (a claim the client sends again
 * after a reconnect goes first), and again while Redis is away, for the claim's length.
 */
export function giveBackUnanswered(
  store: TransactionStore,
  id: string,
  token: string,
  claimMs: number,
): void {
  untilAnswered(
    () => store.transition(id, ["processing"], "accepted", { holding: token }),
    claimMs,
  );
}
