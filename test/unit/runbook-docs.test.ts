// The runbooks of docs/operations.md ("When an alert fires") against the alerts and the tools
// they send the operator to: each alert shipped in deploy/prometheus/alerts.yml names its
// section in a `runbook` annotation and has one, each `sluice` command a runbook gives is one
// the CLI takes as written, and each admin request it gives is one the admin port serves.

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { parse } from "yaml";
import { isOperatorCommand, parseOperatorArgs } from "../../cli/operator-commands";
import { SERVICE_ROLES } from "../../cli/roles";

const ROOT = path.resolve(__dirname, "..", "..", "..");

interface Rule {
  alert?: string;
  annotations?: Record<string, string>;
}

function alerts(): Rule[] {
  const file = parse(readFileSync(path.join(ROOT, "deploy", "prometheus", "alerts.yml"), "utf8"));
  return (file.groups as Array<{ rules: Rule[] }>)
    .flatMap((group) => group.rules)
    .filter((rule) => rule.alert);
}

/** The "When an alert fires" section of docs/operations.md: its `###` headings and its text. */
function runbookSection(): { headings: string[]; text: string } {
  const operations = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
  const start = operations.indexOf("\n## When an alert fires\n");
  expect(start, "docs/operations.md has a section 'When an alert fires'").to.be.greaterThan(0);
  const end = operations.indexOf("\n## ", start + 1);
  const text = operations.slice(start, end === -1 ? undefined : end);
  const headings = [...text.matchAll(/^### (.+)$/gm)].map((m) => m[1].trim());
  return { headings, text };
}

/** Every `sluice …` command in a code block or a code span, the `…` of a continued one cut off. */
function sluiceCommands(markdown: string): string[][] {
  const blocks = [...markdown.matchAll(/```sh\n([\s\S]*?)```/g)].flatMap((m) => m[1].split("\n"));
  const spans = [...markdown.matchAll(/`([^`\n]+)`/g)].map((m) => m[1]);
  return (
    [...blocks, ...spans]
      .map((line) => line.trim().replace(/\s+#.*$/, ""))
      .filter((line) => /^sluice [a-z]/.test(line))
      // A quoted value (`--note "why it is discarded"`) is one word, as the shell reads it.
      .map((line) =>
        [...line.matchAll(/"([^"]*)"|'([^']*)'|(\S+)/g)].map((m) => m[1] ?? m[2] ?? m[3]).slice(1),
      )
  );
}

/** The names of the policies each `rabbitmqctl set_policy` of a text sets. */
function policyNames(markdown: string): string[] {
  return [...markdown.matchAll(/rabbitmqctl set_policy((?: --[a-z-]+ [^\s'`]+)*) ([^\s'`]+)/g)].map(
    (m) => m[2],
  );
}

/** A command's problem as the CLI would answer it, or null when the CLI takes it. */
function commandProblem(words: string[]): string | null {
  const [command, ...rest] = words;
  const at = rest.indexOf("--config");
  if (at === -1) return "no --config FILE";
  const argv = [...rest.slice(0, at), ...rest.slice(at + 2)];
  if (isOperatorCommand(command)) {
    const parsed = parseOperatorArgs(command, argv);
    return typeof parsed === "string" ? parsed : null;
  }
  if (command === "check") return argv.length === 0 ? null : `check takes only --config`;
  if ((SERVICE_ROLES as readonly string[]).includes(command)) {
    return argv.every((arg, i) => arg === "--backends" || argv[i - 1] === "--backends")
      ? null
      : `unexpected ${argv.join(" ")}`;
  }
  return `unknown command ${command}`;
}

/** The operator routes as registered in shared/operator/operator-routes.ts. */
function registeredRoutes(): Array<{ method: string; pattern: RegExp }> {
  const source = readFileSync(path.join(ROOT, "shared", "operator", "operator-routes.ts"), "utf8");
  return [...source.matchAll(/\b(?:addRoute|route)\("([A-Z]+)", \/(.+?)\/, /g)].map((m) => ({
    method: m[1],
    pattern: new RegExp(m[2]),
  }));
}

/** Admin requests a text names: `GET /admin/…` and `curl … http://host:port/admin/…`. */
function adminRequests(markdown: string): Array<{ method: string; path: string }> {
  const named = [...markdown.matchAll(/\b(GET|POST|DELETE) (\/admin\/[^\s`?)]*)/g)].map((m) => ({
    method: m[1],
    path: m[2],
  }));
  const curled = [
    ...markdown.matchAll(/curl ([^`\n]*?)https?:\/\/[^/\s]+(\/admin\/[^\s`?]*)/g),
  ].map((m) => ({ method: /-X ?(POST|DELETE)/.exec(m[1])?.[1] ?? "GET", path: m[2] }));
  return [...named, ...curled].map((r) => ({ ...r, path: r.path.replace(/<[^>]+>/g, "x1") }));
}

describe("the runbooks in docs/operations.md", () => {
  const shipped = alerts();
  const { headings, text } = runbookSection();

  it("give every shipped alert a section, named in its runbook annotation, and no other", () => {
    expect(shipped.length).to.be.greaterThan(5);
    for (const rule of shipped) {
      expect(headings, `a runbook for ${rule.alert}`).to.include(rule.alert);
      // GitHub's anchor of a heading that is one word: the word in lower case.
      expect(rule.annotations?.runbook, rule.alert).to.equal(
        `docs/operations.md#${rule.alert!.toLowerCase()}`,
      );
    }
    expect(headings).to.have.members(shipped.map((rule) => rule.alert!));
  });

  it("and the Alerts table a row for each, saying when it fires and what to do", () => {
    const operations = readFileSync(path.join(ROOT, "docs", "operations.md"), "utf8");
    const start = operations.indexOf("\n## Alerts\n");
    const table = operations.slice(start, operations.indexOf("\n## ", start + 1));
    const rows = [...table.matchAll(/^\| `(Sluice\w+)` +\|(.*)$/gm)].map((m) => ({
      alert: m[1],
      cells: m[2].split("|").map((cell) => cell.trim()),
    }));
    expect(rows.map((row) => row.alert)).to.have.members(shipped.map((rule) => rule.alert!));
    for (const { alert, cells } of rows) {
      // "fires when", "what to do", and the empty text after the closing bar.
      expect(cells, alert).to.have.length(3);
      expect(cells[0], `${alert}: fires when`).to.not.equal("");
      expect(cells[1], `${alert}: what to do`).to.not.equal("");
    }
  });

  it("give only sluice commands the CLI takes as written", () => {
    const commands = sluiceCommands(text);
    expect(commands.length).to.be.greaterThan(8);
    const refused = commands
      .map((words) => ({ command: words.join(" "), problem: commandProblem(words) }))
      .filter((c) => c.problem !== null);
    expect(refused).to.deep.equal([]);
  });

  it("and so do the rest of docs/operations.md and docs/operator.md, but for their synopses", () => {
    const commands = ["operations.md", "operator.md"]
      .flatMap((page) => sluiceCommands(readFileSync(path.join(ROOT, "docs", page), "utf8")))
      // A synopsis (`[--limit N]`, `ID | --all`, `…`) shows the forms, not one command.
      .filter((words) => !words.some((word) => /^\[|^\||…/.test(word)))
      .filter((words) => words.includes("--config"));
    expect(commands.length).to.be.greaterThan(15);
    const refused = commands
      .map((words) => ({ command: words.join(" "), problem: commandProblem(words) }))
      .filter((c) => c.problem !== null);
    expect(refused).to.deep.equal([]);
  });

  it("and name each RabbitMQ policy they set under the prefix", () => {
    // set_policy of a name already taken replaces that policy: a name without the prefix is
    // shared by every installation on the broker, and its queue loses the limit it was given.
    const policies = ["operations.md", "operator.md", "reliability.md"].flatMap((page) =>
      policyNames(readFileSync(path.join(ROOT, "docs", page), "utf8")),
    );
    expect(policies.length).to.be.greaterThan(1);
    expect(policies.filter((name) => !name.startsWith("<prefix>"))).to.deep.equal([]);
    expect(
      policyNames("`rabbitmqctl set_policy --apply-to queues --priority 10 p '^q$' '{}'`"),
    ).to.deep.equal(["p"]);
  });

  it("would catch a command the CLI refuses", () => {
    expect(commandProblem(["backends", "pause", "--config", "FILE"])).to.equal(
      "backends pause needs a backend name",
    );
    expect(commandProblem(["dead-letters", "replay", "--config", "FILE"])).to.be.a("string");
    expect(commandProblem(["dead-letters", "list", "--since", "1h", "--config", "FILE"])).to.equal(
      "unknown option --since",
    );
    expect(commandProblem(["backends", "list"])).to.equal("no --config FILE");
  });

  it("name only admin requests the admin port serves", () => {
    const routes = registeredRoutes();
    const requests = adminRequests(text);
    expect(requests.length).to.be.greaterThan(1);
    const unserved = requests.filter(
      (r) => !routes.some((route) => route.method === r.method && route.pattern.test(r.path)),
    );
    expect(unserved).to.deep.equal([]);
  });

  it("and each alert's description names only sluice commands the CLI takes", () => {
    const commands = shipped.flatMap((rule) =>
      sluiceCommands(
        (rule.annotations?.description ?? "").replace(/\{\{ \$labels\.(\w+) \}\}/g, "$1"),
      ),
    );
    expect(commands.length).to.be.greaterThan(0);
    expect(commands.map(commandProblem).filter((p) => p !== null)).to.deep.equal([]);
  });
});
