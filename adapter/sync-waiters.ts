// Callers waiting in sync mode, held by this adapter instance: each waits for the wake message
// of its message id (Redis pub/sub or the reply queue), or for its deadline, whichever is first.
// One id may have several waiters here: the first caller and sync duplicates of its message.

import { SluiceError } from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";
import type { WakeMessage } from "../shared/protocol/wake-message";

interface Waiter {
  resolve(wake: WakeMessage | null): void;
  timer: NodeJS.Timeout;
}

export class SyncWaiters {
  /** A lone waiter is kept as it is: a Set per id would cost every sync caller memory. */
  private readonly waiters = new Map<string, Waiter | Set<Waiter>>();
  private count = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Registers a waiter before the message is published (or, for a duplicate, before its state
   * is read), so a fast answer is never missed. Resolves with the wake message, or null when
   * `timeoutMs` passes first or `cancel` is called.
   */
  register(
    id: string,
    timeoutMs: number,
  ): { promise: Promise<WakeMessage | null>; cancel(): void } {
    if (this.count >= this.max) {
      throw new SluiceError("Busy", "too many callers waiting for answers", { retryAfter: 2 });
    }
    let resolveFn!: (wake: WakeMessage | null) => void;
    const promise = new Promise<WakeMessage | null>((resolve) => (resolveFn = resolve));
    const waiter: Waiter = {
      resolve: resolveFn,
      timer: setTimeout(() => this.settleOne(id, waiter, null), timeoutMs),
    };
    const held = this.waiters.get(id);
    if (held === undefined) this.waiters.set(id, waiter);
    else if (held instanceof Set) held.add(waiter);
    else this.waiters.set(id, new Set([held, waiter]));
    this.count += 1;
    metrics.syncWaiters.set(this.count);
    return { promise, cancel: () => this.settleOne(id, waiter, null) };
  }

  /** Delivers a wake message to every waiter of its id; false when nobody here waits for it. */
  wake(message: WakeMessage): boolean {
    const held = this.waiters.get(message.id);
    if (held === undefined) return false;
    for (const waiter of held instanceof Set ? [...held] : [held]) {
      this.settleOne(message.id, waiter, message);
    }
    return true;
  }

  /** The ids waited for now (a snapshot). */
  ids(): string[] {
    return [...this.waiters.keys()];
  }

  /** Ends every wait at once (shutdown): each caller gets its 202 instead of a reset. */
  releaseAll(): void {
    for (const [id, held] of [...this.waiters]) {
      for (const waiter of held instanceof Set ? [...held] : [held])
        this.settleOne(id, waiter, null);
    }
  }

  private settleOne(id: string, waiter: Waiter, wake: WakeMessage | null): void {
    const held = this.waiters.get(id);
    if (held === waiter) this.waiters.delete(id);
    else if (held instanceof Set && held.delete(waiter)) {
      if (held.size === 0) this.waiters.delete(id);
    } else return;
    clearTimeout(waiter.timer);
    this.count -= 1;
    metrics.syncWaiters.set(this.count);
    waiter.resolve(wake);
  }
}
