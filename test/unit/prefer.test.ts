// RFC 7240 `Prefer` as the adapter reads it: which preferences count, and how a `wait` of any
// size is taken.

import { expect } from "chai";
import { parsePrefer } from "../../adapter/prefer";

describe("Prefer", () => {
  it("reads respond-async and wait from one list or several headers", () => {
    expect(parsePrefer("respond-async, wait=5")).to.deep.equal({ respondAsync: true, wait: 5 });
    expect(parsePrefer(["respond-async", 'wait="7"'])).to.deep.equal({
      respondAsync: true,
      wait: 7,
    });
  });

  it("ignores what it does not know and a wait that is not delta-seconds", () => {
    for (const value of ["wait=-1", "wait=1.5", "wait=", "wait=abc", "handling=lenient"]) {
      expect(parsePrefer(value), value).to.deep.equal({ respondAsync: false, wait: null });
    }
  });

  it("counts a wait given more than once by its first instance (RFC 7240 §2)", () => {
    expect(parsePrefer("wait=2, wait=60").wait).to.equal(2);
    expect(parsePrefer(["wait=2", "wait=60"]).wait).to.equal(2);
    expect(parsePrefer("wait=abc, wait=60").wait).to.equal(null);
  });

  it("ignores a preference whose value is no token or quoted-string, and it hides no later wait", () => {
    // `wait=5=6` was read as wait=5: the split at every `=` dropped what came after the second.
    for (const value of ["wait=5=6", "wait=5 6", 'wait=5"6"', "wait=5;=x", "respond-async=a=b"]) {
      expect(parsePrefer(value), value).to.deep.equal({ respondAsync: false, wait: null });
    }
    expect(parsePrefer("wait=5=6, wait=7").wait).to.equal(7);
    expect(parsePrefer("wait=5=6, respond-async")).to.deep.equal({
      respondAsync: true,
      wait: null,
    });
  });

  it("reads two Prefer lines as one list (RFC 9110 §5.3)", () => {
    expect(parsePrefer(["wait=5=6", "wait=7"]).wait).to.equal(7);
    expect(parsePrefer(['respond-async; x="a', 'b", wait=3'])).to.deep.equal(
      parsePrefer('respond-async; x="a, b", wait=3'),
    );
  });

  it("takes a wait too large to represent as 2^31 seconds, for maxWait to cap (RFC 9111 §1.2.2)", () => {
    // A 7-digit wait was ignored, so `wait=1000000` answered 202 where `wait=40` waited maxWait.
    expect(parsePrefer("wait=1000000").wait).to.equal(1_000_000);
    expect(parsePrefer("wait=2147483648").wait).to.equal(2 ** 31);
    expect(parsePrefer("wait=99999999999999999999999").wait).to.equal(2 ** 31);
    expect(parsePrefer(`wait=${"9".repeat(400)}`).wait).to.equal(2 ** 31);
  });

  it("takes no preference from inside a quoted value (RFC 9110 §5.6.4)", () => {
    // Split at every comma, `x=",respond-async,"` read as respond-async and answered 202.
    expect(parsePrefer('wait="";x=",respond-async,"')).to.deep.equal({
      respondAsync: false,
      wait: null,
    });
    expect(parsePrefer('x="a, wait=5", wait=9').wait).to.equal(9);
    expect(parsePrefer('x="a;b", respond-async').respondAsync).to.equal(true);
  });

  it("reads a quoted-pair in a quoted wait as the character it escapes (RFC 9110 §5.6.4)", () => {
    // `wait="\5"` is the quoted-string 5; read with its backslash, it was no number and ignored.
    expect(parsePrefer('wait="\\5"').wait).to.equal(5);
    expect(parsePrefer('wait="1\\0"').wait).to.equal(10);
    expect(parsePrefer('wait="\\a"').wait).to.equal(null);
  });
});
