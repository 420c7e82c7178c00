import { expect } from "chai";
import { skippedLines } from "../../cli/operator-tables";

describe("bulk run output", () => {
  it("keeps each skipped entry on one line, however its reason's error text breaks", () => {
    const lines = skippedLines([
      { id: "a", reason: "Redis stopped answering:\nERR something\r\nelse" },
      { id: "b", reason: "paused" },
    ]);
    expect(lines).to.have.length(2);
    for (const line of lines) expect(line).to.not.match(/[\r\n]/);
    expect(lines[0]).to.equal(
      "a: skipped: Redis stopped answering:\\u000aERR something\\u000d\\u000aelse",
    );
    expect(lines[1]).to.equal("b: skipped: paused");
  });
});
