// Number text a double does not hold: JSON.parse reads 12345678901234567890 as the nearest
// double and JSON.stringify writes 12345678901234567000, so JSON passed through them changes.

import { stringEnd } from "./json-text";

/** Up to 15 significant digits any double holds (DBL_DIG): shorter number text is exact. */
const MAY_BE_INEXACT = /[0-9.]{16}|[0-9][eE]/;

/**
 * Whether number text (JSON's grammar, or XML Schema's decimal with a sign and an exponent)
 * means the same value as the double JavaScript reads it as, written back as JavaScript does.
 */
export function isExactNumber(text: string): boolean {
  if (!MAY_BE_INEXACT.test(text)) return true;
  const value = Number(text);
  return Number.isFinite(value) && decimalOf(text) === decimalOf(String(value));
}

/** Number text as a canonical decimal: sign, significant digits, exponent ("-123e-2"). */
function decimalOf(text: string): string {
  const match = /^([+-]?)(\d*)(?:\.(\d*))?(?:[eE]([+-]?\d+))?$/.exec(text.trim());
  if (!match) return text;
  const [, sign, whole, fraction = "", exponent = "0"] = match;
  const digits = `${whole}${fraction}`;
  const first = digits.search(/[1-9]/);
  if (first === -1) return "0";
  let last = digits.length;
  while (digits.charCodeAt(last - 1) === 48) last--;
  const significant = digits.slice(first, last);
  const scale = Number(exponent) - fraction.length + (digits.length - first - significant.length);
  return `${sign === "-" ? "-" : ""}${significant}e${scale}`;
}

/**
 * The first number of JSON text that a double does not hold exactly, or null. `text` must be
 * valid JSON. Text with no run of 16 digits and no exponent is answered without walking it.
 */
export function inexactJsonNumber(text: string): string | null {
  let found: string | null = null;
  forEachInexact(text, (start, end) => {
    found = text.slice(start, end);
    return false;
  });
  return found;
}

/**
 * `text` (JSON, or text that fails to parse as such after) with every number a double does not hold written as a JSON string of its
 * digits, for a reader to whom a number and its text are the same (an XML element's content).
 */
export function quoteInexactNumbers(text: string): string {
  let quoted = "";
  let from = 0;
  forEachInexact(text, (start, end) => {
    quoted += `${text.slice(from, start)}"${text.slice(start, end)}"`;
    from = end;
    return true;
  });
  return from === 0 ? text : quoted + text.slice(from);
}

/** Calls `visit` with each inexact number's bounds until it answers false. */
function forEachInexact(text: string, visit: (start: number, end: number) => boolean): void {
  if (!MAY_BE_INEXACT.test(text)) return;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34) {
      i = stringEnd(text, i);
    } else if (c === 45 || (c >= 48 && c <= 57)) {
      const start = i;
      while (i + 1 < text.length && isNumberCharacter(text.charCodeAt(i + 1))) i++;
      if (!isExactNumber(text.slice(start, i + 1)) && !visit(start, i + 1)) return;
    }
  }
}

/** Digits, sign, point and exponent: what may follow a number's first character. */
function isNumberCharacter(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46 || c === 43 || c === 45 || c === 101 || c === 69;
}
