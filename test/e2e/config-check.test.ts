// `sluice check --config FILE` as an operator uses it before a deploy: every mistake of a file
// at once, each with its path; a clean file passes; a role refuses to start on the same file.

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { expect } from "chai";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");

function sluice(args: string[], env: Record<string, string> = {}) {
  return spawnSync(process.execPath, [BIN, ...args], {
    env: { ...process.env, LOG_LEVEL: "silent", SLUICE_CONFIG: "", ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
}

const MISTAKES = `
servcies: {}
services:
  personSearch:
    protocols: [rest]
    reply: { mode: sync, wiat: 10s }
    backend: legasy
    schema: { type: nothing }
  caseNotify:
    reply: { mode: callback, maxWait: 1m, wait: 2m }
    backend: legacy
    timout: 5s
backends:
  legacy:
    translator: rest-jsn
    url: 127.0.0.1:8090
    rate: { limit: 50, per: fast }
  other:
    url: http://127.0.0.1:8090
    options: { maxResponseByte: 10 }
    queue: { highWater: 100, maxLength: 10 }
  custom:
    translator: ./translator.js
    url: http://127.0.0.1:8090
    options: { colour: red }
`;

/** Each mistake above and the line `sluice check` must print for it. */
const EXPECTED = [
  'config.servcies: unknown key (did you mean "services"?)',
  'config.services.personSearch.reply.wiat: unknown key (did you mean "wait"?)',
  'config.services.personSearch.backend: no backend named "legasy" (did you mean "legacy"?)',
  "config.services.personSearch.schema: not a usable JSON Schema",
  "config.services.caseNotify.timout: unknown key",
  "config.services.caseNotify.reply.maxWait: must not be shorter than wait",
  "config.services.caseNotify.reply.mode: callback needs config.callbacks.secret",
  'config.backends.legacy.translator: "rest-jsn" is neither built in (rest-json, soap, xroad-rest, xroad-soap) nor an installed module (did you mean "rest-json"?)',
  "config.backends.legacy.url: must be an http(s) URL",
  'config.backends.legacy.rate.per: must be a duration such as "500ms", "30s", "2m", "1h"',
  'config.backends.other.options.maxResponseByte: unknown key (did you mean "maxResponseBytes"?)',
  "config.backends.other.queue.maxLength: must be at least highWater",
  "config.backends.custom.options.colour: unknown option",
];

describe("sluice check", function () {
  this.timeout(30_000);
  const dir = mkdtempSync(path.join(tmpdir(), "sluice-check-"));
  const bad = path.join(dir, "bad.yaml");
  const good = path.join(dir, "good.yaml");
  writeFileSync(bad, MISTAKES);
  writeFileSync(
    path.join(dir, "translator.js"),
    `exports.optionsSchema = { type: "object", additionalProperties: false, properties: { color: { type: "string" } } };
exports.createTranslator = () => ({ call: async () => [] });`,
  );
  writeFileSync(
    good,
    `services:\n  q: { backend: b }\nbackends:\n  b: { url: "http://127.0.0.1:1", translator: ./translator.js, options: { color: red } }\n`,
  );
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("names every mistake of a file at once, each with its path, and exits 2", () => {
    const result = sluice(["check", "--config", bad]);
    expect(result.status).to.equal(2);
    const lines = result.stderr.trim().split("\n");
    expect(lines[0]).to.equal(`sluice: invalid configuration ${bad}:`);
    for (const line of EXPECTED) {
      expect(
        lines.some((l) => l.startsWith(`  - ${line}`)),
        line,
      ).to.equal(true);
    }
    expect(lines).to.have.length(EXPECTED.length + 1);
    expect(result.stderr).to.not.match(/\n\s+at /);
  });

  it("passes a clean file and the demo's, exit 0, connecting to nothing", () => {
    // Unreachable broker and Redis: a check that tried to connect would fail.
    const env = { AMQP_URL: "amqp://127.0.0.1:1", REDIS_URL: "redis://127.0.0.1:1" };
    for (const file of [good, DEMO]) {
      const result = sluice(["check", "--config", file], env);
      expect(result.stderr).to.equal("");
      expect(result.status, file).to.equal(0);
      expect(result.stdout).to.include(`configuration ${file} is valid`);
    }
  });

  it("makes every role refuse to start on the same problems, before connecting", function () {
    this.timeout(60_000);
    const check = sluice(["check", "--config", bad]);
    for (const role of ["worker"]) {
      const result = sluice([role, "--config", bad], { AMQP_URL: "amqp://127.0.0.1:1" });
      expect(result.status, role).to.equal(2);
      expect(result.stderr, role).to.equal(check.stderr);
    }
  });

  it("starts no role without --config, and says how to run the demo", () => {
    for (const role of ["worker", "legacy-sim", "check"]) {
      const result = sluice([role]);
      expect(result.status, role).to.equal(2);
      expect(result.stderr).to.include(`${role} needs --config FILE`);
      expect(result.stderr).to.include("sluice demo");
    }
  });
});
