// The TLS every server port of Sluice speaks (serverTlsOptions): TLS 1.2 at least, forward-secret
// AEAD suites only, and no renegotiation, over a real handshake with node:tls as the client.

import { expect } from "chai";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { CLIENT_CIPHERS, SERVER_CIPHERS, serverTlsOptions } from "../../shared/config/tls-files";
import { createTestPki, type KeyPair, type TestPki } from "../support/test-pki";

describe("a server port's TLS", () => {
  let pki: TestPki;
  let server: tls.Server;
  let port = 0;

  before(async () => {
    pki = createTestPki();
    const pair = pki.ca.issue("server", { cn: "localhost" });
    server = tls.createServer(serverTlsOptions({ cert: pair.cert, key: pair.key }), (socket) => {
      socket.on("error", () => undefined);
      socket.on("data", (data) => socket.write(data));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });

  /** A TLS 1.2 connection (renegotiation exists in 1.2 only), once its handshake is done. */
  const connect = (options: tls.ConnectionOptions = {}): Promise<tls.TLSSocket> =>
    new Promise((resolve, reject) => {
      const socket = tls.connect({ port, host: "127.0.0.1", ca: pki.ca.cert, ...options }, () =>
        resolve(socket),
      );
      socket.once("error", reject);
    });

  it("refuses a client's renegotiation", async () => {
    const socket = await connect({ maxVersion: "TLSv1.2", servername: "localhost" });
    try {
      const outcome = await new Promise<Error | null>((resolve) => {
        socket.once("error", resolve);
        socket.renegotiate({ rejectUnauthorized: true }, (error) => resolve(error ?? null));
        // The client reads the server's refusal when it next reads: give it something to read.
        socket.write("ping");
      });
      expect(outcome).to.be.instanceOf(Error);
      expect((outcome as Error).message).to.match(/no renegotiation/);
    } finally {
      socket.destroy();
    }
  });

  it("speaks TLS 1.2 and 1.3, never 1.1", async () => {
    const twelve = await connect({ maxVersion: "TLSv1.2", servername: "localhost" });
    expect(twelve.getProtocol()).to.equal("TLSv1.2");
    expect(twelve.getCipher().name).to.match(/GCM|CHACHA20/);
    twelve.destroy();
    const eleven = await connect({
      minVersion: "TLSv1",
      maxVersion: "TLSv1.1",
      servername: "localhost",
      ciphers: "DEFAULT@SECLEVEL=0",
    }).then(
      (socket) => {
        socket.destroy();
        return null;
      },
      (error: Error) => error,
    );
    expect(eleven).to.be.instanceOf(Error);
  });
});

describe("the security level of Sluice's TLS", () => {
  let pki: TestPki;

  before(() => {
    pki = createTestPki();
  });

  after(() => pki.cleanup());

  /**
   * Whether a TLS server with `server` and a client with `client` (their own keys made at
   * OpenSSL's level 0, so that only the other side's check is tried) finish a mutual handshake
   * the server admits.
   */
  const handshake = async (
    server: { pair: KeyPair; ciphers: string },
    client: { pair: KeyPair; ciphers: string },
  ): Promise<boolean> => {
    const listener = tls.createServer({
      ...serverTlsOptions({ cert: server.pair.cert, key: server.pair.key, clientCa: pki.ca.cert }),
      ciphers: server.ciphers,
    });
    const admitted = new Promise<boolean>((resolve) => {
      listener.on("secureConnection", (socket) => {
        resolve(true);
        socket.end("hello");
      });
      listener.on("tlsClientError", () => resolve(false));
    });
    await new Promise<void>((resolve) => listener.listen(0, "127.0.0.1", resolve));
    const port = (listener.address() as AddressInfo).port;
    const connected = new Promise<boolean>((resolve) => {
      const socket = tls.connect({
        port,
        host: "127.0.0.1",
        servername: "localhost",
        ca: pki.ca.cert,
        cert: client.pair.cert,
        key: client.pair.key,
        ciphers: client.ciphers,
      });
      socket.on("data", () => undefined);
      socket.once("end", () => resolve(true));
      socket.once("error", () => resolve(false));
      socket.once("close", () => resolve(false));
    });
    const [serverSide, clientSide] = await Promise.all([admitted, connected]);
    await new Promise((resolve) => listener.close(resolve));
    return serverSide && clientSide;
  };

  const ANY = `${CLIENT_CIPHERS}:@SECLEVEL=0`;

  it("refuses a 1024-bit RSA client certificate on a server port", async () => {
    const weak = pki.ca.issue("weak-client", { rsaBits: 1024 });
    const strong = pki.ca.issue("server-2048", { cn: "localhost", rsaBits: 2048 });
    expect(
      await handshake({ pair: strong, ciphers: SERVER_CIPHERS }, { pair: weak, ciphers: ANY }),
    ).to.equal(false);
  });

  it("refuses a backend's 1024-bit RSA server certificate", async () => {
    const weak = pki.ca.issue("weak-server", { cn: "localhost", rsaBits: 1024 });
    const client = pki.ca.issue("client-2048", { rsaBits: 2048 });
    expect(
      await handshake({ pair: weak, ciphers: ANY }, { pair: client, ciphers: CLIENT_CIPHERS }),
    ).to.equal(false);
  });

  it("takes X-Road's 2048-bit RSA keys both ways, and a block's own list for an old backend", async () => {
    const server = pki.ca.issue("xroad-server", { cn: "localhost", rsaBits: 2048 });
    const client = pki.ca.issue("xroad-client", { rsaBits: 2048 });
    expect(
      await handshake(
        { pair: server, ciphers: SERVER_CIPHERS },
        { pair: client, ciphers: CLIENT_CIPHERS },
      ),
    ).to.equal(true);
    const old = pki.ca.issue("old-backend", { cn: "localhost", rsaBits: 1024 });
    expect(
      await handshake(
        { pair: old, ciphers: ANY },
        { pair: client, ciphers: "ECDHE-RSA-AES128-GCM-SHA256:@SECLEVEL=1" },
      ),
    ).to.equal(true);
  });
});
