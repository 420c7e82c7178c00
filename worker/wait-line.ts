// One process's waits for something every worker asks Redis for (a rate token, an in-flight
// slot), kept in the order they began: only the first in line asks again, the others wait behind.

import { raceAbort } from "../shared/runtime/race-abort";

/**
 * A first-come line. Raced, whatever was freed went to whichever wait asked first, and a wait
 * that had just begun kept taking the turn of those held longer: one message was overtaken again
 * and again, past what the unacknowledged-hold check counts. A wait that finds the line empty
 * asks at once and joins only when refused (`take`).
 */
export class WaitLine {
  /** Waits in line, and the turn the next one to join waits for. */
  private inLine = 0;
  private last: Promise<void> = Promise.resolve();

  /** Whether no wait is in line: one that begins now may ask at once. */
  private get empty(): boolean {
    return this.inLine === 0;
  }

  /**
   * Asks until `granted` says an answer is what was waited for, and resolves it: at once when
   * nobody is in line, otherwise (or once refused) in line, each ask after the first of its
   * turn following `pause` with the last refusal (a sleep until it is due, a release). The one
   * ahead in line takes what was freed before this wait's turn, so the turn begins with an ask.
   * `signal` is asked for only when a wait begins: an ask granted at once costs none.
   */
  async take<A, G extends A>(
    ask: () => Promise<A>,
    granted: (answer: A) => answer is G,
    pause: (refusal: Exclude<A, G>, signal: AbortSignal | undefined) => Promise<void>,
    signal: () => AbortSignal | undefined,
  ): Promise<G> {
    let refusal: Exclude<A, G> | null = null;
    if (this.empty) {
      const first = await ask();
      if (granted(first)) return first;
      refusal = first as Exclude<A, G>;
    }
    const waitSignal = signal();
    waitSignal?.throwIfAborted();
    if (!this.empty) refusal = null;
    return this.wait(async () => {
      for (;;) {
        if (refusal !== null) await pause(refusal, waitSignal);
        const answer = await ask();
        if (granted(answer)) return answer;
        refusal = answer as Exclude<A, G>;
      }
    }, waitSignal);
  }

  /**
   * Runs `turn` once every wait that joined before this one has ended, and holds the line until
   * it settles. Rejects with the signal's reason when it aborts before this wait's turn (the
   * turn itself watches the signal on its own).
   */
  private async wait<T>(turn: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    this.inLine++;
    const ahead = this.last;
    let leave!: () => void;
    this.last = new Promise<void>((resolve) => (leave = resolve));
    try {
      // The wait ahead in line ended, or this one's signal aborted it first.
      if (signal) {
        await raceAbort(signal, ahead, () => {
          throw signal.reason;
        });
      } else await ahead;
      return await turn();
    } finally {
      this.inLine--;
      // One that gave up before its turn still lets the next go only after the one ahead.
      void ahead.then(leave);
    }
  }
}
