// What ends a message's waits for a slot or a rate token: the worker's drain, the delivery's
// channel closing, the message's expiry. Made on the first wait only: most messages find a
// slot and a token at once, and a timer and a combined signal for each would be spent for nothing.

import type { Clock } from "../../shared/runtime/clock";
import { eitherSignal, linkedSignal } from "../../shared/runtime/either-signal";

/**
 * Aborts when a message's expiry comes, so waits for a slot or a token end then instead of
 * spending a token on a message that can no longer be sent. The decision itself is always
 * the clock's, at the last look; the timer only cuts the wait short.
 */
class ExpiryAlarm {
  private readonly controller = new AbortController();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly expiresAt: number | null,
    private readonly clock: Clock,
  ) {
    this.arm();
  }

  /**
   * A timer can fire a little before the clock has passed the expiry (Node measures its delay
   * from the loop's cached time, and the clock is the wall clock): it only aborts once the
   * clock agrees, and otherwise waits the rest. Aborted too early, the wait it cut short would
   * be judged not expired, and the message failed instead of expired.
   */
  private arm(): void {
    if (this.expiresAt === null) return;
    const inMs = this.expiresAt - this.clock.now() + 1;
    // Past the largest timer delay the wait ends for other reasons first.
    if (inMs > 2 ** 31 - 1) return;
    if (inMs <= 0) {
      this.controller.abort(new Error("expired"));
      return;
    }
    this.timer = setTimeout(() => this.arm(), inMs);
    this.timer.unref();
  }

  get signal(): AbortSignal {
    return this.controller.signal;
  }

  dispose(): void {
    clearTimeout(this.timer);
  }
}

export class MessageWaits {
  private alarm: ExpiryAlarm | undefined;
  private combined: AbortSignal | undefined;

  constructor(
    private readonly draining: AbortSignal,
    private readonly gone: AbortSignal,
    private readonly expiresAt: number | null,
    private readonly clock: Clock,
  ) {}

  /**
   * Aborts when the drain begins, the delivery's channel closes, or at the message's expiry.
   * A message that never expires shares the drain's and channel's signal with the others; one
   * that does has its own, linked to them by listeners that `dispose` takes off. Made by
   * AbortSignal.any, it stayed entered in the role-long drain signal (Node 20 never takes a
   * collected signal out): memory that grew with every message that waited.
   */
  signal(): AbortSignal {
    if (this.combined) return this.combined;
    if (this.expiresAt === null) {
      this.combined = eitherSignal(this.draining, this.gone);
      return this.combined;
    }
    const linked = linkedSignal([this.draining, this.gone, this.expiry()]);
    this.unlink = linked.dispose;
    this.combined = linked.signal;
    return this.combined;
  }

  private unlink: () => void = () => undefined;

  /** Aborts at the message's expiry (never, when it has none). */
  expiry(): AbortSignal {
    this.alarm ??= new ExpiryAlarm(this.expiresAt, this.clock);
    return this.alarm.signal;
  }

  /** Whether a wait was cut short by the expiry. */
  get expiryFired(): boolean {
    return this.alarm?.signal.aborted ?? false;
  }

  dispose(): void {
    this.unlink();
    this.alarm?.dispose();
  }
}
