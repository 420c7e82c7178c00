// A TCP proxy a test puts between one process and the broker (or any server) to break that
// process's connections on purpose, without touching the server others use: cut every
// connection, refuse new ones for a while, or decide per chunk what reaches the server.

import net from "node:net";

/** Sees what a client sends; returns the bytes to pass on now (empty: none yet or never). */
export type ClientFilter = (chunk: Buffer) => Buffer;

export class TcpProxy {
  private readonly server: net.Server;
  private readonly sockets = new Set<net.Socket>();
  private refusing = false;

  constructor(
    private readonly target: { host: string; port: number },
    /** Made once per connection; without one, everything passes. */
    newFilter?: () => ClientFilter,
  ) {
    this.server = net.createServer((client) => {
      if (this.refusing) {
        client.destroy();
        return;
      }
      const upstream = net.connect(this.target.port, this.target.host);
      this.sockets.add(client).add(upstream);
      const filter = newFilter?.();
      upstream.pipe(client);
      if (filter) {
        client.on("data", (chunk: Buffer) => {
          const pass = filter(chunk);
          if (pass.length > 0) upstream.write(pass);
        });
      } else {
        client.pipe(upstream);
      }
      const close = () => {
        client.destroy();
        upstream.destroy();
        this.sockets.delete(client);
        this.sockets.delete(upstream);
      };
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

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

/** The same URL with its host and port replaced by the proxy's. */
export function viaProxy(url: string, port: number): string {
  const proxied = new URL(url);
  proxied.hostname = "127.0.0.1";
  proxied.port = String(port);
  return proxied.toString();
}
