// Sluice on Node.js 22, the Docker image's runtime, besides this machine's Node (which runs the
// rest of the suite): the whole gateway starts on it and answers a call end to end.
// deploy/install-tools.sh installs that Node (scripts/node22.sh).

import { expect } from "chai";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { call, Harness, START_TIMEOUT_MS } from "../support/harness";
import { RecordingBackend } from "./recording-backend";

const ROOT = path.resolve(__dirname, "..", "..", "..");

function node22(): string {
  const found = spawnSync("bash", [path.join(ROOT, "scripts/node22.sh")], { encoding: "utf8" });
  if (found.status !== 0) throw new Error(`Node.js 22 not found: ${found.stderr.trim()}`);
  return found.stdout.trim();
}

describe("Sluice on Node.js 22 (the image's runtime)", function () {
  // A test starts `all`: a start takes up to START_TIMEOUT_MS on a loaded machine.
  this.timeout(START_TIMEOUT_MS + 60_000);
  const harness = new Harness();
  let backend: RecordingBackend;

  before(async () => {
    harness.node = node22();
    backend = await RecordingBackend.start();
  });
  after(async () => {
    await harness.cleanup();
    await backend?.close();
  });

  it("is Node 22", () => {
    const version = spawnSync(harness.node, ["--version"], { encoding: "utf8" });
    expect(version.stdout.trim()).to.match(/^v22\./);
    const sluice = spawnSync(harness.node, [path.join(ROOT, "bin/sluice.js"), "--version"], {
      encoding: "utf8",
    });
    expect(sluice.status, sluice.stderr).to.equal(0);
    expect(sluice.stdout).to.match(/^sluice \d+\.\d+\.\d+/);
  });

  it("runs every role in one process and answers a synchronous call", async () => {
    harness.writeConfig({
      services: {
        // A wait a freshly started process answers within on a loaded machine too: a 202 after
        // the wait would fail a test about the runtime, not about the wait.
        lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "60s" }, backend: "b" },
      },
      backends: { b: { translator: "rest-json", url: backend.url } },
    });
    const sluice = await harness.spawn("all");
    const answer = await call(`${sluice.url}/rest/lookup/person`, {
      client: "EE/GOV/70000001/case-app",
    });
    expect(answer.status).to.equal(200);
    expect(answer.json).to.deep.equal({ ok: true });
    expect(backend.calls.map((c) => c.path)).to.deep.equal(["/person"]);
    const metrics = await (await fetch(`${sluice.adminUrl}/metrics`)).text();
    expect(metrics).to.match(/nodejs_version_info\{[^}]*major="22"/);
    expect(sluice.stderr()).to.equal("");
  });
});
