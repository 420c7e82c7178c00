// Settings shared by the property tests: a fixed seed and a small number of runs, so the unit
// suite reads the same inputs on every machine and stays fast. PROPERTY_RUNS raises the runs
// and PROPERTY_SEED picks another seed for a longer search (docs/testing.md).

import fc from "fast-check";

const DEFAULT_SEED = 20260419;

function positive(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isSafeInteger(value)) throw new Error(`${name} must be an integer, not "${raw}"`);
  return value;
}

/** fast-check parameters for a property: `runs` runs by default, PROPERTY_RUNS runs when set. */
export function propertyParameters<T>(runs: number): fc.Parameters<T> {
  const scale = positive("PROPERTY_RUNS", 0);
  return {
    seed: positive("PROPERTY_SEED", DEFAULT_SEED),
    numRuns: scale > 0 ? scale : runs,
    endOnFailure: false,
  };
}

/** Asserts `property` with the parameters above. */
export function check<T>(property: fc.IPropertyWithHooks<T> | fc.IProperty<T>, runs: number): void {
  fc.assert(property as fc.IProperty<T>, propertyParameters<T>(runs));
}
