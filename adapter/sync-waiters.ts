// Callers waiting in sync mode, held by this adapter instance: each waits for the wake message
// of its own id on this instance's reply queue, or for its deadline, whichever comes first.

import { SluiceError } from "../shared/errors";
import { metrics } from "../shared/metrics";
import type { WakeMessage } from "../shared/wake-message";

interface Waiter {
  resolve(wake: WakeMessage | null): void;
  timer: NodeJS.Timeout;
}

export class SyncWaiters {
  private readonly waiters = new Map<string, Waiter>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.waiters.size;
  }

  /**
   * Registers a waiter before the message is published, so a fast answer is never missed.
   * Resolves with the wake message, or null when `timeoutMs` passes first.
   */
  register(
    id: string,
    timeoutMs: number,
  ): { promise: Promise<WakeMessage | null>; cancel(): void } {
    if (this.waiters.size >= this.max) {
      throw new SluiceError("Busy", "too many callers waiting for answers", { retryAfter: 2 });
    }
    let resolveFn!: (wake: WakeMessage | null) => void;
    const promise = new Promise<WakeMessage | null>((resolve) => (resolveFn = resolve));
    const timer = setTimeout(() => this.settle(id, null), timeoutMs);
    this.waiters.set(id, { resolve: resolveFn, timer });
    metrics.syncWaiters.set(this.waiters.size);
    return { promise, cancel: () => this.settle(id, null) };
  }

  /** Delivers a wake message; false when nobody here waits for that id (any more). */
  wake(message: WakeMessage): boolean {
    return this.settle(message.id, message);
  }

  /** Ends every wait at once (shutdown): each caller gets its 202 instead of a reset. */
  releaseAll(): void {
    for (const id of [...this.waiters.keys()]) this.settle(id, null);
  }

  private settle(id: string, wake: WakeMessage | null): boolean {
    const waiter = this.waiters.get(id);
    if (!waiter) return false;
    this.waiters.delete(id);
    clearTimeout(waiter.timer);
    metrics.syncWaiters.set(this.waiters.size);
    waiter.resolve(wake);
    return true;
  }
}
