import { expect } from "chai";
import { xroadTrailOf } from "../../shared/protocol/xroad-trail";

describe("the X-Road exchange's trail headers", () => {
  it("keeps the request id and hash, each by its last line", () => {
    expect(
      xroadTrailOf({
        "x-road-request-id": ["from-provider", "1f0c5a9e-2b6d-4c1e-9e55-0d3c2b1a0f9e"],
        "x-road-request-hash": " 3Qk1vZ+8s/Q== ",
        "x-road-id": "not-a-trail-header",
      }),
    ).to.deep.equal({
      "x-road-request-id": "1f0c5a9e-2b6d-4c1e-9e55-0d3c2b1a0f9e",
      "x-road-request-hash": "3Qk1vZ+8s/Q==",
    });
  });

  it("leaves out a value that is no id or hash: empty, with spaces or controls, or over 200 characters", () => {
    for (const value of ["", "two words", "a\u0085b", "ä-umlaut", "x".repeat(201)]) {
      expect(xroadTrailOf({ "x-road-request-id": value }), JSON.stringify(value)).to.deep.equal({});
    }
    expect(xroadTrailOf({})).to.deep.equal({});
  });
});
