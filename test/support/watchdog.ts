// The watchdog of a test process: it reads, on stdin, which children to kill (`+pid {how}`) and
// which not any more (`-pid`), and kills those left when stdin ends, the test process dead.

import { createInterface } from "node:readline";
import { killOwned, type Ownership } from "./owned-kill";

const watched = new Map<number, Ownership>();
// A terminal's ^C reaches the whole group: the test process kills its children itself then.
for (const name of ["SIGINT", "SIGHUP"] as const) process.on(name, () => undefined);
createInterface({ input: process.stdin })
  .on("line", (line) => {
    const pid = Number(line.slice(1).split(" ")[0]);
    if (line.startsWith("+")) watched.set(pid, JSON.parse(line.slice(line.indexOf(" ") + 1)));
    else watched.delete(pid);
  })
  .on("close", () => {
    for (const [pid, how] of watched) killOwned(pid, how);
    process.exit(0);
  });
