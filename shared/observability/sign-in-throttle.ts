// Failed sign-ins on the admin port, counted per client (an IPv4 address or an IPv6 /64): beyond
// a few a minute the client waits, so the token cannot be guessed at the speed of a loop.

import { clientOf } from "../protocol/ip-address";
import { monotonicNow } from "../runtime/clock";

/** Failed sign-ins a client may make in one window before it must wait. */
export const SIGN_IN_FAILURES = 10;
export const SIGN_IN_WINDOW_MS = 60_000;
/** Clients tracked at once, so a flood of addresses cannot grow the heap. */
const MAX_CLIENTS = 10_000;

interface Window {
  start: number;
  failures: number;
  /** Whether a refusal in this window was logged: one line per window, not one per request. */
  logged?: boolean;
}

/**
 * A waiting client is never dropped to make room before its window ends: dropping it would
 * give it its guesses back, and making room takes the attacker only new addresses. Clients
 * still below the limit go first (the oldest first); when every tracked client is waiting, the
 * failures of all others share one count, so an attacker with more addresses than the table
 * holds makes the others wait, instead of getting more guesses.
 */
export class SignInThrottle {
  /** Clients below the limit, in the order of their first failure. */
  private readonly counting = new Map<string, Window>();
  /** Clients at the limit, waiting for their window to end, in the order they reached it. */
  private readonly waiting = new Map<string, Window>();
  /** The shared count of clients that found no room. */
  private overflow: Window | undefined;
  /** No waiting window started before this: until it ends, none of them has ended. */
  private earliestWaiting = Infinity;

  constructor(
    private readonly now: () => number = monotonicNow,
    private readonly maxClients = MAX_CLIENTS,
  ) {}

  /** Seconds a client must wait before trying again, or 0 if it may try now. */
  waitSeconds(address: string): number {
    const client = clientOf(address);
    const window = this.current(client) ?? (this.tracks(client) ? undefined : this.shared());
    if (!window || window.failures < SIGN_IN_FAILURES) return 0;
    return Math.max(1, Math.ceil((window.start + SIGN_IN_WINDOW_MS - this.now()) / 1000));
  }

  /**
   * Whether a refusal of a waiting client is the first of its window, the one worth a log line:
   * a client that keeps asking while it waits would otherwise write a line per request.
   */
  firstRefusal(address: string): boolean {
    const client = clientOf(address);
    const window = this.current(client) ?? (this.tracks(client) ? undefined : this.shared());
    if (!window || window.logged) return false;
    window.logged = true;
    return true;
  }

  failed(address: string): void {
    const client = clientOf(address);
    const window = this.current(client);
    if (window) {
      window.failures += 1;
      if (window.failures >= SIGN_IN_FAILURES && this.counting.delete(client)) {
        this.waiting.set(client, window);
        this.earliestWaiting = Math.min(this.earliestWaiting, window.start);
      }
      return;
    }
    if (this.makeRoom()) {
      this.counting.set(client, { start: this.now(), failures: 1 });
      return;
    }
    const shared = this.shared() ?? { start: this.now(), failures: 0 };
    shared.failures += 1;
    this.overflow = shared;
  }

  /**
   * Forgets every failure counted: the admin token was rotated (SIGHUP), and failures against
   * the old token say nothing of guesses at the new one. Without it the operator who has the
   * new token waited out a minute of failures made with the old (a script not yet updated, or
   * the operator's own tries, from the same address; through kubectl port-forward every client
   * is 127.0.0.1).
   */
  reset(): void {
    this.counting.clear();
    this.waiting.clear();
    this.overflow = undefined;
    this.earliestWaiting = Infinity;
  }

  private tracks(client: string): boolean {
    return this.counting.has(client) || this.waiting.has(client);
  }

  /** The client's window, dropped if it has ended. */
  private current(client: string): Window | undefined {
    const map = this.counting.has(client) ? this.counting : this.waiting;
    const window = map.get(client);
    if (window && this.ended(window)) {
      map.delete(client);
      return undefined;
    }
    return window;
  }

  private shared(): Window | undefined {
    if (this.overflow && this.ended(this.overflow)) this.overflow = undefined;
    return this.overflow;
  }

  /** Whether one more client fits: ended windows go first, then the oldest client still counting. */
  private makeRoom(): boolean {
    if (this.counting.size + this.waiting.size < this.maxClients) return true;
    // Counting windows are in the order they started; waiting ones in the order they filled.
    for (const [client, window] of this.counting) {
      if (!this.ended(window)) break;
      this.counting.delete(client);
    }
    if (this.now() - this.earliestWaiting >= SIGN_IN_WINDOW_MS) {
      this.earliestWaiting = Infinity;
      for (const [client, window] of this.waiting) {
        if (this.ended(window)) this.waiting.delete(client);
        else this.earliestWaiting = Math.min(this.earliestWaiting, window.start);
      }
    }
    if (this.counting.size + this.waiting.size < this.maxClients) return true;
    const oldest = this.counting.keys().next();
    if (oldest.done) return false;
    this.counting.delete(oldest.value);
    return true;
  }

  private ended(window: Window): boolean {
    return this.now() - window.start >= SIGN_IN_WINDOW_MS;
  }
}
