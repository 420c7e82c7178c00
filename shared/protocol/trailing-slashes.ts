// A URL or path without the slashes it ends with, so that a path appended after one slash
// does not make `//`: read from the end, as `replace(/\/+$/, "")` would cost quadratic time
// on a run of slashes followed by anything else.

/** `text` without its trailing slashes (all of them; "" for a text of slashes only). */
export function withoutTrailingSlashes(text: string): string {
  let end = text.length;
  while (end > 0 && text.charCodeAt(end - 1) === 0x2f) end--;
  return end === text.length ? text : text.slice(0, end);
}
