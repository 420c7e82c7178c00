// How many delivery attempts a response worker makes to one receiver at once: a few slots per
// receiver, so one that hangs holds only its own and the others' callbacks keep flowing.

// What one receiver is (its key here) is receiverOf in shared/delivery/callback-target.ts: the
// operator picks dead callbacks by it too.

/** Gives a slot back; call it exactly once. */
export type SlotRelease = () => void;

interface Receiver {
  busy: number;
  /** When an attempt to it last started or ended: a receiver that hangs stops moving. */
  movedAt: number;
  /** Jobs waiting for a slot, first come first served. */
  waiting: Array<(release: SlotRelease | null) => void>;
}

export interface TargetSlotsOptions {
  /** Attempts under way at once to one receiver. */
  perTarget: number;
  /**
   * How long a job may wait for a slot of a receiver that is moving (an attempt to it started
   * or ended that recently); past it, or at once for a receiver that is not, take() gives up.
   */
  waitMs: number;
  now?: () => number;
}

export class TargetSlots {
  private readonly receivers = new Map<string, Receiver>();
  private readonly now: () => number;

  constructor(private readonly options: TargetSlotsOptions) {
    this.now = options.now ?? Date.now;
  }

  /**
   * A slot of the receiver `key`, or null when none is to be had soon. A job waits only for a
   * receiver whose attempts are moving, and no more jobs wait than it has slots: a job held
   * here still counts against the consumer's prefetch, so a receiver that hangs must not
   * gather jobs that others' deliveries need (the caller reschedules a job that got null).
   */
  async take(key: string): Promise<SlotRelease | null> {
    const receiver = this.receivers.get(key) ?? { busy: 0, movedAt: 0, waiting: [] };
    this.receivers.set(key, receiver);
    if (receiver.busy < this.options.perTarget) return this.grant(key, receiver);
    const moving = this.now() - receiver.movedAt < this.options.waitMs;
    if (!moving || receiver.waiting.length >= this.options.perTarget) return null;
    return new Promise<SlotRelease | null>((resolve) => {
      const waiter = (release: SlotRelease | null) => {
        clearTimeout(timer);
        resolve(release);
      };
      const timer = setTimeout(() => {
        const at = receiver.waiting.indexOf(waiter);
        if (at >= 0) receiver.waiting.splice(at, 1);
        this.forgetIdle(key, receiver);
        resolve(null);
      }, this.options.waitMs);
      timer.unref();
      receiver.waiting.push(waiter);
    });
  }

  /** Attempts under way to `key` (for tests and logs). */
  busy(key: string): number {
    return this.receivers.get(key)?.busy ?? 0;
  }

  private grant(key: string, receiver: Receiver): SlotRelease {
    receiver.busy += 1;
    receiver.movedAt = this.now();
    let released = false;
    return () => {
      if (released) return;
      released = true;
      receiver.busy -= 1;
      receiver.movedAt = this.now();
      // The freed slot goes straight to the longest-waiting job, so none is overtaken.
      const next = receiver.waiting.shift();
      if (next) next(this.grant(key, receiver));
      else this.forgetIdle(key, receiver);
    };
  }

  private forgetIdle(key: string, receiver: Receiver) {
    if (receiver.busy === 0 && receiver.waiting.length === 0) this.receivers.delete(key);
  }
}
