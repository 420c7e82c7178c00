// The TLS every server port of Sluice speaks (serverTlsOptions): TLS 1.2 at least, forward-secret
// AEAD suites only, and no renegotiation, over a real handshake with node:tls as the client.

import { expect } from "chai";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { serverTlsOptions } from "../../shared/config/tls-files";
import { createTestPki, type TestPki } from "../support/test-pki";

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
