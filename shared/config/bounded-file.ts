// Files the configuration names (the configuration itself, JSON Schemas, certificates and
// keys) are read whole at start. Each must be a regular file of bounded size, looked at before
// it is read: `/dev/zero` was read without end (gigabytes in seconds, SIGTERM unheard while the
// read held the process), a FIFO would block for ever, and a configuration of megabytes took
// `sluice check` minutes to parse.

import { readFileSync, statSync } from "node:fs";

/** Why a file was not read, in words fit for the one line that names it. */
export class UnreadableFile extends Error {}

/** The bytes of `file`, a regular file of at most `maxBytes`; throws UnreadableFile, or fs's error. */
export function readBoundedFile(file: string, maxBytes: number): Buffer {
  const stat = statSync(file);
  if (!stat.isFile()) throw new UnreadableFile("it is not a regular file");
  if (stat.size > maxBytes) {
    throw new UnreadableFile(`it is larger than ${Math.round(maxBytes / 1024)} KiB`);
  }
  return readFileSync(file);
}

/** The most a configuration file or a JSON Schema it names may hold. */
export const MAX_CONFIG_FILE_BYTES = 1024 * 1024;
