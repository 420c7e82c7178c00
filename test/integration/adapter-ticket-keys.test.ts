// The adapter's service port rotates its TLS ticket keys (adapter/ticket-keys.ts) on its hourly
// schedule: driven by a clock the test advances, a ticket resumes until the hour is up, not after.

import { expect } from "chai";
import tls from "node:tls";
import pino from "pino";
import { startAdapter, type AdapterRole } from "../../adapter/adapter-role";
import { TICKET_KEY_LIFETIME_MS, type RotationClock } from "../../adapter/ticket-keys";
import { loadConfig } from "../../shared/config/config";
import { startRuntime, type Runtime } from "../../shared/runtime/runtime";
import { drainRoles } from "../../shared/runtime/shutdown-deadline";
import { Harness } from "../support/harness";
import { createTestPki, type TestPki } from "../support/test-pki";

const log = pino({ level: "silent" });

interface Interval {
  run: () => void;
  everyMs: number;
  cleared: boolean;
  unref(): unknown;
}

/** A clock whose intervals run when the test says the time has come. */
class HandClock implements RotationClock {
  readonly intervals: Interval[] = [];
  setInterval(run: () => void, everyMs: number): { unref(): unknown } {
    const interval: Interval = { run, everyMs, cleared: false, unref: () => interval };
    this.intervals.push(interval);
    return interval;
  }
  clearInterval(timer: { unref(): unknown }): void {
    for (const interval of this.intervals) if (interval === timer) interval.cleared = true;
  }
  /** Runs each live interval once: its period has passed. */
  elapse(): void {
    for (const interval of this.intervals) if (!interval.cleared) interval.run();
  }
}

describe("the adapter's TLS ticket keys", function () {
  this.timeout(60_000);
  const harness = new Harness();
  const clock = new HandClock();
  let pki: TestPki;
  let runtime: Runtime | null = null;
  let adapter: AdapterRole | null = null;

  before(async () => {
    pki = createTestPki();
    const server = pki.ca.issue("sluice", { cn: "localhost" });
    const config = loadConfig(
      harness.writeConfig({
        adapter: {
          port: 0,
          tls: { cert: server.certFile, key: server.keyFile, clientCerts: [pki.otherCa.certFile] },
        },
        services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      }),
    );
    runtime = await startRuntime(config, log, 0);
    adapter = await startAdapter(runtime, { port: 0, ticketKeyClock: clock });
  });

  after(async () => {
    if (adapter) await drainRoles([adapter], 2_000);
    await runtime?.close();
    await harness.cleanup();
    pki?.cleanup();
  });

  /** A TLS 1.2 connection to the service port: whether it resumed, and the ticket it was given. */
  const connect = (ticket?: Buffer): Promise<{ resumed: boolean; ticket: Buffer | undefined }> =>
    new Promise((resolve, reject) => {
      let given: Buffer | undefined;
      const socket = tls.connect({
        port: adapter!.port,
        host: "127.0.0.1",
        ca: pki.ca.cert,
        cert: pki.otherCa.cert,
        key: pki.otherCa.key,
        servername: "localhost",
        maxVersion: "TLSv1.2",
        ...(ticket ? { session: ticket } : {}),
      });
      socket.on("session", (data: Buffer) => (given = data));
      socket.once("error", reject);
      socket.once("secureConnect", () => {
        const resumed = socket.isSessionReused();
        // A TLS 1.2 ticket comes in the handshake's last flight, before secureConnect.
        resolve({ resumed, ticket: given ?? socket.getSession() });
        socket.destroy();
      });
    });

  it("rotates them every hour: a ticket resumes until then, and a fresh one after", async () => {
    const live = clock.intervals.filter((interval) => !interval.cleared);
    expect(live.map((interval) => interval.everyMs)).to.deep.equal([TICKET_KEY_LIFETIME_MS]);
    expect(TICKET_KEY_LIFETIME_MS).to.equal(60 * 60 * 1000);
    const first = await connect();
    expect(first.resumed).to.equal(false);
    expect(first.ticket).to.be.instanceOf(Buffer);
    expect((await connect(first.ticket)).resumed).to.equal(true);
    clock.elapse();
    const afterRotation = await connect(first.ticket);
    expect(afterRotation.resumed).to.equal(false);
    expect((await connect(afterRotation.ticket)).resumed).to.equal(true);
  });

  it("stops rotating them when the adapter stops", async () => {
    await drainRoles([adapter!], 2_000);
    adapter = null;
    expect(clock.intervals.length).to.be.greaterThan(0);
    expect(clock.intervals.every((interval) => interval.cleared)).to.equal(true);
  });
});
