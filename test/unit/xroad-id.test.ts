// X-Road identifiers part by part (PR-REST §4.3): what each part may hold survives a round trip,
// and malformed encoding is refused by the strict reading and kept by the lenient one.

import { expect } from "chai";
import {
  decodeXroadId,
  decodeXroadIdLeniently,
  encodeXroadId,
} from "../../shared/protocol/xroad-id";

describe("X-Road identifier encoding", () => {
  it("percent-encodes each part and keeps the separators", () => {
    expect(encodeXroadId("EE/GOV/70000310/app")).to.equal("EE/GOV/70000310/app");
    expect(encodeXroadId("EE/GOV/70?1/a b")).to.equal("EE/GOV/70%3F1/a%20b");
    expect(encodeXroadId("EE/GOV/100%/x+y")).to.equal("EE/GOV/100%25/x%2By");
    expect(encodeXroadId("EE/GOV/Õun/ä")).to.equal("EE/GOV/%C3%95un/%C3%A4");
  });

  it("encodes a / inside a part when given the parts", () => {
    expect(encodeXroadId(["EE", "GOV", "a/b", "svc"])).to.equal("EE/GOV/a%2Fb/svc");
  });

  it("encodes an already encoded part again (callers decode first for a single encoding)", () => {
    expect(encodeXroadId("EE/GOV/70%2B1")).to.equal("EE/GOV/70%252B1");
    expect(encodeXroadId(decodeXroadIdLeniently("EE/GOV/70%2B1"))).to.equal("EE/GOV/70%2B1");
    expect(encodeXroadId(decodeXroadIdLeniently("EE/GOV/70+1"))).to.equal("EE/GOV/70%2B1");
  });
});

describe("X-Road identifier decoding", () => {
  it("decodes each part", () => {
    expect(decodeXroadId("EE/GOV/70%2B1/a%20b")).to.deep.equal(["EE", "GOV", "70+1", "a b"]);
    expect(decodeXroadId("EE/GOV/70%3F1/100%25")).to.deep.equal(["EE", "GOV", "70?1", "100%"]);
    expect(decodeXroadId("EE/GOV/%C3%95un")).to.deep.equal(["EE", "GOV", "Õun"]);
    expect(decodeXroadId("EE/GOV/Õun")).to.deep.equal(["EE", "GOV", "Õun"]);
  });

  it("leaves + as written (a path segment, not a form value)", () => {
    expect(decodeXroadId("EE/GOV/70+1")).to.deep.equal(["EE", "GOV", "70+1"]);
  });

  it("keeps an encoded / inside its part", () => {
    expect(decodeXroadId("EE/GOV/a%2Fb/svc")).to.deep.equal(["EE", "GOV", "a/b", "svc"]);
  });

  it("round-trips what encoding gives", () => {
    const parts = ["EE", "GOV", "70?1 %+/õ", "app"];
    expect(decodeXroadId(encodeXroadId(parts))).to.deep.equal(parts);
  });

  it("refuses malformed escapes strictly and keeps them as written leniently", () => {
    for (const bad of ["%", "%4", "%zz", "%E0%A4%A", "%C3", "%FF"]) {
      expect(decodeXroadId(`EE/GOV/${bad}/app`), bad).to.equal(null);
      expect(decodeXroadIdLeniently(`EE/GOV/${bad}/a%20b`), bad).to.deep.equal([
        "EE",
        "GOV",
        bad,
        "a b",
      ]);
    }
  });

  it("keeps empty parts for callers to judge", () => {
    expect(decodeXroadId("EE//x")).to.deep.equal(["EE", "", "x"]);
    expect(decodeXroadIdLeniently("")).to.deep.equal([""]);
  });
});
