import { expect } from "chai";
import { maxInWindow } from "../../legacy-sim/arrival-windows";

describe("maxInWindow", () => {
  it("counts the most events in any half-open window", () => {
    expect(maxInWindow([], 1000)).to.equal(0);
    expect(maxInWindow([0, 999, 1000, 1500, 1999], 1000)).to.equal(3);
    // A window is [t, t + 1000): events exactly 1000 ms apart never share one.
    expect(maxInWindow([0, 1000, 2000], 1000)).to.equal(1);
    expect(maxInWindow([5, 1, 3, 2, 4], 3)).to.equal(3);
  });
});
