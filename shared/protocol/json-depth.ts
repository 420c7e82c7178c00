// How deep JSON text nests, found without parsing it: V8's JSON.parse takes seconds for text
// nested millions deep (10 MB of "[" took 17 s), so text from elsewhere is measured first.

import { stringEnd } from "./json-text";

/**
 * Nesting a JSON answer of a backend or a security server may have before it is parsed: far
 * deeper than any document, far shallower than what stalls the parser.
 */
export const MAX_ANSWER_JSON_DEPTH = 1000;

/** Whether objects/arrays in JSON text nest deeper than maxDepth, counted without building anything. */
export function jsonDepthExceeds(text: string, maxDepth: number): boolean {
  // Nesting deeper than maxDepth needs more than maxDepth opening brackets in all: most bodies
  // have fewer, and counting them with indexOf (native) spares the walk character by character.
  if (!hasMoreThan(text, "{", "[", maxDepth)) return false;
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) i = stringEnd(text, i);
    else if (c === 123 || c === 91) {
      if (++depth > maxDepth) return true;
    } else if (c === 125 || c === 93) depth--;
  }
  return false;
}

/** Whether `text` holds more than `limit` of the characters `a` and `b` together. */
function hasMoreThan(text: string, a: string, b: string, limit: number): boolean {
  let count = 0;
  for (let at = text.indexOf(a); at !== -1; at = text.indexOf(a, at + 1)) {
    if (++count > limit) return true;
  }
  for (let at = text.indexOf(b); at !== -1; at = text.indexOf(b, at + 1)) {
    if (++count > limit) return true;
  }
  return false;
}
