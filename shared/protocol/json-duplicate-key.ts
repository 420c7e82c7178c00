// The first member name JSON text repeats within one object, found without parsing it again.
// JSON.parse keeps the last of two equal names, other parsers the first or refuse: a body
// validated as one object could reach a backend as another (RFC 8259 §4, RFC 7493 §2.3).

import { stringEnd } from "./json-text";

/**
 * The first name that appears twice in one object of `text`, or null. `text` must be valid
 * JSON (it is called after JSON.parse accepted it). Names are compared as decoded, so "a" and
 * "\u0061" are the same name. Iterative: the nesting is bounded by the caller's depth check.
 */
export function duplicateJsonKey(text: string): string | null {
  /** Per open object or array: the names seen so far (objects), or null (arrays). */
  const open: Array<Set<string> | null> = [];
  let expectName = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      const start = i;
      i = stringEnd(text, i);
      if (!expectName) continue;
      expectName = false;
      const raw = text.slice(start + 1, i);
      const name = raw.includes("\\") ? (JSON.parse(text.slice(start, i + 1)) as string) : raw;
      const names = open[open.length - 1] as Set<string>;
      if (names.has(name)) return name;
      names.add(name);
    } else if (c === 123) {
      open.push(new Set());
      expectName = true;
    } else if (c === 91) {
      open.push(null);
    } else if (c === 125 || c === 93) {
      open.pop();
    } else if (c === 44) {
      expectName = open[open.length - 1] instanceof Set;
    }
  }
  return null;
}
