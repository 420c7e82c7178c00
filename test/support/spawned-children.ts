// Every process a test starts, and their end with the test process: a child still running when
// mocha ends (a hook that timed out, `--exit`, a crash, SIGINT or SIGTERM) is killed with it.
// Tests start processes with `spawn` and `fork` from here, never from node:child_process.

import * as childProcess from "node:child_process";
import { readFileSync } from "node:fs";

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
}

const owned = new Map<childProcess.ChildProcess, Ownership>();

/**
 * Registers `child` to be killed when the test process ends, until it exits on its own.
 * spawn and fork below call it; a child made otherwise (execFile's, say) may be given to it.
 */
export function own<T extends childProcess.ChildProcess>(child: T, how: Ownership = {}): T {
  if (child.pid === undefined) return child; // never started: 'error' tells the test why
  owned.set(child, how);
  child.once("exit", () => owned.delete(child));
  return child;
}

/** node:child_process's spawn, the child owned (see `own`). */
export const spawn: typeof childProcess.spawn = ((...args: Parameters<typeof childProcess.spawn>) =>
  own(childProcess.spawn(...args))) as typeof childProcess.spawn;

/** node:child_process's fork, the child owned (see `own`). */
export const fork: typeof childProcess.fork = ((...args: Parameters<typeof childProcess.fork>) =>
  own(childProcess.fork(...args))) as typeof childProcess.fork;

/** How many owned children have not exited yet. */
export function ownedCount(): number {
  return owned.size;
}

/**
 * Kills every owned child still running, at once and synchronously (SIGKILL: there is no
 * later in an 'exit' handler, and a process left to stop gracefully outlives the test
 * process). The broker and Redis a test did not start are never in the map.
 */
export function killOwnedChildren(): void {
  for (const [child, how] of owned) {
    if (how.pidFile) {
      const pid = readPid(how.pidFile);
      if (pid) signal(pid);
    }
    if (how.group && child.pid) signal(-child.pid);
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill("SIGKILL");
      } catch {
        // already gone
      }
    }
  }
  owned.clear();
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

// `--exit`, a crash and mocha's own end all pass through 'exit'. A signal with no listener
// ends Node without it, so these listen, kill, and raise the signal again once nothing else
// listens (mocha's parallel runner handles SIGINT itself and exits).
process.on("exit", killOwnedChildren);
for (const name of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
  const onSignal = (): void => {
    killOwnedChildren();
    if (process.listenerCount(name) === 1) {
      process.removeListener(name, onSignal);
      process.kill(process.pid, name);
    }
  };
  process.on(name, onSignal);
}
