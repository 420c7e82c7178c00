// Loaded into a Sluice role by tests only (`node --expose-gc --require heap-probe.js`), never in
// production: on SIGUSR2 it collects garbage twice and writes the heap then in use as one JSON
// line on stderr, `{"heapProbe":n,"heapUsed":bytes}` (n counts the probes, from 1), which the
// test reads from the role's stderr. With HEAP_PROBE_SNAPSHOTS set to a directory it writes a
// heap snapshot there too (`probe-<role pid>-<n>.heapsnapshot`), for finding what a growing
// heap holds.

import path from "node:path";
import v8 from "node:v8";

const collect = (globalThis as { gc?: () => void }).gc;
if (!collect) throw new Error("heap-probe needs node --expose-gc");

let probes = 0;
process.on("SIGUSR2", () => {
  // After a turn of the event loop: what the signal interrupted finishes first, and the
  // promises and callbacks it let go of are garbage by then.
  setImmediate(() => {
    collect();
    collect();
    probes += 1;
    const snapshots = process.env.HEAP_PROBE_SNAPSHOTS;
    if (snapshots) {
      v8.writeHeapSnapshot(path.join(snapshots, `probe-${process.pid}-${probes}.heapsnapshot`));
    }
    const { heapUsed } = process.memoryUsage();
    process.stderr.write(`${JSON.stringify({ heapProbe: probes, heapUsed })}\n`);
  });
});
