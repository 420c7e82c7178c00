// The commands docs/operator.md and docs/operations.md show against the CLI's own usage text
// (cli/operator-args.ts): an option's value is named alike in both, so an operator reading one
// recognises the other.

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { OPERATOR_USAGE } from "../../cli/operator-args";

const ROOT = path.resolve(__dirname, "..", "..", "..");

/** Each option with the placeholders its value is given (`--target URL`: target, URL). */
function placeholders(text: string): Array<{ option: string; name: string }> {
  return [...text.matchAll(/--([a-z][a-z-]*) ([A-Z]+)\b/g)].map((m) => ({
    option: m[1],
    name: m[2],
  }));
}

/** The lines of the page's code blocks that run `sluice`. */
function synopsisLines(markdown: string): string[] {
  const lines: string[] = [];
  let inBlock = false;
  for (const line of markdown.split("\n")) {
    if (line.startsWith("```")) inBlock = !inBlock;
    else if (inBlock && /^\s*sluice /.test(line)) lines.push(line);
  }
  return lines;
}

describe("the operator commands in docs/, against the CLI's usage text", () => {
  it("name each option's value as the usage does", () => {
    const usage = new Map<string, Set<string>>();
    for (const { option, name } of placeholders(OPERATOR_USAGE)) {
      usage.set(option, (usage.get(option) ?? new Set()).add(name));
    }
    const differing = ["operator.md", "operations.md"].flatMap((page) =>
      synopsisLines(readFileSync(path.join(ROOT, "docs", page), "utf8")).flatMap((line) =>
        placeholders(line)
          .filter(({ option, name }) => usage.has(option) && !usage.get(option)!.has(name))
          .map(
            ({ option, name }) =>
              `${page}: --${option} ${name}, the usage --${option} ${[...usage.get(option)!].join("|")}`,
          ),
      ),
    );
    expect(differing).to.deep.equal([]);
  });
});
