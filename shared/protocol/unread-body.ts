// What becomes of a request body still arriving when its answer is given first (too large,
// refused before it was read): dropped within bounds, so the client gets the answer, not a reset.
// Used by the service port and the admin port alike.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

/** How much of a refused body is read before its answer is out (more only once it is). */
const DROP_BYTES = 1024 * 1024;
/** How much more is read and dropped once the answer is out, and for how long at most. */
const LINGER_BYTES = 8 * 1024 * 1024;
const LINGER_MS = 2000;

/**
 * For an answer given before the request body was read to its end (too large, wrong type,
 * unknown service). A short rest is read and dropped as usual and the connection stays
 * usable. A long one (over DROP_BYTES, declared, or chunked) is not: the answer says
 * `Connection: close`, at most DROP_BYTES are dropped until it is out, and then the connection
 * lingers: half-closed (the client sees the end of the answer and stops sending) while the
 * rest is still read and dropped, up to LINGER_BYTES more for up to LINGER_MS, and closed when
 * the client closes, the body ends or either bound is reached. Node alone would read the whole
 * body to keep the connection alive (50 MB sent, 50 MB read), and for a connection it closes
 * (`Connection: close`, the caller's or ours) it closes the socket as soon as the answer is
 * sent. Closing a socket with unread bytes resets the connection, and a client still sending
 * then fails its write (EPIPE) and drops the answer it has not read yet: so a connection with a
 * body still arriving is never closed by Node, only here, once the client had its time.
 */
export function closeUnreadBody(req: IncomingMessage, res: ServerResponse): void {
  if (req.complete) return;
  const socket: Socket = req.socket;
  const declared = Number(req.headers["content-length"]); // NaN when chunked
  // Node's own close, used once nothing is left unread: end, then destroy once the end is out.
  const closeNow = socket.destroySoon;
  let dropped = 0;
  let answered = false;
  let lingering = false;
  const linger = (): void => {
    if (lingering) return;
    answered = true;
    lingering = true;
    if (socket.destroyed) return;
    // Whatever comes after the body is not read: the connection ends with it.
    req.once("end", () => closeNow.call(socket));
    socket.end();
    const timer = setTimeout(() => socket.destroy(), LINGER_MS);
    timer.unref();
    socket.once("close", () => clearTimeout(timer));
    if (dropped < DROP_BYTES + LINGER_BYTES) req.resume();
  };
  // Node's own close of this connection (an answer with `Connection: close`, made as the
  // answer is finished) lingers too; later answers on a kept connection are Node's again.
  socket.destroySoon = function (this: Socket): void {
    if (req.complete) closeNow.call(this);
    else linger();
  };
  res.once("finish", () => Reflect.deleteProperty(socket, "destroySoon"));
  if (declared <= DROP_BYTES) return; // Node reads and drops the short rest (req._dump()).
  // Known to be long: the client learns from the answer that the connection ends with it.
  if (declared > DROP_BYTES && !res.headersSent) res.setHeader("Connection", "close");
  // Consuming the request here keeps Node from draining it after the answer.
  req.on("data", (chunk: Buffer) => {
    dropped += chunk.length;
    if (!answered) {
      if (dropped >= DROP_BYTES) req.pause();
    } else if (!lingering) {
      if (dropped > DROP_BYTES) linger(); // a chunked body turned out long
    } else if (dropped >= DROP_BYTES + LINGER_BYTES) {
      req.pause(); // the timer closes it
    }
  });
  req.resume();
  res.once("finish", () => {
    answered = true;
    if (!req.complete && (declared > DROP_BYTES || dropped >= DROP_BYTES)) linger();
  });
}
