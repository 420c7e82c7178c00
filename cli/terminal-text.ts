// Text for an operator's terminal. What the operator commands print holds texts that backends
// and other X-Road members wrote (a fault's text in a dead letter's error): their control
// characters must show as escapes, never act on the terminal (set its title, clear or rewrite
// what it shows, write to the clipboard).

import { RAW_UNSAFE, unicodeEscape } from "../shared/observability/log-escape";

/**
 * C0 controls but tab and line feed, and what a log line escapes too (shared/observability/
 * log-escape.ts): DEL, C1 controls, the bidirectional formatting marks (the Arabic letter mark
 * U+061C among them, as Unicode's bidi controls list it beside LRM and RLM), and the line and
 * paragraph separators.
 */
const UNSAFE = new RegExp(`[\\u0000-\\u0008\\u000b-\\u001f${RAW_UNSAFE}]`, "g");
/** The same, and tab and line feed too: a table cell or a result line stays one line. */
const UNSAFE_IN_LINE = new RegExp(`[\\u0000-\\u001f${RAW_UNSAFE}]`, "g");

/**
 * Output as the terminal may show it: line breaks kept, other controls as `\uXXXX`. JSON stays
 * JSON (JSON.stringify escapes C0 itself; a C1 or bidirectional mark becomes its JSON escape).
 */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, unicodeEscape);
}

/** One line of output (a table cell, an error in a result line): every control as `\uXXXX`. */
export function terminalLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, unicodeEscape);
}
