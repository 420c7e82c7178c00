// Certificate and key files named in the configuration: every bad file is named in one line at
// start; a reload with a bad file keeps the previous material.

import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { ReloadableTls, readTlsFiles } from "../../shared/config/tls-files";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("TLS files from the configuration", () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  const files = (cert: string | null, key: string | null, ca: string[] = []) => ({ cert, key, ca });

  it("names the file that is missing, holds no PEM, or a key that belongs to another certificate", () => {
    const one = pki.ca.issue("one");
    const two = pki.ca.issue("two");
    const garbage = path.join(pki.dir, "garbage.pem");
    fs.writeFileSync(garbage, "hello\n");
    const missing = path.join(pki.dir, "missing.pem");
    const cases: Array<[ReturnType<typeof files>, string]> = [
      [files(missing, one.keyFile), `x.tls.cert: cannot read certificate file ${missing} (ENOENT)`],
      [
        files(garbage, one.keyFile),
        `x.tls.cert: certificate file ${garbage} does not hold a PEM certificate`,
      ],
      [
        files(one.certFile, garbage),
        `x.tls.key: key file ${garbage} does not hold a PEM private key`,
      ],
      [
        files(one.certFile, one.keyFile, [garbage]),
        `x.tls.ca: certificate file ${garbage} does not hold a PEM certificate`,
      ],
      [
        files(one.certFile, two.keyFile),
        `x.tls: key file ${two.keyFile} does not belong to certificate ${one.certFile}`,
      ],
    ];
    for (const [given, message] of cases) {
      expect(() => readTlsFiles(given, "x.tls")).to.throw(message);
    }
    const good = readTlsFiles(files(one.certFile, one.keyFile, [pki.ca.certFile]), "x.tls");
    expect(good.cert?.toString()).to.equal(one.cert);
    expect(good.ca).to.have.length(1);
  });

  it("a reload with a broken file keeps the previous material and says why", () => {
    const one = pki.ca.issue("reload-1");
    const dir = fs.mkdtempSync(path.join(pki.dir, "reload-"));
    const cert = path.join(dir, "c.pem");
    const key = path.join(dir, "k.pem");
    fs.copyFileSync(one.certFile, cert);
    fs.copyFileSync(one.keyFile, key);
    const tls = new ReloadableTls(files(cert, key), "adapter.tls");
    const seen: string[] = [];
    tls.onChange((m) => seen.push(String(m.cert)));
    try {
      fs.writeFileSync(cert, "broken\n");
      expect(tls.reload()).to.match(/does not hold a PEM certificate/);
      expect(tls.current.cert?.toString()).to.equal(one.cert);
      const two = pki.ca.issue("reload-2");
      fs.copyFileSync(two.certFile, cert);
      fs.copyFileSync(two.keyFile, key);
      expect(tls.reload()).to.equal(null);
      expect(seen).to.deep.equal([two.cert]);
    } finally {
      tls.dispose();
    }
  });
});
