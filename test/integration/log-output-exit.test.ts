// The lines a process logs before it exits all reach its standard output reader, in order, however
// late the process's other I/O runs: an exit never leaves a batch of lines to a write that had not
// happened yet, which then came after the lines written at exit or never at all.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { spawn } from "../support/spawned-children";

const LOGGER = path.resolve(__dirname, "../../shared/observability/logger.js");
const OUTPUT = path.resolve(__dirname, "../../shared/observability/log-output.js");

// The libuv thread pool's one thread waits on opening a FIFO no one writes to, as a busy pool
// (DNS look-ups, file reads, compression) keeps a write waiting: then the process logs and exits.
const CHILD = `
const fs = require("node:fs");
const log = require(${JSON.stringify(LOGGER)}).createLogger("t", { format: "json", level: "info" });
fs.open(process.env.FIFO, "r", () => {});
// After the logger's own exit handler: frees the thread so that the process can end.
process.on("exit", () => fs.closeSync(fs.openSync(process.env.FIFO, "w")));
for (let i = 0; i < 2000; i++) log.info({ i }, "line");
process.exit(0);
`;

// A line logged by an exit handler registered after the logger's own: no turn of the event loop
// follows to write it.
const LATE = `
const log = require(${JSON.stringify(LOGGER)}).createLogger("t", { format: "json", level: "info" });
log.info({ i: 0 }, "line");
process.on("exit", () => log.info({ i: 1 }, "last word"));
process.exit(0);
`;

// Lines logged in one turn of the event loop, before any can be written: what passes the bound
// is dropped (a reader that stopped reading costs no more memory) and said so once.
const BOUNDED = `
const { logOutput } = require(${JSON.stringify(OUTPUT)});
const output = logOutput(1, () => {}, {
  maxBuffered: 64 * 1024,
  onBehind: () => process.stderr.write("behind\\n"),
});
for (let i = 0; i < 10000; i++) output.write(JSON.stringify({ i, pad: "x".repeat(90) }) + "\\n");
process.exit(0);
`;

// A line the reader took part of, and a second as large in the next turn: together past the bound.
const PARTIAL = `
const { logOutput } = require(${JSON.stringify(OUTPUT)});
const output = logOutput(1, () => {}, {
  maxBuffered: 1024 * 1024,
  onBehind: () => process.stderr.write("behind\\n"),
});
const line = (i) => JSON.stringify({ i, pad: "x".repeat(900 * 1024) }) + "\\n";
output.write(line(0));
// After the write of the first line, which the stopped reader took part of.
setImmediate(() => {
  output.write(line(1));
  process.stderr.write("done\\n");
  process.exit(0);
});
`;

// A reader that takes nothing at all while the process exits: the exit ends after the wait, with
// the process's own code, and says so.
const STALLED = `
const { logOutput } = require(${JSON.stringify(OUTPUT)});
const output = logOutput(1, () => {}, {
  exitWaitMs: 200,
  onStalledAtExit: () => process.stderr.write("stalled\\n"),
});
for (let i = 0; i < 2000; i++) output.write(JSON.stringify({ i, pad: "x".repeat(900) }) + "\\n");
process.on("exit", () => output.write("after\\n"));
process.exit(3);
`;

// The same through a role's logger, with its own wait and its warning on standard error.
const STALLED_LOGGER = `
const log = require(${JSON.stringify(LOGGER)}).createLogger("t", { format: "json", level: "info" });
for (let i = 0; i < 2000; i++) log.info({ i, pad: "x".repeat(900) }, "line");
process.exit(4);
`;

// Past the bound of what is kept, then the exit: the warning that lines are dropped and the one
// that the reader took nothing both go to standard error.
const BEHIND_LOGGER = `
const log = require(${JSON.stringify(LOGGER)}).createLogger("t", { format: "json", level: "info" });
for (let i = 0; i < 20000; i++) log.info({ i, pad: "x".repeat(1000) }, "line");
setImmediate(() => process.exit(5));
`;

/**
 * Runs `script` with standard error the same pipe as its standard output (\`2>&1\`), which no
 * one reads: its exit code.
 */
async function exitWithStalledSharedPipe(script: string): Promise<number | null> {
  const child = spawn("/bin/sh", ["-c", 'exec "$0" -e "$1" 2>&1', process.execPath, script], {
    stdio: ["ignore", "pipe", "ignore"],
  });
  child.stdout.pause();
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  child.stdout.destroy();
  return code;
}

/** Runs `script` with a standard output no one reads: its exit code and its standard error. */
async function exitWithStalledReader(
  script: string,
): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, ["-e", script], { stdio: ["ignore", "pipe", "pipe"] });
  child.stdout.pause();
  let stderr = "";
  child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const stderrClosed = new Promise((resolve) => child.stderr.once("close", resolve));
  // "exit", not "close": the unread standard output stays open on this side.
  const code = await new Promise<number | null>((resolve) => child.once("exit", resolve));
  await stderrClosed;
  child.stdout.destroy();
  return { code, stderr };
}

describe("a process's log lines at exit", function () {
  this.timeout(60_000);
  let dir: string;
  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-log-exit-"));
    execFileSync("mkfifo", [path.join(dir, "fifo")]);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("are all read, in order, while an earlier write waits for the thread pool", async () => {
    const child = spawn(process.execPath, ["-e", CHILD], {
      env: { ...process.env, UV_THREADPOOL_SIZE: "1", FIFO: path.join(dir, "fifo") },
      stdio: ["ignore", "pipe", "inherit"],
    });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).to.equal(0);
    const numbers = stdout
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => (JSON.parse(line) as { i: number }).i);
    expect(numbers).to.deep.equal(Array.from({ length: 2000 }, (_, i) => i));
  });

  it("include one logged by a later exit handler", async () => {
    const child = spawn(process.execPath, ["-e", LATE], { stdio: ["ignore", "pipe", "inherit"] });
    let stdout = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).to.equal(0);
    const lines = stdout.split("\n").filter((line) => line !== "");
    expect(lines.map((line) => (JSON.parse(line) as { msg: string }).msg)).to.deep.equal([
      "line",
      "last word",
    ]);
  });

  it("count the rest of a line the reader took part of against the bound", async () => {
    const child = spawn(process.execPath, ["-e", PARTIAL], { stdio: ["ignore", "pipe", "pipe"] });
    // Not read until the child has logged both lines: the pipe takes far less than one.
    child.stdout.pause();
    let stdout = "";
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      if (stderr.endsWith("done\n")) {
        child.stdout.on("data", (data: Buffer) => (stdout += data.toString()));
        child.stdout.resume();
      }
    });
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).to.equal(0);
    expect(stderr).to.equal("behind\ndone\n");
    const lines = stdout.split("\n").filter((line) => line !== "");
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).to.deep.equal([0]);
  });

  it("are those the bound holds, the first ones, when more come than are written", async () => {
    const child = spawn(process.execPath, ["-e", BOUNDED], { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.once("close", resolve));
    expect(code).to.equal(0);
    expect(stdout.length).to.be.at.most(64 * 1024);
    const lines = stdout.split("\n").filter((line) => line !== "");
    // About 110 bytes a line: the bound holds 595 of them.
    expect(lines.length).to.be.above(500);
    expect(lines.map((line) => (JSON.parse(line) as { i: number }).i)).to.deep.equal(
      Array.from({ length: lines.length }, (_, i) => i),
    );
    expect(stderr).to.equal("behind\n");
  });

  it("are dropped, and the process ends with its code, when the reader takes nothing", async () => {
    const { code, stderr } = await exitWithStalledReader(STALLED);
    expect(code).to.equal(3);
    expect(stderr).to.equal("stalled\n");
  });

  it("are dropped through a role's logger after its wait, which standard error tells", async () => {
    const { code, stderr } = await exitWithStalledReader(STALLED_LOGGER);
    expect(code).to.equal(4);
    const warnings = stderr
      .split("\n")
      .filter((line) => line !== "")
      .map((line) => JSON.parse(line) as { level: string; msg: string });
    expect(warnings).to.have.length(1);
    expect(warnings[0].level).to.equal("warn");
    expect(warnings[0].msg).to.match(/^standard output took nothing for 5 s at exit/);
  });

  it("are dropped after the wait when standard error is the same stalled pipe", async () => {
    expect(await exitWithStalledSharedPipe(STALLED_LOGGER)).to.equal(4);
  });

  it("past the bound leave a process serving when standard error is the same stalled pipe", async () => {
    expect(await exitWithStalledSharedPipe(BEHIND_LOGGER)).to.equal(5);
  });
});
