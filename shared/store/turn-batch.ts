// Gathers the calls made during one turn of the event loop (every socket read of the poll
// phase) and runs them as one batch in its check phase: one Redis command for many messages.

/** Runs `run` once per turn over everything added during it, in chunks of at most `max`. */
export class TurnBatch<I, O> {
  private items: I[] = [];
  private settles: Array<{ resolve(out: O): void; reject(error: unknown): void }> = [];

  constructor(
    private readonly run: (items: I[]) => Promise<O[]>,
    private readonly max = 128,
  ) {}

  add(item: I): Promise<O> {
    // setImmediate, not a timer: the batch leaves at the end of this turn, with no delay.
    if (this.items.length === 0) setImmediate(() => this.flush());
    this.items.push(item);
    return new Promise<O>((resolve, reject) => this.settles.push({ resolve, reject }));
  }

  /** Items added this turn and not yet run. */
  get size(): number {
    return this.items.length;
  }

  private flush(): void {
    const { items, settles } = this;
    this.items = [];
    this.settles = [];
    for (let start = 0; start < items.length; start += this.max) {
      const chunk = settles.slice(start, start + this.max);
      let running: Promise<O[]>;
      try {
        running = this.run(items.slice(start, start + this.max));
      } catch (error) {
        running = Promise.reject(error);
      }
      running.then(
        (outs) => chunk.forEach((settle, i) => settle.resolve(outs[i])),
        (error: unknown) => chunk.forEach((settle) => settle.reject(error)),
      );
    }
  }
}
