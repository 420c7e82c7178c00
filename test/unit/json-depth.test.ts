// The JSON nesting limit, checked on the text before parsing: exact at the limit, blind to
// brackets inside strings, and the same whether the quick count or the full walk decides.

import { expect } from "chai";
import { parseJsonBody } from "../../adapter/json-body";
import { jsonDepthExceeds } from "../../shared/protocol/json-depth";
import { SluiceError } from "../../shared/protocol/errors";

const nested = (depth: number): string => "[".repeat(depth) + "]".repeat(depth);

describe("JSON nesting limit", () => {
  it("allows nesting up to the limit and refuses one level more", () => {
    expect(jsonDepthExceeds(nested(8), 8)).to.equal(false);
    expect(jsonDepthExceeds(nested(9), 8)).to.equal(true);
    expect(jsonDepthExceeds(`{"a":{"b":[{"c":${nested(4)}}]}}`, 8)).to.equal(false);
    expect(jsonDepthExceeds(`{"a":{"b":[{"c":${nested(5)}}]}}`, 8)).to.equal(true);
  });

  it("counts depth, not brackets: many shallow ones pass, brackets in strings do not count", () => {
    const wide = `[${Array.from({ length: 50 }, () => '{"x":[1]}').join(",")}]`;
    expect(jsonDepthExceeds(wide, 8)).to.equal(false);
    const inStrings = JSON.stringify({ text: "[[[[[[[[[[{{{{{{{{{{", quoted: '\\"[[[[[[[[[[' });
    expect(jsonDepthExceeds(inStrings, 2)).to.equal(false);
    expect(jsonDepthExceeds(`["\\"", ${nested(3)}]`, 3)).to.equal(true);
  });

  it("refuses a too deep body as InvalidJson before parsing it", () => {
    try {
      parseJsonBody(nested(100), 64);
      expect.fail("a body nested 100 deep was parsed");
    } catch (error) {
      expect((error as SluiceError).code).to.equal("InvalidJson");
    }
    expect(parseJsonBody(nested(64), 64)).to.be.an("array");
  });
});
