import { expect } from "chai";
import { issuedIdOf, messageId } from "../../shared/protocol/message-id";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe("messageId", () => {
  it("is a lower-case version 4 UUID, distinct every time, across many draws of entropy", () => {
    const seen = new Set<string>();
    // 1 000 ids use the random bytes of several draws, the last one only in part.
    for (let i = 0; i < 1_000; i++) {
      const id = messageId();
      expect(id).to.match(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).to.equal(1_000);
  });

  it("varies in every random digit (not a fixed or reused part)", () => {
    const ids = Array.from({ length: 300 }, () => messageId().replaceAll("-", ""));
    for (let digit = 0; digit < 32; digit++) {
      // Digit 12 is the version; digit 16 holds the variant bits and two random ones.
      if (digit === 12) continue;
      const values = new Set(ids.map((id) => id[digit]));
      expect(values.size, `digit ${digit}`).to.be.at.least(digit === 16 ? 4 : 8);
    }
  });

  it("returns a string that later ids do not change", () => {
    const first = messageId();
    const copy = `${first}`.slice(0);
    for (let i = 0; i < 200; i++) messageId();
    expect(first).to.equal(copy);
  });
});

describe("issuedIdOf", () => {
  it("reads an id in any case as the lower-case id Sluice issued", () => {
    const id = messageId();
    expect(issuedIdOf(id)).to.equal(id);
    expect(issuedIdOf(id.toUpperCase())).to.equal(id);
  });

  it("is null for anything that is not a UUID", () => {
    for (const text of ["", "abc", `${messageId()}x`, ` ${messageId()}`, "g".repeat(36)]) {
      expect(issuedIdOf(text), JSON.stringify(text)).to.equal(null);
    }
  });
});
