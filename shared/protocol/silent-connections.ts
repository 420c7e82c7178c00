// Closing connections that stay silent before their first request (both ports): Node's
// headersTimeout starts at a request's first byte, so a connection that never sends one would
// stay open for ever, and as many of them as the port admits shut everyone else out.

import type { Server } from "node:http";
import type { Socket } from "node:net";
import { monotonicNow } from "../runtime/clock";

/** A connection without a byte of a request yet: since when, and how much it had read then. */
interface Silence {
  since: number;
  bytesRead: number;
}

/**
 * Until it sends its first byte, a connection may be silent for `ms` at most (give or take a
 * quarter of it: one sweep every `ms / 4` checks them all); from then on Node's own deadlines
 * and keepAliveTimeout hold (a sync caller's wait is silent too). A head begun and then stalled
 * is the headers deadline's, which `server.headersTimeout` must set (non-zero): closed here, as
 * it was, it often went without a word before Node, checking once a second, could answer 408.
 * Node's deadline counts from that first byte, so a head sent a byte at a time is cut all the
 * same (blank lines before a request line too). One sweep for all connections, not a timer per
 * socket: Node keeps a socket's last timer, with its bound callback, for the socket's whole
 * life even once cleared, about 200 bytes of every waiting sync caller.
 */
export function closeSilentConnections(server: Server, ms: number, connectionEvent: string): void {
  const silent = new Map<Socket, Silence>();
  const period = Math.max(1, Math.ceil(ms / 4));
  let sweeping: NodeJS.Timeout | null = null;
  const sweep = (): void => {
    const now = monotonicNow();
    for (const [socket, silence] of silent) {
      if (socket.destroyed) silent.delete(socket);
      // Part of a request came: Node's headers deadline holds from its first byte (above).
      else if (socket.bytesRead !== silence.bytesRead) silent.delete(socket);
      else if (now - silence.since >= ms) {
        silent.delete(socket);
        socket.destroy();
      }
    }
    if (silent.size === 0 && sweeping) {
      clearInterval(sweeping);
      sweeping = null;
    }
  };
  server.on(connectionEvent, (socket: Socket) => {
    silent.set(socket, { since: monotonicNow(), bytesRead: socket.bytesRead });
    // Unref'd: a sweep alone never keeps the process up.
    sweeping ??= setInterval(sweep, period).unref();
  });
  server.on("request", (req: { socket: Socket }) => silent.delete(req.socket));
  server.on("close", () => {
    if (sweeping) clearInterval(sweeping);
    sweeping = null;
    silent.clear();
  });
}
