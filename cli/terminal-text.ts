// Text for an operator's terminal. What the operator commands print holds texts that backends
// and other X-Road members wrote (a fault's text in a dead letter's error): their control
// characters must show as escapes, never act on the terminal (set its title, clear or rewrite
// what it shows, write to the clipboard).

/**
 * C0 controls but tab and line feed, DEL, C1 controls, and the bidirectional formatting marks
 * (the Arabic letter mark U+061C among them, as Unicode's bidi controls list it beside LRM and RLM).
 */
const UNSAFE =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;
/** The same, and tab and line feed too: a table cell or a result line stays one line. */
// eslint-disable-next-line no-control-regex
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

const escape = (char: string): string => `\\u${char.charCodeAt(0).toString(16).padStart(4, "0")}`;

/**
 * Output as the terminal may show it: line breaks kept, other controls as `\uXXXX`. JSON stays
 * JSON (JSON.stringify escapes C0 itself; a C1 or bidirectional mark becomes its JSON escape).
 */
export function terminalText(text: string): string {
  return text.replace(UNSAFE, escape);
}

/** One line of output (a table cell, an error in a result line): every control as `\uXXXX`. */
export function terminalLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, escape);
}
