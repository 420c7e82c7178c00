// A broker confirm's deadline (a channel's confirm timeout, `adapter.publishTimeout`) that the
// process's own event-loop lag cannot trip: only a broker that let it pass unconfirmed is slow.

import type { ChannelWrapper } from "amqp-connection-manager";

const DEADLINE = Symbol("sluice.confirmDeadline");

/** A publish as amqp-connection-manager 4.1's ChannelWrapper queues it (its internals). */
interface QueuedPublish {
  /** Called by the wrapper as a method (`message.resolve(...)`), as is `reject`. */
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** Set when it gave up: a confirm (or a closed channel) that comes later is ignored. */
  isTimedout: boolean;
  /** Its deadline (added here): the one property a publish gains. */
  [DEADLINE]?: Deadline;
}

/** What of the wrapper this reaches into: 4.1 has no hook for its publish timeout. */
interface WrapperInternals {
  /** Publishes not yet sent (sent when a channel is open and has room). */
  _messages: QueuedPublish[];
  /** Publishes sent and not yet confirmed. */
  _unconfirmedMessages: QueuedPublish[];
  /** Queues a publish; its own timer (`timeout`) would start here. */
  _enqueueMessage(message: QueuedPublish, timeout?: number): void;
}

/** All one publish costs while it waits for its confirm. */
interface Deadline {
  /** The publish; null once settled, so a settled one held a while longer holds no body. */
  publish: QueuedPublish | null;
  /** The publish's own resolve and reject, which its replacements call. */
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** Its length in ms (the channel's, or the publish's own `timeout`). */
  ms: number;
  /** When it is missed (`performance.now()` ms, whole); 0 until its count starts. */
  due: number;
}

/**
 * Turns between queueing a publish and starting its count: amqplib hands the frames to the
 * socket from an immediate of its own, and the socket, corked per turn (turn-corked-socket.ts),
 * sends what was written in a check phase at the next one. Counting from the third check phase
 * counts from after the frames left, so a busy turn before they did is not the broker's silence.
 * Check phases are counted by one immediate per channel and turn: a publish queued by another
 * immediate that runs before it in the same phase has that phase counted, and its count starts
 * in the phase its frames leave in, just after they did (their immediates were queued first).
 */
export const TURNS_BEFORE_COUNT = 3;

/** Settled deadlines held inside a lane (behind a live one) before they are swept out. */
const SWEEP_AT = 64;

/**
 * Gives every publish on `wrapper` a confirm deadline of `ms` (or the publish's own `timeout`
 * option) in place of the library's `publishTimeout`, which must be left unset. The library's
 * timer ran from the moment the publish was queued and fired in the timers phase, before the
 * loop read the sockets: when a busy turn (say, 30 large request bodies parsed on a loaded
 * machine) outlasted it, a confirm already waiting unread was taken for a broker too slow, and
 * the adapter answered 503 for a message the broker had confirmed in time. This deadline runs
 * from when the frames left the process and is declared missed only by a check phase after the
 * timer fired, once the loop has read what the sockets hold. A publish that misses it ends as
 * the library's own timeout ended it, so what follows is unchanged: it is taken off the
 * wrapper's queues (a channel opened again sends what they hold: never behind a caller told it
 * failed), a confirm or a closed channel that comes later is ignored, and it fails "timeout".
 */
export function lagTolerantConfirmDeadlines(wrapper: ChannelWrapper, ms: number): void {
  const internals = wrapper as unknown as WrapperInternals;
  if (
    typeof internals._enqueueMessage !== "function" ||
    !Array.isArray(internals._messages) ||
    !Array.isArray(internals._unconfirmedMessages)
  ) {
    // Without this, publishes would wait for their confirm for ever.
    throw new Error("amqp-connection-manager's ChannelWrapper changed: no confirm deadline");
  }
  const deadlines = new ConfirmDeadlines(internals);
  const enqueue = internals._enqueueMessage.bind(internals);
  internals._enqueueMessage = (message: QueuedPublish, timeout?: number) => {
    const deadlineMs = timeout || ms;
    if (deadlineMs) deadlines.track(message, deadlineMs);
    // No `timeout`: the library starts no timer of its own.
    enqueue(message);
  };
}

/**
 * The deadlines of one wrapper's publishes, at the cost of a small object each (about 100 bytes
 * of heap per publish awaiting its confirm; a timer and three immediates per publish, with their
 * closures, cost 750 and made as much garbage): the channel's publishes share one immediate per
 * turn, which starts their counts, and one timer, armed for the earliest deadline. A settled
 * publish is let go at once; its small record leaves with it or, behind one still waiting, in
 * the next sweep.
 */
class ConfirmDeadlines {
  /**
   * Deadlines whose count has not started, by the check phases they have seen: [0] those
   * queued since the last one. A check phase starts the count of the last.
   */
  private readonly waiting: Array<Deadline[] | undefined> = Array.from(
    { length: TURNS_BEFORE_COUNT },
    () => undefined,
  );
  /**
   * Counting deadlines, one lane per length: a lane's count starts in queueing order, so its
   * head is its earliest. A lane's head is never settled (it is dropped as it settles).
   */
  private readonly lanes = new Map<number, Lane>();
  /** The lane kept while empty: the first length seen, nearly always the channel's own. */
  private laneKept: number | undefined;
  /** Deadlines in lanes, and how many of them settled (behind a live head). */
  private counting = 0;
  private settledCounting = 0;
  /** The turn clock: pending while a deadline waits to count or a fired timer to be declared. */
  private clock: NodeJS.Immediate | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** When `timer` fires; Infinity when none is armed. */
  private timerDue = Infinity;
  /** When the timer last fired, until the check phase after it declares what was due by then. */
  private firedAt: number | undefined;
  /** A publish's resolve and reject while it has a deadline. */
  private readonly settlers = settlersFor(this);

  constructor(private readonly internals: WrapperInternals) {}

  track(publish: QueuedPublish, ms: number): void {
    const deadline: Deadline = {
      publish,
      resolve: publish.resolve,
      reject: publish.reject,
      ms,
      due: 0,
    };
    publish[DEADLINE] = deadline;
    publish.resolve = this.settlers.resolve;
    publish.reject = this.settlers.reject;
    (this.waiting[0] ??= []).push(deadline);
    this.runClock();
  }

  /** Notes that `deadline`'s publish is confirmed or failed, dropping what it no longer needs. */
  settle(deadline: Deadline): void {
    if (!deadline.publish) return;
    deadline.publish = null;
    // One still waiting to count is skipped when its turn comes.
    if (deadline.due === 0) return;
    const lane = this.lanes.get(deadline.ms)!;
    this.settledCounting++;
    // Confirms come in publishing order, so this is nearly always the lane's head.
    while (lane.size > 0 && !lane.head.publish) this.dropHead(lane);
    if (lane.size === 0 && deadline.ms !== this.laneKept) this.lanes.delete(deadline.ms);
    if (this.settledCounting >= SWEEP_AT && 2 * this.settledCounting > this.counting) {
      for (const [length, each] of this.lanes) {
        each.sweep();
        if (each.size === 0 && length !== this.laneKept) this.lanes.delete(length);
      }
      this.counting -= this.settledCounting;
      this.settledCounting = 0;
    }
    // An idle timer runs out unreferenced (the process may exit) instead of being made again.
    if (this.counting === 0) this.timer?.unref();
  }

  private dropHead(lane: Lane): void {
    if (!lane.shift().publish) this.settledCounting--;
    this.counting--;
  }

  private runClock(): void {
    this.clock ??= setImmediate(this.tick);
  }

  /** One check phase: declares what was due when the timer fired, and starts counts. */
  private readonly tick = (): void => {
    this.clock = undefined;
    if (this.firedAt !== undefined) {
      const firedAt = this.firedAt;
      this.firedAt = undefined;
      this.expireDueBy(firedAt);
    }
    const starting = this.waiting.pop();
    this.waiting.unshift(undefined);
    if (starting) this.startCount(starting);
    if (this.waiting.some(Boolean)) this.runClock();
    this.arm();
  };

  private startCount(deadlines: Deadline[]): void {
    const now = performance.now();
    for (const deadline of deadlines) {
      if (!deadline.publish) continue;
      // Whole ms (later, never earlier): a small integer costs no heap number.
      deadline.due = Math.ceil(now + deadline.ms);
      this.laneKept ??= deadline.ms;
      let lane = this.lanes.get(deadline.ms);
      if (!lane) this.lanes.set(deadline.ms, (lane = new Lane()));
      lane.push(deadline);
      this.counting++;
    }
  }

  private expireDueBy(firedAt: number): void {
    for (const [ms, lane] of this.lanes) {
      while (lane.size > 0 && lane.head.due <= firedAt) {
        const deadline = lane.head;
        this.dropHead(lane);
        const publish = deadline.publish;
        if (!publish) continue;
        deadline.publish = null;
        // As the library's own timeout does: off whichever queue holds it, never sent again.
        for (const queue of [this.internals._messages, this.internals._unconfirmedMessages]) {
          const at = queue.indexOf(publish);
          if (at !== -1) queue.splice(at, 1);
        }
        publish.isTimedout = true;
        deadline.reject(new Error("timeout"));
      }
      if (lane.size === 0 && ms !== this.laneKept) this.lanes.delete(ms);
    }
  }

  /** Arms the timer for the earliest deadline counting, unless it fires by then anyway. */
  private arm(): void {
    let earliest = Infinity;
    for (const lane of this.lanes.values()) {
      if (lane.size > 0 && lane.head.due < earliest) earliest = lane.head.due;
    }
    if (earliest === Infinity) return;
    if (this.timer && this.timerDue <= earliest) {
      this.timer.ref();
      return;
    }
    clearTimeout(this.timer);
    this.timerDue = earliest;
    this.timer = setTimeout(this.fired, Math.max(0, earliest - performance.now()));
  }

  private readonly fired = (): void => {
    this.timer = undefined;
    this.timerDue = Infinity;
    // Due timers run before the loop reads the sockets: the check phase comes after it.
    this.firedAt = Math.max(this.firedAt ?? 0, performance.now());
    this.runClock();
  };
}

/**
 * Replacements of a publish's resolve and reject, one pair per wrapper: the wrapper calls them
 * as the publish's methods (`message.resolve(...)`), so they find its deadline without a
 * closure of their own.
 */
function settlersFor(deadlines: ConfirmDeadlines): Pick<QueuedPublish, "resolve" | "reject"> {
  return {
    resolve(this: QueuedPublish, result: unknown) {
      const deadline = this[DEADLINE]!;
      deadlines.settle(deadline);
      deadline.resolve(result);
    },
    reject(this: QueuedPublish, error: Error) {
      const deadline = this[DEADLINE]!;
      deadlines.settle(deadline);
      deadline.reject(error);
    },
  };
}

/** A queue of deadlines, taken from its head without moving the rest. */
class Lane {
  private items: Array<Deadline | undefined> = [];
  private start = 0;

  get size(): number {
    return this.items.length - this.start;
  }

  get head(): Deadline {
    return this.items[this.start]!;
  }

  push(deadline: Deadline): void {
    this.items.push(deadline);
  }

  shift(): Deadline {
    const deadline = this.head;
    this.items[this.start++] = undefined;
    if (this.start === this.items.length) {
      this.items = [];
      this.start = 0;
    } else if (this.start >= 1024 && 2 * this.start > this.items.length) {
      this.items = this.items.slice(this.start);
      this.start = 0;
    }
    return deadline;
  }

  /** Drops the settled deadlines, keeping the order of the rest. */
  sweep(): void {
    this.items = this.items.slice(this.start).filter((deadline) => deadline!.publish);
    this.start = 0;
  }
}
