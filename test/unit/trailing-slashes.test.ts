import { expect } from "chai";
import { withoutTrailingSlashes } from "../../shared/protocol/trailing-slashes";

describe("trailing slashes", () => {
  it("are cut, all of them, and nothing else", () => {
    expect(withoutTrailingSlashes("https://ss.example/")).to.equal("https://ss.example");
    expect(withoutTrailingSlashes("/base///")).to.equal("/base");
    expect(withoutTrailingSlashes("/base/x")).to.equal("/base/x");
    expect(withoutTrailingSlashes("///")).to.equal("");
    expect(withoutTrailingSlashes("")).to.equal("");
    // A long run of slashes before another character is read once, not once per slash.
    const slashes = "/".repeat(200_000);
    expect(withoutTrailingSlashes(`${slashes}x`)).to.equal(`${slashes}x`);
  });
});
