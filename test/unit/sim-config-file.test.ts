// xroad-sim's configuration file: a `clients` it cannot read is refused, never dropped, since a
// simulator without clients takes every client; `members` and `securityServer` are ids written
// as strings, and anything else is refused naming the entry.

import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { loadSimConfig } from "../../xroad-sim/sim-config-file";

describe("xroad-sim's configuration file", () => {
  let dir = "";
  before(() => (dir = mkdtempSync(path.join(tmpdir(), "sluice-sim-config-"))));
  after(() => rmSync(dir, { recursive: true, force: true }));

  const load = (text: string) => {
    const file = path.join(dir, "xroad-sim.yaml");
    writeFileSync(file, text);
    return () => loadSimConfig(file, {});
  };

  it("refuses clients that are not a mapping, which would have taken every client", () => {
    for (const clients of ["[EE/GOV/1/c]", "[]", "EE/GOV/1/c", "7"]) {
      expect(load(`clients: ${clients}\n`), clients).to.throw(
        /clients must be a mapping of client ids to their settings/,
      );
    }
  });

  it("refuses members and securityServer not written as id strings, naming the entry", () => {
    expect(load("members: EE/GOV/1/c\n")).to.throw(/members must be a list of provider ids/);
    for (const [entry, kind] of [
      ["{ instance: EE, memberClass: GOV, memberCode: '1' }", "a mapping"],
      ["[EE, GOV, '1']", "a list"],
      ["1234", "the number 1234"],
      ["true", "the boolean true"],
      ["null", "empty"],
    ]) {
      expect(load(`members: [EE/GOV/1/c, ${entry}]\n`), entry).to.throw(
        `members[1] must be an id INSTANCE/CLASS/MEMBER[/SUBSYSTEM] written as one string, not ${kind}`,
      );
    }
    expect(load("securityServer: { instance: EE, serverCode: SS1 }\n")).to.throw(
      "securityServer must be an id INSTANCE/CLASS/MEMBER/SERVERCODE written as one string, not a mapping",
    );
    expect(load("securityServer: [EE, GOV, '1', SS1]\n")).to.throw(/not a list/);
    const taken = load("members: [EE/GOV/1/c, EE/GOV/2]\nsecurityServer: EE/GOV/1/SS1\n")();
    expect(taken.members).to.deep.equal(["EE/GOV/1/c", "EE/GOV/2"]);
    expect(taken.securityServer).to.equal("EE/GOV/1/SS1");
  });

  it("takes a mapping of clients, and none (absent or empty) as every client", () => {
    expect(load("clients:\n  EE/GOV/1/c: { status: DISABLED }\n")().clients).to.deep.equal({
      "EE/GOV/1/c": { status: "DISABLED" },
    });
    expect(load("port: 0\n")().clients).to.equal(undefined);
    expect(load("clients:\n")().clients).to.equal(undefined);
    expect(load("clients: {}\n")().clients).to.deep.equal({});
  });
});
