// The import graph of Sluice's own source (type imports included) stays acyclic, and the roles
// depend on shared/ only, never on each other: checked with madge on the TypeScript sources.

import { expect } from "chai";
import path from "node:path";

interface MadgeResult {
  circular(): string[][];
  obj(): Record<string, string[]>;
}
type Madge = (paths: string[], config: Record<string, unknown>) => Promise<MadgeResult>;
const madge = require("madge") as Madge;

// Compiled to dist/test/unit/, the sources are three levels up.
const REPO = path.resolve(__dirname, "../../..");
const ROOMS = [
  "adapter",
  "worker",
  "response-worker",
  "shared",
  "legacy-sim",
  "xroad-sim",
  "cli",
  "bench",
  "test",
];
const ROLES = ["adapter", "worker", "response-worker"];

describe("import graph", function () {
  // Parsing every source file takes a while on a loaded machine; nothing here is timed.
  this.timeout(180_000);
  let graph: MadgeResult;

  before(async () => {
    graph = await madge(
      ROOMS.map((room) => path.join(REPO, room)),
      {
        baseDir: REPO,
        fileExtensions: ["ts"],
        tsConfig: path.join(REPO, "tsconfig.json"),
        excludeRegExp: [/^dist\//, /node_modules/],
      },
    );
  });

  it("has no cycles", () => {
    expect(graph.circular().map((cycle) => cycle.join(" → "))).to.deep.equal([]);
  });

  it("lets roles and shared/ import no other role", () => {
    const crossings: string[] = [];
    for (const [file, imports] of Object.entries(graph.obj())) {
      const from = file.split("/")[0];
      if (!ROLES.includes(from) && from !== "shared") continue;
      for (const target of imports) {
        const to = target.split("/")[0];
        if (ROLES.includes(to) && to !== from) crossings.push(`${file} → ${target}`);
      }
    }
    expect(crossings).to.deep.equal([]);
  });

  it("sees the whole source tree", () => {
    // A wrong base directory or tsconfig would find nothing and pass the checks above vacuously.
    const files = Object.keys(graph.obj());
    expect(files).to.include("shared/protocol/envelope.ts");
    expect(graph.obj()["worker/worker-role.ts"]).to.include("shared/runtime/runtime.ts");
  });
});
