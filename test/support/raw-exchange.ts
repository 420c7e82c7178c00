// One raw exchange with a port, over TCP or TLS: bytes written in one piece, everything read
// until the far side closes. An HTTP client would normalise what is sent, so the framing tests
// write their requests by hand and count the answers that come back.

import net from "node:net";
import tls from "node:tls";

/** Status and error type of each answer the connection carried. */
export interface Exchange {
  statuses: number[];
  types: string[];
}

/** The answers in `received`: each status line's code, each contract error document's type. */
export function answersIn(received: string): Exchange {
  return {
    statuses: [...received.matchAll(/HTTP\/1\.[01] (\d{3}) /g)].map((m) => Number(m[1])),
    types: [...received.matchAll(/\{"type":"(\w+)"/g)].map((m) => m[1] as string),
  };
}

/**
 * Writes `bytes` in one piece and reads until the server closes the connection; every request
 * sequence sent ends with a refusal or with `Connection: close`. With `secure`, over TLS with
 * those options (a client certificate for a port that asks for one).
 */
export function rawExchange(
  port: number,
  bytes: string,
  secure?: tls.ConnectionOptions,
): Promise<Exchange> {
  return new Promise((resolve) => {
    const socket =
      secure === undefined
        ? net.connect({ port, host: "127.0.0.1" })
        : tls.connect({ port, host: "127.0.0.1", ...secure });
    let received = "";
    let done = false;
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (received += chunk));
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve(answersIn(received));
    };
    socket.on("error", finish);
    socket.on("close", finish);
    socket.once(secure === undefined ? "connect" : "secureConnect", () =>
      socket.write(Buffer.from(bytes, "latin1")),
    );
  });
}
