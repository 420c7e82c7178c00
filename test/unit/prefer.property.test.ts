// Property tests of the RFC 7240 `Prefer` reader (adapter/prefer.ts) against a reference reader
// written here from the RFC's grammar: for any header values, never a throw and a bounded
// result; for well-formed lists of preferences (tokens, quoted values with quoted-pairs,
// parameters, optional white space, any case, one header or several) the same respond-async and
// wait as the reference; what is not a preference of its own (a name inside a quoted value, an
// unknown preference, garbage) never reads as one; an element the grammar does not read
// (`wait=5=6`) is left out whole, and several lines are one list. Seeded and bounded:
// test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { parsePrefer, type Preferences } from "../../adapter/prefer";
import { check } from "../support/property-runs";

const LONGEST_WAIT_S = 2 ** 31;

// --- Reference reader (RFC 7240 §2, RFC 9110 §5.6) -------------------------------------------
//   Prefer     = 1#preference
//   preference = token [ BWS "=" BWS word ] *( OWS ";" [ OWS parameter ] )
//   parameter  = token [ BWS "=" BWS word ]
//   word       = token / quoted-string
// A list element that does not match is left out; the others count, a name case-insensitively,
// each preference by its first instance.

const TCHAR = /[!#$%&'*+\-.^_`|~0-9A-Za-z]/;

interface Item {
  name: string;
  value: string | undefined;
}

/** The elements of one header value, or null for an element that is not a preference. */
function referenceItems(text: string): (Item | null)[] {
  const items: (Item | null)[] = [];
  let i = 0;
  const ows = (): void => {
    while (text[i] === " " || text[i] === "\t") i++;
  };
  const token = (): string => {
    const start = i;
    while (i < text.length && TCHAR.test(text[i])) i++;
    return text.slice(start, i);
  };
  const quoted = (): string | null => {
    if (text[i] !== '"') return null;
    i++;
    let out = "";
    while (i < text.length) {
      const c = text[i];
      if (c === '"') {
        i++;
        return out;
      }
      if (c === "\\") {
        const next = text[i + 1];
        if (next === undefined || !/[\t\x20-\x7e\x80-\xff]/.test(next)) return null;
        out += next;
        i += 2;
        continue;
      }
      if (!/[\t\x20\x21\x23-\x5b\x5d-\x7e\x80-\xff]/.test(c)) return null;
      out += c;
      i++;
    }
    return null;
  };
  /** token [ BWS "=" BWS word ], or null. */
  const pair = (): Item | null => {
    const name = token();
    if (name === "") return null;
    const save = i;
    ows();
    if (text[i] !== "=") {
      i = save;
      return { name, value: undefined };
    }
    i++;
    ows();
    const value = text[i] === '"' ? quoted() : token();
    if (value === null || (value === "" && text[i - 1] === "=")) return null;
    return { name, value };
  };
  /** Skips to the next comma outside a quoted string. */
  const skipElement = (): void => {
    let inQuotes = false;
    while (i < text.length) {
      const c = text[i];
      if (inQuotes && c === "\\") i++;
      else if (c === '"') inQuotes = !inQuotes;
      else if (c === "," && !inQuotes) return;
      i++;
    }
  };
  while (i < text.length) {
    ows();
    if (text[i] === ",") {
      i++;
      continue;
    }
    if (i >= text.length) break;
    const start = i;
    let item = pair();
    while (item !== null) {
      const save = i;
      ows();
      if (text[i] !== ";") {
        i = save;
        break;
      }
      i++;
      ows();
      if (text[i] === ";" || text[i] === "," || i >= text.length) continue;
      if (pair() === null) item = null;
    }
    ows();
    if (item === null || (i < text.length && text[i] !== ",")) {
      i = start;
      skipElement();
      items.push(null);
    } else items.push(item);
  }
  return items;
}

/** Several header lines are one list, their values joined by commas (RFC 9110 §5.3). */
function referencePrefer(values: string[]): Preferences {
  const prefs: Preferences = { respondAsync: false, wait: null };
  let waitSeen = false;
  for (const item of referenceItems(values.join(", "))) {
    if (item === null) continue;
    const name = item.name.toLowerCase();
    if (name === "respond-async") prefs.respondAsync = true;
    else if (name === "wait" && !waitSeen) {
      waitSeen = true;
      if (item.value !== undefined && /^\d+$/.test(item.value))
        prefs.wait = Math.min(Number(item.value), LONGEST_WAIT_S);
    }
  }
  return prefs;
}

// --- Generators ------------------------------------------------------------------------------

const ows = fc.constantFrom("", " ", "\t", "  ", " \t");
const anyCase = (word: string): fc.Arbitrary<string> =>
  fc
    .array(fc.boolean(), { minLength: word.length, maxLength: word.length })
    .map((upper) => [...word].map((c, k) => (upper[k] ? c.toUpperCase() : c)).join(""));
const tokenText = fc.string({
  unit: fc.constantFrom(..."!#$%&'*+-.^_`|~09azAZ"),
  minLength: 1,
  maxLength: 8,
});
/** Text a quoted-string may hold: commas, semicolons, equals signs and preference names too. */
const quotedInner = fc
  .array(
    fc.oneof(
      fc.constantFrom(",", ";", "=", " ", "\t", "wait=5", "respond-async", "é", "a", "0"),
      fc.constantFrom('\\"', "\\\\", "\\5", "\\a", "\\,"),
    ),
    { maxLength: 6 },
  )
  .map((parts) => parts.join(""));
const quotedString = quotedInner.map((inner) => `"${inner}"`);
const digits = fc.oneof(
  fc.nat({ max: 1000 }).map(String),
  fc.bigInt({ min: 0n, max: 10n ** 40n }).map(String),
  fc.nat({ max: 99 }).map((n) => `000${n}`),
);
const waitValue = fc.oneof(
  digits,
  digits.map((d) => `"${d}"`),
  fc.constantFrom("-1", "1.5", "1e3", "abc", '""', "+5", "0x10"),
  quotedString,
);
const word = fc.oneof(tokenText, quotedString);
const parameter = fc
  .tuple(tokenText, fc.option(fc.tuple(ows, ows, word)))
  .map(([name, v]) => (v ? `${name}${v[0]}=${v[1]}${v[2]}` : name));
const preference = fc
  .tuple(
    fc.oneof(
      anyCase("respond-async").map((name) => ({ name, value: fc.constant<string | null>(null) })),
      anyCase("wait").map((name) => ({ name, value: waitValue as fc.Arbitrary<string | null> })),
      anyCase("return").map((name) => ({
        name,
        value: fc.constantFrom<string | null>("minimal", "representation", '"minimal"'),
      })),
      anyCase("handling").map((name) => ({
        name,
        value: fc.constantFrom<string | null>("lenient", "strict"),
      })),
      tokenText.map((name) => ({ name, value: fc.option(word) })),
    ),
    fc.array(fc.tuple(ows, ows, parameter), { maxLength: 2 }),
  )
  .chain(([{ name, value }, params]) =>
    fc.tuple(value, ows, ows).map(([v, before, after]) => {
      const head = v === null ? name : `${name}${before}=${after}${v}`;
      return head + params.map(([a, b, p]) => `${a};${b}${p}`).join("");
    }),
  );
const preferenceList = fc
  .array(fc.tuple(ows, preference, ows), { minLength: 1, maxLength: 5 })
  .map((items) => items.map(([a, p, b]) => `${a}${p}${b}`).join(","));
const headerValues = fc.array(preferenceList, { minLength: 1, maxLength: 3 });

/**
 * An element that is no preference by the grammar: a value followed by another `=`, by a
 * space and more, or by a quoted-string; a parameter without a name.
 */
const malformed = fc
  .tuple(
    fc.oneof(anyCase("wait"), anyCase("respond-async"), tokenText),
    fc.oneof(digits, tokenText),
    fc.constantFrom("=", " ", '"x"', ";=", "=="),
    fc.oneof(digits, tokenText),
  )
  .map(([name, value, joint, rest]) => `${name}=${value}${joint}${rest}`);
/** Lines of well-formed preferences and malformed elements, in any order. */
const mixedValues = fc.array(
  fc
    .array(fc.oneof(preference, malformed), { minLength: 1, maxLength: 5 })
    .map((items) => items.join(", ")),
  { minLength: 1, maxLength: 3 },
);

/** Anything a header could carry, well-formed preferences mixed with garbage. */
const garbage = fc.array(
  fc.oneof(
    fc.string({ unit: "binary", maxLength: 40 }),
    fc.string({
      unit: fc.constantFrom(...'=,;" \t\\wait-respond-async0123456789'),
      maxLength: 40,
    }),
    preferenceList,
  ),
  { maxLength: 3 },
);

function bounded(prefs: Preferences): void {
  expect(prefs.respondAsync).to.be.a("boolean");
  if (prefs.wait !== null) {
    expect(Number.isSafeInteger(prefs.wait), String(prefs.wait)).to.equal(true);
    expect(prefs.wait).to.be.within(0, LONGEST_WAIT_S);
  }
}

describe("Prefer (properties)", () => {
  it("never throws and always gives a bounded result", () => {
    check(
      fc.property(garbage, (values) => {
        bounded(parsePrefer(values));
        bounded(parsePrefer(values.join(", ")));
      }),
      1000,
    );
  });

  it("reads well-formed preference lists as the RFC 7240 grammar does", () => {
    check(
      fc.property(headerValues, (values) => {
        expect(parsePrefer(values)).to.deep.equal(referencePrefer(values));
      }),
      1000,
    );
  });

  it("leaves out a malformed element whole, as the grammar reads it, and counts the others", () => {
    check(
      fc.property(mixedValues, (values) => {
        expect(parsePrefer(values)).to.deep.equal(referencePrefer(values));
      }),
      1000,
    );
  });

  it("reads several headers as their values joined into one list", () => {
    check(
      fc.property(fc.oneof(headerValues, garbage), (values) => {
        expect(parsePrefer(values)).to.deep.equal(parsePrefer(values.join(", ")));
      }),
      300,
    );
  });

  it("never takes a preference from inside a quoted value or from unknown preferences", () => {
    const unknown = fc
      .tuple(tokenText, ows, quotedString)
      .filter(([name]) => !["wait", "respond-async"].includes(name.toLowerCase()))
      .map(([name, o, q]) => `${name}${o}=${o}${q}`);
    check(
      fc.property(fc.array(unknown, { minLength: 1, maxLength: 4 }), (items) => {
        expect(parsePrefer(items.join(", "))).to.deep.equal({ respondAsync: false, wait: null });
      }),
      500,
    );
  });

  it("reads a wait of any size as at most 2^31 seconds, never NaN", () => {
    check(
      fc.property(digits, ows, (d, space) => {
        const wait = parsePrefer(`wait${space}=${space}${d}`).wait;
        expect(wait).to.equal(Math.min(Number(d), LONGEST_WAIT_S));
      }),
      300,
    );
  });
});
