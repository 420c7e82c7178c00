// The regular expressions of body schemas (`pattern`, `patternProperties`) matched in time
// linear in the text, with RE2 (re2js, pure JavaScript), instead of V8's backtracking engine.
//
// A schema is the operator's, but the text it is matched against is the caller's: with V8, a
// pattern such as `^(a+)+$` took 11 s of the event loop on a 29-character string, and nothing
// can interrupt a running match. RE2 keeps JSON Schema's (ECMA-262, `u` flag) meaning for what
// both engines share; where their classes differ (`\s`, `\S`, `.`) the pattern is rewritten to
// ECMA-262's sets. What RE2 cannot match in linear time (lookahead, lookbehind,
// backreferences) is refused when the schema is compiled, so `sluice check` names it.

import { RE2JS } from "re2js";

/** ECMA-262 WhiteSpace and LineTerminator code points: what `\s` means there (RE2's is ASCII). */
const ECMA_SPACE: readonly (readonly [number, number])[] = [
  [0x09, 0x0d],
  [0x20, 0x20],
  [0xa0, 0xa0],
  [0x1680, 0x1680],
  [0x2000, 0x200a],
  [0x2028, 0x2029],
  [0x202f, 0x202f],
  [0x205f, 0x205f],
  [0x3000, 0x3000],
  [0xfeff, 0xfeff],
];

const LAST_CODE_POINT = 0x10ffff;

function complement(ranges: readonly (readonly [number, number])[]): [number, number][] {
  const gaps: [number, number][] = [];
  let next = 0;
  for (const [from, to] of ranges) {
    if (from > next) gaps.push([next, from - 1]);
    next = to + 1;
  }
  if (next <= LAST_CODE_POINT) gaps.push([next, LAST_CODE_POINT]);
  return gaps;
}

/** Ranges as the inside of an RE2 character class. */
function classBody(ranges: readonly (readonly [number, number])[]): string {
  const point = (code: number) => `\\x{${code.toString(16)}}`;
  return ranges
    .map(([from, to]) => (from === to ? point(from) : `${point(from)}-${point(to)}`))
    .join("");
}

const SPACE = classBody(ECMA_SPACE);
const NOT_SPACE = classBody(complement(ECMA_SPACE));
/** ECMA-262's `.` without the `s` flag: anything but a line terminator. */
const ANY_BUT_LINE_TERMINATOR = "[^\\n\\r\\x{2028}\\x{2029}]";

/** Unicode's long General_Category names, which ECMA-262 accepts and RE2 does not. */
const CATEGORY_ALIASES: Readonly<Record<string, string>> = {
  Letter: "L",
  Cased_Letter: "LC",
  Uppercase_Letter: "Lu",
  Lowercase_Letter: "Ll",
  Titlecase_Letter: "Lt",
  Modifier_Letter: "Lm",
  Other_Letter: "Lo",
  Mark: "M",
  Combining_Mark: "M",
  Nonspacing_Mark: "Mn",
  Spacing_Mark: "Mc",
  Enclosing_Mark: "Me",
  Number: "N",
  Decimal_Number: "Nd",
  digit: "Nd",
  Letter_Number: "Nl",
  Other_Number: "No",
  Punctuation: "P",
  punct: "P",
  Connector_Punctuation: "Pc",
  Dash_Punctuation: "Pd",
  Open_Punctuation: "Ps",
  Close_Punctuation: "Pe",
  Initial_Punctuation: "Pi",
  Final_Punctuation: "Pf",
  Other_Punctuation: "Po",
  Symbol: "S",
  Math_Symbol: "Sm",
  Currency_Symbol: "Sc",
  Modifier_Symbol: "Sk",
  Other_Symbol: "So",
  Separator: "Z",
  Space_Separator: "Zs",
  Line_Separator: "Zl",
  Paragraph_Separator: "Zp",
  Other: "C",
  Control: "Cc",
  cntrl: "Cc",
  Format: "Cf",
  Surrogate: "Cs",
  Private_Use: "Co",
  Unassigned: "Cn",
};

/**
 * A property escape's name as RE2 knows it: ECMA-262's `General_Category=`, `gc=`, `Script=`
 * and `sc=` forms and the long category names become RE2's bare short names and script names.
 * What is left (script aliases such as `Latn`, `Script_Extensions`, binary properties) RE2
 * refuses, and the pattern with it.
 */
function re2PropertyName(name: string): string {
  const bare = name.replace(/^(?:General_Category|gc|Script|sc)=/, "");
  return CATEGORY_ALIASES[bare] ?? bare;
}

const SURROGATE_PAIR = /^\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})/i;

/**
 * The code point of `\uHHHH\uHHHH` at `at` when the two escapes are a surrogate pair (one
 * character to ECMA-262 with the u flag; two lone halves to RE2), else null.
 */
function surrogatePairAt(pattern: string, at: number): number | null {
  const match = SURROGATE_PAIR.exec(pattern.slice(at, at + 12));
  if (!match) return null;
  const high = parseInt(match[1], 16);
  const low = parseInt(match[2], 16);
  return (high - 0xd800) * 0x400 + (low - 0xdc00) + 0x10000;
}

/** Where the `{…}` after the `\p` or `\P` at `at` ends, or -1. */
function propertyEnd(pattern: string, at: number): number {
  return pattern[at + 1] === "{" ? pattern.indexOf("}", at) : -1;
}

/**
 * An ECMA-262 pattern with `\s`, `\S` and `.` spelled as ECMA-262 means them, for RE2 (whose
 * `\s` is ASCII space and whose `.` stops only at `\n`), and its property escapes named as RE2
 * names them. Everything else is left for `RE2JS.translateRegExp`, which handles the rest of
 * the syntax the two spell differently.
 */
export function withEcmaClasses(pattern: string): string {
  let out = "";
  let inClass = false;
  for (let at = 0; at < pattern.length; at++) {
    const char = pattern[at];
    if (char === "\\" && at + 1 < pattern.length) {
      const escaped = pattern[++at];
      // Backreferences, by number or by name: re2js's translation would read `\k<q>` and `\8`
      // as the letter and the digit, matching something else than the schema says.
      if (escaped === "k" || (escaped >= "1" && escaped <= "9")) {
        throw new Error(`RE2 has no backreferences (\\${escaped} at character ${at})`);
      }
      const pair = surrogatePairAt(pattern, at - 1);
      if (pair !== null) {
        out += `\\x{${pair.toString(16)}}`;
        at += 10;
        continue;
      }
      const close = escaped === "p" || escaped === "P" ? propertyEnd(pattern, at) : -1;
      if (escaped === "s") out += inClass ? SPACE : `[${SPACE}]`;
      else if (escaped === "S") out += inClass ? NOT_SPACE : `[${NOT_SPACE}]`;
      else if (close > 0) {
        out += `\\${escaped}{${re2PropertyName(pattern.slice(at + 2, close))}}`;
        at = close;
      } else out += char + escaped;
      continue;
    }
    // A "[" inside a class is itself to ECMA-262; RE2 would read `[:digit:]` as a POSIX class.
    if (char === "[" && inClass) {
      out += "\\[";
      continue;
    }
    if (char === "[" && !inClass) inClass = true;
    else if (char === "]" && inClass) inClass = false;
    else if (char === "." && !inClass) {
      out += ANY_BUT_LINE_TERMINATOR;
      continue;
    }
    out += char;
  }
  return out;
}

/** What ajv needs of a compiled pattern. */
export interface LinearPattern {
  test(text: string): boolean;
  toString(): string;
}

/**
 * A JSON Schema pattern compiled for linear-time matching. Throws for a pattern that is not
 * valid ECMA-262 (with `flags`, ajv's `u`) and for one RE2 cannot match in linear time.
 */
export function compileLinearPattern(pattern: string, flags = "u"): LinearPattern {
  // The schema's own language decides what is valid: RE2 accepts syntax ECMA-262 does not.
  new RegExp(pattern, flags);
  let re2: RE2JS;
  try {
    re2 = RE2JS.compile(RE2JS.translateRegExp(withEcmaClasses(pattern)));
  } catch (error) {
    throw new Error(
      `the pattern ${JSON.stringify(pattern)} is not one RE2 can match ` +
        `(${(error as Error).message}): Sluice matches schema patterns in linear time with ` +
        "RE2, which has no lookahead, lookbehind or backreference, counts repeats up to " +
        "1000 (a length bound is maxLength's) and knows Unicode properties by category and " +
        "script name only (\\p{L}, \\p{Lu}, \\p{Latin})",
    );
  }
  return {
    test: (text) => re2.test(text),
    toString: () => `re2:${pattern}`,
  };
}

/** ajv's `code.regExp` option; `code` is what ajv's standalone code would call (not used). */
export const linearRegExp = Object.assign(compileLinearPattern, {
  code: 'require("sluice/adapter/linear-pattern").compileLinearPattern',
});
