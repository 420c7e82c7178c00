// Whether each backend may be called right now: inside one of its service windows, not paused
// by an operator, and with Redis within reach. Re-checked every second; workers stop consuming
// while a gate is shut.

import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import type { BackendPauses } from "../shared/operator/backend-pauses";
import type { ServiceWindows } from "../shared/config/service-windows";
import { monotonicNow, systemClock, type Clock } from "../shared/runtime/clock";
import { outageOf } from "../shared/runtime/outage";

export type ClosedReason = "paused" | "outside service window" | "waiting for Redis";

/**
 * How long Redis stays out of reach before every gate shuts. Until then a message the worker
 * holds is tried again in place (a failover's seconds pass unnoticed); past it, consuming on
 * would take each message handed back after its minute of trying straight back, and every such
 * hand-back counts against the request queue's delivery limit: twenty of them and the broker
 * dead-letters the message, never called. Shut, the queues keep them for when Redis is back.
 */
export const STORE_OUTAGE_SHUT_MS = 15_000;

interface Gate {
  windows: ServiceWindows;
  paused: boolean;
  open: boolean;
  /** Aborted when the gate shuts, so waits for a slot or token end at once. */
  closing: AbortController;
  listeners: Array<(open: boolean) => void>;
}

export class BackendGates {
  private readonly gates = new Map<string, Gate>();
  private timer: NodeJS.Timeout | undefined;
  /** When (`elapsed`) the pause state's reads began failing for Redis out of reach; null: they work. */
  private storeLostAt: number | null = null;
  private storeDown = false;

  constructor(
    windows: ReadonlyMap<string, ServiceWindows>,
    private readonly pauses: BackendPauses,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly pollMs = 1000,
    /** How long Redis has been out of reach is measured on it: a clock step must not shut. */
    private readonly elapsed: () => number = monotonicNow,
  ) {
    const now = clock.now();
    for (const [backend, backendWindows] of windows) {
      const open = backendWindows.isOpen(now);
      this.gates.set(backend, {
        windows: backendWindows,
        paused: false,
        open,
        closing: closingController(),
        listeners: [],
      });
    }
  }

  /** Reads the pause state once, then keeps every gate current. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.pollMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  isOpen(backend: string): boolean {
    return this.gates.get(backend)?.open ?? true;
  }

  /** Why a backend's gate is shut; null when open. */
  closedReason(backend: string): ClosedReason | null {
    const gate = this.gates.get(backend);
    if (!gate || gate.open) return null;
    if (gate.paused) return "paused";
    // A closed window outlasts an outage: the reason that still holds once Redis is back.
    if (!this.storeDown || !gate.windows.isOpen(this.clock.now())) return "outside service window";
    return "waiting for Redis";
  }

  /** A signal aborted the next time the backend's gate shuts. */
  closingSignal(backend: string): AbortSignal {
    return this.gates.get(backend)?.closing.signal ?? new AbortController().signal;
  }

  /** Calls `listener(open)` whenever the backend's gate opens or shuts. */
  onChange(backend: string, listener: (open: boolean) => void): void {
    this.gates.get(backend)?.listeners.push(listener);
  }

  /** Re-reads the pause state and the clock; exposed so tests and admin calls need not wait. */
  async refresh(): Promise<void> {
    let paused: Set<string> | null = null;
    let unreachable = false;
    try {
      paused = await this.pauses.pausedBackends();
    } catch (error) {
      // Keep the last known pause state. The limits need Redis too, so no call goes out
      // meanwhile anyway; an outage past STORE_OUTAGE_SHUT_MS shuts every gate.
      unreachable = outageOf(error) === "Redis";
      this.log.debug({ err: (error as Error).message }, "could not read paused backends");
    }
    const now = this.clock.now();
    const at = this.elapsed();
    if (paused !== null) this.storeLostAt = null;
    else if (unreachable) this.storeLostAt ??= at;
    const storeDown = this.storeLostAt !== null && at - this.storeLostAt >= STORE_OUTAGE_SHUT_MS;
    if (storeDown !== this.storeDown) {
      this.storeDown = storeDown;
      this.log.warn(
        { outOfReachMs: storeDown ? at - (this.storeLostAt as number) : undefined },
        storeDown
          ? "Redis out of reach: not consuming requests until it is back"
          : "Redis within reach again: consuming requests",
      );
    }
    for (const [backend, gate] of this.gates) {
      if (paused) gate.paused = paused.has(backend);
      const open = !gate.paused && !this.storeDown && gate.windows.isOpen(now);
      if (open === gate.open) continue;
      gate.open = open;
      if (!open) {
        gate.closing.abort(new Error(`backend ${backend} is ${this.closedReason(backend)}`));
        gate.closing = closingController();
      }
      this.log.info(
        { backend, open, reason: this.closedReason(backend) },
        open ? "backend gate opened" : "backend gate shut",
      );
      for (const listener of gate.listeners) listener(open);
    }
  }
}

/** Every message waiting at an open gate listens for it to shut: many listeners are normal. */
function closingController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}
