// Reads a V8 CPU profile (`node --cpu-prof`) of the adapter and says where its time went:
// self time by area (Sluice file, npm package, Node internals, GC) and per function.

import { readFileSync } from "node:fs";
import { SourceMap } from "node:module";
import { fileURLToPath } from "node:url";
import { round, type ProfileEntry, type ProfileSummary } from "./bench-result";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}

interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}

interface CpuProfile {
  startTime: number;
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

const IDLE = new Set(["(idle)"]);

/** Where a frame's code lives, e.g. `sluice adapter/intake`, `pkg ajv`, `node http`. */
export function areaOf(frame: CallFrame): string {
  const url = frame.url;
  if (url === "") return frame.functionName.startsWith("(") ? frame.functionName : "(native)";
  const pkg = /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(url);
  if (pkg) return `pkg ${pkg[1]}`;
  if (url.startsWith("node:")) return `node ${url.slice(5).split("/")[0]}`;
  const own = /\/dist\/((?:adapter|shared|worker|response-worker|cli|legacy-sim)\/[^?]+)\.js$/.exec(
    url,
  );
  if (own) return `sluice ${own[1]}`;
  return url.replace(/^file:\/\//, "");
}

const maps = new Map<string, SourceMap | null>();

/** `adapter/intake.ts:202` for a frame in Sluice's compiled code (through its source map). */
function sourceLocation(frame: CallFrame): string | null {
  const own = /\/dist\/((?:adapter|shared|worker|response-worker|cli|legacy-sim)\/[^?]+)\.js$/.exec(
    frame.url,
  );
  if (!own) return null;
  const file = fileURLToPath(frame.url);
  if (!maps.has(file)) {
    try {
      maps.set(file, new SourceMap(JSON.parse(readFileSync(`${file}.map`, "utf8"))));
    } catch {
      maps.set(file, null);
    }
  }
  const entry = maps.get(file)?.findEntry(frame.lineNumber, frame.columnNumber);
  if (!entry || !("originalLine" in entry)) return `${own[1]}.js:${frame.lineNumber + 1}`;
  return `${own[1]}.ts:${entry.originalLine + 1}`;
}

function labelOf(frame: CallFrame): string {
  const name = frame.functionName || "(anonymous)";
  const own = sourceLocation(frame);
  if (own) return `${name} — ${own}`;
  return `${name} — ${areaOf(frame)}:${frame.lineNumber + 1}`;
}

function top(map: Map<string, number>, total: number, n: number): ProfileEntry[] {
  return [...map.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([label, ms]) => ({ label, selfMs: round(ms, 1), share: round(ms / total, 4) }));
}

/**
 * Summarises the samples taken between `window.fromS` and `window.toS` seconds after the
 * profile started (the measured load, without start-up and shutdown); all samples if omitted.
 */
export function summariseProfile(
  file: string,
  run: string,
  window?: { fromS: number; toS: number },
): ProfileSummary {
  const profile = JSON.parse(readFileSync(file, "utf8")) as CpuProfile;
  const byId = new Map<number, ProfileNode>();
  for (const node of profile.nodes) byId.set(node.id, node);
  const selfUs = new Map<number, number>();
  const fromUs = (window?.fromS ?? 0) * 1e6;
  const toUs = (window?.toS ?? Infinity) * 1e6;
  let at = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const delta = profile.timeDeltas[i] ?? 0;
    at += delta;
    if (at < fromUs || at > toUs) continue;
    const id = profile.samples[i];
    selfUs.set(id, (selfUs.get(id) ?? 0) + delta);
  }
  const parent = new Map<number, number>();
  for (const node of profile.nodes)
    for (const child of node.children ?? []) parent.set(child, node.id);

  let totalUs = 0;
  const byArea = new Map<string, number>();
  const byFunction = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const frame = byId.get(id)?.callFrame;
    if (!frame || IDLE.has(frame.functionName)) continue;
    totalUs += us;
    const area = areaOf(frame);
    byArea.set(area, (byArea.get(area) ?? 0) + us / 1000);
    const label = labelOf(frame);
    byFunction.set(label, (byFunction.get(label) ?? 0) + us / 1000);
  }

  // Inclusive time of Sluice's own functions: a sample counts once per function on its stack.
  const inclusive = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const leaf = byId.get(id)?.callFrame;
    if (!leaf || IDLE.has(leaf.functionName)) continue;
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const frame = byId.get(at)?.callFrame;
      if (!frame || !areaOf(frame).startsWith("sluice ")) continue;
      const label = labelOf(frame);
      if (seen.has(label)) continue;
      seen.add(label);
      inclusive.set(label, (inclusive.get(label) ?? 0) + us / 1000);
    }
  }

  const totalMs = totalUs / 1000;
  return {
    run,
    totalMs: round(totalMs, 1),
    byArea: top(byArea, totalMs, 25),
    topFunctions: top(byFunction, totalMs, 30),
    sluiceInclusive: top(inclusive, totalMs, 25),
    file,
  };
}

if (require.main === module) {
  const file = process.argv[2];
  if (!file) {
    process.stderr.write("usage: node dist/bench/profile-summary.js <file.cpuprofile>\n");
    process.exit(2);
  }
  const summary = summariseProfile(file, file);
  const print = (title: string, entries: ProfileEntry[]): void => {
    process.stdout.write(`\n${title}\n`);
    for (const e of entries) {
      process.stdout.write(
        `${(e.share * 100).toFixed(1).padStart(5)}%  ${e.selfMs.toFixed(0).padStart(7)} ms  ${e.label}\n`,
      );
    }
  };
  process.stdout.write(`busy time ${summary.totalMs.toFixed(0)} ms\n`);
  print("self time by area", summary.byArea);
  print("hottest functions (self)", summary.topFunctions);
  print("Sluice functions (inclusive)", summary.sluiceInclusive);
}
