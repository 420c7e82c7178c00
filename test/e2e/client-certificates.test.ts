// Pinned client certificates on the service port (`adapter.tls.clientCerts`): a CA in
// `clientCa` admits every certificate it issued, and any holder could claim any X-Road client;
// pinned, only the security server's own certificate gets in. A real adapter process over real
// TLS, the pins read again on SIGHUP.

import { expect } from "chai";
import { copyFileSync } from "node:fs";
import path from "node:path";
import { eventually, Harness, type SluiceProcess } from "../support/harness";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import { metricValue } from "./ops-support";
import { postOverTls } from "./tls-caller";

describe("pinned client certificates on the service port (adapter.tls.clientCerts)", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let pki: TestPki; // Sluice's server certificate
  let ssPki: TestPki; // the CA that issued the security server's internal TLS certificate
  let internal: KeyPair; // the security server's certificate, pinned
  let sibling: KeyPair; // another certificate of the same CA
  let adapter: SluiceProcess;
  let sluiceUrl = "";

  const postAs = (pair?: { cert: string; key: string }) =>
    postOverTls(sluiceUrl, pki.ca.cert, pair);

  const unlisted = async () =>
    (await metricValue(adapter.adminUrl, "sluice_tls_handshake_refusals_total", {
      reason: "unlisted_certificate",
    })) ?? 0;

  before(async () => {
    pki = createTestPki();
    ssPki = createTestPki();
    const server = pki.ca.issue("sluice", { cn: "localhost" });
    internal = ssPki.ca.issue("ss-internal", { cn: "security-server-internal" });
    sibling = ssPki.ca.issue("ss-sibling", { cn: "security-server-internal" });
    copyFileSync(internal.certFile, path.join(harness.dir, "pinned.crt"));
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      adapter: {
        tls: {
          cert: server.certFile,
          key: server.keyFile,
          clientCa: ssPki.ca.certFile,
          clientCerts: ["pinned.crt"],
        },
      },
      services: {
        personSearch: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json" } },
    });
    adapter = await harness.spawn("adapter");
    sluiceUrl = `https://127.0.0.1:${adapter.port}`;
  });

  after(async () => {
    await harness.cleanup();
    pki?.cleanup();
    ssPki?.cleanup();
  });

  it("admits the pinned certificate and refuses another one of the same CA, before HTTP", async () => {
    expect(await postAs(internal)).to.equal(202);
    // Issued by the trusted CA, so the handshake itself passes: refused after it, unanswered.
    const outcome = await postAs(sibling);
    expect(outcome).to.be.instanceOf(Error);
    expect(await postAs(undefined)).to.be.instanceOf(Error);
    await eventually(async () => ((await unlisted()) === 1 ? true : undefined), 10_000, "counted");
    const warned = await eventually(
      async () =>
        adapter.lines.find(
          (line) => line.msg === "TLS handshakes refused" && line.reason === "unlisted_certificate",
        ),
      10_000,
      "a warning naming the reason",
    );
    expect(warned).to.include({ level: "warn", remote: "127.0.0.1" });
  });

  it("reads the pins again on SIGHUP: the newly pinned certificate gets in, the old one no longer", async () => {
    copyFileSync(sibling.certFile, path.join(harness.dir, "pinned.crt"));
    adapter.child.kill("SIGHUP");
    expect(
      await eventually(
        async () => ((await postAs(sibling)) === 202 ? true : undefined),
        10_000,
        "pin",
      ),
    ).to.equal(true);
    expect(await postAs(internal)).to.be.instanceOf(Error);
  });
});

describe("a pinned self-signed certificate needs no clientCa", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let pki: TestPki;
  let adapter: SluiceProcess;

  before(async () => {
    pki = createTestPki();
    const server = pki.ca.issue("sluice", { cn: "localhost" });
    await harness.startSim({ latencyMs: 0 });
    // The security server's internal TLS certificate is self-signed unless an administrator
    // replaced it: the other CA's own certificate stands for it here.
    harness.writeConfig({
      adapter: {
        tls: { cert: server.certFile, key: server.keyFile, clientCerts: [pki.otherCa.certFile] },
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
  });

  it("admits the pinned self-signed certificate and refuses a different self-signed one", async () => {
    const attempt = (pair: { cert: string; key: string }) =>
      postOverTls(`https://127.0.0.1:${adapter.port}`, pki.ca.cert, pair);
    expect(await attempt(pki.otherCa)).to.equal(202);
    expect(await attempt(pki.ca)).to.be.instanceOf(Error);
  });
});
