// Whether each backend may be called right now: inside one of its service windows and not
// paused by an operator. Re-checked every second; workers stop consuming while a gate is shut.

import { setMaxListeners } from "node:events";
import type { Logger } from "pino";
import type { BackendPauses } from "../shared/operator/backend-pauses";
import type { ServiceWindows } from "../shared/config/service-windows";
import { systemClock, type Clock } from "../shared/runtime/clock";

export type ClosedReason = "paused" | "outside service window";

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

  constructor(
    windows: ReadonlyMap<string, ServiceWindows>,
    private readonly pauses: BackendPauses,
    private readonly log: Logger,
    private readonly clock: Clock = systemClock,
    private readonly pollMs = 1000,
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
    return gate.paused ? "paused" : "outside service window";
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
    try {
      paused = await this.pauses.pausedBackends();
    } catch (error) {
      // Redis unreachable: keep the last known pause state. The limits need Redis too, so no
      // call goes out meanwhile anyway.
      this.log.debug({ err: (error as Error).message }, "could not read paused backends");
    }
    const now = this.clock.now();
    for (const [backend, gate] of this.gates) {
      if (paused) gate.paused = paused.has(backend);
      const open = !gate.paused && gate.windows.isOpen(now);
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
