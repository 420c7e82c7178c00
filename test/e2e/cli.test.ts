// The `sluice` command as a user meets it: usage, version, help per role, configuration
// problems, and a clear line (no stack trace) naming what is wrong when RabbitMQ or Redis
// cannot be reached, refuses the login, or lacks the virtual host.

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import net from "node:net";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { FULL_DISK_LINE, sluiceToFullDisk } from "../support/full-output";
import { REDIS_URL } from "../support/harness";
import { OPERATOR_COMMANDS, OPERATOR_USAGE, operatorSummary } from "../../cli/operator-args";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

function sluice(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    encoding: "utf8",
    // A bound, not a timing: a command that waited for a connection it should not make never
    // ends. A loaded machine (two CPU burners, three test files at once) took 10 s to start
    // Node and load a role, where 20 s left a busier one little room.
    timeout: 60_000,
  });
}

/**
 * The one line a start that cannot connect writes (no stack trace); its exit status is 1, or 3
 * when RabbitMQ or Redis did not answer at all (ask again later).
 */
function failureLine(result: ReturnType<typeof sluice>, status = 1): string {
  expect(result.status, result.stderr).to.equal(status);
  const lines = result.stderr.trim().split("\n");
  expect(lines, result.stderr).to.have.length(1);
  return lines[0];
}

describe("the sluice command", function () {
  // Some tests run a dozen commands one after another, each a fresh Node process: on a loaded
  // machine that alone takes tens of seconds. Each command's own bound (spawnSync's timeout) is
  // what says a usage mistake did not wait for Redis or the broker. The test of fifteen
  // commands took 165 s in a parallel e2e run under load: the limit lies past fifteen starts
  // of up to 20 s each.
  this.timeout(360_000);
  const dir = mkdtempSync(path.join(tmpdir(), "sluice-cli-"));
  const config = path.join(dir, "sluice.yaml");
  writeFileSync(
    config,
    "services:\n  q: { backend: b }\nbackends:\n  b: { url: 'http://127.0.0.1:1' }\nadapter: { port: 0 }\nadmin: { port: 0 }\n",
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("prints its usage", () => {
    const result = sluice(["--help"]);
    expect(result.status).to.equal(0);
    expect(result.stdout).to.include("usage: sluice <role>");
    // Each operator command's words, as its own usage gives them (docs/operator.md lists them).
    for (const line of OPERATOR_USAGE.split("\n").filter((l) => /sluice [a-z-]+ /.test(l))) {
      const [command, word] = line
        .trim()
        .replace(/^usage: /, "")
        .split(/\s+/)
        .slice(1);
      const listed = result.stdout.split("\n").find((l) => l.startsWith(`  ${command} `));
      expect(listed, command).to.be.a("string");
      if (!word.startsWith("["))
        expect(listed, `${command} ${word}`).to.match(new RegExp(`\\b${word}\\b`));
    }
    // And its options, --json among them, as its own usage gives them.
    for (const command of OPERATOR_COMMANDS) {
      const listed = result.stdout.split("\n").find((l) => l.startsWith(`  ${command} `));
      expect(listed, command).to.include(operatorSummary(command));
      expect(listed, command).to.include("[--json]");
    }
  });

  it("prints its version", () => {
    const result = sluice(["--version"]);
    expect(result.status).to.equal(0);
    const { version } = require("../../../package.json") as { version: string };
    expect(result.stdout.trim()).to.equal(`sluice ${version}`);
  });

  it("exits 1 naming the failure, without a stack trace, when its usage or version cannot be written", () => {
    for (const args of [["--version"], ["--help"], ["worker", "--help"]]) {
      const result = sluiceToFullDisk(args, { LOG_LEVEL: "silent" });
      expect(result.status, `${args.join(" ")}: ${result.stderr}`).to.equal(1);
      expect(result.stderr).to.equal(FULL_DISK_LINE);
    }
  });

  it("prints each role's own help", () => {
    const worker = sluice(["worker", "--help"]);
    expect(worker.status).to.equal(0);
    expect(worker.stdout).to.match(/^sluice worker: /);
    expect(worker.stdout).to.include("--config FILE");
    const adapter = sluice(["adapter", "--help"]);
    expect(adapter.stdout).to.match(/^sluice adapter: /);
    expect(adapter.stdout).to.include("/rest/<service>");
    expect(sluice(["nope", "--help"]).status).to.equal(2);
  });

  it("names an operator command's usage mistake in one line and exits 2, before connecting", () => {
    for (const [argv, line] of [
      [
        ["dead-letters", "list", "--limit", "abc"],
        '--limit takes a whole number of 1 or more, not "abc"',
      ],
      [
        ["dead-callbacks", "list", "--limit", "0"],
        '--limit takes a whole number of 1 or more, not "0"',
      ],
      [
        ["dead-letters", "replay", "--limit=-5", "--all"],
        '--limit takes a whole number of 1 or more, not "-5"',
      ],
      [["dead-letters", "replay"], "dead-letters replay needs an ID, a filter"],
      [["dead-callbacks", "redeliver"], "dead-callbacks redeliver needs an ID, a filter"],
      [["messages", "show"], "messages show needs an ID, or --client and --xroad-id"],
      [["dead-letters"], "dead-letters needs a command: list, show, replay"],
      [["dead-callbacks", "replay"], 'unknown dead-callbacks command "replay"'],
      [["dead-letters", "show"], "dead-letters show needs an ID"],
      [["dead-callbacks", "show"], "dead-callbacks show needs an ID"],
      [["messages", "cancel"], "messages cancel needs an ID"],
      [["hub-listeners", "remove"], "hub-listeners remove needs an ID"],
      [["hub-listeners", "show"], 'unknown hub-listeners command "show"'],
      [
        ["dead-letters", "replay", "--replayed", "yes", "--all"],
        "--replayed applies to dead-letters list only (dead-letters replay does not take it)",
      ],
      [
        ["dead-letters", "replay", "--replayed=no", "--backend", "b"],
        "--replayed applies to dead-letters list only",
      ],
    ] as const) {
      // Unreachable Redis and broker: a usage error must not wait for either.
      const result = sluice([...argv, "--config", config], {
        REDIS_URL: "redis://127.0.0.1:1",
        AMQP_URL: "amqp://127.0.0.1:1",
      });
      expect(result.status, `${argv.join(" ")}: ${result.stderr}`).to.equal(2);
      expect(result.stderr.split("\n")[0]).to.satisfy((first: string) =>
        first.startsWith(`sluice: ${line}`),
      );
    }
  });

  it("prints an operator command's own usage on --help, without a configuration", () => {
    for (const [argv, first] of [
      [["dead-letters", "--help"], "usage: sluice dead-letters list"],
      [["messages", "cancel", "-h"], "usage: sluice messages show"],
      [["journal", "--help"], "usage: sluice journal"],
    ] as const) {
      const result = sluice([...argv], { SLUICE_CONFIG: "" });
      expect(result.status, argv.join(" ")).to.equal(0);
      expect(result.stdout.startsWith(first), result.stdout).to.equal(true);
      // Its own lines only, and the options.
      const others = result.stdout.split("\n").filter((line) => /sluice [a-z-]+ /.test(line));
      expect(
        others.every((line) => line.includes(`sluice ${argv[0]} `)),
        result.stdout,
      ).to.equal(true);
      expect(result.stdout).to.include("options: --json");
    }
  });

  it("refuses options to sluice demo, which runs the bundled configuration only", () => {
    for (const argv of [
      ["demo", "--config", config],
      ["demo", "--with-legacy-sim"],
    ]) {
      const result = sluice(argv);
      expect(result.status, argv.join(" ")).to.equal(2);
      expect(result.stderr).to.include("sluice demo runs the bundled config/demo.yaml");
      expect(result.stderr).to.include("sluice all --config FILE");
    }
  });

  it("does not take SLUICE_CONFIG, a Sluice configuration, for xroad-sim's own file", () => {
    const result = sluice(["xroad-sim"], { SLUICE_CONFIG: config });
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include("xroad-sim needs --config FILE, its own configuration");
  });

  it("refuses to run without a role, as a usage mistake", () => {
    for (const argv of [[], ["--config", config]]) {
      const result = sluice(argv);
      expect(result.status, argv.join(" ")).to.equal(2);
      expect(result.stderr.split("\n")[0]).to.equal("sluice: no role given");
      expect(result.stderr).to.include("usage: sluice <role>");
    }
  });

  it("refuses --config given twice, to a role and to an operator command alike", () => {
    // Kept last-wins, a wrapper's --config and the user's ran with one of them unsaid.
    for (const argv of [
      ["worker", "--config", config, "--config=other.yaml"],
      ["dead-letters", "list", "--config", config, "-c", "other.yaml"],
    ]) {
      const result = sluice(argv);
      expect(result.status, argv.join(" ")).to.equal(2);
      expect(result.stderr.split("\n")[0]).to.equal(
        "sluice: --config is given twice; give it once",
      );
    }
  });

  it("refuses an unknown role", () => {
    const result = sluice(["frobnicate"]);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include('unknown role "frobnicate"');
  });

  it("lists the configuration's problems and exits 2", () => {
    const bad = path.join(dir, "bad.yaml");
    writeFileSync(bad, "services:\n  q: { backend: nope, reply: { mode: later } }\n");
    const result = sluice(["adapter", "--config", bad]);
    expect(result.status).to.equal(2);
    expect(result.stderr).to.include('no backend named "nope"');
    expect(result.stderr).to.include("reply.mode");
    expect(result.stderr).to.not.match(/\n\s+at /);
  });

  it("refuses --backends naming an unknown backend, or given to a role that is not a worker", () => {
    const unknown = sluice(["worker", "--config", config, "--backends", "b,nope"]);
    expect(unknown.status).to.equal(2);
    expect(unknown.stderr).to.include("--backends: no backend named nope");
    const adapter = sluice(["adapter", "--config", config, "--backends", "b"]);
    expect(adapter.status).to.equal(2);
    expect(adapter.stderr).to.include("--backends is for workers");
    expect(sluice(["worker", "--config", config, "--backends"]).status).to.equal(2);
  });

  it("names the unreachable RabbitMQ URL in one line and exits 3", () => {
    const result = sluice(["adapter", "--config", config], {
      AMQP_URL: "amqp://guest:secret@127.0.0.1:1",
    });
    const line = failureLine(result, 3);
    expect(line).to.include("cannot connect to RabbitMQ at amqp://guest:[redacted]@127.0.0.1:1");
    expect(line).to.include(
      "RabbitMQ is not running at that address: start it, or fix the URL (AMQP_URL or amqpUrl)",
    );
    expect(line).to.include("for example `rabbitmq-server -detached`");
    // The Compose file's RabbitMQ and Redis publish no port: never offered as the way to start.
    expect(line).to.not.include("docker compose");
    expect(result.stderr).to.not.include("secret");
  });

  it("names the setting whose host nothing can listen on, in one line", () => {
    const line = failureLine(
      sluice(["adapter", "--config", config], { ADMIN_HOST: "no-such-host.invalid" }),
    );
    expect(line).to.match(
      /admin\.host: "no-such-host\.invalid" does not resolve, so nothing can listen on it \((ENOTFOUND|EAI_AGAIN)\)/,
    );
  });

  it("says RabbitMQ refused the login, not that it is down, on a wrong password", () => {
    const line = failureLine(
      sluice(["worker", "--config", config], {
        AMQP_URL: "amqp://guest:wrong-password@127.0.0.1:5672",
      }),
    );
    expect(line).to.include('refused the login of user "guest"');
    expect(line).to.not.include("start it");
    expect(line).to.not.include("wrong-password");
  });

  it("names a missing virtual host as such", () => {
    const vhost = `sluice-missing-${randomUUID().slice(0, 8)}`;
    const line = failureLine(
      sluice(["worker", "--config", config], {
        AMQP_URL: `amqp://guest:guest@127.0.0.1:5672/${vhost}`,
      }),
    );
    expect(line).to.include(`refused to open virtual host "${vhost}"`);
    expect(line).to.not.include("start it");
  });

  it("says Redis refused the credentials on a wrong password", () => {
    const line = failureLine(
      sluice(["worker", "--config", config], {
        REDIS_URL: "redis://nobody:wrong-password@127.0.0.1:6379",
      }),
    );
    expect(line).to.include("refused the credentials");
    expect(line).to.not.include("wrong-password");
  });

  it("names a Redis that takes the connection but never answers, in one line, and exits 3", async () => {
    // Connections wait in the listen backlog, unanswered, while this process waits for sluice.
    const silent = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => silent.listen(0, "127.0.0.1", resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const line = failureLine(
        sluice(["worker", "--config", config], { REDIS_URL: `redis://127.0.0.1:${port}` }),
        3,
      );
      expect(line).to.include(`cannot connect to Redis at redis://127.0.0.1:${port}`);
      expect(line).to.include("no answer within");
    } finally {
      silent.close();
    }
  });

  it("warns of a dead-letter filter naming a backend or service the configuration does not have, and runs", () => {
    const typo = sluice([
      "dead-letters",
      "list",
      "--backend",
      "bb",
      "--service",
      "qq",
      "--config",
      config,
    ]);
    expect(typo.status, typo.stderr).to.equal(0);
    expect(typo.stderr).to.include(
      "sluice: warning: --backend bb names no backend of this configuration (b); only dead letters of one since removed can match it",
    );
    expect(typo.stderr).to.include(
      "sluice: warning: --service qq names no service of this configuration (q)",
    );
    const known = sluice([
      "dead-letters",
      "list",
      "--backend",
      "b",
      "--service",
      "q",
      "--config",
      config,
    ]);
    expect(known.status, known.stderr).to.equal(0);
    expect(known.stderr).to.not.include("warning");
  });

  it("runs an operator command with a short admin token, which it never uses, where sluice check refuses it", () => {
    const shortInFile = path.join(dir, "short-token.yaml");
    writeFileSync(
      shortInFile,
      "services:\n  q: { backend: b }\nbackends:\n  b: { url: 'http://127.0.0.1:1' }\nadmin: { port: 0, token: short }\n",
    );
    for (const [file, env] of [
      [config, { SLUICE_ADMIN_TOKEN: "short" }],
      [shortInFile, { SLUICE_ADMIN_TOKEN: "" }],
    ] as const) {
      expect(sluice(["check", "--config", file], env).status, file).to.equal(2);
      for (const command of [
        ["backends", "list"],
        ["hub-listeners", "list"],
      ]) {
        const ran = sluice([...command, "--config", file], env);
        expect(ran.status, `${command.join(" ")} ${file}: ${ran.stderr}`).to.equal(0);
        expect(ran.stderr).to.not.include("token");
      }
    }
  });

  it("names the unreachable Redis URL in one line and exits 3", () => {
    const line = failureLine(
      sluice(["worker", "--config", config], { REDIS_URL: "redis://127.0.0.1:1" }),
      3,
    );
    expect(line).to.include("cannot connect to Redis at redis://127.0.0.1:1");
  });

  it("exits 3 from an operator command when Redis is out of reach, and 1 for an id that does not exist", () => {
    const id = randomUUID();
    // Nothing listens on port 1: the command could not ask, so the answer is "ask again later".
    for (const args of [
      ["messages", "show", id, "--config", config],
      ["dead-letters", "show", id, "--config", config],
      ["dead-callbacks", "list", "--config", config],
      ["backends", "pause", "b", "--config", config],
    ]) {
      const line = failureLine(sluice(args, { REDIS_URL: "redis://127.0.0.1:1" }), 3);
      expect(line, args.join(" ")).to.include("cannot connect to Redis at redis://127.0.0.1:1");
    }
    // The shared Redis answers: no such message (the prefix is this test's own, so nothing is
    // found and nothing is left behind: a look-up writes nothing).
    const prefixed = path.join(dir, "prefixed.yaml");
    writeFileSync(
      prefixed,
      `prefix: cli-exit-${randomUUID().slice(0, 8)}-\nservices:\n  q: { backend: b }\nbackends:\n  b: { url: 'http://127.0.0.1:1' }\n`,
    );
    for (const args of [
      ["messages", "show", id, "--config", prefixed],
      ["dead-letters", "show", id, "--config", prefixed],
    ]) {
      const missing = sluice(args);
      expect(missing.status, `${args.join(" ")}: ${missing.stderr}`).to.equal(1);
      expect(missing.stderr, args.join(" ")).to.match(/no such message|no dead letter/);
    }
  });

  it("refuses a Redis database number that does not exist, for a role and an operator command, instead of using database 0", () => {
    const url = new URL(REDIS_URL);
    url.pathname = "/99";
    for (const args of [
      ["worker", "--config", config],
      ["dead-letters", "list", "--config", config],
    ]) {
      const line = failureLine(sluice(args, { REDIS_URL: url.toString() }));
      expect(line, args[0]).to.include("the database number in REDIS_URL does not exist");
    }
  });
});
