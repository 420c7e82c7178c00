// Every process a test starts, and their end with the test process: a child still running when
// mocha ends (a hook that timed out, `--exit`, a crash, SIGINT or SIGTERM) is killed with it.
// Tests start processes with `spawn` and `fork` from here, never from node:child_process.

import * as childProcess from "node:child_process";
import path from "node:path";
import { killOwned, type Ownership } from "./owned-kill";

export type { Ownership };

const owned = new Map<childProcess.ChildProcess, Ownership>();

/**
 * Registers `child` to be killed when the test process ends, until it exits on its own.
 * spawn and fork below call it; a child made otherwise (execFile's, say) may be given to it.
 */
export function own<T extends childProcess.ChildProcess>(child: T, how: Ownership = {}): T {
  if (child.pid === undefined) return child; // never started: 'error' tells the test why
  owned.set(child, how);
  if (how.watchdog) watchdog()?.write(`+${child.pid} ${JSON.stringify(how)}\n`);
  child.once("exit", () => {
    owned.delete(child);
    // A deliberate stop or restart: the watchdog forgets it, and a new child is told anew.
    if (how.watchdog) watchdog()?.write(`-${child.pid}\n`);
  });
  return child;
}

let watchdogStdin: import("node:stream").Writable | null | undefined;

/**
 * The watchdog process (watchdog.ts), started at the first child given to it: it holds a pipe
 * from this process and kills what it was told of when the pipe ends, this process killed with
 * SIGKILL. It ends then too, and never holds this process up (unreferenced).
 */
function watchdog(): import("node:stream").Writable | null {
  if (watchdogStdin !== undefined) return watchdogStdin;
  const child = childProcess.spawn(process.execPath, [path.join(__dirname, "watchdog.js")], {
    stdio: ["pipe", "ignore", "inherit"],
  });
  child.unref();
  const stdin = child.stdin;
  (stdin as unknown as { unref(): void }).unref();
  stdin.on("error", () => undefined);
  watchdogStdin = stdin;
  return stdin;
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
    if (child.pid === undefined) continue;
    if (how.pidFile || how.group || (child.exitCode === null && child.signalCode === null))
      killOwned(child.pid, how);
  }
  owned.clear();
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
