// Text cut to a bound for whatever keeps, sends or shows it (an error's message, a journal
// field, a table column), never left as invalid UTF-16.

/** `text` cut to at most `max` UTF-16 units, never between a surrogate pair's halves. */
export function cutText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return text.slice(0, end);
}

/** `text` cut to `max` characters with an ellipsis, never between a surrogate pair's halves. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  return `${cutText(text, max - 1)}…`;
}

// With the u flag a pair is one code point, never a surrogate (Cs): only lone halves match.
const LONE_SURROGATES = /\p{Cs}/gu;

/**
 * `text` with each lone surrogate (half of a pair without the other, as a JSON `"\ud800"` reads)
 * made U+FFFD: no character at all, it is written as `\ud800` in a status document a strict JSON
 * reader then refuses, and as U+FFFD in UTF-8 anyway.
 */
export function wholeCharacters(text: string): string {
  return text.replace(LONE_SURROGATES, "\uFFFD");
}
