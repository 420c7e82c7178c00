import { expect } from "chai";
import { replayLine } from "../../cli/dead-letter-commands";

describe("sluice dead-letters replay lines", () => {
  it("says a discard is why a replay did nothing, and which replay that discard withdrew", () => {
    const line = replayLine({
      id: "m1",
      replayedAs: null,
      result: "already",
      discarded: true,
      discardReplaced: "r1",
    });
    expect(line).to.equal("m1: already (discarded; replay r1 withdrawn)");
    expect(
      replayLine({
        id: "m2",
        replayedAs: null,
        result: "already",
        discarded: true,
        discardedAt: "2026-01-02T03:04:05.000Z",
      }),
    ).to.equal("m2: already (discarded at 2026-01-02T03:04:05.000Z)");
    expect(replayLine({ id: "m3", replayedAs: "r3", result: "already" })).to.equal(
      "m3: already as r3",
    );
  });
});
