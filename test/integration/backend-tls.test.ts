// Outbound TLS to a backend (`backends.<name>.tls`): the rest-json translator verifies the
// backend against the configured CA, presents Sluice's client certificate, and uses a new one
// for new connections after a reload.

import { expect } from "chai";
import dns from "node:dns";
import fs from "node:fs";
import https from "node:https";
import type { AddressInfo } from "node:net";
import path from "node:path";
import type { TLSSocket } from "node:tls";
import type { RequestMessage } from "../../shared/protocol/envelope";
import { ReloadableTls } from "../../shared/config/tls-files";
import { BackendAgents } from "../../worker/translators/backend-agents";
import { createTranslator } from "../../worker/translators/rest-json";
import { BackendUnavailableError } from "../../worker/translators/translator";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";

const message = (id: string): RequestMessage => ({
  id,
  xroadId: null,
  service: "s",
  backend: "b",
  protocol: "rest",
  client: "EE/GOV/1/c",
  replyMode: "sync",
  method: "GET",
  path: "/x",
  query: "",
  xroadHeaders: {},
  contentType: null,
  body: "",
  bodyEncoding: "utf8",
  createdAt: 0,
  expiresAt: null,
});

const call = (translator: ReturnType<typeof createTranslator>, id: string) =>
  translator.call(message(id), {
    signal: new AbortController().signal,
    idempotencyKey: id,
    attempt: 1,
  });

describe("outbound TLS to a backend (rest-json)", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let server: https.Server;
  let url = "";
  const seen: string[] = [];

  before(async () => {
    pki = createTestPki();
    const backend = pki.ca.issue("backend", { cn: "localhost" });
    server = https.createServer(
      {
        cert: backend.cert,
        key: backend.key,
        ca: pki.ca.cert,
        requestCert: true,
        rejectUnauthorized: true,
      },
      (req, res) => {
        const peer = (req.socket as TLSSocket).getPeerCertificate();
        seen.push(String(peer.subject?.CN));
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"ok":true}');
      },
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });

  it("presents the client certificate, verifies the backend, and takes a reloaded certificate", async () => {
    const dir = fs.mkdtempSync(path.join(pki.dir, "sluice-"));
    const first = pki.ca.issue("sluice-1", { cn: "sluice-1" });
    const cert = path.join(dir, "c.pem");
    const key = path.join(dir, "k.pem");
    fs.copyFileSync(first.certFile, cert);
    fs.copyFileSync(first.keyFile, key);
    const clientTls = new ReloadableTls({ cert, key, ca: [pki.ca.certFile] }, "backends.b.tls");
    const translator = createTranslator({
      name: "b",
      url,
      timeoutMs: 5_000,
      options: {},
      clientTls,
    });
    try {
      const [answer] = await call(translator, "a1");
      expect(answer.status).to.equal(200);
      expect(seen).to.deep.equal(["sluice-1"]);

      const second = pki.ca.issue("sluice-2", { cn: "sluice-2" });
      fs.copyFileSync(second.certFile, cert);
      fs.copyFileSync(second.keyFile, key);
      expect(clientTls.reload()).to.equal(null);
      await call(translator, "a2");
      expect(seen).to.deep.equal(["sluice-1", "sluice-2"]);
    } finally {
      clientTls.dispose();
      await translator.close?.();
    }
  });

  it("fails (to be retried) without the client certificate or without the backend's CA", async () => {
    const noCert = createTranslator({ name: "b", url, timeoutMs: 5_000, options: {} });
    const caOnly = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.b.tls",
    );
    const withoutClientCert = createTranslator({
      name: "b",
      url,
      timeoutMs: 5_000,
      options: {},
      clientTls: caOnly,
    });
    try {
      for (const translator of [noCert, withoutClientCert]) {
        const error = await call(translator, "b1").then(
          () => null,
          (e: Error) => e,
        );
        expect(error).to.be.instanceOf(BackendUnavailableError);
      }
    } finally {
      caOnly.dispose();
      await noCert.close?.();
      await withoutClientCert.close?.();
    }
  });
});

describe("outbound TLS to a backend whose certificate is revoked (tls.crl)", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let server: https.Server;
  let url = "";
  let backend: KeyPair;

  before(async () => {
    pki = createTestPki();
    backend = pki.ca.issue("backend", { cn: "localhost" });
    server = https.createServer({ cert: backend.cert, key: backend.key }, (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(async () => {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });

  it("calls the backend while its certificate is not on the list, and refuses it once it is", async () => {
    const crl = path.join(fs.mkdtempSync(path.join(pki.dir, "crl-")), "ca.crl");
    pki.ca.crl(crl);
    const clientTls = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile], crl: [crl] },
      "backends.b.tls",
    );
    const translator = createTranslator({
      name: "b",
      url,
      timeoutMs: 5_000,
      options: {},
      clientTls,
    });
    try {
      const [answer] = await call(translator, "c1");
      expect(answer.status).to.equal(200);

      pki.ca.revoke(backend);
      pki.ca.crl(crl);
      expect(clientTls.reload()).to.equal(null);
      server.closeAllConnections();
      const error = await call(translator, "c2").then(
        () => null,
        (e: Error) => e,
      );
      expect(error).to.be.instanceOf(BackendUnavailableError);
      expect(String((error as Error).message)).to.match(/revoked/i);
    } finally {
      clientTls.dispose();
      await translator.close?.();
    }
  });
});

describe("outbound TLS to a backend that offers only suites without AEAD (tls.ciphers)", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let server: https.Server;
  let url = "";

  before(async () => {
    pki = createTestPki();
    const backend = pki.ca.issue("old-backend", { cn: "localhost" });
    // An old stack: TLS 1.2 with CBC and SHA-1 only, which Node's own client list still offers.
    server = https.createServer(
      {
        cert: backend.cert,
        key: backend.key,
        maxVersion: "TLSv1.2",
        ciphers: "ECDHE-ECDSA-AES128-SHA",
      },
      (_req, res) => res.end("{}"),
    );
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `https://localhost:${(server.address() as AddressInfo).port}`;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });

  it("refuses it at the handshake, and calls it when the block's ciphers name its suite", async () => {
    const strict = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.b.tls",
    );
    const excepted = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile], ciphers: "ECDHE-ECDSA-AES128-SHA" },
      "backends.b.tls",
    );
    const refused = createTranslator({
      name: "b",
      url,
      timeoutMs: 5_000,
      options: {},
      clientTls: strict,
    });
    const allowed = createTranslator({
      name: "b",
      url,
      timeoutMs: 5_000,
      options: {},
      clientTls: excepted,
    });
    try {
      const error = await call(refused, "w1").then(
        () => null,
        (e: Error) => e,
      );
      expect(error).to.be.instanceOf(BackendUnavailableError);
      const [answer] = await call(allowed, "w2");
      expect(answer.status).to.equal(200);
    } finally {
      strict.dispose();
      excepted.dispose();
      await refused.close?.();
      await allowed.close?.();
    }
  });
});

// RFC 6066 §3: a server name has no trailing dot; a backend URL written fully qualified
// (`https://localhost.:port`) is sent and checked as `localhost`.
describe("outbound TLS to a backend whose host is written with DNS's root dot", function () {
  this.timeout(20_000);
  let pki: TestPki;
  let server: https.Server;
  let port = 0;
  const names: Array<string | false | null> = [];
  const systemLookup = dns.lookup;

  before(async () => {
    // `localhost.` is not in /etc/hosts as written: it resolves here as `localhost` does.
    (dns as { lookup: unknown }).lookup = (hostname: string, ...rest: unknown[]) =>
      (systemLookup as (...args: unknown[]) => unknown)(
        hostname === "localhost." ? "localhost" : hostname,
        ...rest,
      );
    pki = createTestPki();
    const backend = pki.ca.issue("backend", { san: "DNS:localhost" });
    server = https.createServer({ cert: backend.cert, key: backend.key }, (req, res) => {
      names.push((req.socket as TLSSocket).servername);
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"ok":true}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });
  after(async () => {
    (dns as { lookup: unknown }).lookup = systemLookup;
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });
  beforeEach(() => (names.length = 0));

  it("sends the name without the dot through the undici pool (rest-json)", async () => {
    const clientTls = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.b.tls",
    );
    const translator = createTranslator({
      name: "b",
      url: `https://localhost.:${port}`,
      timeoutMs: 5_000,
      options: {},
      clientTls,
    });
    try {
      const [answer] = await call(translator, "d1");
      expect(answer.status).to.equal(200);
      expect(names).to.deep.equal(["localhost"]);
    } finally {
      clientTls.dispose();
      await translator.close?.();
    }
  });

  it("sends the name without the dot through Node's https agent (soap)", async () => {
    const clientTls = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.b.tls",
    );
    const backend = {
      name: "b",
      url: `https://localhost.:${port}`,
      timeoutMs: 5_000,
      options: {},
      clientTls,
    };
    const agents = new BackendAgents(backend, { connections: null, keepAliveTimeoutMs: 1_000 });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        https
          .get(`https://localhost.:${port}/x`, { agent: agents.current.httpsAgent }, (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          })
          .on("error", reject);
      });
      expect(status).to.equal(200);
      expect(names).to.deep.equal(["localhost"]);
    } finally {
      agents.close();
      clientTls.dispose();
    }
  });

  it("sends no server name to an IPv4 literal", async () => {
    const clientTls = new ReloadableTls(
      { cert: null, key: null, ca: [pki.ca.certFile] },
      "backends.b.tls",
    );
    const backend = {
      name: "b",
      url: `https://127.0.0.1:${port}`,
      timeoutMs: 5_000,
      options: {},
      clientTls,
    };
    const agents = new BackendAgents(backend, { connections: null, keepAliveTimeoutMs: 1_000 });
    try {
      // The certificate names only localhost: the call fails at the check, after the hello.
      const error = await new Promise<Error | null>((resolve) => {
        https
          .get(`https://127.0.0.1:${port}/x`, { agent: agents.current.httpsAgent }, (res) => {
            res.resume();
            resolve(null);
          })
          .on("error", resolve);
      });
      expect((error as { code?: string } | null)?.code).to.equal("ERR_TLS_CERT_ALTNAME_INVALID");
    } finally {
      agents.close();
      clientTls.dispose();
    }
  });
});
