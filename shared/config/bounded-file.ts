// Files the configuration names (the configuration itself, JSON Schemas, certificates and
// keys) are read whole at start. Each must be a regular file of bounded size, looked at before
// it is read: `/dev/zero` was read without end (gigabytes in seconds, SIGTERM unheard while the
// read held the process), a FIFO would block for ever, and a configuration of megabytes took
// `sluice check` minutes to parse.

import { closeSync, openSync, readSync, statSync } from "node:fs";

/** Why a file was not read, in words fit for the one line that names it. */
export class UnreadableFile extends Error {}

/** The bytes of `file`, a regular file of at most `maxBytes`; throws UnreadableFile, or fs's error. */
export function readBoundedFile(file: string, maxBytes: number): Buffer {
  const stat = statSync(file);
  if (!stat.isFile()) throw new UnreadableFile("it is not a regular file");
  const tooLarge = () => new UnreadableFile(`it is larger than ${Math.round(maxBytes / 1024)} KiB`);
  if (stat.size > maxBytes) throw tooLarge();
  // Read to the bound, not to the size: a file of /proc or /sys says it has none (0 bytes), so
  // /proc/self/smaps or a kernel's table was read whole whatever it held.
  const fd = openSync(file, "r");
  try {
    // One byte more than the size: the end is known when a read returns nothing.
    let chunk = Buffer.alloc(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      if (length === chunk.length) {
        if (length > maxBytes) throw tooLarge();
        const larger = Buffer.alloc(Math.min(length * 2 + 4096, maxBytes + 1));
        chunk.copy(larger);
        chunk = larger;
      }
      const read = readSync(fd, chunk, length, chunk.length - length, null);
      if (read === 0) return chunk.subarray(0, length);
      length += read;
    }
  } finally {
    closeSync(fd);
  }
}

/** The most a configuration file or a JSON Schema it names may hold. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
