// Test-only certificates made at test time with the openssl CLI (no private key is committed):
// a CA, certificates it issues (server, client, expired), and a second, untrusted CA.

import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

export interface KeyPair {
  cert: string;
  key: string;
  certFile: string;
  keyFile: string;
}

export interface TestCa extends KeyPair {
  /**
   * Issues a certificate; `expired` dates it in 2000, so any verifier refuses it. `san` replaces
   * the names it is valid for (default `DNS:localhost,IP:127.0.0.1`), for a host-name mismatch.
   */
  issue(
    name: string,
    options?: {
      cn?: string;
      expired?: boolean;
      notYetValid?: boolean;
      san?: string;
      /** An RSA key of this many bits in place of P-256 (a weak 1024, X-Road's 2048). */
      rsaBits?: number;
    },
  ): KeyPair;
  /** Puts `pair` on this CA's revocation list (written by `crl`). */
  revoke(pair: KeyPair): void;
  /**
   * Writes this CA's revocation list (PEM) of what `revoke` put on it to `file`; returns `file`.
   * `stale` dates it in 2000, so it is past its nextUpdate for any verifier.
   */
  crl(file?: string, options?: { stale?: boolean; future?: boolean }): string;
}

export interface TestPki {
  dir: string;
  ca: TestCa;
  /** A CA nobody trusts: what an attacker can make. */
  otherCa: TestCa;
  cleanup(): void;
}

const openssl = (args: string[], cwd: string): void => {
  execFileSync("openssl", args, { cwd, stdio: ["ignore", "ignore", "pipe"] });
};

const NEW_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
const EXTENSIONS = [
  "basicConstraints=CA:FALSE",
  "keyUsage=digitalSignature,keyEncipherment",
  "extendedKeyUsage=serverAuth,clientAuth",
  "subjectAltName=DNS:localhost,IP:127.0.0.1",
].join("\n");

function read(dir: string, name: string): KeyPair {
  const certFile = path.join(dir, `${name}.crt`);
  const keyFile = path.join(dir, `${name}.key`);
  return {
    cert: fs.readFileSync(certFile, "utf8"),
    key: fs.readFileSync(keyFile, "utf8"),
    certFile,
    keyFile,
  };
}

function makeCa(dir: string, name: string): TestCa {
  openssl(
    [
      "req",
      "-x509",
      ...NEW_KEY,
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-days",
      "30",
    ].concat(["-subj", `/CN=${name} test CA`]),
    dir,
  );
  fs.writeFileSync(path.join(dir, "ext.cnf"), EXTENSIONS);
  // `openssl ca` is the only 3.0 command that sets arbitrary validity dates (for "expired").
  fs.writeFileSync(path.join(dir, `${name}-index.txt`), "");
  fs.writeFileSync(
    path.join(dir, `${name}-ca.cnf`),
    [
      "[ca]",
      "default_ca=test",
      "[test]",
      `database=${name}-index.txt`,
      `serial=${name}-serial`,
      "new_certs_dir=.",
      "default_md=sha256",
      "policy=any",
      "unique_subject=no",
      "copy_extensions=none",
      "[any]",
      "commonName=supplied",
      "[ext]",
      EXTENSIONS,
    ].join("\n"),
  );
  let serial = 1;
  return {
    ...read(dir, name),
    issue(certName, options = {}) {
      const cn = options.cn ?? certName;
      openssl(
        [
          "req",
          "-new",
          ...(options.rsaBits ? ["-newkey", `rsa:${options.rsaBits}`, "-nodes"] : NEW_KEY),
          "-keyout",
          `${certName}.key`,
          "-out",
          `${certName}.csr`,
        ].concat(["-subj", `/CN=${cn}`]),
        dir,
      );
      if (options.expired || options.notYetValid) {
        const [start, end] = options.expired
          ? ["20000101000000Z", "20010101000000Z"]
          : ["20900101000000Z", "20910101000000Z"];
        fs.writeFileSync(
          path.join(dir, `${name}-serial`),
          `${(serial++).toString(16).padStart(2, "0")}\n`,
        );
        openssl(
          ["ca", "-batch", "-config", `${name}-ca.cnf`, "-cert", `${name}.crt`, "-keyfile"]
            .concat([`${name}.key`, "-extensions", "ext", "-notext"])
            .concat(["-startdate", start, "-enddate", end])
            .concat(["-in", `${certName}.csr`, "-out", `${certName}.crt`]),
          dir,
        );
      } else {
        let extfile = "ext.cnf";
        if (options.san !== undefined) {
          extfile = `${certName}-ext.cnf`;
          const names = `subjectAltName=${options.san}`;
          fs.writeFileSync(
            path.join(dir, extfile),
            EXTENSIONS.replace(/^subjectAltName=.*$/m, names),
          );
        }
        openssl(
          ["x509", "-req", "-in", `${certName}.csr`, "-CA", `${name}.crt`, "-CAkey", `${name}.key`]
            .concat(["-set_serial", String(1000 + serial++), "-days", "30"])
            .concat(["-extfile", extfile, "-out", `${certName}.crt`]),
          dir,
        );
      }
      return read(dir, certName);
    },
    revoke(pair) {
      openssl(
        ["ca", "-batch", "-config", `${name}-ca.cnf`, "-cert", `${name}.crt`, "-keyfile"].concat([
          `${name}.key`,
          "-revoke",
          pair.certFile,
        ]),
        dir,
      );
    },
    crl(file = path.join(dir, `${name}.crl`), options = {}) {
      const dates = options.stale
        ? ["-crl_lastupdate", "20000101000000Z", "-crl_nextupdate", "20010101000000Z"]
        : options.future
          ? ["-crl_lastupdate", "20900101000000Z", "-crl_nextupdate", "20910101000000Z"]
          : ["-crldays", "30"];
      openssl(
        ["ca", "-batch", "-config", `${name}-ca.cnf`, "-cert", `${name}.crt`, "-keyfile"]
          .concat([`${name}.key`, "-gencrl", ...dates])
          .concat(["-out", file]),
        dir,
      );
      return file;
    },
  };
}

/** Makes a fresh PKI in a temporary directory; call cleanup() when done. */
export function createTestPki(): TestPki {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "sluice-pki-"));
  const caDir = path.join(dir, "ca");
  const otherDir = path.join(dir, "other");
  fs.mkdirSync(caDir);
  fs.mkdirSync(otherDir);
  return {
    dir,
    ca: makeCa(caDir, "ca"),
    otherCa: makeCa(otherDir, "other"),
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true }),
  };
}
