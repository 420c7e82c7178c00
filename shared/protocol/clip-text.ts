// Text cut to a bound for whatever keeps or sends it (an error's message, a journal field),
// marked as cut, and never left as invalid UTF-16.

/** `text` cut to `max` characters with an ellipsis, never between a surrogate pair's halves. */
export function clipText(text: string, max: number): string {
  if (text.length <= max) return text;
  let end = max - 1;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end -= 1;
  return `${text.slice(0, end)}…`;
}
