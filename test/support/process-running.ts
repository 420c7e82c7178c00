// Whether a process a test started is still there, read from /proc as the kernel keeps it.

import { readFileSync } from "node:fs";

/** Whether `pid` is a process that runs (not gone, not a zombie waiting for its parent). */
export function running(pid: number): boolean {
  try {
    // The state follows the name in parentheses, which may itself hold spaces.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}
