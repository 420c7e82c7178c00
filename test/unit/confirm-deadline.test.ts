// What a broker confirm's deadline costs a channel (shared/broker/confirm-deadline.ts), against a
// stand-in for amqp-connection-manager's ChannelWrapper: the publishes of a turn share the
// turn's one immediate and one timer, each still ends at its own deadline, and a settled
// publish is let go. Its behaviour against the real broker: test/integration/broker-confirm-deadline.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { expect } from "chai";
import type { ChannelWrapper } from "amqp-connection-manager";
import {
  lagTolerantConfirmDeadlines,
  TURNS_BEFORE_COUNT,
} from "../../shared/broker/confirm-deadline";
import { timersMade, turns } from "../support/event-loop";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

/** A publish as the wrapper queues it. */
interface Message {
  content: Buffer;
  resolve(result: unknown): void;
  reject(error: Error): void;
  isTimedout: boolean;
}

/** The parts of ChannelWrapper 4.1 the deadline reaches into, doing what the library does. */
class FakeWrapper {
  _messages: Message[] = [];
  _unconfirmedMessages: Message[] = [];

  _enqueueMessage(message: Message, _timeout?: number): void {
    this._messages.push(message);
  }

  /** Queues a publish as `publish()` does; `timeout` is its own option. */
  publish(content = Buffer.alloc(0), timeout?: number): Promise<unknown> {
    return new Promise((resolve, reject) =>
      this._enqueueMessage({ content, resolve, reject, isTimedout: false }, timeout),
    );
  }

  /** Sends everything queued, as the library's worker does on an open channel. */
  send(): void {
    this._unconfirmedMessages.push(...this._messages.splice(0));
  }

  /** The broker's confirm of the sent publish `message`, as `_messageResolved` handles it. */
  confirm(message: Message): void {
    this._unconfirmedMessages.splice(this._unconfirmedMessages.indexOf(message), 1);
    message.resolve(true);
  }
}

/** A wrapper with deadlines of `ms`. */
function wrapperWith(ms: number): FakeWrapper {
  const wrapper = new FakeWrapper();
  lagTolerantConfirmDeadlines(wrapper as unknown as ChannelWrapper, ms);
  return wrapper;
}

/** How a publish ended: "confirmed", or the message of its error. */
function outcome(publish: Promise<unknown>): Promise<string> {
  return publish.then(
    () => "confirmed",
    (error: Error) => error.message,
  );
}

describe("broker confirm deadline: what it costs", () => {
  it("gives the publishes of one turn one immediate per turn and one timer, and stops when they settle", async () => {
    await timersMade(async (made) => {
      const wrapper = wrapperWith(60_000);
      const publishes = Array.from({ length: 1_000 }, () => outcome(wrapper.publish()));
      wrapper.send();
      await turns(TURNS_BEFORE_COUNT + 2);
      const counting = { timers: 1, immediates: TURNS_BEFORE_COUNT };
      expect(made, "while all count").to.deep.equal(counting);
      for (const message of [...wrapper._unconfirmedMessages]) wrapper.confirm(message);
      expect(new Set(await Promise.all(publishes))).to.deep.equal(new Set(["confirmed"]));
      await turns(5);
      expect(made, "once all settled").to.deep.equal(counting);
    });
  });

  // Upper bounds are loose (a loaded machine delays timers); the 60 s deadline ahead of them
  // is far beyond them, so a publish that waited for it fails them anyway.
  it("fails a publish with a shorter timeout of its own than earlier ones at its own deadline", async () => {
    const wrapper = wrapperWith(60_000);
    const first = outcome(wrapper.publish());
    await turns(1);
    const started = performance.now();
    const short = outcome(wrapper.publish(Buffer.alloc(0), 100));
    wrapper.send();
    const ended = await Promise.race([
      short,
      new Promise((resolve) => setTimeout(resolve, 10_000, "still waiting")),
    ]);
    expect(ended).to.equal("timeout");
    expect(performance.now() - started).to.be.within(100, 5_000);
    // Off the wrapper's queues, as the library's own timeout takes it.
    expect(wrapper._unconfirmedMessages).to.have.length(1);
    wrapper.confirm(wrapper._unconfirmedMessages[0]);
    expect(await first).to.equal("confirmed");
  });

  it("keeps each publish's own deadline among many lengths, in no order", async () => {
    const wrapper = wrapperWith(60_000);
    wrapper.publish().catch(() => undefined);
    const lengths = [300, 50, 200, 100, 250, 150];
    const started = performance.now();
    const ends = lengths.map((ms) =>
      wrapper.publish(Buffer.alloc(0), ms).then(
        () => "confirmed",
        (error: Error) => ({ error: error.message, after: performance.now() - started }),
      ),
    );
    wrapper.send();
    const after = await Promise.all(ends);
    after.forEach((end, i) =>
      expect(end, `${lengths[i]} ms`)
        .to.include({ error: "timeout" })
        .and.to.have.property("after")
        .within(lengths[i], lengths[i] + 5_000),
    );
    wrapper.confirm(wrapper._unconfirmedMessages[0]);
  });

  it("lets a settled publish go, even while one published before it still waits", async () => {
    const wrapper = wrapperWith(60_000);
    const waiting = outcome(wrapper.publish());
    const bodies: Array<WeakRef<object>> = [];
    const records: Array<WeakRef<object>> = [];
    /** A turn of publishes, confirmed out of order (in a frame of its own, gone once done). */
    const turn = async () => {
      const publishes = Array.from({ length: 100 }, () => wrapper.publish(Buffer.alloc(1_024)));
      wrapper.send();
      await turns(TURNS_BEFORE_COUNT);
      for (const message of wrapper._unconfirmedMessages.slice(1).reverse()) {
        bodies.push(new WeakRef(message.content));
        const [key] = Object.getOwnPropertySymbols(message);
        records.push(new WeakRef((message as unknown as Record<symbol, object>)[key]));
        wrapper.confirm(message);
      }
      await Promise.all(publishes);
    };
    // Many turns of publishes on a long-lived channel.
    for (let i = 0; i < 20; i++) await turn();
    const held = (refs: Array<WeakRef<object>>) => refs.filter((ref) => ref.deref()).length;
    // A few rounds of turns and collections, not one: a body let go can outlive a single
    // collection by a turn (the test's own WeakRefs keep their targets for the job that made
    // them), while one still held stays held through every round.
    for (let round = 0; round < 5; round++) {
      await turns(2);
      gc();
      if (held(bodies) === 0) break;
    }
    expect(records).to.have.length(2_000);
    expect(held(bodies), "bodies held").to.equal(0);
    // Those settled behind a live one are swept out together, a few dozen at a time.
    expect(held(records), "records held").to.be.below(100);
    wrapper.confirm(wrapper._unconfirmedMessages[0]);
    expect(await waiting).to.equal("confirmed");
  });
});
