// A TCP proxy (tcp-proxy.ts) run on a thread of its own, for a test that blocks its own event
// loop: told to heal a stall just before the test's loop is blocked, it relays meanwhile.

import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { proxyTo } from "./tcp-proxy";

export interface ThreadedProxy {
  /** The loopback port it listens on (pass it on with `viaProxy`). */
  readonly port: number;
  /** Nothing passes either way until `heal` (as TcpProxy's `stall`); resolves once in force. */
  stall(): Promise<void>;
  /** Passes on what the stall held, and all that follows, even while this thread is busy. */
  heal(): void;
  close(): Promise<void>;
}

type Command = "stall" | "heal" | "close";

/** A proxy to the server `url` names, on its own thread. */
export async function threadedProxyTo(url: string): Promise<ThreadedProxy> {
  const worker = new Worker(__filename, { workerData: { threadedProxy: url } });
  const reply = () =>
    new Promise<unknown>((resolve, reject) => {
      worker.once("message", resolve);
      worker.once("error", reject);
    });
  const port = (await reply()) as number;
  return {
    port,
    async stall() {
      const done = reply();
      worker.postMessage("stall" satisfies Command);
      await done;
    },
    heal() {
      worker.postMessage("heal" satisfies Command);
    },
    async close() {
      const done = reply();
      worker.postMessage("close" satisfies Command);
      await done;
      await worker.terminate();
    },
  };
}

if (
  !isMainThread &&
  typeof (workerData as { threadedProxy?: unknown })?.threadedProxy === "string"
) {
  const proxy = proxyTo((workerData as { threadedProxy: string }).threadedProxy);
  void proxy.listen().then((port) => parentPort!.postMessage(port));
  parentPort!.on("message", (command: Command) => {
    if (command === "stall") {
      proxy.stall();
      parentPort!.postMessage("stalled");
    } else if (command === "heal") {
      proxy.heal();
    } else {
      void proxy.close().then(() => parentPort!.postMessage("closed"));
    }
  });
}
