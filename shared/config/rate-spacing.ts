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
  return {
    intervalUs: Math.max(1, Math.round(baseUs + remainderUs / rate.limit)),
    toleranceUs: Math.max(0, Math.round(rate.burst * baseUs - fromBurstUs)),
  };
}
