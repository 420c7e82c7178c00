// The operator commands' arguments (`sluice dead-letters …`, `dead-callbacks …`, `messages …`, `backends …`):
// a usage mistake is named in one line before anything is connected, never run as a default.

import { expect } from "chai";
import {
  filterOf,
  OPERATOR_COMMANDS,
  operatorSummary,
  operatorUsage,
  type OperatorArgs,
} from "../../cli/operator-args";
import { parseOperatorArgs, type OperatorCommand } from "../../cli/operator-commands";

const parse = (command: OperatorCommand, ...argv: string[]) => parseOperatorArgs(command, argv);

describe("operator command arguments", () => {
  it("refuses a --limit that is not a whole number of 1 or more, naming it", () => {
    for (const bad of ["abc", "0", "-5", "2.5", "1e3", " 7", "99999999999999999999"]) {
      for (const argv of [
        ["list", "--limit", bad],
        ["list", `--limit=${bad}`],
      ]) {
        const problem = parse("dead-letters", ...argv);
        expect(problem, argv.join(" ")).to.be.a("string");
        expect(problem).to.equal(`--limit takes a whole number of 1 or more, not "${bad}"`);
      }
    }
    expect(parse("dead-callbacks", "list", "--limit", "0")).to.be.a("string");
    expect(parse("dead-letters", "replay", "--all", "--limit", "x")).to.be.a("string");
  });

  it("refuses a --limit of dead letters or dead callbacks past the 10 000 a run looks at", () => {
    // Taken, it was cut to 10 000 without a word: "10000 replayed" with more still waiting.
    expect(parse("dead-letters", "replay", "--all", "--limit", "50000")).to.equal(
      "--limit of dead-letters is at most 10000 (a list or a run looks at 10000 entries at most; run it again for more), not 50000",
    );
    expect(parse("dead-letters", "list", "--limit=10001")).to.match(
      /^--limit of dead-letters is at most 10000/,
    );
    expect(parse("dead-callbacks", "redeliver", "--all", "--limit", "20000")).to.match(
      /^--limit of dead-callbacks is at most 10000/,
    );
    expect(parse("dead-letters", "replay", "--all", "--limit", "10000")).to.include({
      limit: 10_000,
    });
    // The journal and hub listeners are read whole: no such bound.
    expect(parse("journal", "--limit", "50000")).to.include({ limit: 50_000 });
    expect(parse("hub-listeners", "list", "--limit", "50000")).to.include({ limit: 50_000 });
  });

  it("refuses an option given twice, never acting on the last alone", () => {
    // Kept last-wins, `list --backend nope --backend deadend` listed deadend's without a word.
    expect(parse("dead-letters", "list", "--backend", "nope", "--backend", "deadend")).to.equal(
      "--backend is given twice; give it once",
    );
    expect(parse("dead-letters", "replay", "--reason", "a", "--reason=b")).to.equal(
      "--reason is given twice; give it once",
    );
    expect(parse("dead-letters", "list", "--backend", "a", "--reason", "b")).to.be.an("object");
  });

  it("takes the whole value after the first = of --name=value", () => {
    const target = "https://cb.example/x?token=a&sig=b=";
    const parsed = parse("dead-callbacks", "list", `--target=${target}`);
    expect(parsed).to.be.an("object");
    expect((parsed as { flags: Map<string, string> }).flags.get("target")).to.equal(target);
  });

  it("refuses a word more than the command takes, never ignoring it", () => {
    expect(parse("dead-letters", "replay", "ID1", "ID2")).to.equal(
      'dead-letters replay takes one ID: "ID2" is one more (give filters as options, or run it once per ID)',
    );
    expect(parse("dead-callbacks", "redeliver", "ID1", "ID2", "ID3")).to.match(
      /^dead-callbacks redeliver takes one ID: "ID2 ID3" is one more/,
    );
    expect(parse("messages", "cancel", "ID1", "ID2")).to.be.a("string");
    expect(parse("backends", "pause", "legacy", "other")).to.be.a("string");
    expect(parse("dead-letters", "list", "retries_exhausted")).to.equal(
      'dead-letters list takes no ID or word, only options: "retries_exhausted" (its filters are --reason, --service, --backend, --client, --replayed)',
    );
    // Each list names its own filters, and one without any names none.
    expect(parse("hub-listeners", "list", "x")).to.equal(
      'hub-listeners list takes no ID or word, only options: "x" (its filters are --client, --receiver)',
    );
    expect(parse("dead-callbacks", "list", "x")).to.match(
      /\(its filters are --reason, --receiver, --target\)$/,
    );
    expect(parse("backends", "list", "extra")).to.equal(
      'backends list takes no ID or word, only options: "extra"',
    );
    expect(parse("dead-letters", "replay", "ID1")).to.be.an("object");
    expect(parse("messages", "show", "ID1")).to.be.an("object");
  });

  it("takes --until as a dry run prints it, on a bulk replay or redelivery only", () => {
    const until = "2026-12-06T01:02:03.456Z";
    const parsed = parse("dead-letters", "replay", "--reason", "exhausted", "--until", until);
    expect(parsed).to.be.an("object");
    expect(filterOf(parsed as OperatorArgs)).to.deep.equal({
      reason: "exhausted",
      until: Date.parse(until),
    });
    expect(parse("dead-callbacks", "redeliver", "--all", `--until=${until}`)).to.be.an("object");
    expect(parse("dead-letters", "replay", "--until", "2026-12-06")).to.equal(
      '--until takes a time as a dry run prints it (ISO 8601 in UTC, e.g. 2026-12-06T01:02:03.456Z), not "2026-12-06"',
    );
    // It narrows a selection and names none.
    expect(parse("dead-letters", "replay", "--until", until)).to.match(/needs an ID, a filter/);
    expect(parse("dead-callbacks", "redeliver", "--until", until)).to.match(
      /needs an ID, a filter/,
    );
    expect(parse("dead-letters", "list", "--until", until)).to.match(/takes no --until/);
  });

  it("takes --dry-run on a bulk replay or redelivery only", () => {
    expect(parse("dead-letters", "replay", "--all", "--dry-run")).to.include({ dryRun: true });
    expect(parse("dead-callbacks", "redeliver", "--reason", "exhausted", "--dry-run")).to.include({
      dryRun: true,
    });
    expect(parse("dead-letters", "replay", "--all")).to.include({ dryRun: false });
    expect(parse("dead-letters", "replay", "ID1", "--dry-run")).to.equal(
      "--dry-run applies to a bulk replay, discard or redelivery (a filter or --all), not to dead-letters replay ID",
    );
    expect(parse("dead-letters", "list", "--dry-run")).to.equal(
      "--dry-run applies to a bulk replay, discard or redelivery (a filter or --all), not to dead-letters list",
    );
    expect(parse("dead-callbacks", "redeliver", "--dry-run")).to.match(/needs an ID, a filter/);
    expect(parse("dead-letters", "replay", "--all", "--dry-run=yes")).to.equal(
      "unknown option --dry-run=yes",
    );
  });

  it("refuses an option where a value belongs, rather than taking it as the value", () => {
    // `--note --dry-run` took "--dry-run" as the note: a real discard the operator meant as a
    // dry run, which no replay undoes.
    expect(parse("dead-letters", "discard", "--all", "--note", "--dry-run")).to.equal(
      "--note needs a value, not the option --dry-run (write --note=--dry-run if that is the value)",
    );
    expect(parse("dead-letters", "discard", "--backend", "b", "--note", "--all")).to.match(
      /^--note needs a value, not the option --all/,
    );
    expect(parse("dead-letters", "replay", "--backend", "--limit=5")).to.match(
      /^--backend needs a value, not the option --limit=5/,
    );
    expect(parse("dead-letters", "list", "--client", "--json")).to.match(/^--client needs a value/);
    // Written inline, or a word that is no option of these commands, it is the value.
    const inline = parse("dead-letters", "discard", "--all", "--note=--dry-run");
    expect(inline).to.not.be.a("string");
    expect((inline as OperatorArgs).flags.get("note")).to.equal("--dry-run");
    expect((inline as OperatorArgs).dryRun).to.equal(false);
    const dashes = parse("dead-letters", "discard", "--all", "--note", "-- resubmitted by hand");
    expect((dashes as OperatorArgs).flags.get("note")).to.equal("-- resubmitted by hand");
  });

  it("takes one ID's discard with a note or without, checked as a bulk discard's", () => {
    expect(parse("dead-letters", "discard", "ID1", "--note", "resubmitted")).to.include({
      dryRun: false,
    });
    expect(parse("dead-letters", "discard", "--note=resubmitted", "ID1")).to.not.be.a("string");
    expect(parse("dead-letters", "discard", "ID1", "--note", "😀".repeat(200))).to.not.be.a(
      "string",
    );
    expect(parse("dead-letters", "discard", "ID1", "--note", "😀".repeat(201))).to.equal(
      "dead-letters discard: note is at most 200 characters, not 201",
    );
    expect(parse("dead-letters", "discard", "ID1", "--note", "a\u202eb")).to.match(
      /^dead-letters discard: note is one line of text, .*\(U\+202e\)$/,
    );
    expect(parse("dead-letters", "discard", "ID1", "--note", "a\nb")).to.match(/U\+000a/);
  });

  it("takes a bulk discard as a bulk replay, with the note it requires", () => {
    expect(
      parse("dead-letters", "discard", "--backend", "b", "--note", "poison", "--dry-run"),
    ).to.include({ dryRun: true });
    expect(
      parse("dead-letters", "discard", "--all", "--note=resubmitted", "--limit", "5"),
    ).to.include({
      all: true,
      limit: 5,
    });
    expect(parse("dead-letters", "discard", "ID1")).to.include({ dryRun: false });
    // Without its note, or naming nothing: usage problems.
    expect(parse("dead-letters", "discard", "--backend", "b")).to.equal(
      "dead-letters discard: a bulk discard needs a note: why these dead letters are discarded (--note TEXT)",
    );
    expect(parse("dead-letters", "discard", "--all", "--note", " ")).to.match(/needs a note/);
    expect(parse("dead-letters", "discard", "--all", "--note", "x".repeat(201))).to.match(
      /note is at most 200 characters/,
    );
    expect(parse("dead-letters", "discard")).to.equal(
      "dead-letters discard needs an ID, or a filter (--reason, --service, --backend, --client) or --all with --note",
    );
    expect(parse("dead-letters", "discard", "--note", "why")).to.match(/needs an ID, or a filter/);
    expect(parse("dead-letters", "discard", "ID1", "--note", "why", "--backend", "b")).to.equal(
      "dead-letters discard ID takes no --backend: give one ID, or a selection (a filter or --all) without an ID",
    );
    expect(parse("dead-letters", "discard", "ID1", "--note", "why", "--all")).to.match(
      /^dead-letters discard ID takes no --all:/,
    );
    expect(parse("dead-letters", "discard", "ID1", "--dry-run")).to.match(/^--dry-run applies to/);
    expect(parse("dead-letters", "replay", "--all", "--note", "why")).to.match(
      /^dead-letters replay takes no --note/,
    );
  });

  it("refuses an option its command does not take, never widening a bulk run by ignoring it", () => {
    // Each is an option another command takes: ignored, the first two acted on every dead
    // letter (or callback) of the reason, not the one X-Road id or client meant.
    expect(
      parse("dead-letters", "replay", "--reason", "retries_exhausted", "--xroad-id", "X"),
    ).to.equal(
      "dead-letters replay takes no --xroad-id (it takes --reason, --service, --backend, --client, --limit, --until)",
    );
    expect(parse("dead-callbacks", "redeliver", "--reason", "exhausted", "--client", "C")).to.equal(
      "dead-callbacks redeliver takes no --client (it takes --reason, --receiver, --target, --limit, --until)",
    );
    expect(parse("dead-letters", "list", "--target", "https://cb.example/x")).to.match(
      /^dead-letters list takes no --target/,
    );
    expect(parse("dead-callbacks", "list", "--backend", "b")).to.match(
      /^dead-callbacks list takes no --backend/,
    );
    expect(parse("hub-listeners", "list", "--reason", "gone")).to.match(
      /^hub-listeners list takes no --reason/,
    );
    expect(parse("backends", "pause", "legacy", "--reason", "x")).to.equal(
      "backends pause takes no --reason",
    );
    expect(parse("dead-letters", "show", "ID", "--limit", "5")).to.equal(
      "dead-letters show takes no --limit",
    );
    expect(parse("dead-letters", "list", "--all")).to.equal(
      "--all applies to a bulk replay, discard or redelivery, not to dead-letters list",
    );
    // One ID beside a selection: which was meant is not guessed.
    expect(parse("dead-letters", "replay", "ID1", "--all")).to.equal(
      "dead-letters replay ID takes no --all: give one ID, or a selection (a filter or --all) without an ID",
    );
    expect(parse("dead-callbacks", "redeliver", "ID1", "--reason", "gone")).to.match(
      /^dead-callbacks redeliver ID takes no --reason/,
    );
    expect(parse("messages", "show", "ID1", "--client", "C")).to.equal(
      "messages show takes an ID, or --client and --xroad-id (and --service), not both",
    );
    // What each takes is still taken.
    expect(
      parse("dead-letters", "list", "--backend", "b", "--replayed", "no", "--limit", "5"),
    ).to.be.an("object");
    expect(parse("dead-letters", "replay", "--client", "C", "--limit", "5", "--dry-run")).to.be.an(
      "object",
    );
    expect(
      parse("dead-callbacks", "redeliver", "--receiver", "https://cb.example", "--json"),
    ).to.be.an("object");
    expect(
      parse("hub-listeners", "list", "--client", "C", "--receiver", "https://cb.example"),
    ).to.be.an("object");
    expect(
      parse("messages", "show", "--client", "C", "--xroad-id", "X", "--service", "S"),
    ).to.be.an("object");
  });

  it("reads a good --limit as a number, and none as null", () => {
    const given = parse("dead-letters", "list", "--limit", "25");
    expect(given).to.be.an("object").and.to.include({ limit: 25 });
    const none = parse("dead-letters", "list");
    expect(none).to.be.an("object").and.to.include({ limit: null });
  });

  it("refuses a replay, a redelivery or a look-up that names nothing", () => {
    expect(parse("dead-letters", "replay")).to.equal(
      "dead-letters replay needs an ID, a filter (--reason, --service, --backend, --client) or --all",
    );
    expect(parse("dead-callbacks", "redeliver", "--json")).to.equal(
      "dead-callbacks redeliver needs an ID, a filter (--reason, --receiver, --target) or --all",
    );
    expect(parse("messages", "show", "--client", "C")).to.equal(
      "messages show needs an ID, or --client and --xroad-id (and --service to narrow it)",
    );
    expect(parse("dead-letters", "replay", "--reason", "failed")).to.be.an("object");
    expect(parse("dead-letters", "replay", "--all")).to.be.an("object");
    expect(parse("dead-callbacks", "redeliver", "some-id")).to.be.an("object");
    expect(parse("messages", "show", "--client", "C", "--xroad-id", "X")).to.be.an("object");
  });

  it("reads backends list, and refuses a pause or resume that names no backend", () => {
    expect(parse("backends", "list")).to.be.an("object");
    expect(parse("backends", "pause", "legacy")).to.be.an("object");
    expect(parse("backends", "pause")).to.equal("backends pause needs a backend name");
    expect(parse("backends", "resume", "--json")).to.equal("backends resume needs a backend name");
    expect(parse("backends", "stop", "legacy")).to.equal(
      'unknown backends command "stop" (list, pause, resume)',
    );
  });

  it("takes --replayed no or yes only", () => {
    expect(parse("dead-letters", "list", "--replayed", "no")).to.be.an("object");
    expect(parse("dead-letters", "list", "--replayed=yes")).to.be.an("object");
    expect(parse("dead-letters", "list", "--replayed", "maybe")).to.equal(
      '--replayed takes no or yes, not "maybe"',
    );
  });

  it("gives sluice --help each command's options, as the command's own usage does", () => {
    for (const command of OPERATOR_COMMANDS) {
      const summary = operatorSummary(command);
      expect(summary.split("\n"), command).to.have.length(1);
      const own = operatorUsage(command)
        .split("\n")
        .filter((line) =>
          line
            .replace(/^usage: /, "")
            .trim()
            .startsWith(`sluice ${command}`),
        );
      for (const option of own.join(" ").match(/--[a-z-]+( [A-Z]+|\b)/g) ?? []) {
        expect(summary, `${command}: ${option}`).to.include(option);
      }
      expect(summary, command).to.match(/ \[--json\] --config FILE$/);
    }
    expect(operatorSummary("backends")).to.equal(
      "list | pause NAME | resume NAME [--json] --config FILE",
    );
  });

  it("lists --json on each usage line of a command's --help, as every command takes it", () => {
    const commands = ["dead-letters", "dead-callbacks", "messages", "backends", "hub-listeners"];
    for (const command of [...commands, "journal"] as OperatorCommand[]) {
      const lines = operatorUsage(command)
        .replace(/^usage: /, "")
        .split("\n")
        .map((line) => line.trim())
        .filter((line) => line.startsWith(`sluice ${command}`));
      expect(lines, command).to.have.length.above(0);
      for (const line of lines) {
        expect(line, line).to.match(/ \[--json\] --config FILE$/);
        // Each verb of the line (`list | pause NAME | resume NAME`) does take it.
        const verbs = command === "journal" ? [[]] : verbsOf(line, command);
        for (const argv of verbs) {
          const parsed = parse(command, ...argv, "--json");
          expect(parsed, `${command} ${argv.join(" ")}`).to.include({ json: true });
        }
      }
    }
  });

  it("explains in a command's own usage only the options that command takes", () => {
    for (const command of OPERATOR_COMMANDS) {
      const [usage, options] = operatorUsage(command).split("\noptions: ");
      expect(options, command).to.be.a("string");
      for (const option of options.match(/--[a-z-]+(?= (?:prints|lists|says))/g) ?? []) {
        expect(usage, `${command} explains ${option}`).to.include(option);
      }
    }
    expect(operatorUsage("messages")).not.to.include("--dry-run");
    expect(operatorUsage("dead-callbacks")).not.to.include("--note");
    expect(operatorUsage("dead-letters")).to.include("--note says why");
  });

  it("reads journal with --limit and --json only, refusing a word or another option", () => {
    expect(parse("journal")).to.be.an("object").and.to.include({ limit: null, json: false });
    expect(parse("journal", "--limit", "5", "--json")).to.include({ limit: 5, json: true });
    expect(parse("journal", "list")).to.equal(
      'journal takes no command or ID, only --limit and --json: "list"',
    );
    expect(parse("journal", "--reason", "x")).to.equal(
      "journal takes no --reason (only --limit and --json)",
    );
    expect(parse("journal", "--all")).to.equal("journal takes no --all (only --limit and --json)");
    expect(parse("journal", "--limit", "0")).to.equal(
      '--limit takes a whole number of 1 or more, not "0"',
    );
  });
});

/** The verbs a usage line names (`list | pause NAME`), each with an ID when it takes one. */
function verbsOf(line: string, command: string): string[][] {
  return line
    .slice(`sluice ${command} `.length)
    .split(" | ")
    .map((part) => part.split(" "))
    .filter(([verb]) => /^[a-z]+$/.test(verb))
    .map(([verb, next]) => (next !== undefined && /^[A-Z]+$/.test(next) ? [verb, "x"] : [verb]));
}
