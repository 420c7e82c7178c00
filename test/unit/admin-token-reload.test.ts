// SIGHUP's reading of the admin token's file when it comes before the role's admin port is up.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import type { AdminServer } from "../../shared/observability/admin-server";
import { guessableTokenWarning } from "../../shared/config/config-warnings";
import { envSecretSource } from "../../shared/config/secret-env";
import { AdminTokenReloads } from "../../shared/observability/admin-token-reload";

describe("the admin token's file read again on SIGHUP", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(path.join(tmpdir(), "sluice-token-reload-"));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  /** An admin server as far as the reload sees it: the tokens it was given. */
  const admin = () => {
    const given: string[] = [];
    const server = {
      operatorEnabled: true,
      replaceToken: (token: string) => (given.push(token), true),
    } as unknown as AdminServer;
    return { server, given };
  };

  it("answers a SIGHUP that came before the admin port was up once it is", () => {
    const file = path.join(dir, "token");
    const token = `rotated-admin-${randomUUID()}`;
    writeFileSync(file, `${token}\n`, { mode: 0o400 });
    const reloads = new AdminTokenReloads(pino({ level: "silent" }), {
      SLUICE_ADMIN_TOKEN_FILE: file,
    });
    reloads.signal();
    const { server, given } = admin();
    reloads.attach(server);
    expect(given).to.deep.equal([token]);
    // Answered once, not again.
    reloads.attach(server);
    expect(given).to.deep.equal([token]);
  });

  it("reads nothing at the admin port's start without a SIGHUP before, and at once after", () => {
    const file = path.join(dir, "token");
    const token = `rotated-admin-${randomUUID()}`;
    writeFileSync(file, `${token}\n`, { mode: 0o400 });
    const reloads = new AdminTokenReloads(pino({ level: "silent" }), {
      SLUICE_ADMIN_TOKEN_FILE: file,
    });
    const { server, given } = admin();
    reloads.attach(server);
    expect(given).to.deep.equal([]);
    reloads.signal();
    expect(given).to.deep.equal([token]);
  });

  /** A logger whose lines are kept, parsed. */
  const kept = () => {
    const lines: { level: number; msg: string }[] = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    return { log, lines };
  };

  it("warns of a rotated token that is long but guessable, with the line the start gives", () => {
    const file = path.join(dir, "token");
    // 24 characters, long enough, but of 3 different ones: as a person types it.
    const token = "abcabcabcabcabcabcabcabc";
    writeFileSync(file, `${token}\n`, { mode: 0o400 });
    const { log, lines } = kept();
    const env = { SLUICE_ADMIN_TOKEN_FILE: file };
    const reloads = new AdminTokenReloads(log, env);
    const { server, given } = admin();
    reloads.attach(server);
    reloads.signal();
    // Taken all the same, as at start.
    expect(given).to.deep.equal([token]);
    const warnings = lines.filter((line) => line.level === 40).map((line) => line.msg);
    // The start's line for a token from this file (config-warnings.ts), word for word.
    expect(warnings).to.deep.equal([
      `environment SLUICE_ADMIN_TOKEN_FILE (${file}): has only 3 different characters, as a token a person typed does, and whoever reaches the admin port may guess it; use a random one (openssl rand -hex 32)`,
    ]);
    expect(warnings).to.deep.equal(
      guessableTokenWarning(token, envSecretSource("SLUICE_ADMIN_TOKEN", env) ?? ""),
    );
    expect(JSON.stringify(lines)).not.to.include(token);
  });

  it("does not warn of a rotated random token", () => {
    const file = path.join(dir, "token");
    writeFileSync(file, `${randomUUID()}\n`, { mode: 0o400 });
    const { log, lines } = kept();
    const reloads = new AdminTokenReloads(log, { SLUICE_ADMIN_TOKEN_FILE: file });
    reloads.attach(admin().server);
    reloads.signal();
    expect(lines.filter((line) => line.level >= 40)).to.deep.equal([]);
  });
});
