// A character reference (XML 1.0 §4.1, `&#65;` or `&#x41;`): the value it stands for, whether XML
// allows that character, and how a message shows one. Every reader of references asks here.

/** Whether `code` is a character XML 1.0 allows (its Char production). */
export function isXmlChar(code: number): boolean {
  if (code < 0x20) return code === 0x9 || code === 0xa || code === 0xd;
  if (code <= 0xd7ff) return true;
  if (code < 0xe000) return false;
  return code <= 0xfffd || (code >= 0x10000 && code <= 0x10ffff);
}

/**
 * The value of the digits of `text` from `from` to `end` (decimal, or hexadecimal for radix 16),
 * counted only up to past U+10FFFF: no number of digits or leading zeros wraps or rounds into a
 * character XML allows.
 */
export function characterCode(text: string, from: number, end: number, radix: 10 | 16): number {
  let code = 0;
  for (let i = from; i < end && code <= 0x10ffff; i += 1) {
    code = code * radix + parseInt(text[i], 16);
  }
  return code;
}

// A character XML 1.0 cannot carry at all, not even as a character reference (C0 controls but
// tab, LF and CR; U+FFFE, U+FFFF), wherever it is: text, attribute values, CDATA sections,
// comments and PIs alike. Lone surrogates are not among them: the strict decoders of
// xml-encoding.ts refuse the bytes that would make one, so no decoded message holds one (the
// SOAP intake's check adds them: adapter/soap/safe-xml.ts).
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
export const NOT_XML_CHARACTER = /[\x00-\x08\x0B\x0C\x0E-\x1F\uFFFE\uFFFF]/;

/**
 * The first character of `text` that XML does not allow, as `U+0001`, with its offset, or null.
 * One search of a precompiled expression over the whole text: each character is read once.
 */
export function forbiddenCharacter(text: string): { character: string; at: number } | null {
  const match = NOT_XML_CHARACTER.exec(text);
  if (match === null) return null;
  return { character: shownCharacter(match[0].charCodeAt(0)), at: match.index };
}

/** A character for a message, as its code: `U+0001`, `U+FFFF`. */
export function shownCharacter(code: number): string {
  return `U+${code.toString(16).toUpperCase().padStart(4, "0")}`;
}

/** A reference for a message: whole up to 32 characters, else its two ends around "…". */
export function shownReference(reference: string): string {
  return reference.length <= 32 ? reference : `${reference.slice(0, 16)}…${reference.slice(-15)}`;
}

// Sticky: tried only where an "&#" is, never searched on from there.
const REFERENCE = /&#(?:x([0-9a-fA-F]+)|([0-9]+));/y;

/**
 * The first character reference in `text` from `start` to `end` to a character XML does not
 * allow (`&#0;`, `&#xD800;`), with its offset, or null when there is none. The search is held
 * to the run: an answer's text is checked run by run, and a search on to the text's end for
 * each of an answer's 300 000 runs made the check quadratic in the answer's size.
 */
export function forbiddenReference(
  text: string,
  start = 0,
  end = text.length,
): { reference: string; at: number } | null {
  const run = start === 0 && end === text.length ? text : text.slice(start, end);
  let at = run.indexOf("&#");
  while (at >= 0) {
    REFERENCE.lastIndex = at;
    const match = REFERENCE.exec(run);
    if (match !== null) {
      const hex = match[1] !== undefined;
      const from = at + (hex ? 3 : 2);
      const code = characterCode(run, from, REFERENCE.lastIndex - 1, hex ? 16 : 10);
      if (!isXmlChar(code)) return { reference: match[0], at: start + at };
    }
    at = run.indexOf("&#", at + 2);
  }
  return null;
}
