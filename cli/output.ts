// What a command prints on stdout, and its exit once that has left the process: Node writes to
// a pipe asynchronously on Linux, and process.exit drops whatever a slow reader has not taken.
// What it says of itself goes to stderr, one `sluice: ` line at a time.

import { hideUrlPasswords } from "../shared/observability/url-passwords";

let writeFailure: NodeJS.ErrnoException | null = null;

/** Writes `text` to stdout. A write that fails is remembered for the exit code, not thrown. */
export function printOut(text: string): void {
  if (process.stdout.listenerCount("error") === 0) {
    // Unheard, an EPIPE (the reader went away, as `| head` does) ends the process with a trace.
    process.stdout.on("error", (error: NodeJS.ErrnoException) => (writeFailure ??= error));
  }
  process.stdout.write(text);
}

/**
 * Exits with `code` once stdout has written all it holds. A reader that stopped reading keeps
 * the code (the command did its work); any other failure to write its answer is exit 1.
 */
export async function exitAfterOutput(code: number): Promise<never> {
  await drained(process.stdout);
  // A write to a file (`> /dev/full`) fails at once, but its error event comes on a later
  // tick: let it arrive before the code is chosen.
  await new Promise((resolve) => setImmediate(resolve));
  if (writeFailure && writeFailure.code !== "EPIPE") {
    sayOnStderr(`could not write the output: ${writeFailure.message}`);
    process.exit(1);
  }
  process.exit(code);
}

/**
 * Writes `text` to stderr as one `sluice: ` line, a URL's password in it hidden: an error or
 * warning may quote a library's message, and with it the URL it could not reach. Plain text: a
 * `"` in it may be a password's.
 */
export function sayOnStderr(text: string): void {
  process.stderr.write(`sluice: ${hideUrlPasswords(text, "text")}\n`);
}

/** Says `message` on stderr and exits with `code`: a command that cannot go on. */
export function fail(message: string, code = 1): never {
  sayOnStderr(message);
  process.exit(code);
}

function drained(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.writableLength === 0 || stream.destroyed) return Promise.resolve();
  // Writes complete in order: this callback comes after every earlier one, failed or not.
  return new Promise((resolve) => stream.write("", () => resolve()));
}
