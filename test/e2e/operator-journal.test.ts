// The operator journal end to end: `sluice backends pause` from the command line and a resume on
// a running role's admin port are both journaled, and `sluice journal` and GET /admin/journal
// both read them, newest first, with who took each and through which surface.

import { spawnSync } from "node:child_process";
import os from "node:os";
import path from "node:path";
import { expect } from "chai";
import { Harness } from "../support/harness";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

describe("the operator journal from the command line and the admin port", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    sim: false,
    config: {
      services: { q: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
      backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
    },
    roles: ["worker"],
  });
  const sluiceCli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args, "--config", harness.configFile], {
      env: { ...process.env, LOG_LEVEL: "warn" },
      encoding: "utf8",
      timeout: 30_000,
    });

  it("journals `sluice backends pause` as the CLI's OS user, read back by `sluice journal --json`", () => {
    const paused = sluiceCli(["backends", "pause", "b"]);
    expect(paused.status, paused.stderr).to.equal(0);
    const read = sluiceCli(["journal", "--json"]);
    expect(read.status, read.stderr).to.equal(0);
    const [entry] = JSON.parse(read.stdout) as Array<Record<string, unknown>>;
    expect(entry).to.include({
      action: "backend.pause",
      target: "b",
      result: "paused",
      via: "cli",
      user: os.userInfo().username,
      host: os.hostname(),
    });
    expect(entry.pid).to.be.a("number").and.not.equal(process.pid);
  });

  it("shows both surfaces' entries on GET /admin/journal and in `sluice journal`, newest first", async () => {
    const worker = harness.roles.worker;
    const resumed = await harness.admin(worker, "/admin/backends/b/resume", { method: "POST" });
    expect(resumed.status, resumed.text).to.equal(200);
    const answer = await harness.admin(worker, "/admin/journal?limit=10");
    expect(answer.status, answer.text).to.equal(200);
    const entries = answer.json.entries as Array<Record<string, unknown>>;
    expect(entries.map((e) => [e.action, e.via])).to.deep.equal([
      ["backend.resume", "admin"],
      ["backend.pause", "cli"],
    ]);
    expect(entries[0]).to.include({
      target: "b",
      result: "resumed",
      remote: "127.0.0.1",
      credential: "bearer",
    });
    expect(entries[1]).to.include({ user: os.userInfo().username });

    const table = sluiceCli(["journal"]);
    expect(table.status, table.stderr).to.equal(0);
    const lines = table.stdout.trim().split("\n");
    expect(lines[0]).to.match(/^TIME\s+ACTION\s+TARGET\s+RESULT\s+VIA\s+BY$/);
    expect(lines[1]).to.match(/backend\.resume\s+b\s+resumed\s+admin\s+127\.0\.0\.1 \(bearer; /);
    expect(lines[2]).to.match(/backend\.pause\s+b\s+paused\s+cli\s+\S+@\S+ \(pid \d+\)$/);
    expect(lines[2]).to.include(`${os.userInfo().username}@${os.hostname()} (pid `);
    expect(JSON.stringify(answer.json)).to.not.include(harness.adminToken);
  });
});
