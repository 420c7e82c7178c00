// A TCP proxy a test puts between one process and the broker (or any server) to break that
// process's connections on purpose, without touching the server others use: cut every
// connection, refuse new ones for a while, stall them (silent, not closed), or decide per
// chunk what reaches either side.

import net from "node:net";

/** Sees what a client sends; returns the bytes to pass on now (empty: none yet or never). */
export type ClientFilter = (chunk: Buffer) => Buffer;

/** Sees what the server answers; returns the bytes to pass on, or null to break the connection. */
export type ServerFilter = (chunk: Buffer) => Buffer | null;

/** Both directions of one connection, for a filter whose answer depends on what was sent. */
export interface ConnectionFilters {
  client?: ClientFilter;
  server?: ServerFilter;
}

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private refusing = false;
  private stalled = false;
  private heldCount = 0;
  /** What each connection's client sent while stalled, as text (one entry per connection). */
  private readonly heldSent: string[] = [];
  /** Per open connection: passes on what it held while the proxy was stalled. */
  private readonly resumes = new Set<() => void>();

  constructor(
    private readonly target: { host: string; port: number },
    /** Made once per connection (the client's side, or both); without one, everything passes. */
    newFilter?: () => ClientFilter | ConnectionFilters,
  ) {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      this.sockets.add(client).add(upstream);
      const made = newFilter?.();
      const filters: ConnectionFilters =
        typeof made === "function" ? { client: made } : (made ?? {});
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
      const { client: sent, server: answered } = filters;
      // Bytes that arrive while the proxy is stalled wait here, in order, until it heals.
      const held: Array<() => void> = [];
      const sentIndex = this.heldSent.push("") - 1;
      const relay = (deliver: () => void) => {
        if (this.stalled || held.length > 0) {
          held.push(deliver);
          this.heldCount += 1;
        } else deliver();
      };
      const resume = () => {
        while (held.length > 0 && !this.stalled) held.shift()!();
      };
      this.resumes.add(resume);
      client.once("close", () => this.resumes.delete(resume));
      upstream.on("data", (chunk: Buffer) =>
        relay(() => {
          const pass = answered ? answered(chunk) : chunk;
          if (pass === null) close();
          else if (pass.length > 0) client.write(pass);
        }),
      );
      client.on("data", (chunk: Buffer) => {
        if (this.stalled || held.length > 0) this.heldSent[sentIndex] += chunk.toString("latin1");
        relay(() => {
          const pass = sent ? sent(chunk) : chunk;
          if (pass.length > 0) upstream.write(pass);
        });
      });
      client.on("error", close).on("close", close);
      upstream.on("error", close).on("close", close);
    });
  }

  /** Listens on a free loopback port and returns it. */
  async listen(): Promise<number> {
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    return (this.server.address() as net.AddressInfo).port;
  }

  /** Breaks every open connection, as a network failure would. */
  cut(): void {
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  /** While true, new connections are closed as soon as they are accepted. */
  refuse(refusing: boolean): void {
    this.refusing = refusing;
  }

  /**
   * While stalled nothing passes either way and nothing is closed: the server looks alive but
   * silent (a network partition without resets, a frozen server). Bytes sent meanwhile are
   * held, as TCP would hold them, and passed on in order by `heal`.
   */
  stall(): void {
    this.stalled = true;
  }

  /** Chunks held by the stall so far (either direction), to tell whether anything was sent. */
  get held(): number {
    return this.heldCount;
  }

  /**
   * Whether a client sent `text` while the proxy was stalled (in what it held): tells whether a
   * request reached the server's side at all, whatever else (a heartbeat) was sent meanwhile.
   */
  heldIncludes(text: string): boolean {
    return this.heldSent.some((sent) => sent.includes(text));
  }

  /** Ends a stall: what was held is passed on, then everything flows again. */
  heal(): void {
    this.stalled = false;
    for (const resume of [...this.resumes]) resume();
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** Each scheme's port when a URL names none. */
const DEFAULT_PORTS: Record<string, number> = { "redis:": 6379, "amqp:": 5672 };

/** A proxy to the server `url` names (Redis or the broker): pass it on with `viaProxy`. */
export function proxyTo(
  url: string,
  newFilter?: ConstructorParameters<typeof TcpProxy>[1],
): TcpProxy {
  const target = new URL(url);
  const port = target.port ? Number(target.port) : DEFAULT_PORTS[target.protocol];
  if (!port) throw new Error(`no port for ${target.protocol} URLs`);
  return new TcpProxy({ host: target.hostname, port }, newFilter);
}

/** The same URL with its host and port replaced by the proxy's. */
export function viaProxy(url: string, port: number): string {
  const proxied = new URL(url);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(port);
  return proxied.toString();
}

/**
 * Connection filters that, once armed, break the connection instead of passing on the answer
 * to the first request `matches`: the request reached the server and ran, its answer is lost.
 * A Redis NOSCRIPT error passes, since the client then sends the script in full.
 */
export function answerCutter(): AnswerCutter {
  let matches: ((request: string) => boolean) | null = null;
  let dropped = 0;
  return {
    filters: (): ConnectionFilters => {
      let cutNext = false;
      return {
        client: (chunk) => {
          if (matches?.(chunk.toString("latin1"))) {
            matches = null;
            cutNext = true;
          }
          return chunk;
        },
        server: (chunk) => {
          if (!cutNext || chunk.toString("latin1").startsWith("-NOSCRIPT")) return chunk;
          cutNext = false;
          dropped += 1;
          return null;
        },
      };
    },
    /** Cuts the answer to the next request `matcher` matches. */
    arm(matcher: (request: string) => boolean): void {
      matches = matcher;
    },
    /** How many answers were cut. */
    get dropped(): number {
      return dropped;
    },
  };
}

export interface AnswerCutter {
  /** Made once per connection, for the proxy. */
  filters(): ConnectionFilters;
  /** Cuts the answer to the next request `matcher` matches. */
  arm(matcher: (request: string) => boolean): void;
  /** How many answers were cut. */
  readonly dropped: number;
}

/** AMQP 0-9-1 basic.ack (class 60, method 80): from the broker, a publisher confirm. */
const BASIC_ACK = [0, 60, 0, 80];

/**
 * A broker-to-client filter that, once armed, drops the next publisher confirm and passes
 * every other frame. Frames are reassembled across chunks (type, channel, size, payload, end).
 * `onDrop`, given to `arm`, runs as the confirm is dropped: what a test does then comes before
 * anything the client does after, however late the test would have seen `dropped` change.
 */
export function confirmDropper() {
  let armed = false;
  let dropped = 0;
  let onDropped: (() => void) | undefined;
  return {
    arm: (onDrop?: () => void) => {
      armed = true;
      onDropped = onDrop;
    },
    get dropped() {
      return dropped;
    },
    server: () => {
      let pending = Buffer.alloc(0);
      return (chunk: Buffer): Buffer => {
        pending = Buffer.concat([pending, chunk]);
        const out: Buffer[] = [];
        while (pending.length >= 7) {
          const end = 7 + pending.readUInt32BE(3) + 1;
          if (pending.length < end) break;
          const frame = pending.subarray(0, end);
          pending = pending.subarray(end);
          const isConfirm = frame[0] === 1 && BASIC_ACK.every((byte, i) => frame[7 + i] === byte);
          if (armed && isConfirm) {
            armed = false;
            dropped += 1;
            onDropped?.();
          } else {
            out.push(frame);
          }
        }
        return Buffer.concat(out);
      };
    },
  };
}
