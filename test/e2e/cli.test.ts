// The `sluice` command as a user meets it: usage, configuration problems, and a clear line
// (no stack trace) when RabbitMQ or Redis cannot be reached.

import { spawnSync } from "node:child_process";
import { writeFileSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

function sluice(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: "silent", ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
}

describe("the sluice command", function () {
  this.timeout(30_000);
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

  it("names the unreachable RabbitMQ URL in one line and exits non-zero", () => {
    const result = sluice(["adapter", "--config", config], {
      AMQP_URL: "amqp://guest:secret@127.0.0.1:1",
    });
    expect(result.status).to.equal(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include("cannot connect to RabbitMQ at amqp://guest:***@127.0.0.1:1");
    expect(lines[0]).to.include("docker compose -f deploy/docker-compose.yml up -d rabbitmq redis");
    expect(result.stderr).to.not.include("secret");
  });

  it("names the unreachable Redis URL in one line and exits non-zero", () => {
    const result = sluice(["worker", "--config", config], { REDIS_URL: "redis://127.0.0.1:1" });
    expect(result.status).to.equal(1);
    const lines = result.stderr.trim().split("\n");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include("cannot connect to Redis at redis://127.0.0.1:1");
  });
});
