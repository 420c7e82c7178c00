// The docs point readers somewhere real: every relative link of README and docs/ reaches a file
// of the repository, every `docs/<page>.md` that the code, deploy/ or the docs name exists, so
// does every test file a page or a source comment names as the proof of a claim, and no page or
// source comment cites a document the repository does not hold.

import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const PAGES = [
  "README.md",
  ...readdirSync(path.join(ROOT, "docs"))
    .filter((name) => name.endsWith(".md"))
    .map((name) => `docs/${name}`),
];

const SOURCE_DIRS = [
  "adapter",
  "worker",
  "response-worker",
  "shared",
  "cli",
  "xroad-sim",
  "legacy-sim",
  "bench",
  "test",
];

/** Files under `dir` (relative to the repository) whose name ends with one of `endings`. */
function filesUnder(dir: string, endings: string[]): string[] {
  return readdirSync(path.join(ROOT, dir), { withFileTypes: true }).flatMap((entry) => {
    const at = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return filesUnder(at, endings);
    return endings.some((ending) => entry.name.endsWith(ending)) ? [at] : [];
  });
}

describe("links in the docs", () => {
  it("every relative Markdown link reaches a file", () => {
    const broken: string[] = [];
    for (const page of PAGES) {
      const text = readFileSync(path.join(ROOT, page), "utf8");
      for (const m of text.matchAll(/\]\(([^)\s#]+)(?:#[^)]*)?\)/g)) {
        if (/^[a-z]+:/.test(m[1])) continue;
        if (!existsSync(path.join(ROOT, path.dirname(page), m[1]))) broken.push(`${page}: ${m[1]}`);
      }
    }
    expect(broken).to.deep.equal([]);
  });

  it("every docs/<page>.md named in code, deploy/ or the docs exists", () => {
    const sources = [
      ...PAGES,
      ...["adapter", "worker", "response-worker", "shared", "cli", "deploy", "config"].flatMap(
        (dir) => filesUnder(dir, [".ts", ".yaml", ".yml", ".json"]),
      ),
    ];
    const missing: string[] = [];
    for (const file of sources) {
      const text = readFileSync(path.join(ROOT, file), "utf8");
      for (const m of text.matchAll(/\bdocs\/([a-z0-9-]+\.md)/g)) {
        if (!existsSync(path.join(ROOT, "docs", m[1]))) missing.push(`${file}: docs/${m[1]}`);
      }
    }
    expect(sources.length).to.be.greaterThan(50);
    expect(missing).to.deep.equal([]);
  });

  it("every test file named in the docs or a source comment exists", () => {
    // A claim's test moved or merged into another file leaves the page naming a file a reader
    // cannot open, and the claim looking untested.
    const sources = [...PAGES, ...SOURCE_DIRS.flatMap((dir) => filesUnder(dir, [".ts"]))];
    const missing: string[] = [];
    for (const file of sources) {
      const text = readFileSync(path.join(ROOT, file), "utf8");
      for (const m of text.matchAll(
        /\btest\/(?:unit|integration|e2e|chaos)\/[a-z0-9-]+\.test\.ts/g,
      )) {
        if (!existsSync(path.join(ROOT, m[0]))) missing.push(`${file}: ${m[0]}`);
      }
    }
    expect(sources.length).to.be.greaterThan(50);
    expect(missing).to.deep.equal([]);
  });

  it("README's table of documentation lists every page of docs/", () => {
    const readme = readFileSync(path.join(ROOT, "README.md"), "utf8");
    const listed = new Set(
      [...readme.matchAll(/^\| \[docs\/([a-z0-9-]+\.md)\]/gm)].map((m) => m[1]),
    );
    const pages = PAGES.filter((page) => page.startsWith("docs/")).map((page) => page.slice(5));
    expect(listed.size).to.be.greaterThan(5);
    expect(pages.filter((page) => !listed.has(page))).to.deep.equal([]);
  });

  it("no page cites a contract document the repository does not hold", () => {
    const cites = PAGES.filter((page) =>
      /\bCONTRACT\b/.test(readFileSync(path.join(ROOT, page), "utf8")),
    );
    expect(existsSync(path.join(ROOT, "CONTRACT.md")) ? [] : cites).to.deep.equal([]);
  });

  it("no source comment cites a contract document the repository does not hold", () => {
    const sources = SOURCE_DIRS.flatMap((dir) => filesUnder(dir, [".ts"]));
    expect(sources.length).to.be.greaterThan(50);
    const cites = sources.filter((file) =>
      /\bCONTRACT §/.test(readFileSync(path.join(ROOT, file), "utf8")),
    );
    expect(existsSync(path.join(ROOT, "CONTRACT.md")) ? [] : cites).to.deep.equal([]);
  });
});
