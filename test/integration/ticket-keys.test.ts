// The service port's ticket keys (adapter/ticket-keys.ts) over real TLS 1.2 handshakes: a ticket
// resumes until the keys are rotated, and is answered with a full handshake after.

import { expect } from "chai";
import type { AddressInfo } from "node:net";
import tls from "node:tls";
import { rotateTicketKeys, rotateTicketKeysEvery } from "../../adapter/ticket-keys";
import { serverTlsOptions } from "../../shared/config/tls-files";
import { createTestPki, type TestPki } from "../support/test-pki";

describe("the service port's ticket keys", () => {
  let pki: TestPki;
  let server: tls.Server;
  let port = 0;

  before(async () => {
    pki = createTestPki();
    const pair = pki.ca.issue("server", { cn: "localhost" });
    server = tls.createServer(serverTlsOptions({ cert: pair.cert, key: pair.key }), (socket) => {
      socket.on("error", () => undefined);
      socket.end("hello");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    port = (server.address() as AddressInfo).port;
  });

  after(async () => {
    await new Promise((resolve) => server.close(resolve));
    pki.cleanup();
  });

  /** A TLS 1.2 connection read to its end: whether it resumed, and the ticket it was given. */
  const connect = (ticket?: Buffer): Promise<{ resumed: boolean; ticket: Buffer | undefined }> =>
    new Promise((resolve, reject) => {
      let given: Buffer | undefined;
      const socket = tls.connect({
        port,
        host: "127.0.0.1",
        ca: pki.ca.cert,
        servername: "localhost",
        maxVersion: "TLSv1.2",
        ...(ticket ? { session: ticket } : {}),
      });
      socket.on("session", (data: Buffer) => (given = data));
      socket.on("data", () => undefined);
      socket.once("error", reject);
      socket.once("end", () => {
        resolve({ resumed: socket.isSessionReused(), ticket: given ?? socket.getSession() });
        socket.destroy();
      });
    });

  it("resumes with a ticket until the keys are rotated, then makes a full handshake", async () => {
    const first = await connect();
    expect(first.resumed).to.equal(false);
    expect(first.ticket).to.be.instanceOf(Buffer);
    const again = await connect(first.ticket);
    expect(again.resumed).to.equal(true);
    rotateTicketKeys(server);
    const afterRotation = await connect(first.ticket);
    expect(afterRotation.resumed).to.equal(false);
    // A ticket given under the new keys resumes.
    const fresh = await connect(afterRotation.ticket);
    expect(fresh.resumed).to.equal(true);
  });

  it("rotates the keys on its schedule", async () => {
    const before = server.getTicketKeys();
    const stop = rotateTicketKeysEvery(server, 1);
    try {
      while (server.getTicketKeys().equals(before)) {
        await new Promise((resolve) => setImmediate(resolve));
      }
    } finally {
      stop();
    }
    const settled = server.getTicketKeys();
    await new Promise((resolve) => setTimeout(resolve, 20));
    // Stopped: the keys stay as they were left.
    expect(server.getTicketKeys().equals(settled)).to.equal(true);
  });
});
