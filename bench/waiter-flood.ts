// Opens many concurrent HTTP requests with raw sockets (one request per connection) and
// holds them open, so the adapter carries that many sync waiters at once; runs in a child.

import { connect, type Socket } from "node:net";
import { join } from "node:path";
import { forkReady, type ManagedProcess } from "./child-processes";

export interface FloodRequest {
  port: number;
  path: string;
  headers: Record<string, string>;
  body: string;
  count: number;
  /** Connections opened per tick; the listen backlog (somaxconn) stays unflooded. */
  batch: number;
  /**
   * Callers opened but not yet held (or answered, or failed) at most: the server takes in only
   * so many a second, and a caller beyond its listen backlog has its connection dropped and
   * retried by the kernel seconds later, which stretched a ramp past the callers' own wait on
   * a loaded machine. The harness reports how many are held (`held`).
   */
  window: number;
}

export interface FloodProgress {
  opened: number;
  connected: number;
  answered: number;
  errors: number;
  statusCodes: Record<string, number>;
}

type ParentMessage =
  { type: "open"; request: FloodRequest } | { type: "held"; count: number } | { type: "close" };
type ChildMessage =
  | { type: "ready" }
  | { type: "progress"; progress: FloodProgress }
  | { type: "closed"; progress: FloodProgress };

/** Drives a flood process from the harness. */
export class WaiterFlood {
  private last: FloodProgress = {
    opened: 0,
    connected: 0,
    answered: 0,
    errors: 0,
    statusCodes: {},
  };
  private constructor(private readonly proc: ManagedProcess) {
    proc.child.on("message", (message: ChildMessage) => {
      if (message.type === "progress" || message.type === "closed") this.last = message.progress;
    });
  }

  static async start(): Promise<WaiterFlood> {
    const { process } = await forkReady("waiter-flood", join(__dirname, "waiter-flood.js"), [
      "--child",
    ]);
    return new WaiterFlood(process);
  }

  get progress(): FloodProgress {
    return this.last;
  }

  open(request: FloodRequest): void {
    this.proc.child.send({ type: "open", request } satisfies ParentMessage);
  }

  /** How many callers the server holds now: each one held makes room for one more. */
  held(count: number): void {
    this.proc.child.send({ type: "held", count } satisfies ParentMessage);
  }

  /** Waits until `predicate` holds for the latest progress, or the time runs out. */
  async until(predicate: (p: FloodProgress) => boolean, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (predicate(this.last)) return true;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    return predicate(this.last);
  }

  /** Destroys every socket and stops the process; resolves with the final counts. */
  async close(): Promise<FloodProgress> {
    const closed = new Promise<void>((resolve) => {
      const onMessage = (message: ChildMessage): void => {
        if (message.type !== "closed") return;
        this.proc.child.off("message", onMessage);
        resolve();
      };
      this.proc.child.on("message", onMessage);
    });
    this.proc.child.send({ type: "close" } satisfies ParentMessage);
    await Promise.race([closed, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    await this.proc.stop(2_000);
    return this.last;
  }
}

function childMain(): void {
  const sockets = new Set<Socket>();
  const progress: FloodProgress = {
    opened: 0,
    connected: 0,
    answered: 0,
    errors: 0,
    statusCodes: {},
  };
  const send = (message: ChildMessage): void => {
    process.send?.(message);
  };
  const report = setInterval(() => send({ type: "progress", progress }), 200);

  let serial = 0;
  const openOne = (request: FloodRequest, head: string, body: Buffer): void => {
    // Each caller gets its own X-Road id, as real callers do (the adapter deduplicates ids).
    const raw = Buffer.concat([Buffer.from(head.replaceAll("[<id>]", `w${++serial}`)), body]);
    const socket = connect(request.port, "127.0.0.1");
    progress.opened++;
    sockets.add(socket);
    let answered = false;
    socket.once("connect", () => {
      progress.connected++;
      socket.write(raw);
    });
    socket.on("data", (chunk: Buffer) => {
      if (answered) return;
      answered = true;
      progress.answered++;
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(chunk.toString("latin1", 0, 32))?.[1] ?? "???";
      progress.statusCodes[status] = (progress.statusCodes[status] ?? 0) + 1;
    });
    socket.on("error", () => {
      if (!answered) progress.errors++;
      answered = true;
    });
    socket.on("close", () => sockets.delete(socket));
  };

  const open = (request: FloodRequest): void => {
    const body = Buffer.from(request.body);
    const head =
      `POST ${request.path} HTTP/1.1\r\nHost: 127.0.0.1:${request.port}\r\n` +
      Object.entries(request.headers)
        .map(([name, value]) => `${name}: ${value}\r\n`)
        .join("") +
      `Content-Length: ${body.length}\r\nConnection: close\r\n\r\n`;
    let remaining = request.count;
    const tick = (): void => {
      const waiting = progress.opened - held - progress.answered - progress.errors;
      const n = Math.max(0, Math.min(request.batch, remaining, request.window - waiting));
      for (let i = 0; i < n; i++) openOne(request, head, body);
      remaining -= n;
      if (remaining > 0) setTimeout(tick, 20);
    };
    tick();
  };
  let held = 0;

  process.on("message", (message: ParentMessage) => {
    if (message.type === "open") open(message.request);
    else if (message.type === "held") held = message.count;
    else if (message.type === "close") {
      for (const socket of sockets) socket.destroy();
      clearInterval(report);
      send({ type: "closed", progress });
    }
  });
  process.on("disconnect", () => process.exit(0));
  send({ type: "ready" });
}

if (require.main === module && process.argv.includes("--child")) childMain();
