// Revocation lists on the service port (`adapter.tls.crl`): a client certificate that clientCa
// issued is refused at the handshake once its CA's list names it, counted and warned of as
// revoked. A real adapter process over real TLS, the list read again on SIGHUP.

import { expect } from "chai";
import { X509Certificate } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { eventually, Harness, type SluiceProcess } from "../support/harness";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import { metricValue } from "./ops-support";
import { postOverTls } from "./tls-caller";

describe("revoked client certificates on the service port (adapter.tls.crl)", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let pki: TestPki; // Sluice's server certificate
  let ssPki: TestPki; // the CA that issued the security server's internal TLS certificate
  let internal: KeyPair;
  let adapter: SluiceProcess;
  let crl = "";

  const postAs = (pair: KeyPair) =>
    postOverTls(`https://127.0.0.1:${adapter.port}`, pki.ca.cert, pair);

  before(async () => {
    pki = createTestPki();
    ssPki = createTestPki();
    const server = pki.ca.issue("sluice", { cn: "localhost" });
    internal = ssPki.ca.issue("ss-internal", { cn: "security-server-internal" });
    crl = ssPki.ca.crl(path.join(harness.dir, "ss-ca.crl"));
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      adapter: {
        tls: {
          cert: server.certFile,
          key: server.keyFile,
          clientCa: ssPki.ca.certFile,
          crl: ["ss-ca.crl"],
        },
      },
      services: {
        personSearch: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json" } },
    });
    adapter = await harness.spawn("adapter");
  });

  after(async () => {
    await harness.cleanup();
    pki?.cleanup();
    ssPki?.cleanup();
  });

  it("admits the security server's certificate before it is revoked, and refuses it after SIGHUP reads the new list", async () => {
    expect(await postAs(internal)).to.equal(202);

    ssPki.ca.revoke(internal);
    ssPki.ca.crl(crl);
    adapter.child.kill("SIGHUP");
    await eventually(
      async () => ((await postAs(internal)) instanceof Error ? true : undefined),
      10_000,
      "refused",
    );
    const revoked = async () =>
      (await metricValue(adapter.adminUrl, "sluice_tls_handshake_refusals_total", {
        reason: "revoked_certificate",
      })) ?? 0;
    await eventually(async () => ((await revoked()) >= 1 ? true : undefined), 10_000, "counted");
    const warned = await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.msg === "TLS handshakes refused" && line.reason === "revoked_certificate",
        ),
      10_000,
      "a warning naming the reason",
    );
    expect(warned).to.include({ level: "warn", code: "CERT_REVOKED" });
  });

  it("refuses at SIGHUP a list the security server's CA did not sign, naming the file and issuer", async () => {
    // Another CA of the same name (both test PKIs name theirs so): its list names this CA.
    const before = fs.readFileSync(crl);
    pki.ca.crl(crl);
    adapter.child.kill("SIGHUP");
    const failed = await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.msg === "certificate reload failed; the previous certificates stay in use",
        ),
      10_000,
      "the reload refused",
    );
    const problem = String(failed?.problems);
    expect(problem).to.match(/^adapter\.tls\.crl: revocation list file \S*ss-ca\.crl names/);
    expect(problem).to.include(
      "names CN=ca test CA as its issuer, but its signature does not verify against that CA's certificate",
    );
    fs.writeFileSync(crl, before);
  });

  it("warns of the security server's CA's list past nextUpdate, naming that CA, with what to check in each list", async () => {
    ssPki.ca.crl(crl, { stale: true });
    adapter.child.kill("SIGHUP");
    await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.level === "warn" && String(line.msg).includes("past its nextUpdate"),
        ),
      10_000,
      "the reload's warning of the stale list",
    );
    const unusable = async () =>
      (await metricValue(adapter.adminUrl, "sluice_tls_handshake_refusals_total", {
        reason: "revocation_list_unusable",
      })) ?? 0;
    await eventually(
      async () => {
        await postAs(internal);
        return (await unusable()) >= 1 ? true : undefined;
      },
      10_000,
      "refused for its list",
    );
    const warned = await eventually(
      async () =>
        adapter.lines.find(
          (line) =>
            line.msg === "TLS handshakes refused" && line.reason === "revocation_list_unusable",
        ),
      10_000,
      "a warning naming the reason",
    );
    expect(warned?.level).to.equal("warn");
    expect(warned?.code).to.equal("CRL_HAS_EXPIRED");
    expect(warned?.ca).to.equal("CN=ca test CA");
    expect(warned?.check).to.be.a("string");
    expect(warned?.check).to.include(`openssl crl -noout -nextupdate -issuer -in ${crl}`);
  });

  /** The next `revocation_list_unusable` warning with verification code `code`, after a handshake. */
  async function unusableWarning(pair: KeyPair, code: string) {
    return eventually(
      async () => {
        await postAs(pair);
        return adapter.lines.find(
          (line) =>
            line.msg === "TLS handshakes refused" &&
            line.reason === "revocation_list_unusable" &&
            line.code === code,
        );
      },
      // The warning is written once per reason per 10 s: the previous test's may hold it back.
      30_000,
      `a warning with ${code}`,
    );
  }

  it("names the security server's CA when its list's thisUpdate is still to come", async () => {
    ssPki.ca.crl(crl, { future: true });
    adapter.child.kill("SIGHUP");
    await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.level === "warn" && String(line.msg).includes("still to come"),
        ),
      10_000,
      "the reload's warning of the list not valid yet",
    );
    const warned = await unusableWarning(internal, "CRL_NOT_YET_VALID");
    expect(warned?.ca).to.equal("CN=ca test CA");
  });

  it("names, with its fingerprint, a CA of the same name as the one that signed the list", async () => {
    // Another CA of the same name beside the security server's (both test PKIs name theirs
    // so): OpenSSL takes the security server's CA's list for it, whose signature fails.
    ssPki.ca.crl(crl);
    fs.appendFileSync(ssPki.ca.certFile, fs.readFileSync(pki.ca.certFile));
    adapter.child.kill("SIGHUP");
    await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.level === "warn" && String(line.msg).includes("was not signed by"),
        ),
      10_000,
      "the reload's warning of the CA of the same name",
    );
    const twin = pki.ca.issue("twin-client", { cn: "twin-client" });
    const warned = await unusableWarning(twin, "CRL_SIGNATURE_FAILURE");
    const fingerprint = new X509Certificate(fs.readFileSync(pki.ca.certFile)).fingerprint256;
    expect(warned?.ca).to.equal(`CN=ca test CA (SHA-256 fingerprint ${fingerprint})`);
  });
});
