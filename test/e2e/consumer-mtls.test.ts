// The consumer direction over mutual TLS, as deployed: Sluice's worker calls its security
// server's HTTPS port with its own certificate (securityServer.tls), which xroad-sim checks
// against the client subsystem's "Information System TLS certificates" as X-Road does; the
// failures an operator meets (certificate not listed, host name mismatch) and a SIGHUP rotation.

import { expect } from "chai";
import { copyFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";
import { metricValue } from "./ops-support";
import {
  CONSUMER,
  LOCAL_APP,
  localSoapCall,
  REST_PROVIDER,
  SOAP_PROVIDER,
  TERMINAL,
  NS,
} from "./consumer-support";

/** A subsystem whose certificate list lacks Sluice's: an administrator has not added it yet. */
const UNLISTED = "EE/GOV/70000001/sluice-unlisted";
/** A subsystem that lists only the certificate Sluice rotates to. */
const ROTATED = "EE/GOV/70000001/sluice-rotated";

interface StatusDocument {
  state: string;
  error: { code: string; message: string } | null;
  attempts?: number;
  responses: Array<{ status: number; body: unknown }>;
}

describe("consumer direction over mTLS (local caller → Sluice → xroad-sim HTTPS → Sluice → legacy-sim)", function () {
  this.timeout(90_000);
  const provider = new Harness();
  const consumer = new Harness();
  let pki: TestPki; // Sluice's client certificates
  let ssPki: TestPki; // the security server's internal TLS certificate
  let sluiceCert: KeyPair;
  let nextCert: KeyPair; // the certificate Sluice rotates to, listed beforehand
  let sim: XroadSim;
  let misnamed: XroadSim; // a security server whose certificate does not name 127.0.0.1
  let local: SluiceProcess;

  async function settled(id: string, timeoutMs = 30_000): Promise<StatusDocument> {
    return eventually(
      async () => {
        const answer = await call(`${local.url}/messages/${id}`, { client: LOCAL_APP });
        const doc = answer.json as StatusDocument;
        return TERMINAL.includes(doc?.state) ? doc : undefined;
      },
      timeoutMs,
      `message ${id} to settle`,
    );
  }

  const admin = (route: string) =>
    call(`${local.adminUrl}${route}`, { client: null, headers: consumer.adminHeaders() });

  before(async () => {
    pki = createTestPki();
    ssPki = createTestPki();
    sluiceCert = pki.ca.issue("sluice", { cn: "sluice-consumer" });
    nextCert = pki.ca.issue("sluice-next", { cn: "sluice-consumer-next" });
    const ssCert = ssPki.ca.issue("ss-internal", { cn: "ss.internal.example" });
    const wrongName = ssPki.ca.issue("ss-other", {
      cn: "ss.internal.example",
      san: "DNS:ss.internal.example",
    });
    const stranger = pki.ca.issue("stranger", { cn: "another-system" });

    await provider.startSim({ recordDetails: true });
    provider.writeConfig({
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "sync", wait: "20s" }, backend: "legacy" },
        getState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync" },
          backend: "legacy-soap",
        },
      },
      backends: { legacy: { translator: "rest-json" }, "legacy-soap": { translator: "soap" } },
    });
    const providerSluice = await provider.spawn("all");

    const services = {
      [`${REST_PROVIDER}/lookup`]: { url: `${providerSluice.url}/rest/lookup` },
      [`${SOAP_PROVIDER}/getState`]: { url: `${providerSluice.url}/soap`, type: "soap" as const },
    };
    // Sluice's own certificates (the one it has and the one it will have) as its subsystem's
    // "Information System TLS certificates", connection type HTTPS.
    sim = await startXroadSim({
      tls: { cert: ssCert.cert, key: ssCert.key },
      clients: {
        [CONSUMER]: { connectionType: "HTTPS", certificates: [sluiceCert.cert, nextCert.cert] },
        [UNLISTED]: { connectionType: "HTTPS", certificates: [stranger.cert] },
        [ROTATED]: { connectionType: "HTTPS", certificates: [nextCert.cert] },
      },
      services,
    });
    misnamed = await startXroadSim({
      tls: { cert: wrongName.cert, key: wrongName.key },
      clients: { [CONSUMER]: { certificates: [sluiceCert.cert, nextCert.cert] } },
      services,
    });
    expect(sim.url).to.match(/^https:\/\/127\.0\.0\.1:/);

    // Sluice reads its certificate from files the rotation test replaces.
    copyFileSync(sluiceCert.certFile, path.join(consumer.dir, "sluice.crt"));
    copyFileSync(sluiceCert.keyFile, path.join(consumer.dir, "sluice.key"));
    const remote = (service: string, extra: Record<string, unknown> = {}) => ({
      translator: "xroad-rest",
      service,
      timeout: "10s",
      retry: { attempts: 3, backoff: ["200ms"] },
      ...extra,
    });
    const rest = (backend: string, mode: string, extra: Record<string, unknown> = {}) => ({
      protocols: ["rest"],
      reply: { mode, wait: "20s" },
      backend,
      ...extra,
    });
    consumer.writeConfig({
      securityServer: {
        url: sim.url,
        client: CONSUMER,
        tls: { ca: ssPki.ca.certFile, cert: "sluice.crt", key: "sluice.key" },
      },
      services: {
        lookup: rest("registry", "sync"),
        getState: { protocols: ["soap"], namespace: NS, reply: { mode: "sync" }, backend: "soap" },
        unlisted: rest("unlisted", "ack", { client: UNLISTED }),
        unlistedSync: rest("unlisted", "sync", { client: UNLISTED }),
        rotated: rest("rotated", "sync", { client: ROTATED }),
        misnamed: rest("misnamed", "ack"),
      },
      backends: {
        registry: remote(`${REST_PROVIDER}/lookup`),
        soap: { ...remote(`${SOAP_PROVIDER}/getState`), translator: "xroad-soap" },
        unlisted: remote(`${REST_PROVIDER}/lookup`),
        rotated: remote(`${REST_PROVIDER}/lookup`),
        misnamed: remote(`${REST_PROVIDER}/lookup`, { url: misnamed.url }),
      },
    });
    local = await consumer.spawn("all");
  });

  after(async () => {
    await consumer.cleanup();
    await sim?.close();
    await misnamed?.close();
    await provider.cleanup();
    pki?.cleanup();
    ssPki?.cleanup();
  });

  it("REST: the call reaches the provider over mTLS as Sluice's subsystem, the answer comes back", async () => {
    const answer = await call(`${local.url}/rest/lookup/persons/42`, {
      client: LOCAL_APP,
      body: '{"name":"Mari"}',
    });
    expect(answer.status, answer.text).to.equal(200);
    const seen = provider.sim.calls().filter((c) => c.path === "/persons/42");
    expect(seen).to.have.length(1);
    expect(seen[0].headers!["x-road-client"]).to.equal(CONSUMER);
    const [viaSs] = sim.calls().filter((c) => c.service === `${REST_PROVIDER}/lookup`);
    expect(viaSs).to.include({ client: CONSUMER, error: null });
    expect(viaSs.clientCertificate).to.contain("sluice-consumer");
  });

  it("SOAP: the call reaches the provider over mTLS, the answer comes back", async () => {
    const answer = await fetch(`${local.url}/soap`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8" },
      body: localSoapCall("getState", "mtls-soap-1"),
    });
    const text = await answer.text();
    expect(answer.status, text).to.equal(200);
    expect(text).to.contain("getStateResponse");
    const [viaSs] = sim.calls().filter((c) => c.service === `${SOAP_PROVIDER}/getState`);
    expect(viaSs).to.include({ client: CONSUMER, error: null, status: 200 });
    expect(viaSs.clientCertificate).to.contain("sluice-consumer");
  });

  it("Sluice's certificate not listed: retried per retry, then failed and dead-lettered with the code; a sync caller gets Sluice's 502", async () => {
    const code = "Server.ClientProxy.SslAuthenticationFailed";
    const accepted = await call(`${local.url}/rest/unlisted`, { client: LOCAL_APP, body: "{}" });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const doc = await settled(id);
    expect(doc.state).to.equal("failed");
    expect(doc.error!.code).to.equal("BackendFailed");
    expect(doc.error!.message).to.contain(code);
    expect(doc.error!.message).to.contain("TLS certificate does not match any IS certificates");
    // Every attempt of the retry schedule reached the security server, none the provider.
    const refused = sim.calls().filter((c) => c.client === UNLISTED);
    expect(refused.map((c) => c.error)).to.deep.equal([code, code, code]);
    // The operator: a dead letter naming the code, the failed calls counted.
    const dead = await eventually(async () => {
      const answer = await admin(`/admin/dead-letters/${id}`);
      return answer.status === 200 ? answer : undefined;
    });
    expect(JSON.stringify(dead.json)).to.contain(code);
    const failures = await metricValue(local.adminUrl, "sluice_backend_calls_total", {
      backend: "unlisted",
      outcome: "retryable_error",
    });
    expect(failures).to.equal(3);

    const sync = await call(`${local.url}/rest/unlistedSync`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { Prefer: "wait=20" },
    });
    expect(sync.status, sync.text).to.equal(502);
    expect(sync.text).to.contain(code);
  });

  it("the security server's certificate does not name securityServer.url's host: refused at the handshake, retried, failed naming the mismatch", async () => {
    const accepted = await call(`${local.url}/rest/misnamed`, { client: LOCAL_APP, body: "{}" });
    expect(accepted.status, accepted.text).to.equal(202);
    const doc = await settled(accepted.json.id as string);
    expect(doc.state).to.equal("failed");
    expect(doc.error!.code).to.equal("BackendFailed");
    expect(doc.error!.message).to.contain("ERR_TLS_CERT_ALTNAME_INVALID");
    // Nothing reached the security server's handler: the handshake was refused by Sluice.
    expect(misnamed.calls()).to.have.length(0);
    const lines = local.lines.filter((l) => l.backend === "misnamed" || l.id === accepted.json.id);
    // The operator reads what the certificate names, which Node's words leave out for an IP.
    const retried = lines.find((l) => l.msg === "backend unavailable; retry scheduled");
    expect(retried?.err).to.contain("ERR_TLS_CERT_ALTNAME_INVALID");
    expect(retried?.err).to.contain("the certificate names DNS:ss.internal.example");
  });

  it("SIGHUP: Sluice's new certificate, already listed, is presented on new connections", async () => {
    // Before: the subsystem that lists only the next certificate refuses Sluice.
    const before = await call(`${local.url}/rest/rotated`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { Prefer: "wait=20" },
    });
    expect(before.status, before.text).to.equal(502);
    writeFileSync(path.join(consumer.dir, "sluice.crt"), nextCert.cert);
    writeFileSync(path.join(consumer.dir, "sluice.key"), nextCert.key, { mode: 0o600 });
    const reloadsBefore = local.lines.filter((l) => l.msg === "certificates reloaded").length;
    local.child.kill("SIGHUP");
    await eventually(
      async () =>
        local.lines.filter((l) => l.msg === "certificates reloaded").length > reloadsBefore
          ? true
          : undefined,
      10_000,
      "the reload",
    );
    const after = await call(`${local.url}/rest/rotated/persons/7`, {
      client: LOCAL_APP,
      body: "{}",
    });
    expect(after.status, after.text).to.equal(200);
    const again = await call(`${local.url}/rest/lookup/persons/8`, {
      client: LOCAL_APP,
      body: "{}",
    });
    expect(again.status, again.text).to.equal(200);
    const last = sim
      .calls()
      .filter((c) => c.client === CONSUMER)
      .at(-1)!;
    expect(last.clientCertificate).to.contain("sluice-consumer-next");
  });
});
