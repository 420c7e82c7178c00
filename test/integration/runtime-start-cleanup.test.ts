// A start that fails after the broker and Redis connected (here: the admin port is taken) must
// close what it opened: a process that goes on (a test runner, a supervisor retrying in-process)
// would otherwise keep both connections and the runtime's timers for good.

import { expect } from "chai";
import net from "node:net";
import pino from "pino";
import { loadConfig } from "../../shared/config/config";
import { startRuntime } from "../../shared/runtime/runtime";
import { eventually, Harness } from "../support/harness";

/** The sockets this process holds now (Node's own list, the one that keeps it running). */
function sockets(): Set<net.Socket> {
  const handles = (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles();
  return new Set(handles.filter((handle): handle is net.Socket => handle instanceof net.Socket));
}

const timers = () => process.getActiveResourcesInfo().filter((kind) => kind === "Timeout").length;

describe("a start that fails after the broker and Redis connected", function () {
  this.timeout(30_000);
  const harness = new Harness();
  let taken: net.Server;
  after(async () => {
    await new Promise<void>((resolve) => taken?.close(() => resolve()));
    await harness.cleanup();
  });

  it("closes both connections and stops the runtime's timers", async () => {
    taken = net.createServer();
    await new Promise<void>((resolve) => taken.listen(0, "127.0.0.1", resolve));
    const { port } = taken.address() as net.AddressInfo;
    const config = loadConfig(
      harness.writeConfig({
        services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      }),
    );
    const socketsBefore = sockets();
    const timersBefore = timers();
    const failed = await startRuntime(config, pino({ level: "silent" }), port).then(
      () => null,
      (error: Error) => error,
    );
    expect((failed as NodeJS.ErrnoException | null)?.code).to.equal("EADDRINUSE");
    await eventually(
      async () => {
        // Other files' clients may still be closing: only what this start opened is counted.
        const opened = [...sockets()].filter((socket) => !socketsBefore.has(socket));
        expect(opened.map((socket) => socket.remotePort)).to.deep.equal([]);
        expect(timers()).to.be.at.most(timersBefore);
        return true;
      },
      10_000,
      "the failed start's sockets and timers to close",
    );
  });
});
