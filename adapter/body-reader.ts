// Reads a request body with a hard size limit, so an oversized or endless body ends in a
// clear 413 and never in memory growth.

import type { IncomingMessage } from "node:http";
import { declaredLength } from "../shared/protocol/content-length";
import { SluiceError } from "../shared/protocol/errors";
import { continueIfExpected } from "../shared/protocol/expect-continue";
import { refuseIfStalled } from "./loop-stall";

const EMPTY = Buffer.alloc(0);
/** A Content-Encoding that says the body is not encoded (RFC 9110 §8.4.1: "identity", or none). */
const IDENTITY = /^\s*(?:identity\s*)?$/i;
/** A Transfer-Encoding of chunked alone (Node refuses one whose last coding is not chunked). */
const CHUNKED_ONLY = /^\s*chunked\s*$/i;

/** First allocation for a body of unknown (chunked) or not yet proven length. */
const INITIAL_CAPACITY = 16 * 1024;

/**
 * The whole body, at most `limit` bytes, copied as it arrives into one buffer that grows by
 * doubling. Each chunk is released as soon as it is copied, so how finely a client slices its
 * body (100 000 one-byte chunks) does not change what the request costs: at most twice its
 * length, never a list of small buffers with their overheads.
 */
export async function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const coding = req.headers["content-encoding"];
  if (coding !== undefined && !IDENTITY.test(coding)) {
    // Read as it is, a gzipped body failed as "not valid UTF-8", and a plain one labelled
    // gzip was accepted and sent on with the label, for the backend to fail after a 202.
    throw new SluiceError(
      "InvalidContentType",
      `the body's Content-Encoding (${coding.slice(0, 64)}) is not supported: send it unencoded`,
    );
  }
  const transfer = req.headers["transfer-encoding"];
  if (transfer !== undefined && !CHUNKED_ONLY.test(transfer)) {
    // Node takes any codings before the final chunked and hands on the body still coded: a
    // gzipped JSON body failed as "not valid UTF-8", and a body of a pass-through type was
    // accepted (202) and reached the backend as the coding's bytes, without any label.
    throw new SluiceError(
      "InvalidContentType",
      `the body's Transfer-Encoding (${transfer.slice(0, 64)}) is not supported: send it chunked, without other codings, or with a Content-Length`,
    );
  }
  refuseIfStalled();
  const declared = declaredLength(req);
  if (declared !== null && declared > limit) {
    // Not read at all: after the answer, closeUnreadBody drops a bounded rest and closes.
    throw new SluiceError("PayloadTooLarge", `the body is larger than ${limit} bytes`);
  }
  // Nothing more will come (an empty body already read to its end).
  if (req.readableEnded) return EMPTY;
  // Closed while the route waited before the body (the X-Road id's look-up of a 503 judged
  // from the head, a callback target's name): its `close` has been emitted and never comes
  // again, and a read waiting for it held the request and its handler for ever. A caller's
  // half-close after a whole request is such a close: Node destroys the request then.
  if (req.destroyed) throw unreadable(req);
  // Within the limit as far as it is known: a caller waiting for 100 Continue may send it.
  continueIfExpected(req);
  return new Promise<Buffer>((resolve, reject) => {
    // A declared length is only an announcement: memory follows what really arrives.
    // Not from Node's shared 8 KB pool: a small body would be a slice pinning a whole pool
    // chunk for as long as the request lives (a sync caller waits up to maxWait), 8 KB
    // instead of its own few hundred bytes; 10 000 waiters pinned ~26 MB that way.
    const buffer = Buffer.allocUnsafeSlow(Math.min(declared ?? INITIAL_CAPACITY, INITIAL_CAPACITY));
    (req as ReadRequest)[READ] = { resolve, reject, buffer, length: 0, declared, limit };
    req.on("data", onData);
    req.on("end", onEnd);
    req.on("error", onError);
    req.on("close", onClose);
  });
}

/**
 * A body being read: what the request's listeners need, hung on the request itself. The four
 * listeners are module functions shared by every request (Node calls them with the request as
 * `this`), so a request costs this one object while its body arrives and nothing once it is
 * read: a sync caller waits up to maxWait, and per-request listener closures with their scope
 * were about 450 bytes of every waiting caller's memory.
 */
interface BodyRead {
  resolve(body: Buffer): void;
  reject(error: Error): void;
  buffer: Buffer;
  length: number;
  declared: number | null;
  limit: number;
}

const READ = Symbol("sluice.body-read");
/** Null once settled: a settled promise's resolve function and the buffer are let go. */
type ReadRequest = IncomingMessage & { [READ]?: BodyRead | null };

function onData(this: ReadRequest, chunk: Buffer): void {
  const read = this[READ];
  if (!read) return;
  const needed = read.length + chunk.length;
  if (needed > read.limit) {
    fail(this, new SluiceError("PayloadTooLarge", `the body is larger than ${read.limit} bytes`));
    return;
  }
  if (needed > read.buffer.length) {
    let capacity = Math.max(read.buffer.length * 2, INITIAL_CAPACITY);
    while (capacity < needed) capacity *= 2;
    const grown = Buffer.allocUnsafe(
      Math.max(needed, Math.min(capacity, read.declared ?? read.limit)),
    );
    read.buffer.copy(grown, 0, 0, read.length);
    read.buffer = grown;
  }
  chunk.copy(read.buffer, read.length);
  read.length = needed;
}

function onEnd(this: ReadRequest): void {
  const read = this[READ];
  if (!read) return;
  if (read.declared !== null && read.length !== read.declared) {
    fail(this, new SluiceError("InvalidRequest", "the body is shorter than its Content-Length"));
    return;
  }
  this[READ] = null;
  // The listeners stay: the request has ended, so they never run again (each checks its
  // state) and go with it; removing four per request cost more than reading a small body.
  const { buffer, length } = read;
  try {
    // Its reading comes next, in this same turn: not while the loop is stalled already.
    refuseIfStalled();
  } catch (error) {
    read.reject(error as Error);
    return;
  }
  read.resolve(
    length * 2 < buffer.length
      ? copyUnpooled(buffer, length) // the exact length when it grew well past it
      : buffer.subarray(0, length),
  );
}

function onError(this: ReadRequest, error: Error): void {
  fail(this, unreadable(this, error));
}

function onClose(this: ReadRequest): void {
  if (!this.complete) fail(this, unreadable(this));
}

/** Why a body stopped arriving: Node's request deadline (408), or the connection's failure. */
function unreadable(req: IncomingMessage, cause?: Error): SluiceError {
  return timedOut(req)
    ? new SluiceError("InvalidRequest", "the request was not sent in time", { status: 408 })
    : new SluiceError("InvalidRequest", "the request body could not be read", { cause });
}

function fail(req: ReadRequest, error: SluiceError): void {
  const read = req[READ];
  if (!read) return;
  req[READ] = null;
  req.off("data", onData);
  req.off("end", onEnd);
  req.off("error", onError);
  req.off("close", onClose);
  req.pause(); // closeUnreadBody decides what happens to the rest
  read.reject(error);
}

/** The first `length` bytes in a buffer of their own (not a slice of Node's shared pool). */
function copyUnpooled(buffer: Buffer, length: number): Buffer {
  const copy = Buffer.allocUnsafeSlow(length);
  buffer.copy(copy, 0, 0, length);
  return copy;
}

/** True when Node ended the connection at adapter.requestTimeout (it has answered 408 itself). */
function timedOut(req: IncomingMessage): boolean {
  const errored = (req.socket as { errored?: { code?: string } | null } | null)?.errored;
  return errored?.code === "ERR_HTTP_REQUEST_TIMEOUT";
}

/** Media type of a Content-Type header, lower-cased, without parameters. */
export function mediaType(contentType: string | undefined): string | null {
  if (!contentType) return null;
  const type = contentType.split(";")[0].trim().toLowerCase();
  return type || null;
}

export function isJsonType(type: string | null): boolean {
  return (
    type !== null && (type === "application/json" || /^application\/[\w.-]+\+json$/.test(type))
  );
}
