// Member names repeated within one JSON object: found by their decoded text, per object, never
// confused by names of other objects, names inside strings or array items.

import { expect } from "chai";
import { duplicateJsonKey } from "../../shared/protocol/json-duplicate-key";

describe("JSON duplicate member names", () => {
  it("finds a name twice in one object, at any depth, escaped or not", () => {
    expect(duplicateJsonKey('{"a":1,"a":2}')).to.equal("a");
    expect(duplicateJsonKey('{"a":1,"\\u0061":2}')).to.equal("a");
    expect(duplicateJsonKey('[1,{"x":{"b":[{"c":1,"c":{}}]}}]')).to.equal("c");
    expect(duplicateJsonKey('{"a":{"b":1},"a":[]}')).to.equal("a");
    expect(duplicateJsonKey('{"\\"":1, "\\"" :2}')).to.equal('"');
  });

  it("lets the same name in sibling or nested objects, in strings and values pass", () => {
    expect(duplicateJsonKey('{"a":{"a":{"a":1}},"b":[{"a":1},{"a":2}]}')).to.equal(null);
    expect(duplicateJsonKey('{"a":"\\"a\\":1,","b":"a","c":["a","a"]}')).to.equal(null);
    expect(
      duplicateJsonKey('{"__proto__":1,"constructor":2,"a":[{},[],{"x":[{"x":1}]}]}'),
    ).to.equal(null);
    expect(duplicateJsonKey("[]")).to.equal(null);
    expect(duplicateJsonKey('"a"')).to.equal(null);
  });
});
