// The warning for refusals that get no access-log line: one line per reason per interval at
// most, with the count of those that had none of their own, and nothing lost at the end.

import { expect } from "chai";
import type { Logger } from "pino";
import { ThrottledWarning, type Schedule } from "../../shared/observability/throttled-warning";

/** A logger that keeps its warn lines, and a schedule fired by hand instead of by a clock. */
function setUp() {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
  const log = {
    warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }),
  } as unknown as Logger;
  const pending: Array<{ fire: () => void; cancelled: boolean }> = [];
  const schedule: Schedule = (fire) => {
    const timer = { fire, cancelled: false };
    pending.push(timer);
    return () => (timer.cancelled = true);
  };
  /** Ends every interval now open. */
  const elapse = (): void => {
    for (const timer of pending.splice(0)) if (!timer.cancelled) timer.fire();
  };
  const warning = new ThrottledWarning<"a" | "b">(log, "refused", 10_000, schedule);
  return { lines, warning, elapse, pending };
}

describe("ThrottledWarning", () => {
  it("logs the first of a reason at once and the rest of its interval as one line", () => {
    const { lines, warning, elapse } = setUp();
    for (let i = 0; i < 1000; i++) warning.note("a", { remote: `10.0.0.${i % 250}` });
    expect(lines).to.deep.equal([
      { fields: { remote: "10.0.0.0", reason: "a", count: 1 }, message: "refused" },
    ]);
    elapse();
    expect(lines).to.have.length(2);
    // The latest one's fields, and the 999 that had no line of their own.
    expect(lines[1].fields).to.deep.equal({ remote: "10.0.0.249", reason: "a", count: 999 });
  });

  it("keeps one line per interval while a flood goes on, and goes quiet after it", () => {
    const { lines, warning, elapse, pending } = setUp();
    warning.note("a");
    elapse();
    expect(lines).to.have.length(1); // nothing more came: no line, no timer
    expect(pending).to.have.length(0);
    warning.note("a");
    warning.note("a");
    elapse(); // the second gets its line at the interval's end...
    warning.note("a"); // ...and one right after waits for the next interval
    expect(lines.map((line) => line.fields.count)).to.deep.equal([1, 1, 1]);
    elapse();
    expect(lines.map((line) => line.fields.count)).to.deep.equal([1, 1, 1, 1]);
    elapse();
    expect(pending).to.have.length(0);
  });

  it("counts each reason apart", () => {
    const { lines, warning, elapse } = setUp();
    warning.note("a");
    warning.note("b");
    warning.note("b");
    elapse();
    expect(lines.map((line) => [line.fields.reason, line.fields.count])).to.deep.equal([
      ["a", 1],
      ["b", 1],
      ["b", 1],
    ]);
  });

  it("logs what an open interval counted when closed, and stops its timers", () => {
    const { lines, warning, pending } = setUp();
    warning.note("a");
    warning.note("a");
    warning.note("b");
    warning.close();
    expect(lines.map((line) => [line.fields.reason, line.fields.count])).to.deep.equal([
      ["a", 1],
      ["b", 1],
      ["a", 1],
    ]);
    expect(pending.every((timer) => timer.cancelled)).to.equal(true);
  });
});
