// The time source for code that decides by the clock (service windows, expiry, leases,
// retention, retry schedules): handed in, so tests can set it and nothing depends on the hour.

export interface Clock {
  /** Milliseconds since the Unix epoch, as Date.now(). */
  now(): number;
}

export const systemClock: Clock = { now: () => Date.now() };

/** A clock that reads `at` until moved: for tests and replays. */
export class FixedClock implements Clock {
  constructor(private at: number) {}

  now(): number {
    return this.at;
  }

  set(at: number | string): void {
    this.at = typeof at === "string" ? Date.parse(at) : at;
  }

  advance(ms: number): void {
    this.at += ms;
  }
}

/**
 * Milliseconds on the monotonic clock (`performance.now()`, from an arbitrary start): for how
 * long something lasts within this process (a wait, a session), which a wall clock set back or
 * forward meanwhile (NTP, a resumed VM) must not lengthen or cut short.
 */
export const monotonicNow = (): number => performance.now();
