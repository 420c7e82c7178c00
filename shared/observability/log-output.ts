// Standard output as a role's log destination: lines batched and written once per turn of the
// event loop, never waiting for a slow reader, and flushed at exit; a reader gone away (EPIPE)
// ends the writing only.

import { writeSync } from "node:fs";
import type { DestinationStream } from "pino";

/** Standard output as pino writes to it; `flush` as pino's `logger.flush(cb)` calls it. */
export interface LogOutput extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
}

export interface LogOutputOptions {
  /** What is kept for a reader that does not keep up, in bytes, before lines are dropped. */
  maxBuffered?: number;
  /** Called once each time lines start being dropped for a reader that does not keep up. */
  onBehind?: () => void;
  /**
   * How long the exit waits for a reader that takes nothing, in milliseconds, before the lines
   * left are dropped and `onStalledAtExit` says so. A reader that takes something starts it anew.
   */
  exitWaitMs?: number;
  /** Called once when the exit gives up on a reader that took nothing for `exitWaitMs`. */
  onStalledAtExit?: () => void;
}

/** How long a full pipe is left before the next try, and between tries at exit. */
const RETRY_MS = 10;
const DEFAULT_MAX_BUFFERED = 16 * 1024 * 1024;
/**
 * A reader alive but taking nothing (a suspended log shipper, an unscrolled `| less`) would hold
 * an exiting process for ever, and a process that does not end is not restarted by its
 * supervisor: a role that failed would stay down. Five seconds of nothing taken is a stall.
 */
export const DEFAULT_EXIT_WAIT_MS = 5_000;
/** What the exit's loop sleeps on between tries: nothing ever wakes it before its time. */
const EXIT_SLEEP = new Int32Array(new SharedArrayBuffer(4));

/**
 * Writes lines to `fd` from this thread, with the descriptor non-blocking (Node makes standard
 * output so): what a full pipe does not take waits for the next try, in order, and the event
 * loop never waits. sonic-boom's asynchronous writes ran on libuv's thread pool: a write still
 * queued there at exit (the pool busy with DNS look-ups or file reads) came after the lines
 * written at exit, or was lost with the process. Once a write fails with EPIPE (the reader, a
 * `| tee` or a log shipper, went away) lines are dropped and `onGone` is called once: the process
 * serves on and exits with its own code. A reader that stops reading costs at most `maxBuffered`
 * bytes: lines past it are dropped, and `onBehind` says so. At exit a reader that takes nothing
 * for `exitWaitMs` is given up on: the lines left are dropped, `onStalledAtExit` says so, and the
 * process ends.
 */
export function logOutput(
  fd: number,
  onGone: (error: Error) => void,
  options: LogOutputOptions = {},
): LogOutput {
  const maxBuffered = options.maxBuffered ?? DEFAULT_MAX_BUFFERED;
  const exitTries = Math.max(1, Math.ceil((options.exitWaitMs ?? DEFAULT_EXIT_WAIT_MS) / RETRY_MS));
  // Node opens its standard streams on first use, a pipe then non-blocking: a write never waits.
  if (fd === 1) void process.stdout;
  let lines: string[] = [];
  let linesBytes = 0;
  /** The rest of a chunk the reader took part of: written before any later line. */
  let partial: Buffer | null = null;
  let scheduled = false;
  let retry: NodeJS.Timeout | null = null;
  let behind = false;
  let gone = false;
  let flushes: ((err?: Error) => void)[] = [];
  /** Bytes the reader has taken: the exit's wait starts anew whenever this moves. */
  let taken = 0;

  const stop = (error: Error): void => {
    if (gone) return;
    gone = true;
    lines = [];
    linesBytes = 0;
    partial = null;
    onGone(error);
  };

  /** Writes what the reader takes; true when nothing is left. Other errors are thrown. */
  const writeOut = (): boolean => {
    while (!gone && (partial !== null || lines.length > 0)) {
      if (partial === null) {
        partial = Buffer.from(lines.join(""));
        lines = [];
        linesBytes = 0;
      }
      try {
        const written = writeSync(fd, partial);
        taken += written;
        partial = written < partial.length ? partial.subarray(written) : null;
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        if (code === "EAGAIN" || code === "EWOULDBLOCK") return false;
        if (code === "EPIPE") stop(error as Error);
        else throw error;
      }
    }
    behind = false;
    return true;
  };

  const drain = (): void => {
    scheduled = false;
    retry = null;
    // Any other failure ends the process, as pino's destination did with an unheard error.
    if (!writeOut()) {
      retry = setTimeout(drain, RETRY_MS);
      retry.unref();
      return;
    }
    const done = flushes;
    flushes = [];
    for (const cb of done) cb();
  };

  const schedule = (): void => {
    if (scheduled || retry !== null) return;
    scheduled = true;
    setImmediate(drain).unref();
  };

  /** Once the process exits no turn of the event loop comes: lines are written as they come. */
  let exiting = false;
  const writeAll = (): void => {
    try {
      // The lines not written yet, while a reader can still take them: a slow reader is waited
      // for, as the process has nothing else to do, but not one that takes nothing. The wait is
      // counted in tries, not read off a clock.
      let idleTries = 0;
      let before = taken;
      while (!writeOut()) {
        idleTries = taken === before ? idleTries + 1 : 0;
        before = taken;
        if (idleTries >= exitTries) {
          // Lines an exit handler logs after this are dropped too, not waited for again.
          gone = true;
          lines = [];
          linesBytes = 0;
          partial = null;
          options.onStalledAtExit?.();
          return;
        }
        Atomics.wait(EXIT_SLEEP, 0, 0, RETRY_MS);
      }
    } catch (error) {
      // The output failed: the exit keeps its code.
      stop(error as Error);
    }
  };

  process.on("exit", () => {
    exiting = true;
    if (retry !== null) clearTimeout(retry);
    writeAll();
  });

  return {
    write(line: string) {
      if (gone) return;
      const bytes = Buffer.byteLength(line);
      // What the reader took part of counts too: left out, a stalled reader held twice the bound.
      if ((partial?.length ?? 0) + linesBytes + bytes > maxBuffered) {
        if (!behind) {
          behind = true;
          options.onBehind?.();
        }
        return;
      }
      lines.push(line);
      linesBytes += bytes;
      // A line logged by an exit handler after this one (a module's last word) waits for no turn.
      if (exiting) writeAll();
      else schedule();
    },
    flush(cb?: (err?: Error) => void) {
      if (gone || (partial === null && lines.length === 0)) {
        if (cb) process.nextTick(cb);
        return;
      }
      if (cb) flushes.push(cb);
      schedule();
    },
  };
}
