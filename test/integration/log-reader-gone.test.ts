// A process whose standard output reader went away (a `| tee` or log shipper killed) still stops
// on SIGTERM and exits with its own code: its last lines, which no one can read, are dropped.
// Before, the failed write was retried at exit without end and the process never exited.

import { expect } from "chai";
import path from "node:path";
import { eventually, Harness, START_TIMEOUT_MS } from "../support/harness";
import { spawn } from "../support/spawned-children";

const BIN = path.resolve(__dirname, "../../../bin/sluice.js");

describe("a process whose log reader went away", function () {
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  before(() => {
    harness.writeConfig({
      services: { records: { protocols: ["rest"], backend: "api" } },
      backends: { api: { translator: "rest-json", url: "http://127.0.0.1:9" } },
      legacySim: { port: 0 },
    });
  });
  after(() => harness.cleanup());

  for (const format of ["json", "pretty"]) {
    it(`exits with 0 on SIGTERM, its stdout a broken pipe (LOG_FORMAT=${format})`, async () => {
      // No SLUICE_STOP_WITH_STDIN: a process as an operator runs it, its stdin /dev/null.
      const env: NodeJS.ProcessEnv = { ...process.env, LOG_LEVEL: "info", LOG_FORMAT: format };
      delete env.SLUICE_STOP_WITH_STDIN;
      const child = spawn(process.execPath, [BIN, "legacy-sim", "--config", harness.configFile], {
        env,
        stdio: ["ignore", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const exited = new Promise<[number | null, string | null]>((resolve) =>
        child.once("exit", (code, signal) => resolve([code, signal])),
      );
      let result: [number | null, string | null] | undefined;
      void exited.then((value) => (result = value));
      await eventually(
        async () => {
          if (result) throw new Error(`legacy-sim ended first:\n${stderr}`);
          return stdout.includes("legacy-sim listening") ? true : undefined;
        },
        START_TIMEOUT_MS,
        "legacy-sim listening",
      );
      // The reader goes away: the read end of the pipe is closed, the next line fails (EPIPE).
      child.stdout.destroy();
      child.kill("SIGTERM");
      try {
        // A bound on liveness, far above the moment it takes: no timing is asserted.
        await eventually(async () => result, 30_000, "legacy-sim exited after SIGTERM");
      } finally {
        if (!result) child.kill("SIGKILL");
      }
      expect(result).to.deep.equal([0, null]);
      if (format === "json") {
        // The JSON output says on standard error why its log ends; pino-pretty drops silently.
        expect(stderr).to.include("standard output has no reader: log lines are dropped");
      }
    });
  }
});
