// Loaded into a `sluice` process by tests only (`node --require loaded-packages.js`), never in
// production: as the process exits it writes the npm packages it loaded, one name a line, to the
// file SLUICE_TEST_LOADED_PACKAGES names, so a test can say what a command did not load.

import { writeFileSync } from "node:fs";

/** The packages of `files` (module paths, as require.cache has them), by name, sorted. */
export function packagesOf(files: string[]): string[] {
  const names = new Set<string>();
  for (const file of files) {
    // The innermost node_modules names the package a nested dependency belongs to.
    const found = [...file.matchAll(/node_modules\/((?:@[^/]+\/)?[^/]+)/g)].pop();
    if (found) names.add(found[1]);
  }
  return [...names].sort();
}

const out = process.env.SLUICE_TEST_LOADED_PACKAGES;
if (out) {
  process.on("exit", () => writeFileSync(out, packagesOf(Object.keys(require.cache)).join("\n")));
}
