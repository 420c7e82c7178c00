// `amqpTls` and `redisTls` read again on SIGHUP (reloadAllTls): new files that pass the checks
// go into the options objects the clients hold; a bad file keeps the previous material and is
// named, as for every other TLS block.

import { expect } from "chai";
import fs from "node:fs";
import path from "node:path";
import { reloadedConnectionTls } from "../../shared/config/connection-tls";
import { allTlsWarnings, reloadAllTls } from "../../shared/config/tls-files";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("amqpTls and redisTls on SIGHUP", () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  /** Both blocks naming the same client certificate and key files, first `one`'s. */
  const blocks = (name: string) => {
    const one = pki.ca.issue(`${name}-1`);
    const two = pki.ca.issue(`${name}-2`);
    const dir = fs.mkdtempSync(path.join(pki.dir, `${name}-`));
    const cert = path.join(dir, "client.crt");
    const key = path.join(dir, "client.key");
    fs.copyFileSync(one.certFile, cert);
    fs.copyFileSync(one.keyFile, key);
    const files = { cert, key, ca: [pki.ca.certFile] };
    return { one, two, cert, key, tls: reloadedConnectionTls({ amqpTls: files, redisTls: files }) };
  };

  it("puts the new certificate into the same objects the clients were given", () => {
    const { one, two, cert, key, tls } = blocks("rotate");
    try {
      const { amqp, redis } = tls;
      expect(amqp?.cert?.toString()).to.equal(one.cert);
      fs.copyFileSync(two.certFile, cert);
      fs.copyFileSync(two.keyFile, key);
      expect(reloadAllTls()).to.deep.equal([]);
      expect(tls.amqp).to.equal(amqp);
      expect(tls.redis).to.equal(redis);
      expect(amqp?.cert?.toString()).to.equal(two.cert);
      expect(amqp?.key?.toString()).to.equal(two.key);
      expect(redis?.cert?.toString()).to.equal(two.cert);
      expect(redis?.ca?.[0].toString()).to.equal(pki.ca.cert);
    } finally {
      tls.dispose();
    }
  });

  it("keeps the previous certificate when a new file fails the checks, naming the block", () => {
    const { one, two, cert, key, tls } = blocks("broken");
    try {
      fs.writeFileSync(cert, "half a certificate\n");
      expect(reloadAllTls()).to.deep.equal([
        `amqpTls.cert: certificate file ${cert} does not hold a PEM certificate`,
        `redisTls.cert: certificate file ${cert} does not hold a PEM certificate`,
      ]);
      expect(tls.amqp?.cert?.toString()).to.equal(one.cert);
      expect(tls.redis?.cert?.toString()).to.equal(one.cert);
      // A key of another certificate, and an expired certificate: refused as at start.
      fs.copyFileSync(two.certFile, cert);
      expect(reloadAllTls()[0]).to.equal(
        `amqpTls: key file ${key} does not belong to certificate ${cert}`,
      );
      const expired = pki.ca.issue("broken-expired", { expired: true });
      fs.copyFileSync(expired.certFile, cert);
      fs.copyFileSync(expired.keyFile, key);
      expect(reloadAllTls()[1]).to.match(
        /^redisTls: certificate .* expired on .*; TLS peers refuse it \(renew it, then SIGHUP, for the next connection, or restart\)$/,
      );
      expect(tls.amqp?.key?.toString()).to.equal(one.key);
      expect(tls.redis?.key?.toString()).to.equal(one.key);
    } finally {
      tls.dispose();
    }
  });

  it("warns again of a stale revocation list after SIGHUP reads the blocks, as for adapter.tls", () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "crl-"));
    const crl = path.join(dir, "ca.crl");
    pki.ca.crl(crl);
    const files = { cert: null, key: null, ca: [pki.ca.certFile], crl: [crl] };
    const tls = reloadedConnectionTls({ amqpTls: files, redisTls: files });
    // cli/role-process.ts logs allTlsWarnings() after reloadAllTls() at SIGHUP.
    const ours = () => allTlsWarnings().filter((warning) => warning.includes(crl));
    try {
      expect(ours()).to.deep.equal([]);
      pki.ca.crl(crl, { stale: true });
      expect(reloadAllTls()).to.deep.equal([]);
      expect(ours().map((warning) => warning.split(":")[0])).to.deep.equal([
        "amqpTls.crl",
        "redisTls.crl",
      ]);
      expect(ours()[0]).to.include("is past its nextUpdate");
    } finally {
      tls.dispose();
    }
  });

  it("a bad file at start stops it, naming the block; a disposed one is no longer read", () => {
    const { cert, tls } = blocks("start");
    tls.dispose();
    fs.writeFileSync(cert, "not PEM\n");
    expect(reloadAllTls()).to.deep.equal([]);
    const files = { cert, key: cert, ca: [] };
    expect(() => reloadedConnectionTls({ amqpTls: null, redisTls: files })).to.throw(
      `redisTls.cert: certificate file ${cert} does not hold a PEM certificate`,
    );
    expect(reloadAllTls()).to.deep.equal([]);
  });
});
