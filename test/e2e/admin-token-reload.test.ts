// The admin token's file (SLUICE_ADMIN_TOKEN_FILE) read again on SIGHUP by a running role: the
// new token admits at once, the old one and a status page sign-in made with it no longer do; a
// file refused at SIGHUP keeps the token in use and is warned of, naming the file.

import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

describe("the admin token's file read again on SIGHUP", function () {
  this.timeout(90_000);
  const oldToken = `old-admin-${randomUUID()}`;
  const newToken = `new-admin-${randomUUID()}`;
  const harness: Harness = Harness.suite({
    sim: false,
    config: {
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
      backends: { legacy: { url: "http://127.0.0.1:1" } },
    },
    roles: [
      {
        role: "adapter",
        env: () => {
          writeToken(`${oldToken}\n`);
          return Promise.resolve({ SLUICE_ADMIN_TOKEN: "", SLUICE_ADMIN_TOKEN_FILE: tokenFile() });
        },
      },
    ],
  });
  const tokenFile = () => path.join(harness.dir, "admin-token");
  /** As a Secret's file is written: the value and a line break, mode 0440. */
  const writeToken = (text: string) => writeFileSync(tokenFile(), text, { mode: 0o440 });

  const bearer = (token: string) =>
    call(`${harness.roles.adapter.adminUrl}/admin/status`, {
      client: null,
      headers: { authorization: `Bearer ${token}` },
    });
  const withCookie = (cookie: string) =>
    call(`${harness.roles.adapter.adminUrl}/admin/status`, {
      client: null,
      headers: { cookie },
    });
  const signIn = async (token: string): Promise<string> => {
    const answer = await fetch(`${harness.roles.adapter.adminUrl}/login`, {
      method: "POST",
      headers: { "content-type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ token }).toString(),
      redirect: "manual",
    });
    expect(answer.status).to.equal(303);
    return (answer.headers.get("set-cookie") ?? "").split(";")[0];
  };
  /** Sends SIGHUP and resolves with the next line of `msg` the role logs after it. */
  const sighup = async (msg: string): Promise<Record<string, unknown>> => {
    const { lines, child } = harness.roles.adapter;
    const before = lines.filter((line) => line.msg === msg).length;
    child.kill("SIGHUP");
    return eventually(
      async () => lines.filter((line) => line.msg === msg)[before],
      20_000,
      `the log line "${msg}"`,
    );
  };

  it("keeps the token in use when the file is refused at SIGHUP, naming the file and not the value", async () => {
    const cookie = await signIn(oldToken);
    expect((await bearer(oldToken)).status).to.equal(200);
    for (const bad of ["\n", "short\n", `${newToken}\n${newToken}\n`]) {
      writeToken(bad);
      const line = await sighup("admin token reload failed; the previous token stays in use");
      expect(line.file).to.equal(tokenFile());
      expect(String(line.problems)).to.include(
        `environment SLUICE_ADMIN_TOKEN_FILE (${tokenFile()})`,
      );
      expect(JSON.stringify(line)).to.not.include(newToken);
      expect((await bearer(oldToken)).status).to.equal(200);
      expect((await withCookie(cookie)).status).to.equal(200);
      expect((await bearer(newToken)).status).to.equal(401);
    }
  });

  it("takes a new token at SIGHUP: it admits at once, the old one and its sign-in no longer", async () => {
    writeToken(`${oldToken}\n`);
    const cookie = await signIn(oldToken);
    expect((await withCookie(cookie)).status).to.equal(200);
    writeToken(`${newToken}\n`);
    const line = await sighup(
      "admin token reloaded; the previous one and its sign-ins no longer admit",
    );
    expect(line.file).to.equal(tokenFile());
    expect(JSON.stringify(line)).to.not.include(newToken).and.not.include(oldToken);
    expect((await bearer(newToken)).status).to.equal(200);
    expect((await bearer(oldToken)).status).to.equal(401);
    expect((await withCookie(cookie)).status).to.equal(401);
    // A sign-in with the new token works as before.
    expect((await withCookie(await signIn(newToken))).status).to.equal(200);
    // The role's output holds neither token.
    const output = harness.roles.adapter.output.join("\n") + harness.roles.adapter.stderr();
    expect(output).to.not.include(newToken).and.not.include(oldToken);
  });
});
