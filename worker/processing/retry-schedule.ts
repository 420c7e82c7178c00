// When a transient backend failure is tried again: the backend's `retry` schedule mapped onto
// the broker's delay tiers (one TTL queue per distinct backoff value), honouring Retry-After.

/** A backend's compiled `retry: { attempts, backoff }`. `attempts` counts every call, the first included. */
export interface RetryPolicy {
  attempts: number;
  backoffMs: number[];
}

export type RetryPlan =
  /** Park the message in delay tier `tier` (`delayMs` long), then call the backend again. */
  | { retry: true; tier: number; delayMs: number; nextAttempt: number }
  /** Retries exhausted: the outcome is `failed` and the message goes to the dead-letter queue. */
  | { retry: false };

/**
 * The delay tiers of a policy: its distinct backoff values, shortest first. A tier is realised by
 * one broker queue whose message TTL is the tier's delay; the index into this list is the tier.
 */
export function retryTiers(policy: RetryPolicy): number[] {
  return [...new Set(policy.backoffMs)].sort((a, b) => a - b);
}

/**
 * Decides what follows failed attempt number `attempt` (1 = the first call).
 * Retry n waits `backoffMs[n - 1]`, the last value repeating when the list is shorter than the
 * retries. A backend's Retry-After longer than that picks the shortest tier that covers it, or the
 * longest tier when none does: the broker has no queue for arbitrary delays, and waiting longer
 * than asked is safe while calling earlier is not.
 */
export function planRetry(policy: RetryPolicy, attempt: number, retryAfterMs?: number): RetryPlan {
  const tiers = retryTiers(policy);
  if (attempt >= policy.attempts || tiers.length === 0) return { retry: false };
  const index = Math.min(Math.max(attempt, 1), policy.backoffMs.length) - 1;
  let delayMs = policy.backoffMs[index];
  if (retryAfterMs !== undefined && Number.isFinite(retryAfterMs) && retryAfterMs > delayMs) {
    delayMs = tiers.find((tier) => tier >= retryAfterMs) ?? tiers[tiers.length - 1];
  }
  return { retry: true, tier: tiers.indexOf(delayMs), delayMs, nextAttempt: attempt + 1 };
}

/** Checks a policy for the configuration; returns the problems found (empty when valid). */
export function retryProblems(policy: RetryPolicy, path: string): string[] {
  const problems: string[] = [];
  if (!Number.isInteger(policy.attempts) || policy.attempts < 1)
    problems.push(`${path}.attempts must be a whole number >= 1`);
  if (policy.attempts > 1 && policy.backoffMs.length === 0)
    problems.push(`${path}.backoff needs at least one delay when attempts > 1`);
  for (const delay of policy.backoffMs) {
    if (!Number.isFinite(delay) || delay <= 0) {
      problems.push(`${path}.backoff values must be positive durations`);
      break;
    }
  }
  return problems;
}
