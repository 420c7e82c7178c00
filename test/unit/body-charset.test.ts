// A JSON body's text in the charset it declares: windows-1252 by its own table (Node's
// TextDecoder reads it as ISO-8859-1), ISO-8859-1 as itself, others by the WHATWG decoders.

import { expect } from "chai";
import { decodeBody } from "../../adapter/json-body";
import { decodeWindows1252 } from "../../shared/protocol/windows-1252";

const codePoints = (text: string) => [...text].map((c) => c.codePointAt(0)!.toString(16));

describe("JSON body charsets", () => {
  const bytes = Buffer.from([0x7b, 0x80, 0x92, 0xe9, 0x7d]); // {, 0x80, 0x92, é, }

  it("reads windows-1252 (and cp1252) by its table: 0x80 is €, 0x92 is ’", () => {
    for (const label of ["windows-1252", "cp1252", "x-cp1252"]) {
      expect(decodeBody(bytes, label, "InvalidJson"), label).to.equal("{€’é}");
    }
  });

  it("reads ISO-8859-1 as itself and windows-1257 by its decoder", () => {
    expect(codePoints(decodeBody(bytes, "iso-8859-1", "InvalidJson"))).to.deep.equal([
      "7b",
      "80",
      "92",
      "e9",
      "7d",
    ]);
    expect(decodeBody(Buffer.from([0x80, 0x92]), "windows-1257", "InvalidJson")).to.equal("€’");
  });

  it("maps every byte 0x80–0x9F, the five undefined ones to their C1 control", () => {
    const high = decodeWindows1252(Buffer.from(Array.from({ length: 32 }, (_, i) => 0x80 + i)));
    expect(high).to.have.length(32);
    expect(codePoints(high.slice(0, 4))).to.deep.equal(["20ac", "81", "201a", "192"]);
    expect(codePoints(high[0x1f])).to.deep.equal(["178"]);
    for (const undefinedByte of [0x81, 0x8d, 0x8f, 0x90, 0x9d]) {
      expect(high.codePointAt(undefinedByte - 0x80)).to.equal(undefinedByte);
    }
  });
});
