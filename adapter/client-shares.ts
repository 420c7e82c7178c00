// Who sent a backend's recent intake, by client, so that one client's flood cannot take the
// whole backlog from the others: past `queue.clientShare` of the high-water mark, a client that
// sent more than that share of what this adapter admitted for the backend lately, while other
// clients called too, is refused (docs/backpressure.md, "One client's flood").
//
// Counted per adapter process, not across instances: a shared count would cost a Redis command
// on every acknowledgement, and instances behind one load balancer see about the same mix.

/** Intake is counted in two halves of a minute: a client that called in the last 30–60 s counts. */
export const HALF_WINDOW_MS = 30_000;
/**
 * Clients counted by name per backend and half-window; one past it still counts in the total.
 * X-Road clients are registered members, but a REST caller's X-Road-Client header is its own to
 * choose (up to about 1 KB): this bounds what one backend's counts hold to about 2 MB.
 */
export const MAX_CLIENTS = 1_000;

class Counts {
  total = 0;
  readonly byClient = new Map<string, number>();
}

class Window {
  current = new Counts();
  previous = new Counts();
  constructor(public startedAt: number) {}
}

export class ClientShares {
  private readonly windows = new Map<string, Window>();

  /** `now`: a monotonic clock in ms (the wall clock may step back). */
  constructor(private readonly now: () => number = () => performance.now()) {}

  /** One message of `client` admitted for `backend`. */
  note(backend: string, client: string): void {
    const counts = this.windowOf(backend).current;
    counts.total++;
    const sent = counts.byClient.get(client);
    if (sent !== undefined) counts.byClient.set(client, sent + 1);
    else if (counts.byClient.size < MAX_CLIENTS) counts.byClient.set(client, 1);
  }

  /**
   * Whether `client` sent more than `share` of the backend's intake in the last 30–60 s while
   * another client sent some too: a client alone may fill the whole backlog.
   */
  over(backend: string, client: string, share: number): boolean {
    const { current, previous } = this.windowOf(backend);
    const mine = (current.byClient.get(client) ?? 0) + (previous.byClient.get(client) ?? 0);
    const total = current.total + previous.total;
    return mine < total && mine > share * total;
  }

  private windowOf(backend: string): Window {
    const now = this.now();
    let window = this.windows.get(backend);
    if (window === undefined) {
      window = new Window(now);
      this.windows.set(backend, window);
    } else if (now - window.startedAt >= HALF_WINDOW_MS) {
      // A whole window without intake leaves nothing to remember.
      window.previous =
        now - window.startedAt >= 2 * HALF_WINDOW_MS ? new Counts() : window.current;
      window.current = new Counts();
      window.startedAt = now;
    }
    return window;
  }
}
