// Body schemas' patterns are matched by RE2 in linear time, with JSON Schema's (ECMA-262, `u`)
// meaning: the same answers as V8 for every pattern both accept, and a clear refusal otherwise.

import { expect } from "chai";
import { compileSchemaChecks } from "../../adapter/json-body";
import { compileLinearPattern } from "../../adapter/linear-pattern";
import type { ServiceConfig } from "../../shared/config/config";

const PATTERNS = [
  "^[A-Z]{2}[0-9]{11}$",
  "^[a-z]+(-[a-z]+)*$",
  "^\\s*$",
  "^\\S+$",
  "^[\\s]+$",
  "^[^\\s]+$",
  "^[\\S]$",
  "^[^\\S\\d]$",
  "^.$",
  "^.+$",
  "^[.]$",
  "^\\.$",
  "a.b",
  "^\\p{L}+$",
  "^\\P{Lu}$",
  "^\\p{Letter}+$",
  "^\\p{General_Category=Uppercase_Letter}$",
  "^\\p{gc=Nd}+$",
  "^\\p{Script=Greek}+$",
  "^[\\p{sc=Cyrillic}\\P{Lowercase_Letter}]$",
  "^\\p{Decimal_Number}$",
  "^\\p{Zs}$",
  "^\\u{1F600}$",
  "^\\u00e9$",
  "^\\uD83D\\uDE00$",
  "^[\\uD83D\\uDE00]$",
  "^[[:digit:][a]$",
  "^[]$",
  "^[^]$",
  "^(?<year>\\d{4})-\\d{2}$",
  "\\bword\\b",
  "^\\w+@\\w+\\.\\w{2,}$",
  "^a*?b$",
  "^\\/path$",
  "^[a\\-z]$",
  "^x$|^y$",
  "^\\d{3}(?:[- ]\\d{4})?$",
  "^\\0$",
  "^\\t\\n\\v\\f\\r$",
  "^\\cJ$",
  "end$",
  "",
];

const INPUTS = [
  "",
  "a",
  "A",
  "é",
  "Ülo",
  "[a",
  "5",
  "\ud83d",
  ":",
  "Ω",
  "αβγ",
  "Жж",
  "٣",
  "7",
  "\u2003",
  "😀",
  "\ud800",
  " ",
  "\u00a0",
  "\u3000",
  "\ufeff",
  "\u2028",
  "\n",
  "\r",
  "\v",
  "\t\n\v\f\r",
  "\n",
  "\0",
  ".",
  "-",
  "x",
  "y",
  "z",
  "aXb",
  "a\nb",
  "EE12345678901",
  "abc-def-ghi",
  "abc--def",
  "2026-12",
  "a word here",
  "wordy",
  "someone@example.org",
  "aaab",
  "/path",
  "555-1234",
  "555",
  "the end",
  "the end\n",
  "   ",
];

const service = (code: string, schema: object): ServiceConfig =>
  ({ code, protocols: ["rest"], schema }) as unknown as ServiceConfig;

describe("linear-time schema patterns", () => {
  it("answers as V8 does (ECMA-262 with the u flag) for every pattern and text", () => {
    const differences: string[] = [];
    for (const pattern of PATTERNS) {
      const native = new RegExp(pattern, "u");
      const linear = compileLinearPattern(pattern);
      for (const input of INPUTS) {
        if (linear.test(input) !== native.test(input)) {
          differences.push(`${JSON.stringify(pattern)} on ${JSON.stringify(input)}`);
        }
      }
    }
    expect(differences).to.deep.equal([]);
  });

  it("matches a pattern that makes V8 backtrack exponentially without backtracking", () => {
    // V8 takes seconds for 29 characters of this text and would not finish this one.
    const text = "a".repeat(100_000) + "!";
    expect(compileLinearPattern("^(a+)+$").test(text)).to.equal(false);
    expect(compileLinearPattern("^(\\w+\\s?)*$").test(text)).to.equal(false);
    expect(compileLinearPattern("^(a+)+$").test("a".repeat(100_000))).to.equal(true);
  });

  it("is what a service's schema checks its body's patterns and property names with", () => {
    const check = compileSchemaChecks([
      service("one", {
        type: "object",
        properties: { code: { type: "string", pattern: "^([a-z]+)*[0-9]$" } },
        patternProperties: { "^(x+)+y$": { type: "integer" } },
      }),
    ]).get("one")!;
    const long = "a".repeat(50_000) + "!";
    expect(check.first({ code: long })).to.equal(false);
    expect(check.first({ code: "abc1" })).to.equal(true);
    expect(check.first({ ["x".repeat(50_000)]: "not an integer" })).to.equal(true);
    expect(check.first({ xxy: "not an integer" })).to.equal(false);
  });

  it("refuses a pattern RE2 cannot match, naming it and why", () => {
    const unsupported = [
      "^(?=a)a$",
      "^(?!b)",
      "(?<=a)b",
      "^(a)\\1$",
      "^\\p{sc=Latn}$",
      "^\\p{ASCII}$",
      "^.{0,5000}$",
      "^(?<q>[\"'])x\\k<q>$",
      "^(a)(b)(c)(d)(e)(f)(g)(h)\\8$",
    ];
    for (const pattern of unsupported) {
      expect(() => compileLinearPattern(pattern), pattern).to.throw(
        `the pattern ${JSON.stringify(pattern)} is not one RE2 can match`,
      );
    }
    const refused: string[] = [];
    compileSchemaChecks(
      [service("one", { type: "string", pattern: "^(?!admin$)[a-z]+$" })],
      {},
      (_service, error) => refused.push(error.message),
    );
    expect(refused).to.have.length(1);
    expect(refused[0]).to.contain("no lookahead, lookbehind or backreference");
  });

  it("refuses what is not an ECMA-262 pattern, though RE2 would take it", () => {
    for (const pattern of ["(?P<name>a)", "(?i)a", "\\z", "a{,3}"]) {
      expect(() => compileLinearPattern(pattern), pattern).to.throw(/Invalid regular expression/);
    }
  });
});
