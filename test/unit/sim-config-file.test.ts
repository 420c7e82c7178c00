// xroad-sim's configuration file: a `clients` it cannot read is refused, never dropped, since a
// simulator without clients takes every client.

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

  it("takes a mapping of clients, and none (absent or empty) as every client", () => {
    expect(load("clients:\n  EE/GOV/1/c: { status: DISABLED }\n")().clients).to.deep.equal({
      "EE/GOV/1/c": { status: "DISABLED" },
    });
    expect(load("port: 0\n")().clients).to.equal(undefined);
    expect(load("clients:\n")().clients).to.equal(undefined);
    expect(load("clients: {}\n")().clients).to.deep.equal({});
  });
});
