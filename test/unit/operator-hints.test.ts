// The commands Sluice's own answers and pages tell an operator to run, in parentheses
// ("… until it is resumed (sluice backends resume legacy --config FILE)"), against the CLI: each
// must be one it takes as written, since an operator copies it as it is printed.

import { readdirSync, readFileSync, statSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { isOperatorCommand, parseOperatorArgs } from "../../cli/operator-commands";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const ROLES = ["adapter", "worker", "response-worker", "shared", "cli"];

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const file = path.join(dir, name);
    if (statSync(file).isDirectory()) return sources(file);
    return file.endsWith(".ts") ? [file] : [];
  });
}

/** The `(sluice …)` commands in a source's code (comments aside), each interpolation one word. */
function hintedCommands(source: string): string[][] {
  const code = source
    .split("\n")
    .filter((line) => !/^\s*(\/\/|\*|\/\*)/.test(line))
    .join("\n")
    // A value put in at run time (`${backend}`, `" + b.name + "`) stands for one word.
    .replace(/\$\{[^}]*\}/g, "NAME")
    .replace(/" \+ [\w.]+ \+ "/g, "NAME");
  return [...code.matchAll(/\((sluice [a-z-]+ [^)]*)\)/g)]
    .flatMap((m) => m[1].split(/, or (?=sluice )/))
    .map((command) => command.trim().split(/\s+/).slice(1));
}

/** Why the CLI would refuse a command, or null when it takes it. */
function hintProblem(words: string[]): string | null {
  const [command, ...rest] = words;
  const at = rest.indexOf("--config");
  if (at === -1 || rest[at + 1] === undefined) return "no --config FILE";
  const argv = [...rest.slice(0, at), ...rest.slice(at + 2)];
  if (command === "worker") {
    return argv.every((arg, i) => arg === "--backends" || argv[i - 1] === "--backends")
      ? null
      : `unexpected ${argv.join(" ")}`;
  }
  if (!isOperatorCommand(command)) return `unknown command ${command}`;
  const parsed = parseOperatorArgs(command, argv);
  return typeof parsed === "string" ? parsed : null;
}

describe("commands Sluice's messages tell the operator to run", () => {
  const hints = ROLES.flatMap((dir) => sources(path.join(ROOT, dir))).flatMap((file) =>
    hintedCommands(readFileSync(file, "utf8")).map((words) => ({
      file: path.relative(ROOT, file),
      command: words.join(" "),
      problem: hintProblem(words),
    })),
  );

  it("are found", () => {
    expect(hints.length).to.be.greaterThan(2);
  });

  it("are each one the CLI takes as written, --config FILE included", () => {
    expect(hints.filter((hint) => hint.problem !== null)).to.deep.equal([]);
  });

  it("would catch one without --config or with a word the CLI refuses", () => {
    const [resume] = hintedCommands("note: `… until it is resumed (sluice backends resume ${b})`");
    expect(hintProblem(resume)).to.equal("no --config FILE");
    const [list] = hintedCommands('"(sluice dead-letters list --since 1h --config FILE)"');
    expect(hintProblem(list)).to.equal("unknown option --since");
  });
});
