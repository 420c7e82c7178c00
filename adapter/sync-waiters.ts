// Callers waiting in sync mode, held by this adapter instance: each waits for the wake message
// of its message id (Redis pub/sub or the reply queue), or for its deadline, whichever is first.
// One id may have several waiters here: the first caller and sync duplicates of its message.

import { SluiceError } from "../shared/protocol/errors";
import { metrics } from "../shared/observability/metrics";
import type { WakeMessage } from "../shared/protocol/wake-message";

/**
 * Past this part of the slots, a client that holds more than this share of the waits held now
 * while other clients wait too is refused: the rest of the slots stay for the others. A half,
 * as for `queue.clientShare`: at most one client can be over it at a time.
 */
export const WAITER_SHARE = 0.5;

/** Why a new wait is refused: every slot taken, or its client over its share of the upper half. */
export type WaitRefusal = "waiters_full" | "waiters_client_share";

/** A refused wait answered: counted under its reason, and its 503 Busy to throw. */
export function countedWaitRefusal(reason: WaitRefusal): SluiceError {
  metrics.backpressureRejections.inc({ reason });
  return waitRefusalError(reason);
}

/** The 503 Busy of a refused wait. */
export function waitRefusalError(reason: WaitRefusal): SluiceError {
  return reason === "waiters_full"
    ? new SluiceError("Busy", "too many callers waiting for answers", { retryAfter: 2 })
    : new SluiceError(
        "Busy",
        "this client holds more than its share of the waits for answers; the rest of the slots is kept for other clients; retry later",
        { retryAfter: 2 },
      );
}

/**
 * One waiting caller: what `register` hands back and what the timer and a wake settle. A class
 * with a shared timeout function, not closures: a sync caller waits up to maxWait, and the
 * closures of a promise's timer and cancel, with the scope they kept, cost each caller more
 * than this object does.
 */
class Waiter {
  readonly promise: Promise<WakeMessage | null>;
  timer: NodeJS.Timeout | undefined;
  private resolveFn!: (wake: WakeMessage | null) => void;

  constructor(
    private readonly owner: SyncWaiters,
    readonly id: string,
    /** The caller's client: its slot counts towards that client's share while it waits. */
    readonly client: string,
  ) {
    this.promise = new Promise<WakeMessage | null>((resolve) => (this.resolveFn = resolve));
  }

  /** Ends the wait with null (the caller hung up), unless it has ended already. */
  cancel(): void {
    this.owner.settle(this, null);
  }

  resolve(wake: WakeMessage | null): void {
    this.resolveFn(wake);
  }
}

function expire(waiter: Waiter): void {
  waiter.cancel();
}

/** What a caller holds while it waits: its answer's promise, and a way to stop waiting. */
export interface Wait {
  readonly promise: Promise<WakeMessage | null>;
  cancel(): void;
}

export class SyncWaiters {
  /** A lone waiter is kept as it is: a Set per id would cost every sync caller memory. */
  private readonly waiters = new Map<string, Waiter | Set<Waiter>>();
  private count = 0;
  /**
   * The waits each client holds now: a wait keeps its slot for as long as it lasts, so who holds
   * the slots is what the share is about, not who began waits lately. At most one entry per
   * slot, so it needs no bound of its own.
   */
  private readonly held = new Map<string, number>();

  constructor(private readonly max: number) {}

  get size(): number {
    return this.count;
  }

  /**
   * Why a new wait of `client` would be refused now, or null. Below half of the slots everyone
   * waits; past it, a client that holds more than WAITER_SHARE of the waits while another client
   * waits too is refused (one waiting alone may take every slot: nobody else needs them), so one
   * client's flood of sync callers (a batch job calling a slow service) leaves the upper half of
   * the slots to the others.
   */
  refusal(client: string): WaitRefusal | null {
    if (this.count >= this.max) return "waiters_full";
    if (this.count < Math.ceil(this.max * WAITER_SHARE)) return null;
    const mine = this.held.get(client) ?? 0;
    return mine < this.count && mine > WAITER_SHARE * this.count ? "waiters_client_share" : null;
  }

  /**
   * Registers a waiter before the message is published (or, for a duplicate, before its state
   * is read), so a fast answer is never missed; refused (Busy) as `refusal` says. Resolves with
   * the wake message, or null when `timeoutMs` passes first or `cancel` is called.
   */
  register(id: string, timeoutMs: number, client: string): Wait {
    const wait = this.tryRegister(id, timeoutMs, client);
    if (typeof wait === "string") throw waitRefusalError(wait);
    return wait;
  }

  /**
   * As `register`, but a refused wait is answered with why (`refusal`) rather than thrown: the
   * intake answers a new message's refusal and a duplicate's differently, and asked `refusal`
   * first only to have `register` ask it again.
   */
  tryRegister(id: string, timeoutMs: number, client: string): Wait | WaitRefusal {
    const refused = this.refusal(client);
    if (refused !== null) return refused;
    this.held.set(client, (this.held.get(client) ?? 0) + 1);
    const waiter = new Waiter(this, id, client);
    waiter.timer = setTimeout(expire, timeoutMs, waiter);
    const held = this.waiters.get(id);
    if (held === undefined) this.waiters.set(id, waiter);
    else if (held instanceof Set) held.add(waiter);
    else this.waiters.set(id, new Set([held, waiter]));
    this.count += 1;
    metrics.syncWaiters.set(this.count);
    return waiter;
  }

  /** Delivers a wake message to every waiter of its id; false when nobody here waits for it. */
  wake(message: WakeMessage): boolean {
    const held = this.waiters.get(message.id);
    if (held === undefined) return false;
    for (const waiter of held instanceof Set ? [...held] : [held]) {
      this.settle(waiter, message);
    }
    return true;
  }

  /** The ids waited for now (a snapshot). */
  ids(): string[] {
    return [...this.waiters.keys()];
  }

  /** Ends every wait at once (shutdown): each caller gets its 202 instead of a reset. */
  releaseAll(): void {
    for (const held of [...this.waiters.values()]) {
      for (const waiter of held instanceof Set ? [...held] : [held]) this.settle(waiter, null);
    }
  }

  /** Ends one wait with `wake` (null: no answer), once; a later call does nothing. */
  settle(waiter: Waiter, wake: WakeMessage | null): void {
    const { id } = waiter;
    const held = this.waiters.get(id);
    if (held === waiter) this.waiters.delete(id);
    else if (held instanceof Set && held.delete(waiter)) {
      if (held.size === 0) this.waiters.delete(id);
    } else return;
    clearTimeout(waiter.timer);
    const mine = (this.held.get(waiter.client) ?? 1) - 1;
    if (mine > 0) this.held.set(waiter.client, mine);
    else this.held.delete(waiter.client);
    this.count -= 1;
    metrics.syncWaiters.set(this.count);
    waiter.resolve(wake);
  }
}
