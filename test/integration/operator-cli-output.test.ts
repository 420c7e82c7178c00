// What the operator commands print to a terminal: error texts come from backends and, in the
// consumer direction, from other X-Road members' services, so a control sequence in one must
// reach the operator's terminal as visible text, never as a command to the terminal.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import pino from "pino";
import { parseOperatorArgs, runOperatorCommand } from "../../cli/operator-commands";
import { compileConfig, type SluiceConfig } from "../../shared/config/config";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { createRedis, whenReady } from "../../shared/store/redis";
import { deletePrefix, REDIS_URL } from "../support/harness";

const log = pino({ level: "silent" });

/** ESC, BEL, C1 CSI, DEL, a bidirectional override, a line break. */
const CONTROL =
  // eslint-disable-next-line no-control-regex
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

describe("operator commands' output to a terminal (real Redis)", function () {
  this.timeout(20_000);
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  const rawConfig = {
    prefix,
    services: { svc: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
    backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
  };
  const redis = createRedis(REDIS_URL, log, "operator-cli-output-test");
  const deadLetters = new DeadLetters(redis, prefix, 60_000);
  const id = randomUUID();
  let config: SluiceConfig;

  before(async () => {
    await whenReady(redis);
    config = compileConfig(rawConfig, ".");
    // A remote provider's SOAP fault text, as the translator reads it (&#27; decoded).
    await deadLetters.record(
      {
        id,
        reason: "failed",
        backend: "b",
        service: "svc",
        client: "EE/GOV/1/sub",
        xroadId: "x-1",
        at: Date.now(),
        error:
          "backend b answered a SOAP Fault Server: \u001b]0;owned\u0007\u001b[2J\u009b31m\u202eboom\u061c\u200f\nFAKE LINE",
        attempts: 3,
      },
      Buffer.from("{}"),
    );
  });

  after(async () => {
    redis.disconnect();
    await deletePrefix(prefix, rawConfig);
  });

  async function run(argv: string[]): Promise<string> {
    const parsed = parseOperatorArgs("dead-letters", argv);
    if (typeof parsed === "string") throw new Error(parsed);
    const printed: string[] = [];
    const code = await runOperatorCommand("dead-letters", parsed, config, (text) =>
      printed.push(text),
    );
    expect(code).to.equal(0);
    return printed.join("\n");
  }

  it("shows a dead letter's control characters as escapes in the list, on one line", async () => {
    const text = await run(["list"]);
    expect(text).to.include(id);
    expect(text).to.not.match(CONTROL);
    expect(text).to.include("\\u001b]0;owned\\u0007");
    // The table keeps its header and one row: a line break in a cell forges no line of its own.
    expect(text.split("\n")).to.have.length(2);
  });

  it("shows them as escapes in show and in --json too", async () => {
    for (const argv of [
      ["show", id],
      ["list", "--json"],
      ["show", id, "--json"],
    ]) {
      const text = await run(argv);
      expect(text, argv.join(" ")).to.include(id);
      expect(text, argv.join(" ")).to.not.match(
        // eslint-disable-next-line no-control-regex
        /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/,
      );
    }
  });

  it("says when a list may hold more than it shows, and not when it is all", async () => {
    const second = randomUUID();
    await deadLetters.record(
      {
        id: second,
        reason: "failed",
        backend: "b",
        service: "svc",
        client: "EE/GOV/1/sub",
        xroadId: "x-2",
        at: Date.now(),
        error: "boom",
        attempts: 1,
      },
      Buffer.from("{}"),
    );
    const one = (await run(["list", "--limit", "1"])).split("\n");
    expect(one).to.have.length(3);
    expect(one[2]).to.equal("(the newest 1 shown; there may be more: --limit N)");
    const all = (await run(["list", "--limit", "5"])).split("\n");
    expect(all).to.have.length(3);
    expect(all.join("\n")).to.not.include("may be more");
  });

  it("lists only those not replayed (or replayed) with --replayed, and shows the time in words", async () => {
    expect(await run(["list", "--replayed", "no"])).to.include(id);
    expect(await run(["list", "--replayed", "yes"])).to.equal("no dead letters");
    const shown = JSON.parse(await run(["show", id])) as { at: string; ageSeconds: number };
    expect(shown.at).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    expect(shown.ageSeconds).to.be.a("number");
  });

  it("says there is no such entry, on stderr with exit code 1, for show of an unknown ID", async () => {
    const unknown = randomUUID();
    for (const [command, missing] of [
      ["dead-letters", `no dead letter ${unknown}`],
      ["dead-callbacks", `no dead callback ${unknown}`],
    ] as const) {
      const parsed = parseOperatorArgs(command, ["show", unknown]);
      if (typeof parsed === "string") throw new Error(parsed);
      const printed: string[] = [];
      const errors: string[] = [];
      const write = process.stderr.write;
      process.stderr.write = ((text: string) => errors.push(text) > 0) as typeof write;
      const code = await runOperatorCommand(command, parsed, config, (text) =>
        printed.push(text),
      ).finally(() => (process.stderr.write = write));
      expect(code, command).to.equal(1);
      expect(printed, command).to.deep.equal([]);
      expect(errors.join(""), command).to.equal(`sluice: ${missing}\n`);
    }
  });
});
