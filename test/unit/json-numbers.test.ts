// Number text a double holds or does not: found by value (0.10 and 1e2 are exact), inside
// JSON text only outside strings, and quoted where a number's text is all a reader needs.

import { expect } from "chai";
import {
  inexactJsonNumber,
  isExactNumber,
  quoteInexactNumbers,
} from "../../shared/protocol/json-numbers";

describe("JSON numbers beyond a double", () => {
  it("holds short numbers, and long ones a double writes back with the same value", () => {
    for (const text of [
      "0",
      "-0",
      "35",
      "0.10",
      "1e2",
      "1.5E-3",
      "9007199254740993".slice(0, 15),
    ]) {
      expect(isExactNumber(text), text).to.equal(true);
    }
    for (const text of [
      "9007199254740992",
      "1000000000000000000000",
      "0.1000000000000000",
      " +05 ",
    ]) {
      expect(isExactNumber(text), text).to.equal(true);
    }
  });

  it("does not hold more digits than a double, nor what overflows or underflows it", () => {
    for (const text of [
      "12345678901234567890",
      "9007199254740993",
      "0.1000000000000000055511151231257827",
      "1234567890.123456789",
      "1e400",
      "-1E400",
      "1e-400",
    ]) {
      expect(isExactNumber(text), text).to.equal(false);
    }
  });

  it("finds the first such number outside strings, and quotes each", () => {
    const text = '{"s":"12345678901234567890","n":[1,12345678901234567890,2e400],"e":"1e400"}';
    expect(inexactJsonNumber(text)).to.equal("12345678901234567890");
    expect(inexactJsonNumber('{"s":"12345678901234567890","a":"\\"1e400"}')).to.equal(null);
    expect(quoteInexactNumbers(text)).to.equal(
      '{"s":"12345678901234567890","n":[1,"12345678901234567890","2e400"],"e":"1e400"}',
    );
    expect(quoteInexactNumbers("12345678901234567890")).to.equal('"12345678901234567890"');
    // Text that is not JSON (a backend's answer, quoted before it is parsed) ends the walk.
    expect(quoteInexactNumbers('{"a":"12345678901234567890')).to.equal(
      '{"a":"12345678901234567890',
    );
    const exact = '{"a":[1,2.5,-3e2]}';
    expect(quoteInexactNumbers(exact)).to.equal(exact);
  });
});
