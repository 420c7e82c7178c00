// How an owned child is killed, shared by the test process (spawned-children.ts) and the
// watchdog that does it for a test process killed with SIGKILL (watchdog.ts).

/** What ends a child besides its pid: its process group, the pid it writes to a file. */
export interface Ownership {
  /**
   * Kill its whole process group: a child started `detached` (the group's leader) whose own
   * children must go with it (a start script, the servers it runs).
   */
  group?: boolean;
  /**
   * A file holding the pid of the process that does the work, when that is not the child nor
   * in its group (a RabbitMQ node: the script switches user, the Erlang VM writes this file).
   */
  pidFile?: string;
  /**
   * Killed by the watchdog too when the test process dies of a SIGKILL: for a child that
   * cannot stop when its stdin ends (a redis-server, a RabbitMQ node).
   */
  watchdog?: boolean;
}

import { readFileSync } from "node:fs";

/** SIGKILLs `pid` and what `how` names with it; a process already gone is no error. */
export function killOwned(pid: number, how: Ownership): void {
  if (how.pidFile) {
    const worker = readPid(how.pidFile);
    if (worker) signal(worker);
  }
  if (how.group) signal(-pid);
  signal(pid);
}

function readPid(file: string): number | null {
  try {
    return Number(readFileSync(file, "utf8").trim()) || null;
  } catch {
    return null;
  }
}

function signal(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}
