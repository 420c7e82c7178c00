// Property tests of the JSON body reader (parseJsonBody) and the walks it makes before and after
// JSON.parse (nesting depth, repeated member names): for any text, only a 400 InvalidJson
// refusal; accepted exactly when JSON.parse accepts and neither limit is crossed; the value read
// is JSON.parse's. Seeded and bounded: test/support/property-runs.ts, docs/testing.md.

import { expect } from "chai";
import fc from "fast-check";
import { parseJsonBody } from "../../adapter/json-body";
import { SluiceError } from "../../shared/protocol/errors";
import { jsonDepthExceeds } from "../../shared/protocol/json-depth";
import { duplicateJsonKey } from "../../shared/protocol/json-duplicate-key";
import { check } from "../support/property-runs";

/**
 * The reference: a recursive reader of valid JSON that notes the first repeated name and how
 * deep the text nests (the parsed value may nest less: of a name given twice it keeps the last).
 */
function referenceRead(text: string): { duplicate: string | null; depth: number } {
  let at = 0;
  let found: string | null = null;
  let depth = 0;
  let deepest = 0;
  const space = () => {
    while (at < text.length && " \t\r\n".includes(text[at])) at++;
  };
  const string = (): string => {
    const start = at;
    at++;
    while (text[at] !== '"') at += text[at] === "\\" ? 2 : 1;
    at++;
    return JSON.parse(text.slice(start, at)) as string;
  };
  const value = (): void => {
    space();
    if (text[at] === "{" || text[at] === "[") deepest = Math.max(deepest, ++depth);
    try {
      scalarOrNested();
    } finally {
      if (text[at - 1] === "}" || text[at - 1] === "]") depth--;
    }
  };
  const scalarOrNested = (): void => {
    if (text[at] === "{") {
      at++;
      const names = new Set<string>();
      space();
      if (text[at] === "}") {
        at++;
        return;
      }
      for (;;) {
        space();
        const name = string();
        if (names.has(name) && found === null) found = name;
        names.add(name);
        space();
        at++; // :
        value();
        space();
        if (text[at++] === "}") return;
      }
    } else if (text[at] === "[") {
      at++;
      space();
      if (text[at] === "]") {
        at++;
        return;
      }
      for (;;) {
        value();
        space();
        if (text[at++] === "]") return;
      }
    } else if (text[at] === '"') {
      string();
    } else {
      while (at < text.length && !",]} \t\r\n".includes(text[at])) at++;
    }
  };
  value();
  return { duplicate: found, depth: deepest };
}

function referenceDuplicate(text: string): string | null {
  return referenceRead(text).duplicate;
}

/** A member name as JSON may write it: plain, with \u escapes, or with the short escapes. */
function spelled(name: string, how: number): string {
  if (how === 0) return JSON.stringify(name);
  if (how === 1) {
    return `"${[...name].map((c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`).join("")}"`;
  }
  return JSON.stringify(name).replace(/\//g, "\\/");
}

/** JSON text whose objects may repeat a name, spelled differently, with layout between tokens. */
const jsonWithRepeats: fc.Arbitrary<string> = fc.letrec<{ value: string }>((tie) => ({
  value: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    fc.constantFrom("0", "-1.5e3", "true", "false", "null", '"x"', '"\\"{\\\\"', '"a,\\"b\\":"'),
    fc.array(tie("value"), { maxLength: 4 }).map((items) => `[${items.join(" , ")}]`),
    fc
      .array(
        fc.tuple(
          fc.constantFrom("a", "b", "", "/", '"', "é", "__proto__"),
          fc.nat(2),
          tie("value"),
        ),
        { maxLength: 4 },
      )
      .map(
        (members) =>
          `{${members.map(([name, how, value]) => `${spelled(name, how)}\n:${value}`).join(",")}}`,
      ),
  ),
})).value;

/** Text near JSON: valid text with a character inserted, removed or replaced. */
const nearJson: fc.Arbitrary<string> = fc
  .tuple(
    fc.oneof(fc.json(), jsonWithRepeats),
    fc.nat(),
    fc.constantFrom("insert", "remove", "replace"),
    fc.constantFrom("{", "}", "[", "]", '"', "\\", ",", ":", " ", "1", "\u0000", "\ud800", "u"),
  )
  .map(([text, where, how, c]) => {
    const at = text.length === 0 ? 0 : where % text.length;
    if (how === "insert") return text.slice(0, at) + c + text.slice(at);
    if (how === "remove") return text.slice(0, at) + text.slice(at + 1);
    return text.slice(0, at) + c + text.slice(at + 1);
  });

const anyText = fc.oneof(fc.string({ unit: "binary" }), fc.json(), jsonWithRepeats, nearJson);

/** What parseJsonBody should do, from JSON.parse and the references. */
function expected(text: string, maxDepth: number): { accepted: boolean; value?: unknown } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { accepted: false };
  }
  const read = referenceRead(text);
  if (read.depth > maxDepth || read.duplicate !== null) return { accepted: false };
  return { accepted: true, value };
}

describe("JSON readers: properties", () => {
  it("parseJsonBody refuses only with InvalidJson, and agrees with JSON.parse and the references", () => {
    check(
      fc.property(anyText, fc.integer({ min: 1, max: 6 }), (text, maxDepth) => {
        const want = expected(text, maxDepth);
        let value: unknown;
        try {
          value = parseJsonBody(text, maxDepth);
        } catch (error) {
          expect(error).to.be.instanceOf(SluiceError);
          expect((error as SluiceError).code).to.equal("InvalidJson");
          expect(want.accepted, `refused: ${(error as Error).message}`).to.equal(false);
          return;
        }
        expect(want.accepted).to.equal(true);
        expect(value).to.deep.equal(want.value);
      }),
      300,
    );
  });

  it("duplicateJsonKey names the first repeated name the recursive reference finds", () => {
    check(
      fc.property(fc.oneof(jsonWithRepeats, fc.json()), (text) => {
        JSON.parse(text);
        expect(duplicateJsonKey(text)).to.equal(referenceDuplicate(text));
      }),
      400,
    );
  });

  it("jsonDepthExceeds agrees with the depth the recursive reference reads", () => {
    check(
      fc.property(fc.oneof(jsonWithRepeats, fc.json()), fc.nat(8), (text, maxDepth) => {
        JSON.parse(text);
        expect(jsonDepthExceeds(text, maxDepth)).to.equal(referenceRead(text).depth > maxDepth);
      }),
      400,
    );
  });

  it("deep nesting is refused by the depth walk, whatever the brackets and strings around", () => {
    check(
      fc.property(
        fc.integer({ min: 1, max: 3000 }),
        fc.constantFrom("[", '{"a":', '["]",'),
        (depth, open) => {
          const text = open.repeat(depth);
          const over = depth > 1000;
          if (over) {
            expect(() => parseJsonBody(text, 1000))
              .to.throw(SluiceError)
              .with.property("message")
              .that.includes("nested deeper than 1000");
          }
          expect(jsonDepthExceeds(text, 1000)).to.equal(over);
        },
      ),
      50,
    );
  });
});
