// Closing connections that stay silent before their first request, or between requests (both
// ports): as many of them as the port admits shut everyone else out. Node's own headers deadline
// also counts a new connection's silence from its opening, but only where headersTimeout is set,
// and it answers 408 (below).

import type { Server, ServerResponse } from "node:http";
import type { Socket } from "node:net";
import { monotonicNow } from "../runtime/clock";

/**
 * A connection waiting for a request: since when (its opening, or its last answer), how much it
 * had read then, and whether it has been answered before (kept alive between requests).
 */
interface Waiting {
  since: number;
  bytesRead: number;
  kept: boolean;
}

/** Requests a connection carried that are not answered yet (pipelined ones included). */
const UNANSWERED = Symbol("sluice.unanswered");
/** A new connection's bytesRead when it began waiting for its first request, until that comes. */
const FIRST_WAIT_FROM = Symbol("sluice.firstWaitFrom");
type CountedSocket = Socket & { [UNANSWERED]?: number; [FIRST_WAIT_FROM]?: number };

/**
 * Whether a connection watched here has sent nothing since it opened (not a byte, not a request).
 * Node's headers deadline also holds such a connection, from its opening, with the same bound,
 * and its check (every connectionsCheckingInterval) and the sweep here race for it: Node's, on a
 * loaded machine often the first, answered 408 where the sweep closes it without a word. A 408
 * nobody asked for goes to a client that opened a connection ahead of its request (a pool, a
 * browser's preconnect), which reads it as the answer to the request it writes next: the port's
 * `clientError` listener closes such a connection unanswered, as the sweep does.
 */
export function silentSinceOpened(socket: Socket): boolean {
  const from = (socket as CountedSocket)[FIRST_WAIT_FROM];
  return from !== undefined && socket.bytesRead === from;
}

/** Slack past Node's own bounds before a connection between requests is closed here. */
const BETWEEN_REQUESTS_SLACK_MS = 2_000;

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
 *
 * Between requests of a kept-alive connection Node's keepAliveTimeout is an idle bound, which a
 * client resets for ever with a CRLF now and then (the parser skips them, so no request and no
 * headers deadline begins): from its last answer, a connection whose next request has not come
 * within keepAliveTimeout + headersTimeout and two seconds is closed here. A next request begun
 * and stalled is answered 408 by the headers deadline, as a first one is (below).
 */
export function closeSilentConnections(server: Server, ms: number, connectionEvent: string): void {
  const waiting = new Map<Socket, Waiting>();
  const period = Math.max(1, Math.ceil(ms / 4));
  let sweeping: NodeJS.Timeout | null = null;
  const sweep = (): void => {
    const now = monotonicNow();
    const between = server.keepAliveTimeout + server.headersTimeout + BETWEEN_REQUESTS_SLACK_MS;
    for (const [socket, { since, bytesRead, kept }] of waiting) {
      if (socket.destroyed) waiting.delete(socket);
      // Part of a first request came: Node's headers deadline holds from its first byte (above).
      else if (!kept && socket.bytesRead !== bytesRead) waiting.delete(socket);
      else if (now - since >= (kept ? between : ms)) {
        waiting.delete(socket);
        socket.destroy();
      }
    }
    if (waiting.size === 0 && sweeping) {
      clearInterval(sweeping);
      sweeping = null;
    }
  };
  const watch = (): void => {
    // Unref'd: a sweep alone never keeps the process up.
    sweeping ??= setInterval(sweep, period).unref();
  };
  const wait = (socket: Socket, kept: boolean): void => {
    waiting.set(socket, { since: monotonicNow(), bytesRead: socket.bytesRead, kept });
    watch();
  };
  server.on(connectionEvent, (socket: CountedSocket) => {
    socket[FIRST_WAIT_FROM] = socket.bytesRead;
    wait(socket, false);
  });
  // One listener for every answer, its socket found from the answer itself: a closure and a
  // `once` wrapper made per request were kept by every sync caller for its whole wait. An
  // answer finishes once, so `on` is `once` here without its wrapper.
  // Node emits a pipelined request's "request" as soon as it is parsed, before the answers
  // ahead of it are sent: the connection waits for a next request only once every request it
  // carried is answered (else a pipelined sync caller's wait was cut at the bound between
  // requests). A count on the socket, not a closure per request.
  function answerSent(this: ServerResponse): void {
    const socket = this.req.socket as CountedSocket | null;
    if (socket === null) return;
    const open = (socket[UNANSWERED] ?? 1) - 1;
    socket[UNANSWERED] = open;
    if (open <= 0 && !socket.destroyed) wait(socket, true);
  }
  server.on("request", (req: { socket: Socket }, res: ServerResponse) => {
    const socket = req.socket as CountedSocket;
    waiting.delete(socket);
    socket[FIRST_WAIT_FROM] = undefined;
    socket[UNANSWERED] = (socket[UNANSWERED] ?? 0) + 1;
    res.on("finish", answerSent);
  });
  // Node's keep-alive bound ends an idle connection as a timed-out socket, which a next request
  // begun and then stalled is too: closed there, it went without a word before the headers
  // deadline (from that request's first byte) could answer 408, as it does a first request.
  // Such a connection is left to that deadline, and to the bound above; with a listener here,
  // Node closes no timed-out socket itself, so every other one is closed as Node would.
  server.on("timeout", (socket: Socket) => {
    const after = waiting.get(socket);
    if (after?.kept === true && socket.bytesRead > after.bytesRead) socket.setTimeout(0);
    else socket.destroy();
  });
  server.on("close", () => {
    if (sweeping) clearInterval(sweeping);
    sweeping = null;
    waiting.clear();
  });
}
