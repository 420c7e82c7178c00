// The legacy simulator's memory of the calls it received: a bounded ring of call records plus
// the live and peak concurrency, so tests can check rate limits, in-flight caps and retries.

/** One call as the simulated legacy system saw it. */
export interface RecordedCall {
  /** The `Idempotency-Key` header, or null when the caller sent none. */
  id: string | null;
  method: string;
  /** Path without the query string. */
  path: string;
  /** Arrival time, epoch milliseconds. */
  startedAt: number;
  /** When the answer was written, epoch milliseconds; null while the call is in flight. */
  endedAt: number | null;
  /** HTTP status answered; null while the call is in flight. */
  status: number | null;
  /** `X-Road-Client` header, or for SOAP the client id from the X-Road header. */
  xroadClient: string | null;
  /** With `recordDetails`: the request's headers (names lower-case) as received. */
  headers?: Record<string, string | string[] | undefined>;
  /** With `recordDetails`: the request body's bytes (SOAP: each MIME part in `parts` too). */
  body?: Buffer;
  /** With `recordDetails`, for a multipart/related SOAP call: each part's headers and bytes. */
  parts?: Array<{ headers: Record<string, string>; data: Buffer }>;
}

export interface CallStats {
  /** Calls received since the last reset (not bounded by the ring). */
  total: number;
  inFlight: number;
  maxConcurrentSeen: number;
  calls: RecordedCall[];
}

export interface CallFilter {
  /** Only calls with this Idempotency-Key. */
  id?: string;
  /** Only calls that arrived at or after this epoch millisecond. */
  since?: number;
  /** Only the last `limit` matching calls. */
  limit?: number;
}

export const DEFAULT_CALL_CAPACITY = 100_000;

export class CallLog {
  private readonly ring: RecordedCall[] = [];
  /** Index of the oldest record once the ring is full. */
  private head = 0;
  private total = 0;
  private inFlight = 0;
  private maxSeen = 0;

  constructor(private readonly capacity: number = DEFAULT_CALL_CAPACITY) {}

  /** Records an arriving call and counts it in flight until `finish`. */
  begin(call: RecordedCall): void {
    this.total++;
    this.inFlight++;
    if (this.inFlight > this.maxSeen) this.maxSeen = this.inFlight;
    if (this.ring.length < this.capacity) {
      this.ring.push(call);
    } else {
      this.ring[this.head] = call;
      this.head = (this.head + 1) % this.capacity;
    }
  }

  finish(call: RecordedCall, status: number): void {
    if (call.endedAt !== null) return;
    call.status = status;
    call.endedAt = Date.now();
    this.inFlight--;
  }

  /** Calls in flight right now. */
  get concurrency(): number {
    return this.inFlight;
  }

  calls(filter: CallFilter = {}): RecordedCall[] {
    const ordered =
      this.head === 0
        ? this.ring.slice()
        : [...this.ring.slice(this.head), ...this.ring.slice(0, this.head)];
    let selected = ordered;
    if (filter.id !== undefined || filter.since !== undefined) {
      selected = ordered.filter(
        (call) =>
          (filter.id === undefined || call.id === filter.id) &&
          (filter.since === undefined || call.startedAt >= filter.since),
      );
    }
    if (filter.limit !== undefined && selected.length > filter.limit) {
      selected = selected.slice(selected.length - filter.limit);
    }
    // Copies, so a caller holding the result does not see later updates change under it.
    return selected.map((call) => ({ ...call }));
  }

  stats(filter: CallFilter = {}): CallStats {
    return {
      total: this.total,
      inFlight: this.inFlight,
      maxConcurrentSeen: this.maxSeen,
      calls: this.calls(filter),
    };
  }

  /** Forgets recorded calls; calls still in flight keep counting toward concurrency. */
  reset(): void {
    this.ring.length = 0;
    this.head = 0;
    this.total = 0;
    this.maxSeen = this.inFlight;
  }
}
