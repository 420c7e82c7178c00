// The legacy simulator's behaviour knobs (latency, capacity, error rate, pause) and the one
// validator used for start options and for runtime changes through `PUT /sim/settings`.

export interface LegacySimSettings {
  /** Base answer delay in milliseconds; 0 answers at once. */
  latencyMs: number;
  /** Each call's delay is latencyMs ± a uniform random jitter up to this many milliseconds. */
  jitterMs: number;
  /** Calls in flight beyond this are answered 503 with `Retry-After: 1`; 0 means unlimited. */
  maxConcurrency: number;
  /** Fraction (0..1) of calls answered 500. */
  errorRate: number;
  /** While true, arriving calls wait (counted in flight) until it turns false. */
  paused: boolean;
}

export const DEFAULT_SETTINGS: Readonly<LegacySimSettings> = {
  latencyMs: 0,
  jitterMs: 0,
  maxConcurrency: 0,
  errorRate: 0,
  paused: false,
};

export type SettingsResult =
  { ok: true; settings: LegacySimSettings } | { ok: false; problems: string[] };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Applies a partial change to the current settings. Every problem is listed at once and
 * nothing changes unless the whole patch is valid. `null` for maxConcurrency means unlimited.
 */
export function applySettingsPatch(current: LegacySimSettings, patch: unknown): SettingsResult {
  if (!isObject(patch)) return { ok: false, problems: ["settings must be a JSON object"] };
  const next: LegacySimSettings = { ...current };
  const problems: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    switch (key) {
      case "latencyMs":
      case "jitterMs":
        if (typeof value === "number" && Number.isFinite(value) && value >= 0) next[key] = value;
        else problems.push(`${key} must be a number of milliseconds >= 0`);
        break;
      case "maxConcurrency":
        if (value === null) next.maxConcurrency = 0;
        else if (typeof value === "number" && Number.isInteger(value) && value >= 0)
          next.maxConcurrency = value;
        else problems.push("maxConcurrency must be an integer >= 0 (0 or null = unlimited)");
        break;
      case "errorRate":
        if (typeof value === "number" && value >= 0 && value <= 1) next.errorRate = value;
        else problems.push("errorRate must be a number from 0 to 1");
        break;
      case "paused":
        if (typeof value === "boolean") next.paused = value;
        else problems.push("paused must be true or false");
        break;
      default:
        problems.push(`unknown setting "${key}"`);
    }
  }
  return problems.length > 0 ? { ok: false, problems } : { ok: true, settings: next };
}
