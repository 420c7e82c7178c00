// A Redis command's deadline (shared/store/reply-deadline.ts) against a stand-in for an ioredis
// client writing to a socket corked per turn: what it costs (the commands of a turn share one
// timer and the turn's immediate), when a deadline counts from, and when it is missed. Its
// behaviour against the real Redis: test/integration/redis-reply-deadline.

import { Writable } from "node:stream";
import { expect } from "chai";
import type Redis from "ioredis";
import {
  COMMAND_TIMED_OUT,
  lagTolerantDeadlines,
  TURNS_BEFORE_COUNT,
} from "../../shared/store/reply-deadline";
import { corkPerTurn } from "../../shared/runtime/turn-corked-socket";
import { busy, timersMade, turns } from "../support/event-loop";

/** A command as ioredis makes it: its resolve and reject are arrow functions of its own. */
class Command {
  readonly promise: Promise<unknown>;
  resolve!: (reply: unknown) => void;
  reject!: (error: Error) => void;

  constructor(readonly name = "ping") {
    this.promise = new Promise((resolve, reject) => {
      this.resolve = (reply) => resolve(reply);
      this.reject = (error) => reject(error);
    });
    // Unobserved until a test reads it.
    this.promise.catch(() => undefined);
  }
}

/** The parts of an ioredis client the deadline wraps, writing to a socket corked per turn. */
class FakeClient {
  /** Commands sent and not answered, in sending order (ioredis's commandQueue). */
  readonly unanswered: Command[] = [];
  /** Called as each batch of written commands leaves the process. */
  onSent: (names: string[]) => void = () => undefined;
  /** Refuses commands as sent, as ioredis does while disconnected with no offline queue. */
  offline = false;
  readonly stream = new Writable({
    writev: (chunks, done) => {
      this.onSent(chunks.map(({ chunk }) => String(chunk)));
      done();
    },
    write: (chunk, _encoding, done) => {
      this.onSent([String(chunk)]);
      done();
    },
  });

  constructor() {
    corkPerTurn(this.stream);
  }

  sendCommand(command: Command): Promise<unknown> {
    if (this.offline) {
      command.reject(new Error("Stream isn't writeable and enableOfflineQueue options is false"));
      return command.promise;
    }
    this.unanswered.push(command);
    this.stream.write(command.name);
    return command.promise;
  }

  /** Redis's reply to the oldest command waiting, as ioredis's DataHandler hands it over. */
  reply(): void {
    this.unanswered.shift()!.resolve("PONG");
  }

  send(name?: string): Promise<string> {
    return outcome(this.sendCommand(new Command(name)));
  }
}

/** A client whose commands have deadlines of `ms`. */
function clientWith(ms: number): FakeClient {
  const client = new FakeClient();
  lagTolerantDeadlines(client as unknown as Redis, ms);
  return client;
}

/** How a command ended: its reply, or the message of its error. */
function outcome(command: Promise<unknown>): Promise<string> {
  return command.then(String, (error: Error) => error.message);
}

describe("Redis command deadline: what it costs and when it counts", () => {
  it("gives the commands of one turn one timer and the turn's immediates, and none once answered", async () => {
    const client = clientWith(60_000);
    await timersMade(async (made) => {
      const commands = Array.from({ length: 1_000 }, () => client.send());
      await turns(TURNS_BEFORE_COUNT + 2);
      // The socket's own flush is one more immediate.
      const counting = { timers: 1, immediates: TURNS_BEFORE_COUNT + 1 };
      expect(made, "while all count").to.deep.equal(counting);
      while (client.unanswered.length > 0) client.reply();
      expect(new Set(await Promise.all(commands))).to.deep.equal(new Set(["PONG"]));
      await turns(5);
      expect(made, "once all answered").to.deep.equal(counting);
    });
  });

  it("fails a command Redis never answers once its deadline passed with the loop free", async () => {
    const client = clientWith(50);
    const answered = client.send();
    const silent = client.send();
    client.reply();
    expect(await answered).to.equal("PONG");
    expect(await silent).to.equal(COMMAND_TIMED_OUT);
  });

  it("fails every command of a silent turn, and those of later turns too", async () => {
    const client = clientWith(50);
    const first = Array.from({ length: 100 }, () => client.send());
    await turns(3);
    const later = Array.from({ length: 100 }, () => client.send());
    const ends = await Promise.all([...first, ...later]);
    expect(new Set(ends)).to.deep.equal(new Set([COMMAND_TIMED_OUT]));
  });

  it("reads a reply that waited while a busy turn outlasted the deadline", async () => {
    const client = clientWith(50);
    const commands = Array.from({ length: 100 }, () => client.send());
    await turns(TURNS_BEFORE_COUNT + 1);
    // The replies are heard in the same loop iteration as the deadline's timer, before its
    // check phase: as replies waiting in the socket are read in the poll phase after it.
    setTimeout(() => {
      while (client.unanswered.length > 0) client.reply();
    }, 60);
    busy(200);
    expect(new Set(await Promise.all(commands))).to.deep.equal(new Set(["PONG"]));
  });

  it("does not count a busy turn while the command waits to leave the process", async () => {
    const client = clientWith(50);
    await turns(1);
    // The worst case for where a count starts: a command sent from a check phase ahead of the
    // deadlines' immediate, which counts that phase, onto a socket whose flush then waits behind
    // a busy turn in the next one.
    const late = new Promise<Promise<string>>((resolve) =>
      // Ahead of the deadlines' immediate, which the first command queues below.
      setImmediate(() => {
        setImmediate(() => busy(200));
        resolve(client.send("late"));
      }),
    );
    client.onSent = (names) => {
      // Redis answers 10 ms after the command left: well within its deadline.
      if (names.includes("late")) setTimeout(() => client.reply(), 10);
    };
    // As large as the socket's buffer: it leaves at once, and the socket is not corked then.
    const first = client.send("first".padEnd(client.stream.writableHighWaterMark, "."));
    client.reply();
    expect(await first).to.equal("PONG");
    expect(await await late).to.equal("PONG");
  });

  it("keeps one deadline, the first, for a command sent again (after a reconnect)", async () => {
    const client = clientWith(50);
    const answered = new Command();
    const unanswered = new Command();
    const ends = [answered, unanswered].map((command) => outcome(client.sendCommand(command)));
    await turns(TURNS_BEFORE_COUNT + 1);
    // The connection closed; ioredis sends what was unanswered again once it is back.
    client.unanswered.length = 0;
    busy(60);
    for (const command of [answered, unanswered]) client.sendCommand(command);
    client.reply();
    // Past its first deadline, the unanswered one fails then, not a deadline later.
    expect(await Promise.all(ends)).to.deep.equal(["PONG", COMMAND_TIMED_OUT]);
  });

  it("starts no timer for a command refused as it is sent", async () => {
    const client = clientWith(60_000);
    client.offline = true;
    await timersMade(async (made) => {
      expect(await client.send()).to.match(/isn't writeable/);
      await turns(TURNS_BEFORE_COUNT + 2);
      expect(made.timers).to.equal(0);
    });
  });
});
