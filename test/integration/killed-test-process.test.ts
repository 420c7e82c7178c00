// What a test started is gone soon after the test process is killed with SIGKILL, when nothing
// in it runs: the simulators stop when their stdin ends, the watchdog stops a private server.
// Each case runs a small script that starts its processes through the harness, prints their
// pids, and waits to be killed.

import { expect } from "chai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { eventually, Harness, START_TIMEOUT_MS } from "../support/harness";
import { running } from "../support/process-running";
import { spawn } from "../support/spawned-children";

const REPO = path.resolve(__dirname, "../../..");
const DIST = path.join(REPO, "dist", "test");

/** Starts what WHAT names (comma-separated) through the harness, prints their pids, waits. */
const SCRIPT = `
const { Harness } = require(${JSON.stringify(path.join(DIST, "support/harness.js"))});
(async () => {
  const harness = new Harness();
  harness.configFile = process.env.CONFIG_FILE;
  const what = process.env.WHAT.split(",");
  const pids = [];
  if (what.includes("sims")) {
    pids.push((await harness.spawn("legacy-sim")).child.pid);
    pids.push((await harness.spawnXroadSim(process.env.XROAD_SIM_FILE)).child.pid);
  }
  if (what.includes("redis")) {
    const { PrivateRedis } = require(${JSON.stringify(path.join(DIST, "e2e/ops-support.js"))});
    const redis = await PrivateRedis.start();
    // A deliberate restart, as outage tests make: the watchdog must stop the second server.
    await redis.stop();
    await redis.resume();
    const info = require("node:child_process").execFileSync("redis-cli", ["-p", String(redis.port), "info", "server"], { encoding: "utf8" });
    pids.push(Number(/process_id:([0-9]+)/.exec(info)[1]));
  }
  console.log(JSON.stringify({ pids, dir: harness.dir }));
  setInterval(() => {}, 60000);
})().catch((error) => {
  console.error(error);
  process.exit(1);
});
`;

describe("a test process killed with SIGKILL", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  const started: number[] = [];
  let scriptFile = "";
  let xroadSimFile = "";
  before(() => {
    harness.writeConfig({
      services: { records: { protocols: ["rest"], backend: "api" } },
      backends: { api: { translator: "rest-json", url: "http://127.0.0.1:9" } },
      legacySim: { port: 0 },
    });
    scriptFile = path.join(harness.dir, "starts-and-waits.js");
    writeFileSync(scriptFile, SCRIPT);
    xroadSimFile = path.join(harness.dir, "xroad-sim.yaml");
    writeFileSync(
      xroadSimFile,
      "port: 0\nservices:\n  EE/GOV/1/p/s: { url: 'http://127.0.0.1:9/x' }\n",
    );
  });
  after(async () => {
    // Without the guarantee they outlive the script: stopped here, not left holding ports.
    for (const pid of started.filter(running)) process.kill(pid, "SIGKILL");
    await harness.cleanup();
  });

  async function startThenKill(what: string): Promise<number[]> {
    const child = spawn(process.execPath, [scriptFile], {
      cwd: REPO,
      env: {
        ...process.env,
        CONFIG_FILE: harness.configFile,
        XROAD_SIM_FILE: xroadSimFile,
        WHAT: what,
        // What the script makes in the temporary directory (its harness's, a server's data) is
        // in the harness's then, which cleanup removes: the script, killed, removes nothing.
        TMPDIR: harness.dir,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const exited = new Promise((resolve) => child.once("exit", resolve));
    const { pids } = await eventually(
      async () => {
        const line = output.split("\n").find((l) => l.startsWith('{"pids"'));
        if (line) return JSON.parse(line) as { pids: number[] };
        if (child.exitCode !== null) throw new Error(`the script ended first:\n${output}`);
        return undefined;
      },
      START_TIMEOUT_MS,
      `the start of ${what}`,
    );
    started.push(...pids);
    for (const pid of pids) expect(running(pid), `${pid} running before the kill`).to.equal(true);
    child.kill("SIGKILL");
    await exited;
    return pids;
  }

  async function allGone(pids: number[], what: string): Promise<void> {
    // A bound on liveness, far above the moment it takes: no timing is asserted.
    await eventually(
      async () => (pids.some(running) ? undefined : true),
      30_000,
      `${what} (${pids.filter(running).join(", ")}) gone after the kill`,
    );
  }

  it("leaves no private redis-server running, one restarted on purpose either", async () => {
    await allGone(await startThenKill("redis"), "the private redis-server");
  });

  it("leaves no legacy-sim or xroad-sim running", async () => {
    await allGone(await startThenKill("sims"), "the simulators");
  });
});
