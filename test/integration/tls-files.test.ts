// Certificate and key files named in the configuration: every bad file is named in one line at
// start; a reload with a bad file keeps the previous material.

import { expect } from "chai";
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import {
  pinnedCertificateRefusal,
  ReloadableTls,
  readTlsFiles,
  revocationListCoverage,
  tlsFileWarnings,
  tlsMaterialWarnings,
} from "../../shared/config/tls-files";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("TLS files from the configuration", () => {
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  const files = (cert: string | null, key: string | null, ca: string[] = []) => ({ cert, key, ca });

  /** A certificate and key of their own files (`c.pem`, `k.pem`), read as `adapter.tls`. */
  const reloadable = (name: string) => {
    const one = pki.ca.issue(`${name}-1`);
    const dir = fs.mkdtempSync(path.join(pki.dir, `${name}-`));
    const cert = path.join(dir, "c.pem");
    const key = path.join(dir, "k.pem");
    fs.copyFileSync(one.certFile, cert);
    fs.copyFileSync(one.keyFile, key);
    return { one, cert, key, tls: new ReloadableTls(files(cert, key), "adapter.tls") };
  };

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
    // Not a regular file, or too large: looked at before reading (/dev/zero was read without end).
    const big = path.join(pki.dir, "big.pem");
    fs.writeFileSync(big, one.cert.repeat(Math.ceil((1024 * 1024) / one.cert.length) + 1));
    cases.push(
      [
        files("/dev/zero", one.keyFile),
        "x.tls.cert: certificate file /dev/zero: it is not a regular file",
      ],
      [files(one.certFile, pki.dir), `x.tls.key: key file ${pki.dir}: it is not a regular file`],
      [files(big, one.keyFile), `x.tls.cert: certificate file ${big}: it is larger than 1024 KiB`],
    );
    for (const [given, message] of cases) {
      expect(() => readTlsFiles(given, "x.tls")).to.throw(message);
    }
    // A chain or CA bundle whose later certificate is cut short or does not parse: every
    // certificate is read, not only the first.
    const truncated = path.join(pki.dir, "truncated.pem");
    fs.writeFileSync(truncated, one.cert + pki.ca.cert.slice(0, 300));
    const mangled = path.join(pki.dir, "mangled.pem");
    fs.writeFileSync(
      mangled,
      `${one.cert}-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n`,
    );
    for (const [given, message] of [
      [
        files(truncated, one.keyFile),
        `x.tls.cert: certificate file ${truncated} does not hold a PEM certificate (certificate 2 of 2 has no end)`,
      ],
      [
        files(mangled, one.keyFile),
        `x.tls.cert: certificate file ${mangled} does not hold a PEM certificate (certificate 2 of 2 does not parse)`,
      ],
      [
        files(one.certFile, one.keyFile, [truncated]),
        `x.tls.ca: certificate file ${truncated} does not hold a PEM certificate (certificate 2 of 2 has no end)`,
      ],
    ] as const) {
      expect(() => readTlsFiles(given, "x.tls")).to.throw(message);
    }
    const chain = path.join(pki.dir, "chain.pem");
    fs.writeFileSync(chain, one.cert + pki.ca.cert);
    expect(readTlsFiles(files(chain, one.keyFile), "x.tls").cert?.toString()).to.include(
      pki.ca.cert.trim(),
    );
    const good = readTlsFiles(files(one.certFile, one.keyFile, [pki.ca.certFile]), "x.tls");
    expect(good.cert?.toString()).to.equal(one.cert);
    expect(good.ca).to.have.length(1);
  });

  it("pins every certificate of the clientCerts files by fingerprint, and names a bad one", () => {
    const one = pki.ca.issue("pin-one");
    const two = pki.ca.issue("pin-two");
    const other = pki.ca.issue("pin-other");
    // A file may hold several certificates (the old and the new one during a change).
    const bundle = path.join(pki.dir, "pins.pem");
    fs.writeFileSync(bundle, one.cert + two.cert);
    const material = readTlsFiles({ ...files(null, null), clientCerts: [bundle] }, "adapter.tls");
    const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;
    expect([...material.clientFingerprints!]).to.have.members([
      fingerprint(one.cert),
      fingerprint(two.cert),
    ]);
    expect(pinnedCertificateRefusal(material, new X509Certificate(two.cert))).to.equal("");
    expect(pinnedCertificateRefusal(material, new X509Certificate(other.cert))).to.equal(
      "unlisted_certificate",
    );
    expect(pinnedCertificateRefusal(material, undefined)).to.equal("unlisted_certificate");
    // Nothing pinned: no check of this kind.
    expect(pinnedCertificateRefusal({}, new X509Certificate(other.cert))).to.equal("");
    const garbage = path.join(pki.dir, "pin-garbage.pem");
    fs.writeFileSync(garbage, "hello\n");
    expect(() =>
      readTlsFiles({ ...files(null, null), clientCerts: [garbage] }, "adapter.tls"),
    ).to.throw(
      `adapter.tls.clientCerts: certificate file ${garbage} does not hold a PEM certificate`,
    );
  });

  it("refuses pins of which none is valid now at start (no handshake could use them), not one valid beside an expired one", () => {
    const expired = pki.ca.issue("pin-expired", { expired: true });
    const current = pki.ca.issue("pin-current");
    expect(() =>
      readTlsFiles({ ...files(null, null), clientCerts: [expired.certFile] }, "adapter.tls"),
    ).to.throw(/^adapter\.tls\.clientCerts: no pinned certificate is valid now \(.*CN=pin-expired/);
    // During a change the old pin may have expired already: the new one is enough.
    const material = readTlsFiles(
      { ...files(null, null), clientCerts: [expired.certFile, current.certFile] },
      "adapter.tls",
    );
    expect(material.clientFingerprints!.size).to.equal(2);
  });

  it("refuses a ca or clientCa list of which no certificate is valid now, not one with a current one beside", () => {
    const expired = pki.ca.issue("anchor-expired", { expired: true });
    for (const key of ["ca", "clientCa"] as const) {
      expect(() =>
        readTlsFiles({ ...files(null, null), [key]: [expired.certFile] }, "securityServer.tls"),
      ).to.throw(
        new RegExp(
          `^securityServer\\.tls\\.${key}: no certificate is valid now \\(.*CN=anchor-expired`,
        ),
      );
      // A bundle keeps old certificates beside the new: one current is enough.
      const material = readTlsFiles(
        { ...files(null, null), [key]: [expired.certFile, pki.ca.certFile] },
        "securityServer.tls",
      );
      expect(material[key]).to.have.length(2);
    }
  });

  it("a reload whose material a listener refuses puts the previous back and says so, never throws", () => {
    const { one, cert, key, tls } = reloadable("refused");
    const applied: string[] = [];
    tls.onChange((m) => applied.push(String(m.cert)));
    tls.onChange((m) => {
      if (String(m.cert) !== one.cert) {
        throw Object.assign(new Error("refused"), { code: "ERR_OSSL_SOMETHING" });
      }
    });
    try {
      const two = pki.ca.issue("refused-2");
      fs.copyFileSync(two.certFile, cert);
      fs.copyFileSync(two.keyFile, key);
      expect(tls.reload()).to.equal(
        "adapter.tls: the new certificates were refused by TLS (ERR_OSSL_SOMETHING)",
      );
      expect(tls.current.cert?.toString()).to.equal(one.cert);
      // The first listener took the new material, then got the previous back.
      expect(applied).to.deep.equal([two.cert, one.cert]);
    } finally {
      tls.dispose();
    }
  });

  it("refuses a certificate out of its validity at start, and keeps the previous one at a reload", () => {
    const expired = pki.ca.issue("out-expired", { expired: true });
    const early = pki.ca.issue("out-early", { notYetValid: true });
    expect(() => readTlsFiles(files(expired.certFile, expired.keyFile), "adapter.tls")).to.throw(
      new RegExp(
        `^adapter\\.tls: certificate ${expired.certFile} expired on Jan  1 00:00:00 2001 GMT; TLS peers refuse it`,
      ),
    );
    expect(() => readTlsFiles(files(expired.certFile, expired.keyFile), "adapter.tls")).to.throw(
      /renew it, then SIGHUP or restart\)$/,
    );
    // The broker's and Redis's files are read again on SIGHUP for the next connection only.
    expect(() =>
      readTlsFiles(files(expired.certFile, expired.keyFile), "amqpTls", "next connection"),
    ).to.throw(/renew it, then SIGHUP, for the next connection, or restart\)$/);
    expect(() => readTlsFiles(files(early.certFile, early.keyFile), "adapter.tls")).to.throw(
      /is not valid before Jan {2}1 00:00:00 2090 GMT/,
    );
    const { one, cert, key, tls } = reloadable("validity");
    fs.copyFileSync(expired.certFile, cert);
    fs.copyFileSync(expired.keyFile, key);
    expect(tls.reload()).to.match(/expired on/);
    expect(tls.current.cert?.toString()).to.equal(one.cert);
    tls.dispose();
  });

  it("a reload with a broken file keeps the previous material and says why", () => {
    const { one, cert, key, tls } = reloadable("reload");
    const seen: string[] = [];
    tls.onChange((m) => seen.push(String(m.cert)));
    try {
      fs.writeFileSync(cert, "broken\n");
      expect(tls.reload()).to.match(/does not hold a PEM certificate/);
      expect(tls.current.cert?.toString()).to.equal(one.cert);
      // A chain caught half-written (node:tls threw on it from the SIGHUP handler).
      const half = pki.ca.issue("reload-half");
      fs.writeFileSync(cert, half.cert + pki.ca.cert.slice(0, 300));
      fs.copyFileSync(half.keyFile, key);
      expect(tls.reload()).to.match(/certificate 2 of 2 has no end/);
      expect(tls.current.cert?.toString()).to.equal(one.cert);
      expect(seen).to.deep.equal([]);
      const two = pki.ca.issue("reload-2");
      fs.copyFileSync(two.certFile, cert);
      fs.copyFileSync(two.keyFile, key);
      expect(tls.reload()).to.equal(null);
      expect(seen).to.deep.equal([two.cert]);
    } finally {
      tls.dispose();
    }
  });

  it("names a crl file that holds no revocation list, or several, and takes one that is", () => {
    const garbage = path.join(pki.dir, "crl-garbage.pem");
    fs.writeFileSync(garbage, "hello\n");
    const list = pki.ca.crl(path.join(pki.dir, "crl-one.pem"));
    const twice = path.join(pki.dir, "crl-twice.pem");
    fs.writeFileSync(twice, fs.readFileSync(list, "utf8") + fs.readFileSync(list, "utf8"));
    const withCrl = (crl: string[]) => ({ ...files(null, null, [pki.ca.certFile]), crl });
    expect(() => readTlsFiles(withCrl([garbage]), "backends.b.tls")).to.throw(
      `backends.b.tls.crl: revocation list file ${garbage} does not hold a PEM certificate revocation list (-----BEGIN X509 CRL-----)`,
    );
    expect(() => readTlsFiles(withCrl([twice]), "backends.b.tls")).to.throw(
      `backends.b.tls.crl: revocation list file ${twice} holds 2 lists, and TLS reads only the first; put each in its own file`,
    );
    const material = readTlsFiles(withCrl([list]), "backends.b.tls");
    expect(material.crl?.map(String)).to.deep.equal([fs.readFileSync(list, "utf8")]);
  });

  it("refuses a crl file of a CA the block does not name, naming the file and its issuer", () => {
    const list = pki.otherCa.crl(path.join(pki.dir, "crl-of-other.pem"));
    const withCrl = { ...files(null, null, [pki.ca.certFile]), crl: [list] };
    expect(() => readTlsFiles(withCrl, "backends.b.tls")).to.throw(
      `backends.b.tls.crl: revocation list file ${list} was issued by CN=other test CA, which is none of the block's CAs`,
    );
    const served = { cert: null, key: null, ca: [], clientCa: [pki.ca.certFile], crl: [list] };
    expect(() => readTlsFiles(served, "adapter.tls")).to.throw(
      `adapter.tls.crl: revocation list file ${list} was issued by CN=other test CA`,
    );
  });

  it("refuses a crl file its named CA did not sign", () => {
    // Another PKI's CA has the same name and another key: its list names this CA as issuer.
    const impostor = createTestPki();
    try {
      const list = impostor.ca.crl(path.join(pki.dir, "crl-forged.pem"));
      const withCrl = { ...files(null, null, [pki.ca.certFile]), crl: [list] };
      expect(() => readTlsFiles(withCrl, "securityServer.tls")).to.throw(
        `securityServer.tls.crl: revocation list file ${list} names CN=ca test CA as its issuer, but its signature does not verify against that CA's certificate`,
      );
    } finally {
      impostor.cleanup();
    }
  });

  it("refuses an RSA-PSS crl file its named CA did not sign, and takes one it did", () => {
    // Two RSA CAs of one name, each signing its list with RSA-PSS (-sigopt rsa_padding_mode:pss).
    const dir = fs.mkdtempSync(path.join(pki.dir, "pss-"));
    const rsaCaList = (name: string) => {
      const run = (args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
      fs.mkdirSync(path.join(dir, name));
      fs.writeFileSync(path.join(dir, name, "index.txt"), "");
      fs.writeFileSync(path.join(dir, name, "crlnumber"), "01\n");
      fs.writeFileSync(
        path.join(dir, `${name}.cnf`),
        `[ca]\ndefault_ca=d\n[d]\ndatabase=${name}/index.txt\ncrlnumber=${name}/crlnumber\ndefault_md=sha256\ndefault_crl_days=30\n`,
      );
      run(
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", `${name}.key`].concat([
          "-out",
          `${name}.crt`,
          "-subj",
          "/CN=pss test CA",
          "-days",
          "30",
        ]),
      );
      run(
        ["ca", "-batch", "-config", `${name}.cnf`, "-cert", `${name}.crt`, "-keyfile"].concat([
          `${name}.key`,
          "-gencrl",
          "-sigopt",
          "rsa_padding_mode:pss",
          "-out",
          `${name}.pem`,
        ]),
      );
      return { cert: path.join(dir, `${name}.crt`), list: path.join(dir, `${name}.pem`) };
    };
    const own = rsaCaList("own");
    const impostor = rsaCaList("impostor");
    const withCrl = (list: string) => ({ ...files(null, null, [own.cert]), crl: [list] });
    expect(readTlsFiles(withCrl(own.list), "securityServer.tls").crl).to.have.length(1);
    expect(() => readTlsFiles(withCrl(impostor.list), "securityServer.tls")).to.throw(
      `securityServer.tls.crl: revocation list file ${impostor.list} names CN=pss test CA as its issuer, but its signature does not verify against that CA's certificate`,
    );
  });

  it("warns of a crl file whose issuer's name is also another CA's of the block", () => {
    // Another PKI's CA has the same name and another key (a renewed CA's old certificate, say):
    // Node picks a list by name for both, and chains through one of them are refused.
    const impostor = createTestPki();
    try {
      const list = pki.ca.crl(path.join(pki.dir, "crl-of-twin.pem"));
      const withCrl = {
        ...files(null, null, [pki.ca.certFile, impostor.ca.certFile]),
        crl: [list],
      };
      const twin = new X509Certificate(fs.readFileSync(impostor.ca.certFile)).fingerprint256;
      expect(tlsMaterialWarnings(readTlsFiles(withCrl, "securityServer.tls"))).to.deep.equal([
        `securityServer.tls.crl: revocation list file ${list} of CN=ca test CA was not signed by the block's certificate of that name with SHA-256 fingerprint ${twin}; TLS chooses one list by its issuer's name alone for every CA of that name, so every handshake through one of them is refused (revocation_list_unusable, CRL_SIGNATURE_FAILURE), whichever lists are there: leave out of the block the certificate whose chains need not be admitted`,
      ]);
      // A handshake refused with CRL_SIGNATURE_FAILURE names that certificate.
      expect(
        revocationListCoverage(readTlsFiles(withCrl, "securityServer.tls"))?.signedByOther,
      ).to.deep.equal([`CN=ca test CA (SHA-256 fingerprint ${twin})`]);
      const alone = { ...files(null, null, [pki.ca.certFile]), crl: [list] };
      expect(tlsMaterialWarnings(readTlsFiles(alone, "securityServer.tls"))).to.deep.equal([]);
    } finally {
      impostor.cleanup();
    }
  });

  it("keeps a crl file past its nextUpdate and warns of it, naming the file, issuer and date", () => {
    const list = pki.ca.crl(path.join(pki.dir, "crl-stale.pem"), { stale: true });
    const current = pki.ca.crl(path.join(pki.dir, "crl-current.pem"));
    const withCrl = (crl: string[]) => ({ ...files(null, null, [pki.ca.certFile]), crl });
    const material = readTlsFiles(withCrl([list]), "amqpTls");
    expect(material.crl).to.have.length(1);
    expect(tlsMaterialWarnings(material)).to.deep.equal([
      `amqpTls.crl: revocation list file ${list} of CN=ca test CA is past its nextUpdate (2001-01-01T00:00:00.000Z); every handshake through that CA is refused (revocation_list_unusable) until a current list is in place and SIGHUP`,
    ]);
    expect(tlsMaterialWarnings(readTlsFiles(withCrl([current]), "amqpTls"))).to.deep.equal([]);
    expect(tlsFileWarnings([["amqpTls", withCrl([list])]])).to.have.length(1);
  });

  it("carries its lists' warnings and coverage in the material, which a reload replaces with its own", () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "crl-report-"));
    const crl = path.join(dir, "ca.crl");
    pki.ca.crl(crl, { stale: true });
    const tls = new ReloadableTls(
      { ...files(null, null, [pki.ca.certFile]), crl: [crl] },
      "securityServer.tls",
    );
    try {
      const stale = tls.current;
      expect(stale.revocationLists?.warnings).to.have.length(1);
      expect(stale.revocationLists?.coverage).to.deep.equal({
        stale: ["CN=ca test CA"],
        notYetValid: [],
        signedByOther: [],
        missing: [],
      });
      pki.ca.crl(crl);
      expect(tls.reload()).to.equal(null);
      expect(tls.current.revocationLists?.warnings).to.deep.equal([]);
      expect(tls.current.revocationLists?.coverage.stale).to.deep.equal([]);
      // The material read before keeps what was found of it.
      expect(tlsMaterialWarnings(stale)).to.have.length(1);
    } finally {
      tls.dispose();
    }
  });

  it("keeps a crl file whose thisUpdate is still to come and warns of it, as Node refuses it until then", () => {
    const list = pki.ca.crl(path.join(pki.dir, "crl-future.pem"), { future: true });
    const withCrl = { ...files(null, null, [pki.ca.certFile]), crl: [list] };
    const material = readTlsFiles(withCrl, "amqpTls");
    expect(material.crl).to.have.length(1);
    expect(tlsMaterialWarnings(material)).to.deep.equal([
      `amqpTls.crl: revocation list file ${list} of CN=ca test CA is not valid before its thisUpdate (2090-01-01T00:00:00.000Z), which is still to come by this machine's clock; every handshake through that CA is refused (revocation_list_unusable) until then: check this machine's clock and the CA's`,
    ]);
    expect(tlsFileWarnings([["amqpTls", withCrl]])).to.have.length(1);
    // A handshake refused with CRL_NOT_YET_VALID names that CA.
    expect(revocationListCoverage(material)?.notYetValid).to.deep.equal(["CN=ca test CA"]);
    expect(revocationListCoverage(material)?.stale).to.deep.equal([]);
  });

  it("says how to convert a crl file in DER, as CAs publish their lists", () => {
    const list = pki.ca.crl(path.join(pki.dir, "crl-for-der.pem"));
    const der = path.join(pki.dir, "crl.der");
    const body = fs
      .readFileSync(list, "utf8")
      .replace(/-----[^-]+-----/g, "")
      .replace(/\s/g, "");
    fs.writeFileSync(der, Buffer.from(body, "base64"));
    const withCrl = { ...files(null, null, [pki.ca.certFile]), crl: [der] };
    expect(() => readTlsFiles(withCrl, "adapter.tls")).to.throw(
      `adapter.tls.crl: revocation list file ${der} does not hold a PEM certificate revocation list (-----BEGIN X509 CRL-----); it looks like DER: convert it with openssl crl -inform DER -in ${der} -out LIST.pem`,
    );
  });

  it("reads the crl files again on reload, all or nothing", () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "crl-reload-"));
    const crl = path.join(dir, "ca.crl");
    pki.ca.crl(crl);
    const first = fs.readFileSync(crl, "utf8");
    const tls = new ReloadableTls(
      { ...files(null, null, [pki.ca.certFile]), crl: [crl] },
      "securityServer.tls",
    );
    try {
      fs.writeFileSync(crl, "broken\n");
      expect(tls.reload()).to.match(
        /^securityServer\.tls\.crl: revocation list file .* does not hold/,
      );
      expect(tls.current.crl?.map(String)).to.deep.equal([first]);
      pki.ca.revoke(pki.ca.issue("crl-reload-revoked"));
      pki.ca.crl(crl);
      const second = fs.readFileSync(crl, "utf8");
      expect(second).to.not.equal(first);
      expect(tls.reload()).to.equal(null);
      expect(tls.current.crl?.map(String)).to.deep.equal([second]);
    } finally {
      tls.dispose();
    }
  });
});
