// The test harness's suite hooks: given the time several roles take to start on a loaded
// machine, never less than the suite's own timeout, and never a bound where the suite has none.

import { expect } from "chai";
import { HOOK_TIMEOUT_MS, hookTimeout } from "../support/harness";

describe("the harness's suite hook timeout", () => {
  it("is at least the start bound and more, or the suite's when larger", () => {
    expect(hookTimeout(40_000)).to.equal(HOOK_TIMEOUT_MS);
    expect(hookTimeout(HOOK_TIMEOUT_MS + 1)).to.equal(HOOK_TIMEOUT_MS + 1);
  });

  it("stays unbounded when the suite is (--timeout 0, a debugger)", () => {
    expect(hookTimeout(0)).to.equal(0);
  });
});
