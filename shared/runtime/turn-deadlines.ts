// Deadlines for many operations of one connection that wait for an answer (broker confirms, Redis
// replies), counted so that the process's own event-loop lag is never taken for a silent peer.

const DEADLINE = Symbol("sluice.deadline");

/** An operation waiting for its answer, settled by calling its `resolve` or `reject` as methods. */
export interface Awaiting {
  resolve(result: unknown): void;
  reject(error: Error): void;
}

type Tracked<T> = T & { [DEADLINE]?: Deadline<T> };

/** All one operation costs while it waits. */
interface Deadline<T> {
  /** The operation; null once settled, so a settled one held a while longer holds nothing big. */
  item: T | null;
  /** Its own resolve and reject, which its replacements call. */
  resolve(result: unknown): void;
  reject(error: Error): void;
  /** Its length in ms. */
  ms: number;
  /** When it is missed (`performance.now()` ms, whole); 0 until its count starts. */
  due: number;
}

/** What a connection's deadlines need to know of it. */
export interface DeadlineRules<T> {
  /**
   * Check phases between `track` and the start of the count: enough that the operation's bytes
   * have left the process by then (its user says why its number is enough).
   */
  turnsBeforeCount: number;
  /** Does what a missed operation needs besides failing; returns the error it fails with. */
  missed(item: T): Error;
}

/** Settled deadlines held inside a lane (behind a live one) before they are swept out. */
const SWEEP_AT = 64;

/**
 * The deadlines of one connection's operations, at the cost of a small record each (a timer
 * and immediates per operation, with their closures, cost several times as much heap and made
 * as much garbage): the operations share one immediate per turn, which counts check phases and
 * starts their counts, and one timer, armed for the earliest deadline. A deadline is declared
 * missed only in a check phase after the timer fired, once the loop has read what the sockets
 * hold: Node runs due timers before it reads sockets, so an answer that was waiting unread while
 * a busy turn outlasted the deadline is heard first. A settled operation is let go at once; its
 * record leaves with it or, behind one still waiting, in the next sweep.
 */
export class TurnDeadlines<T extends Awaiting> {
  /**
   * Deadlines whose count has not started, by the check phases they have seen: [0] those
   * tracked since the last one. A check phase starts the count of the last.
   */
  private readonly waiting: Array<Array<Deadline<T>> | undefined>;
  /**
   * Counting deadlines, one lane per length: a lane's count starts in tracking order, so its
   * head is its earliest. A lane's head is never settled (it is dropped as it settles).
   */
  private readonly lanes = new Map<number, Lane<T>>();
  /** The lane kept while empty: the first length seen, nearly always the connection's own. */
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
  /** An operation's resolve and reject while it has a deadline. */
  private readonly settlers = settlersFor(this);

  constructor(private readonly rules: DeadlineRules<T>) {
    this.waiting = Array.from({ length: rules.turnsBeforeCount }, () => undefined);
  }

  /**
   * Gives `item` a deadline of `ms`, unless it has one: an operation sent again (say, after a
   * reconnect) keeps the deadline it started with.
   */
  track(item: T, ms: number): void {
    const tracked = item as Tracked<T>;
    if (tracked[DEADLINE]) return;
    const deadline: Deadline<T> = {
      item,
      resolve: item.resolve,
      reject: item.reject,
      ms,
      due: 0,
    };
    tracked[DEADLINE] = deadline;
    item.resolve = this.settlers.resolve;
    item.reject = this.settlers.reject;
    (this.waiting[0] ??= []).push(deadline);
    this.runClock();
  }

  /** Notes that `deadline`'s operation is answered or failed, dropping what it no longer needs. */
  settle(deadline: Deadline<T>): void {
    if (!deadline.item) return;
    deadline.item = null;
    // One still waiting to count is skipped when its turn comes.
    if (deadline.due === 0) return;
    const lane = this.lanes.get(deadline.ms)!;
    this.settledCounting++;
    // Answers come in sending order, so this is nearly always the lane's head.
    while (lane.size > 0 && !lane.head.item) this.dropHead(lane);
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

  private dropHead(lane: Lane<T>): void {
    if (!lane.shift().item) this.settledCounting--;
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

  private startCount(deadlines: Array<Deadline<T>>): void {
    const now = performance.now();
    for (const deadline of deadlines) {
      if (!deadline.item) continue;
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
        const item = deadline.item;
        if (!item) continue;
        deadline.item = null;
        deadline.reject.call(item, this.rules.missed(item));
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
 * Replacements of an operation's resolve and reject, one pair per connection: its library calls
 * them as the operation's methods (`command.resolve(...)`), so they find its deadline without a
 * closure of their own.
 */
function settlersFor<T extends Awaiting>(deadlines: TurnDeadlines<T>): Awaiting {
  return {
    resolve(this: Tracked<T>, result: unknown) {
      const deadline = this[DEADLINE]!;
      deadlines.settle(deadline);
      deadline.resolve.call(this, result);
    },
    reject(this: Tracked<T>, error: Error) {
      const deadline = this[DEADLINE]!;
      deadlines.settle(deadline);
      deadline.reject.call(this, error);
    },
  };
}

/** A queue of deadlines, taken from its head without moving the rest. */
class Lane<T> {
  private items: Array<Deadline<T> | undefined> = [];
  private start = 0;

  get size(): number {
    return this.items.length - this.start;
  }

  get head(): Deadline<T> {
    return this.items[this.start]!;
  }

  push(deadline: Deadline<T>): void {
    this.items.push(deadline);
  }

  shift(): Deadline<T> {
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
    this.items = this.items.slice(this.start).filter((deadline) => deadline!.item);
    this.start = 0;
  }
}
