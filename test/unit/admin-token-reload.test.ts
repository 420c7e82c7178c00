// SIGHUP's reading of the admin token's file when it comes before the role's admin port is up.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import pino from "pino";
import type { AdminServer } from "../../shared/observability/admin-server";
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
});
