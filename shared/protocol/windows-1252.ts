// windows-1252 decoded by its own table: Node's TextDecoder (20.x) decodes it as ISO-8859-1,
// so "€" (0x80) and "’" (0x92) from a caller declaring windows-1252 became the C1 controls
// U+0080 and U+0092 and reached the backend so, with the caller told 202.

/** Labels of windows-1252 (the WHATWG Encoding Standard's; its Latin-1 labels stay Latin-1 here). */
export const WINDOWS_1252_LABELS = new Set(["windows-1252", "cp1252", "x-cp1252"]);

/**
 * 0x80–0x9F in windows-1252 (WHATWG's index): the five bytes it leaves undefined map to the C1
 * control of the same value, as the standard's decoder does.
 */
const HIGH =
  "\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f" +
  "\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178";
const C1 = /[\u0080-\u009f]/g;

/** The text of windows-1252 bytes: every byte has a character, so nothing is refused. */
export function decodeWindows1252(bytes: Buffer): string {
  return bytes.toString("latin1").replace(C1, (c) => HIGH[c.charCodeAt(0) - 0x80]);
}
