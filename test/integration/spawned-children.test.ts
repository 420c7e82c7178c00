// The test harness's own promise: a process a test started is gone once mocha is, however mocha
// ends. A Sluice worker left running consumes from the shared broker and takes the messages of
// tests that run later. Each case runs a small mocha of its own (this repository's options) that
// starts a worker through the harness and then ends without stopping it.

import { expect } from "chai";
import { rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { eventually, Harness, START_TIMEOUT_MS } from "../support/harness";
import { running } from "../support/process-running";
import { own, spawn } from "../support/spawned-children";

const REPO = path.resolve(__dirname, "../../..");
const MOCHA = path.join(REPO, "node_modules", "mocha", "bin", "mocha.js");

/**
 * A test file whose `before` starts a worker and prints its pid and its harness's directory;
 * then, by END, its `after` hook never ends (mocha gives up on it and `--exit` ends mocha), or
 * its test waits until a signal comes.
 */
const SUITE = `
const { Harness } = require(${JSON.stringify(path.join(REPO, "dist/test/support/harness.js"))});
describe("a suite that leaves its worker running", function () {
  this.timeout(0);
  const harness = new Harness();
  harness.configFile = process.env.CONFIG_FILE;
  before(async () => {
    const worker = await harness.spawn("worker");
    console.log(JSON.stringify({ pid: worker.child.pid, dir: harness.dir }));
  });
  if (process.env.END === "hook-timeout") {
    it("passes", () => {});
    after(function () {
      this.timeout(100);
      return new Promise(() => {});
    });
  } else {
    it("waits for a signal", () => new Promise(() => {}));
  }
});
`;

describe("a process a test started", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let suiteFile = "";
  const left: number[] = [];
  const groups: number[] = [];
  before(() => {
    harness.writeConfig({
      services: { records: { protocols: ["rest"], backend: "api" } },
      backends: { api: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    });
    suiteFile = path.join(harness.dir, "leaves-worker.test.js");
    writeFileSync(suiteFile, SUITE);
  });
  after(async () => {
    // Without the guarantee the worker outlives its mocha: stopped here, not left consuming.
    for (const pid of left.filter(running)) process.kill(pid, "SIGKILL");
    for (const group of groups) {
      try {
        process.kill(-group, "SIGKILL");
      } catch {
        // the group is gone
      }
    }
    await harness.cleanup();
  });

  const ends: Array<{ end: string; how: string }> = [
    { end: "hook-timeout", how: "its after hook times out and mocha exits (--exit)" },
    { end: "SIGTERM", how: "mocha is sent SIGTERM" },
    { end: "SIGINT", how: "mocha is sent SIGINT" },
    // Nothing in mocha runs: the role sees its stdin end and stops as on SIGTERM.
    { end: "SIGKILL", how: "mocha is killed with SIGKILL" },
  ];
  for (const { end, how } of ends) {
    it(`is gone when ${how}`, async () => {
      // A group of its own: a mocha that runs the tests in a child of its own (a Node flag in
      // its options) leaves that child running when sent SIGTERM, and the after hook ends it.
      const mocha = own(
        spawn(process.execPath, [MOCHA, suiteFile], {
          cwd: REPO,
          env: { ...process.env, CONFIG_FILE: harness.configFile, END: end },
          stdio: ["ignore", "pipe", "pipe"],
          detached: true,
        }),
        { group: true },
      );
      groups.push(mocha.pid!);
      let output = "";
      mocha.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
      mocha.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
      // 'exit', not 'close': a child of mocha's own may hold its output open after it exits.
      const exited = new Promise((resolve) => mocha.once("exit", resolve));
      const started = await eventually(
        async () => {
          const line = output.split("\n").find((l) => l.startsWith('{"pid"'));
          if (line) return JSON.parse(line) as { pid: number; dir: string };
          if (mocha.exitCode !== null) throw new Error(`mocha ended first:\n${output}`);
          return undefined;
        },
        START_TIMEOUT_MS,
        "the worker's start",
      );
      left.push(started.pid);
      rmSync(started.dir, { recursive: true, force: true });
      expect(running(started.pid), "the worker running while its mocha runs").to.equal(true);
      if (end !== "hook-timeout") mocha.kill(end as NodeJS.Signals);
      await exited;
      // The kill is sent before mocha exits, and a worker whose stdin ended drains first: a
      // bound on liveness, well above the configuration's grace time.
      await eventually(
        async () => (running(started.pid) ? undefined : true),
        60_000,
        `worker ${started.pid} gone after its mocha ended (${end}):\n${output}`,
      );
    });
  }
});
