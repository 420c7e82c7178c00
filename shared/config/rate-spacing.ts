// How a backend's rate spaces its calls: the generic cell rate algorithm's emission interval
// and burst tolerance. The worker's limiter keeps them in Redis; the configuration check counts
// how long a held message may wait for its token by the same interval.

/** A backend's agreed rate: `limit` calls per `perMs`, plus at most `burst` extra after idle. */
export interface RateLimit {
  limit: number;
  perMs: number;
  burst: number;
  /**
   * How much later than its grant a call may reach the backend and still be within the promise
   * (`rate.guard`); default 25 ms, at most a fortieth of the period. A remote X-Road service is
   * reached through two security servers, whose delays vary more: its operator sets more.
   */
  guardMs?: number;
}

/**
 * Delivery between the grant and the backend's receipt jitters by a few milliseconds (event
 * loop, sockets). Holding back this much of the burst tolerance keeps the backend's own count
 * within `limit + burst` per window even when the first call of a burst is delayed.
 */
export const JITTER_GUARD_MS = 25;

/**
 * Emission interval and burst tolerance in microseconds for a rate. The jitter guard (25 ms,
 * at most a fortieth of the period) comes out of the burst tolerance first; what the burst
 * cannot cover lengthens the interval, spread over the period (at most 2.5 % of the rate).
 * Either way `limit + burst + 1` grants span at least the period plus the guard.
 */
export function gcraParameters(rate: RateLimit): { intervalUs: number; toleranceUs: number } {
  const baseUs = (rate.perMs * 1000) / rate.limit;
  // A configured guard is the operator's (up to half the period); the default stays small.
  const guardUs =
    rate.guardMs === undefined
      ? Math.min(JITTER_GUARD_MS * 1000, (rate.perMs * 1000) / 40)
      : Math.min(rate.guardMs * 1000, (rate.perMs * 1000) / 2);
  const fromBurstUs = Math.min(guardUs, rate.burst * baseUs);
  const remainderUs = guardUs - fromBurstUs;
  // Whole microseconds (the limiter's unit in Redis), rounded the safe way: an interval rounded
  // down would let a rate of tens of thousands a period grant a few per cent more than its
  // limit; rounded up it grants at most that much less.
  return {
    intervalUs: Math.max(1, wholeUs(baseUs + remainderUs / rate.limit, Math.ceil)),
    toleranceUs: Math.max(0, wholeUs(rate.burst * baseUs - fromBurstUs, Math.floor)),
  };
}

/**
 * `us` in whole microseconds, rounded by `round` past a billionth of one: a quotient that is
 * whole but for floating point (20 000.000000000004) is not moved a microsecond.
 */
function wholeUs(us: number, round: (x: number) => number): number {
  const near = Math.round(us);
  return Math.abs(us - near) < 1e-9 * Math.max(1, Math.abs(us)) ? near : round(us);
}
