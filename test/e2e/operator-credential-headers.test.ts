// A REST caller's credential headers (Authorization, Cookie, an API key) reach the backend, as
// X-Road forwards them, but no operator view shows their values: the admin port's dead letter,
// the message lookup, `sluice dead-letters show` and `messages show`, and the role's log lines.

import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const SECRETS = {
  authorization: `Bearer tok-${randomUUID()}`,
  cookie: `session=ck-${randomUUID()}`,
  "x-api-key": `key-${randomUUID()}`,
};

describe("credential headers in operator views", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let id = "";

  before(async () => {
    await harness.startSim({ latencyMs: 0, recordDetails: true, errorRate: 1 });
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "down" } },
      backends: { down: { retry: { attempts: 1 } } },
    });
    sluice = await harness.spawn("all");
    const answer = await call(`${sluice.url}/rest/orders/items`, {
      body: JSON.stringify({ order: 1 }),
      headers: { ...SECRETS, "x-trace-note": "kept" },
    });
    expect(answer.status).to.equal(202);
    id = answer.json.id as string;
    await eventually(async () => {
      const listed = await harness.admin(sluice, `/admin/dead-letters?service=orders`);
      return listed.json.deadLetters.length ? true : undefined;
    });
  });
  after(() => harness.cleanup());

  const noSecret = (text: string, where: string) => {
    for (const [name, value] of Object.entries(SECRETS)) {
      expect(text, `${where}: ${name}`).to.not.include(value.split(/[ =]/).pop());
    }
  };

  it("forwards them to the backend unchanged", () => {
    const [recorded] = harness.sim.calls({ id });
    expect(recorded.headers).to.include({ ...SECRETS, "x-trace-note": "kept" });
  });

  it("shows them redacted in the admin port's dead letter, other headers as sent", async () => {
    const one = await harness.admin(sluice, `/admin/dead-letters/${id}`);
    expect(one.status).to.equal(200);
    expect(one.json.request.headers).to.include({
      authorization: "[redacted]",
      cookie: "[redacted]",
      "x-api-key": "[redacted]",
      "x-trace-note": "kept",
    });
    noSecret(one.text, "admin dead letter");
    const message = await harness.admin(sluice, `/admin/messages/${id}`);
    noSecret(message.text, "admin message");
  });

  it("shows them redacted by `sluice dead-letters show` (text and JSON) and `messages show`", () => {
    for (const args of [
      ["dead-letters", "show", id],
      ["dead-letters", "show", id, "--json"],
      ["messages", "show", id, "--json"],
    ]) {
      const shown = spawnSync(process.execPath, [BIN, ...args, "--config", harness.configFile], {
        env: { ...process.env, LOG_LEVEL: "warn" },
        encoding: "utf8",
        timeout: 30_000,
      });
      expect(shown.status, shown.stderr).to.equal(0);
      if (args[0] === "dead-letters") expect(shown.stdout).to.include("[redacted]");
      noSecret(shown.stdout, `sluice ${args.join(" ")}`);
    }
  });

  it("never writes them to the log", () => {
    noSecret(JSON.stringify(sluice.lines), "log");
  });
});
