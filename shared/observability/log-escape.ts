// Log lines hold what callers and backends wrote (an X-Road id, a client, a service code, a
// fault's text), and operators read them on a terminal (`kubectl logs`, `tail -f`, the pretty
// format) or with line-oriented tools. JSON already escapes C0 controls; these escape what it
// leaves raw, so no logged value acts on a terminal or splits a line.

/**
 * Characters JSON leaves raw that act on a terminal or end a line for some readers: DEL, the C1
 * controls (U+009B is a CSI, U+0085 a line break), the bidirectional formatting marks (which
 * reorder what a terminal shows), and the Unicode line and paragraph separators.
 */
export const RAW_UNSAFE =
  "\\u007f-\\u009f\\u061c\\u200e\\u200f\\u202a-\\u202e\\u2066-\\u2069\\u2028\\u2029";
const HAS_RAW = new RegExp(`[${RAW_UNSAFE}]`);
const RAW_ALL = new RegExp(`[${RAW_UNSAFE}]`, "g");

const hex = (char: string): string => char.charCodeAt(0).toString(16).padStart(4, "0");

/** A character as its `\uXXXX` escape: JSON's, and the text an operator's terminal shows. */
export const unicodeEscape = (char: string): string => `\\u${hex(char)}`;

/**
 * A JSON log line with every such character as its JSON escape (`\u009b`): the same JSON, the
 * same values once parsed, and nothing raw for a terminal to act on.
 */
export function escapeJsonLogLine(line: string): string {
  return HAS_RAW.test(line) ? line.replace(RAW_ALL, unicodeEscape) : line;
}

/**
 * For the pretty format, which parses each JSON line and prints its values: the same
 * characters, and the C0 controls JSON escaped (but tab and line feed), become a visible
 * `\uXXXX` in the parsed value (their backslash escaped), so the printed line shows them as
 * text. An escaped backslash is passed over whole, never read as the start of an escape.
 */
const PRETTY_UNSAFE = new RegExp(`\\\\(\\\\|u00[01][0-9a-fA-F]|[rbf])|[${RAW_UNSAFE}]`, "g");

export function escapePrettyLogLine(line: string): string {
  return line.replace(PRETTY_UNSAFE, (match: string, escape: string | undefined) => {
    if (escape === undefined) return `\\\\u${hex(match)}`;
    if (escape === "\\" || escape === "u0009" || escape === "u000a") return match;
    return `\\${match}`;
  });
}
