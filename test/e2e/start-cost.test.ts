// What a `sluice` process loads as it starts, where each start costs CPU a test run or an
// orchestrator pays by the hundred: a command loads the packages of what it does, and no more.

import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";
import { Harness } from "../support/harness";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");
const RECORDER = path.join(__dirname, "..", "support", "loaded-packages.js");

/** The roles' connections, metrics and tracing: no command but a role's start uses them. */
const RUNTIME = [
  "amqplib",
  "amqp-connection-manager",
  "ioredis",
  "prom-client",
  "@opentelemetry/api",
];
/** What reading and checking a configuration takes, and the translators' clients. */
const CONFIGURATION = ["yaml", "ajv", "re2js", "pino", "undici", "soap", "@peculiar/asn1-x509"];

describe("what a sluice command loads", function () {
  // Each test starts a few Node processes; a loaded machine takes seconds for each.
  this.timeout(120_000);
  const dir = mkdtempSync(path.join(tmpdir(), "sluice-start-cost-"));
  after(() => rmSync(dir, { recursive: true, force: true }));

  /** Runs `sluice ...args` and gives its exit status and the packages it loaded. */
  function loaded(args: string[]): { status: number | null; packages: string[] } {
    const file = path.join(dir, "packages");
    const result = spawnSync(process.execPath, ["--require", RECORDER, BIN, ...args], {
      env: { ...process.env, LOG_LEVEL: "silent", SLUICE_TEST_LOADED_PACKAGES: file },
      encoding: "utf8",
      timeout: 60_000,
    });
    return { status: result.status, packages: readFileSync(file, "utf8").split("\n") };
  }

  const light: Array<[string[], number]> = [
    [["--help"], 0],
    [["--version"], 0],
    [["worker", "--help"], 0],
    [["nonsense"], 2],
    [["worker"], 2],
    [["dead-letters", "--help"], 0],
    [["dead-letters", "--bogus"], 2],
  ];
  for (const [args, status] of light) {
    it(`sluice ${args.join(" ")} loads neither the roles' runtime nor the configuration's`, () => {
      const result = loaded(args);
      expect(result.status).to.equal(status);
      for (const name of [...RUNTIME, ...CONFIGURATION])
        expect(result.packages).to.not.include(name);
    });
  }

  it("sluice check loads the configuration's packages, not the roles' runtime", () => {
    const result = loaded(["check", "--config", DEMO]);
    expect(result.status).to.equal(0);
    expect(result.packages).to.include.members(["yaml", "ajv"]);
    for (const name of RUNTIME) expect(result.packages).to.not.include(name);
    // Its configuration names no revocation list: there is none to parse.
    expect(result.packages).to.not.include("@peculiar/asn1-x509");
  });

  it("a role loads no SOAP client, certificate parser or tracing SDK its configuration does not use", async () => {
    const harness = new Harness();
    try {
      await harness.startSim();
      harness.writeConfig({
        services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
        backends: { sim: { translator: "rest-json" } },
      });
      const file = path.join(dir, "role-packages");
      const proc = await harness.spawn(
        "all",
        { SLUICE_TEST_LOADED_PACKAGES: file },
        [],
        ["--require", RECORDER],
      );
      expect(await proc.stop()).to.equal(0);
      const packages = readFileSync(file, "utf8").split("\n");
      expect(packages).to.include.members(["amqplib", "ioredis", "undici"]);
      for (const name of ["soap", "@peculiar/asn1-x509", "@opentelemetry/sdk-trace-base"]) {
        expect(packages).to.not.include(name);
      }
    } finally {
      await harness.cleanup();
    }
  });
});
