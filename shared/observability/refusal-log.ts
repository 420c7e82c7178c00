// Which refusals of requests without a token get a log line: the first of each client's minute,
// for each kind of refusal on its own. Nothing is guessed there, so nothing is throttled, and a
// client that keeps asking would otherwise write a line per request, as fast as it can send them.
// One minute shared by every kind let a status page polling without a session hide a cross-site
// sign-in from the same address, and a page posting cross-site sign-ins hide the rest.

import { clientOf } from "../protocol/ip-address";
import { monotonicNow } from "../runtime/clock";

const MINUTE_MS = 60_000;
/** Clients remembered at once; forgetting the oldest costs at most one more line. */
const MAX_CLIENTS = 10_000;

export class RefusalLog {
  /** Per kind of refusal and client (an IPv4 address or IPv6 /64): when its logged minute started. */
  private readonly minutes = new Map<string, number>();

  constructor(private readonly now: () => number = monotonicNow) {}

  /** Whether this refusal is the client's first of its `kind` in a minute, to be logged. */
  first(kind: string, address: string): boolean {
    const client = `${kind} ${clientOf(address)}`;
    const now = this.now();
    const start = this.minutes.get(client);
    if (start !== undefined && now - start < MINUTE_MS) return false;
    this.minutes.delete(client);
    while (this.minutes.size >= MAX_CLIENTS) {
      this.minutes.delete(this.minutes.keys().next().value as string);
    }
    this.minutes.set(client, now);
    return true;
  }
}
