// Walking JSON text without parsing it (its depth, repeated member names, numbers a double does
// not hold): the one piece each walk needs, stepping over a string.

/**
 * Where the string whose opening quote is at `open` ends: the index of its closing quote, its
 * escapes (`\"`, `\\`) stepped over, or `text.length` for text that ends inside it.
 */
export function stringEnd(text: string, open: number): number {
  let i = open + 1;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) return i;
    if (c === 92) i++; // backslash: the escaped character is stepped over
  }
  return text.length;
}
