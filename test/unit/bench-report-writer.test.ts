// The bench report's profile tables stay tables whatever a profiled function is called: a label
// comes from V8's profile (a function name, a regular expression's source, a file path), and the
// report is checked by the docs tests once written.

import { expect } from "chai";
import { profileTables } from "../../bench/report-writer";
import type { ProfileSummary } from "../../bench/bench-result";

const entry = (label: string) => ({ label, selfMs: 12, share: 0.1 });

function profileWith(label: string): ProfileSummary {
  return {
    run: "ingest-json",
    totalMs: 1000,
    byArea: [entry("sluice: adapter")],
    topFunctions: [entry(label)],
    sluiceInclusive: [],
    file: "profile.cpuprofile",
  };
}

/** The table rows of the "Hottest functions" table. */
function hottestRows(label: string): string[] {
  const lines = profileTables(profileWith(label));
  const start = lines.indexOf("Hottest functions (self time):");
  return lines.slice(start + 4).filter((line) => line.startsWith("| ") && !line.includes("|---"));
}

describe("bench report: profile tables", () => {
  it("a label holding a regular expression's source does not read as a Markdown link", () => {
    const [row] = hottestRows("/^(a|b)](c)/ — node:internal/url");
    // A link is "](" followed by a target; the escaped form keeps the text and is no link.
    expect(row).to.not.match(/[^\\]\]\(/);
    expect(row).to.include("]\\(c)");
  });

  it("a label holding | stays one cell", () => {
    const [row] = hottestRows("a|b — sluice: adapter/x.ts");
    // Three cells: label, ms, share; four separators.
    expect(row.split("|")).to.have.length(5);
    expect(row).to.include("a/b");
  });

  it("a plain label is written as it is", () => {
    const [row] = hottestRows("persist — sluice: adapter/intake.ts");
    expect(row).to.equal("| persist — sluice: adapter/intake.ts | 12 | 10.0 % |");
  });
});
