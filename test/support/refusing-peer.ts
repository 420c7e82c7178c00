// A peer that is down and stays down: it holds its port for the whole test, so no other server
// started meanwhile can take it over, and resets every connection before a byte is read.
// A port closed and released (closed-port.ts) can be handed to the next listener on a busy
// machine, and a test that expects a network error then meets that listener instead.

import net, { type AddressInfo } from "node:net";

export interface RefusingPeer {
  readonly port: number;
  url(path: string): string;
  close(): Promise<void>;
}

export async function refusingPeer(): Promise<RefusingPeer> {
  const server = net.createServer((socket) => socket.resetAndDestroy());
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: (path) => `http://127.0.0.1:${port}${path}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
