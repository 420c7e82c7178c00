// The simulated security server leaves an answer of no length as it is, whatever its coding, as
// X-Road's ResponseContentEncoding does: the length is the number the header writes.

import { expect } from "chai";
import { decodeContent } from "../../xroad-sim/apache-http-client";
import { lengthValue } from "../../shared/protocol/content-length";

describe("xroad-sim: an encoded answer of Content-Length zero", () => {
  for (const length of ["0", "00", " 000 "]) {
    it(`passes Content-Length: ${length.trim()} with Content-Encoding: gzip on unchanged`, async () => {
      const headers = { "content-encoding": "gzip", "content-length": length };
      const answer = await decodeContent("GET", 200, headers, Buffer.alloc(0), 1024);
      expect(answer.headers).to.equal(headers);
      expect(answer.body.length).to.equal(0);
    });
  }

  it("still decodes an empty body whose length is not given, and fails it as gzip does", async () => {
    const answer = decodeContent("GET", 200, { "content-encoding": "gzip" }, Buffer.alloc(0), 1024);
    expect(
      await answer.then(
        () => "decoded",
        () => "failed",
      ),
    ).to.equal("failed");
  });
});

describe("Content-Length value", () => {
  it("reads digits as the number they are, and nothing else as a length", () => {
    expect(lengthValue("00")).to.equal(0);
    expect(lengthValue(["012", "5"])).to.equal(12);
    expect(lengthValue(undefined)).to.equal(null);
    for (const value of ["", "-1", "1e3", "0x10", "5 5"]) expect(lengthValue(value)).to.equal(null);
  });
});
