// A warning a flood must not turn into a flood of lines: per reason, the first occurrence is
// logged at once and the rest of its interval as one line with their count, then silence.

import type { Logger } from "pino";

/** Runs `fire` after `ms`; the answer cancels it. Injectable so tests need no clock. */
export type Schedule = (fire: () => void, ms: number) => () => void;

const unrefTimer: Schedule = (fire, ms) => {
  const timer = setTimeout(fire, ms);
  timer.unref();
  return () => clearTimeout(timer);
};

interface Window {
  /** Occurrences since the last line of the reason. */
  count: number;
  /** The fields of the latest of them (its remote address, say). */
  latest: Record<string, unknown>;
  cancel: () => void;
}

/**
 * One `warn` line per reason per interval at most. Each line carries `reason`, `count` (the
 * occurrences it stands for: 1 for the first, then those of the interval that had no line of
 * their own) and the fields of the latest occurrence. Reasons must come from a closed set: each
 * is remembered until a whole interval passed without it.
 */
export class ThrottledWarning<Reason extends string> {
  private readonly windows = new Map<Reason, Window>();

  constructor(
    private readonly log: Logger,
    private readonly message: string,
    private readonly intervalMs = 10_000,
    private readonly schedule: Schedule = unrefTimer,
  ) {}

  note(reason: Reason, fields: Record<string, unknown> = {}): void {
    const open = this.windows.get(reason);
    if (open) {
      open.count += 1;
      open.latest = fields;
      return;
    }
    this.log.warn({ ...fields, reason, count: 1 }, this.message);
    this.open(reason);
  }

  /** Stops the timers; what the open intervals counted is logged now. */
  close(): void {
    for (const [reason, window] of this.windows) {
      window.cancel();
      if (window.count > 0) this.line(reason, window);
    }
    this.windows.clear();
  }

  private open(reason: Reason): void {
    const window: Window = { count: 0, latest: {}, cancel: () => undefined };
    window.cancel = this.schedule(() => this.endOf(reason, window), this.intervalMs);
    this.windows.set(reason, window);
  }

  private endOf(reason: Reason, window: Window): void {
    this.windows.delete(reason);
    if (window.count === 0) return;
    this.line(reason, window);
    // Another interval of silence after this line, so lines stay one per interval.
    this.open(reason);
  }

  private line(reason: Reason, window: Window): void {
    this.log.warn({ ...window.latest, reason, count: window.count }, this.message);
  }
}
