// The status page's sign-ins: a random id per sign-in, kept in this process's memory with an
// absolute expiry. A stolen cookie is then good for one sign-in's lifetime at most, ends with a
// sign-out, and every session ends when the process restarts or SIGHUP replaces the admin token
// (admin-token-reload.ts): a sign-in made with the old token does not outlive it.

import { createHash, randomBytes } from "node:crypto";
import { monotonicNow } from "../runtime/clock";

/** How long a sign-in lasts, however busy: an operator signs in again after a working day. */
export const SESSION_TTL_MS = 12 * 60 * 60 * 1000;
/** Sessions kept at once; the oldest goes first, so sign-ins cannot grow the heap unbounded. */
const MAX_SESSIONS = 1000;

export class AdminSessions {
  /** Digest of the id (what a timing leak could reveal is then useless) to its expiry. */
  private readonly expiries = new Map<string, number>();

  constructor(
    private readonly now: () => number = monotonicNow,
    readonly ttlMs = SESSION_TTL_MS,
  ) {}

  /** A new session: its id, for the cookie. */
  start(): string {
    this.sweep();
    while (this.expiries.size >= MAX_SESSIONS) {
      this.expiries.delete(this.expiries.keys().next().value as string);
    }
    const id = randomBytes(32).toString("base64url");
    this.expiries.set(key(id), this.now() + this.ttlMs);
    return id;
  }

  valid(id: string): boolean {
    const expiry = this.expiries.get(key(id));
    if (expiry === undefined) return false;
    if (this.now() < expiry) return true;
    this.expiries.delete(key(id));
    return false;
  }

  end(id: string): void {
    this.expiries.delete(key(id));
  }

  /** Ends every sign-in: the token they were made with is no longer the admin token. */
  endAll(): void {
    this.expiries.clear();
  }

  private sweep(): void {
    const now = this.now();
    for (const [id, expiry] of this.expiries) if (now >= expiry) this.expiries.delete(id);
  }
}

function key(id: string): string {
  return createHash("sha256").update(id, "utf8").digest("hex");
}
