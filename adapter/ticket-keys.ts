// The service port's TLS ticket keys, replaced with fresh random ones on a schedule: a key read
// out of the process (a core dump, a memory leak) later opens only the tickets of its own hour.

import { randomBytes } from "node:crypto";
import type tls from "node:tls";

/**
 * How long one ticket key is used. A TLS 1.2 ticket holds the connection's master secret
 * encrypted under this key, so whoever holds the key decrypts every recorded connection that
 * was given a ticket under it; Node keeps the key it makes at start (or at SIGHUP) for as long
 * as the process runs. Node takes one key at a time, so a ticket from before the last rotation
 * gets a full handshake, not a resumption: one extra handshake per client connection per hour
 * at most (a ticket is good for Node's 300 s anyway), where turning tickets off costs one on
 * every new connection of the security server.
 */
export const TICKET_KEY_LIFETIME_MS = 60 * 60 * 1000;

/** 16 bytes of key name, 16 of HMAC key, 16 of AES key: what setTicketKeys takes. */
const TICKET_KEYS_BYTES = 48;

/** Replaces the server's ticket keys with fresh random ones; earlier tickets no longer resume. */
export function rotateTicketKeys(server: Pick<tls.Server, "setTicketKeys">): void {
  server.setTicketKeys(randomBytes(TICKET_KEYS_BYTES));
}

/** The clock a rotation runs on: Node's timers, or a test's, which it advances itself. */
export interface RotationClock {
  setInterval(run: () => void, everyMs: number): { unref(): unknown };
  clearInterval(timer: { unref(): unknown }): void;
}

const NODE_CLOCK: RotationClock = {
  setInterval: (run, everyMs) => setInterval(run, everyMs),
  clearInterval: (timer) => clearInterval(timer as NodeJS.Timeout),
};

/** Rotates the server's ticket keys every `everyMs`; returns the function that stops it. */
export function rotateTicketKeysEvery(
  server: Pick<tls.Server, "setTicketKeys">,
  everyMs: number = TICKET_KEY_LIFETIME_MS,
  clock: RotationClock = NODE_CLOCK,
): () => void {
  const timer = clock.setInterval(() => rotateTicketKeys(server), everyMs);
  // A rotation is no reason to keep a stopping process alive.
  timer.unref();
  return () => clock.clearInterval(timer);
}
