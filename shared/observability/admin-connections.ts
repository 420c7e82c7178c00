// The connections an admin port holds: bounded in all and per client, so that no one reaching
// the port can take every slot (or every file descriptor), and a silent one is closed.

import type http from "node:http";
import type { Socket } from "node:net";
import { clientOf } from "../protocol/ip-address";
import { closeSilentConnections } from "../protocol/silent-connections";

export class AdminConnections {
  /** Open connections per client (`clientOf` their remote address), oldest first. */
  private readonly perClient = new Map<string, Set<Socket>>();
  private openConnections = 0;
  /**
   * Requests being answered per connection (pipelined ones count each): such a connection is
   * shed only when its client has no idle one.
   */
  private readonly answering = new Map<Socket, number>();

  /**
   * @param maxConnections connections open at once; one more is closed as it arrives, unless
   *   another client holds more than its share (see `makeRoomFor`).
   * @param maxPerClient connections one client (an IPv4 address or an IPv6 /64) may hold; one
   *   more is closed as it arrives.
   * @param silentMs how long a connection may send nothing before its first byte; the server's
   *   headersTimeout must be set, to bound a head begun and then stalled.
   */
  constructor(
    private readonly maxConnections: number,
    private readonly maxPerClient: number,
    private readonly silentMs: number,
  ) {}

  /** Holds the server's connections to these limits from now on. */
  watch(server: http.Server): void {
    server.on("connection", (socket: Socket) => {
      // One client holding every slot would fail the kubelet's probes: the pod would restart.
      // An IPv6 host is given a whole /64, so its addresses count as one client.
      const client = clientOf(socket.remoteAddress ?? "");
      const held = this.perClient.get(client) ?? new Set<Socket>();
      if (
        held.size >= this.maxPerClient ||
        (this.openConnections >= this.maxConnections && !this.makeRoomFor(held.size))
      ) {
        socket.destroy();
        return;
      }
      held.add(socket);
      this.perClient.set(client, held);
      this.openConnections += 1;
      socket.once("close", () => this.forget(client, held, socket));
    });
    // As on the service port; from the first request on, a long operator request (a replay of
    // many) may run silent.
    closeSilentConnections(server, this.silentMs, "connection");
    server.on("request", (req: http.IncomingMessage, res: http.ServerResponse) => {
      const socket = req.socket;
      this.answering.set(socket, (this.answering.get(socket) ?? 0) + 1);
      res.once("close", () => {
        const left = (this.answering.get(socket) ?? 1) - 1;
        if (left > 0) this.answering.set(socket, left);
        else this.answering.delete(socket);
      });
    });
  }

  /**
   * All slots are taken and a client holding `held` connections asks for one more: it gets the
   * slot of the client holding the most (that client's oldest idle connection, else its oldest)
   * when that one would still hold at least as many, so no client keeps a newcomer out with
   * more than its share. With 8 addresses of 32 connections filling the 256, a probe or a
   * scrape from a ninth address is served; only as many clients as slots, one each, keep
   * everyone else out.
   */
  private makeRoomFor(held: number): boolean {
    let most: Set<Socket> | undefined;
    let mostClient = "";
    for (const [client, sockets] of this.perClient) {
      if (!most || sockets.size > most.size) [most, mostClient] = [sockets, client];
    }
    if (!most || most.size <= held + 1) return false;
    let shed: Socket | undefined;
    for (const socket of most) {
      if (!this.answering.has(socket)) {
        shed = socket;
        break;
      }
    }
    shed ??= most.values().next().value as Socket;
    // Counted out now, not at its close event: the newcomer takes the slot at once.
    this.forget(mostClient, most, shed);
    shed.destroy();
    return true;
  }

  private forget(client: string, sockets: Set<Socket>, socket: Socket): void {
    if (!sockets.delete(socket)) return;
    this.openConnections -= 1;
    if (sockets.size === 0 && this.perClient.get(client) === sockets) this.perClient.delete(client);
  }
}
