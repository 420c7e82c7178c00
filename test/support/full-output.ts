// Runs the sluice command with its standard output on /dev/full, where every write fails with
// ENOSPC as on a full disk: what the command does when its answer cannot be written.

import { spawnSync, type SpawnSyncReturns } from "node:child_process";
import { closeSync, openSync } from "node:fs";
import path from "node:path";

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

/** The line every command writes on stderr when its answer could not be written there. */
export const FULL_DISK_LINE =
  "sluice: could not write the output: ENOSPC: no space left on device, write\n";

export function sluiceToFullDisk(
  args: string[],
  env: Record<string, string> = {},
): SpawnSyncReturns<string> {
  const full = openSync("/dev/full", "w");
  try {
    return spawnSync(process.execPath, [BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ["ignore", full, "pipe"],
      encoding: "utf8",
      timeout: 20_000,
    });
  } finally {
    closeSync(full);
  }
}
