// Standard output as a role's log destination: lines written asynchronously (a log call costs its
// caller no system call) and flushed at exit; a reader gone away (EPIPE) ends the writing only.

import type { DestinationStream } from "pino";
import SonicBoom from "sonic-boom";

/** Standard output as pino writes to it; `flush` as pino's `logger.flush(cb)` calls it. */
export interface LogOutput extends DestinationStream {
  flush(cb?: (err?: Error) => void): void;
  /** Whether a write found no reader (EPIPE): lines are dropped from then on. */
  readonly gone: boolean;
}

/**
 * Writes lines to `fd` through sonic-boom, as pino's own destination does, and writes what is
 * still buffered when the process exits. Once a write fails with EPIPE (the pipe's reader, a
 * `| tee` or a log shipper, went away) lines are dropped and `onGone` is called once: the
 * process serves on and exits with its own code. pino's destination (sonic-boom 4) retried the
 * failed write at exit without end, so a process whose reader died stopped but never exited;
 * sonic-boom 5's flushSync throws instead, and the throw ends the flush here.
 */
export function logOutput(fd: number, onGone: (error: Error) => void): LogOutput {
  const sonic = new SonicBoom({ fd, sync: false });
  let gone = false;
  const stop = (error: Error): void => {
    if (gone) return;
    gone = true;
    onGone(error);
  };
  sonic.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") return stop(error);
    // Any other failure ends the process as pino's destination does: an unheard error event.
    sonic.removeAllListeners("error");
    sonic.emit("error", error);
  });
  process.on("exit", () => {
    if (gone) return;
    try {
      // The lines an asynchronous write had not taken yet, while a reader can still take them.
      sonic.flushSync();
    } catch (error) {
      // Nothing reads them (EPIPE) or the output failed: the exit keeps its code.
      stop(error as Error);
    }
  });
  return {
    write(line: string) {
      if (!gone) sonic.write(line);
    },
    flush(cb?: (err?: Error) => void) {
      if (gone) {
        if (cb) process.nextTick(cb);
        return;
      }
      sonic.flush(cb);
    },
    get gone() {
      return gone;
    },
  };
}
