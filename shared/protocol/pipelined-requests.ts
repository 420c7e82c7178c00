// Requests pipelined on one HTTP/1.1 connection (sent before the answers before them): each is
// handled in its turn, and only a bounded number are read. The service port and the admin port.

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Socket } from "node:net";

export interface PipelineLimits {
  /**
   * Requests that may wait on one connection before nothing more is parsed from it until the
   * last one read has its turn: what it sends meanwhile is read and kept as bytes (up to
   * `maxUnparsedBytes`), so that a caller that hung up is seen to go.
   */
  readWhileWaiting: number;
  /** Requests that may wait on one connection: one more closes it. */
  maxPerConnection: number;
  /** Requests that may wait on all the server's connections together: one more closes its own. */
  maxTotal: number;
  /**
   * Bytes read and kept unparsed from a connection whose parsing stopped, before nothing more is
   * read from it either: a caller that hung up behind more than this is seen to go only when
   * their turn comes (TCP's end of stream comes after all it sent).
   */
  maxUnparsedBytes: number;
}

const LAST_ANSWER = Symbol("sluice.last-answer");
const TURN_ENDED = Symbol("sluice.turn-ended");
const WAITING = Symbol("sluice.pipelined-waiting");
const HELD = Symbol("sluice.pipelined-held");
type Answer = ServerResponse & { [TURN_ENDED]?: Promise<void> };
type PipelinedSocket = Socket & {
  [LAST_ANSWER]?: Answer;
  [WAITING]?: number;
  [HELD]?: HeldReading;
};
/** Node's mark of a socket it holds itself, its answers not being taken (`_http_server.js`). */
type NodeSocket = Socket & { _paused?: boolean };

/**
 * One per server: Node made a request of everything a connection sent and called its handler
 * at once, however many waited for the answer before them. 28 MB of small GETs pipelined behind
 * one sync wait held 380 000 requests, 2.9 GB, and the adapter answered nobody for minutes; the
 * admin port answered 2 000 `GET /metrics` sent in one write, each a scrape of its own.
 */
export class PipelinedRequests {
  private waitingTotal = 0;

  constructor(private readonly limits: PipelineLimits) {}

  /**
   * `handle`, called when the request's turn comes: at once unless the answer before it on its
   * connection is not sent yet; then once that answer is sent, and not at all when the
   * connection closed meanwhile. The request's own turn ends when its answer is sent, or when
   * it is not handled: a request behind it waits for that, never for an answer that will not
   * be written (Node emits no `close` on an answer queued behind another).
   */
  inTurn(
    req: IncomingMessage,
    res: ServerResponse,
    handle: () => Promise<unknown>,
  ): () => Promise<unknown> {
    const socket = req.socket as PipelinedSocket;
    const before = socket[LAST_ANSWER];
    socket[LAST_ANSWER] = res;
    if (before === undefined || before.writableFinished || before.destroyed) return handle;
    const answer = res as Answer;
    let release!: () => void;
    const givenUp = new Promise<void>((resolve) => (release = resolve));
    answer[TURN_ENDED] = Promise.race([sentOrClosed(answer), givenUp]);
    this.wait(socket);
    // Counted off when the turn comes, whatever happens to the request meanwhile.
    const turn = (before[TURN_ENDED] ?? sentOrClosed(before)).then(() => this.turnCame(socket));
    return () =>
      turn.then((waiting) => {
        if (socket.destroyed) {
          release();
          return undefined;
        }
        // The last request read is being served: the connection may carry the next ones.
        if (waiting === 0) socket[HELD]?.release();
        return handle().finally(() => {
          if (socket.destroyed) release();
        });
      });
  }

  /**
   * A request arrived behind an answer not yet sent: past `readWhileWaiting` of them nothing
   * more is parsed from its connection until the last one read has its turn, and a connection
   * over the limits is closed.
   */
  private wait(socket: PipelinedSocket): void {
    const waiting = (socket[WAITING] ?? 0) + 1;
    socket[WAITING] = waiting;
    this.waitingTotal += 1;
    if (waiting > this.limits.maxPerConnection || this.waitingTotal > this.limits.maxTotal) {
      socket.destroy();
      return;
    }
    if (waiting <= this.limits.readWhileWaiting) return;
    const held = socket[HELD] ?? new HeldReading(socket, this.limits.maxUnparsedBytes);
    socket[HELD] = held;
    held.hold();
  }

  /** A waiting request's turn came (or its connection closed): the count is `socket`'s now. */
  private turnCame(socket: PipelinedSocket): number {
    const waiting = (socket[WAITING] ?? 1) - 1;
    socket[WAITING] = waiting;
    this.waitingTotal -= 1;
    return waiting;
  }
}

/** Resolves once `answer` is sent or its connection closed. */
function sentOrClosed(answer: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    answer.once("finish", resolve);
    answer.once("close", resolve);
  });
}

/**
 * A connection whose parsing stops while requests wait, read on: what arrives is kept as bytes
 * (a few kilobytes hold hundreds of requests, each some kilobytes once parsed) and given to
 * Node's parser once reading may go on. Pausing the socket instead left a caller's hang-up
 * unseen: Node sees the end of a stream only while reading it, so a sync caller that pipelined
 * 40 requests in one write and hung up kept its waiter slot until its wait ended (`maxWait`).
 * Past `maxBytes` kept the socket is paused after all, as Node pauses one whose answers are not
 * taken.
 */
class HeldReading {
  private held = false;
  private readonly kept: Buffer[] = [];
  private keptBytes = 0;
  /** What Node's HTTP server does with the bytes of the connection: parse them. */
  private readonly parse: ((chunk: Buffer) => void)[];

  constructor(
    private readonly socket: Socket,
    private readonly maxBytes: number,
  ) {
    // Node's server parses a connection's bytes in its `data` listener (`socketOnData`); added
    // to a plain TCP socket, whose bytes Node's parser takes from the handle directly, a `data`
    // listener makes them go through that listener too (Node's own `unconsume`).
    this.parse = socket.listeners("data") as ((chunk: Buffer) => void)[];
    for (const listener of this.parse) socket.removeListener("data", listener);
    socket.on("data", (chunk: Buffer) => this.received(chunk));
    // Node resumes a socket it paused itself once its answers are taken: what is kept goes first.
    socket.on("resume", () => this.parseKept());
  }

  hold(): void {
    this.held = true;
  }

  release(): void {
    this.held = false;
    this.parseKept();
    if (!this.held && this.keptBytes <= this.maxBytes && !(this.socket as NodeSocket)._paused) {
      this.socket.resume();
    }
  }

  private received(chunk: Buffer): void {
    if (this.held || this.kept.length > 0 || (this.socket as NodeSocket)._paused) {
      this.kept.push(chunk);
      this.keptBytes += chunk.length;
      if (this.keptBytes > this.maxBytes) this.socket.pause();
      return;
    }
    this.forward(chunk);
  }

  /** What was kept, to the parser, in order, for as long as it may take it. */
  private parseKept(): void {
    while (!this.held && !(this.socket as NodeSocket)._paused && !this.socket.destroyed) {
      const chunk = this.kept.shift();
      if (chunk === undefined) return;
      this.keptBytes -= chunk.length;
      this.forward(chunk);
    }
  }

  private forward(chunk: Buffer): void {
    for (const parse of this.parse) parse(chunk);
  }
}
