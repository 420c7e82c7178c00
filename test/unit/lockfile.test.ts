import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const REGISTRY = "https://registry.npmjs.org/";

// Packages whose install scripts (preinstall, install, postinstall, or a binding.gyp npm builds)
// are known and wanted, by name, with why. None is: the Dockerfile's `npm ci --ignore-scripts`
// runs none (docs/security.md, "Supply chain and runtime").
const PRODUCTION_INSTALL_SCRIPTS = new Map<string, string>();
// Development packages run theirs on `npm ci` in CI (.ci/run) and on developers' machines.
const DEVELOPMENT_INSTALL_SCRIPTS = new Map<string, string>();

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  link?: boolean;
  dev?: boolean;
  hasInstallScript?: boolean;
}

/** What is wrong with a lockfile's entries, one line each. */
function lockProblems(packages: Record<string, LockEntry>): string[] {
  const problems: string[] = [];
  for (const [key, entry] of Object.entries(packages)) {
    if (key === "") continue;
    const name = key.slice(key.lastIndexOf("node_modules/") + "node_modules/".length);
    if (!key.startsWith("node_modules/") || entry.link) {
      problems.push(`${key}: not a package from the registry (a link or a workspace)`);
      continue;
    }
    // Without `resolved` (npm's omit-lockfile-registry-resolved), npm fetches the version from
    // the registry it is configured with; a git, file or tarball dependency always has one.
    if (entry.resolved !== undefined && !entry.resolved.startsWith(REGISTRY)) {
      problems.push(`${key}: resolved from ${entry.resolved}, not ${REGISTRY}`);
    }
    if (!/^\d+\.\d+\.\d+(?:[-+][\w.+-]*)?$/.test(entry.version ?? "")) {
      problems.push(`${key}: version ${entry.version} is not a registry version`);
    }
    if (!/^sha512-[\w+/]{86}==$/.test(entry.integrity ?? "")) {
      problems.push(`${key}: no sha512 integrity hash`);
    }
    const known = entry.dev ? DEVELOPMENT_INSTALL_SCRIPTS : PRODUCTION_INSTALL_SCRIPTS;
    if (entry.hasInstallScript && !known.has(name)) {
      problems.push(`${key}: an install script not listed as known`);
    }
  }
  return problems;
}

describe("package-lock.json", () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as {
    lockfileVersion: number;
    packages: Record<string, LockEntry>;
  };

  it("is a lockfile npm ci reads whole (version 3, every package in `packages`)", () => {
    expect(lock.lockfileVersion).to.equal(3);
    expect(Object.keys(lock.packages).length).to.be.greaterThan(100);
  });

  it("locks every package from the npm registry over https with a sha512 hash, no install script unlisted", () => {
    expect(lockProblems(lock.packages)).to.deep.equal([]);
  });

  it("would name a git, tarball or http source, a missing hash and an install script", () => {
    const hash = `sha512-${"A".repeat(86)}==`;
    expect(
      lockProblems({
        "": {},
        "node_modules/a": { version: "1.0.0", integrity: hash },
        "node_modules/b": {
          version: "1.0.0",
          resolved: "https://registry.npmjs.org/b/-/b-1.0.0.tgz",
          integrity: hash,
        },
        "node_modules/c": {
          version: "1.0.0",
          resolved: "git+ssh://git@github.com/x/c.git#0123456789abcdef0123456789abcdef01234567",
          integrity: hash,
        },
        "node_modules/d": {
          version: "1.0.0",
          resolved: "https://example.org/d-1.0.0.tgz",
          integrity: hash,
        },
        "node_modules/e": {
          version: "1.0.0",
          resolved: "http://registry.npmjs.org/e/-/e-1.0.0.tgz",
        },
        "node_modules/f": { version: "file:../f", integrity: hash },
        "node_modules/g": { version: "1.0.0", integrity: "sha1-AAAAAAAAAAAAAAAAAAAAAAAAAAA=" },
        "node_modules/x/node_modules/h": {
          version: "1.0.0",
          integrity: hash,
          hasInstallScript: true,
        },
        "node_modules/i": { version: "1.0.0", integrity: hash, hasInstallScript: true, dev: true },
        "node_modules/j": { link: true },
      }),
    ).to.deep.equal([
      "node_modules/c: resolved from git+ssh://git@github.com/x/c.git#0123456789abcdef0123456789abcdef01234567, not https://registry.npmjs.org/",
      "node_modules/d: resolved from https://example.org/d-1.0.0.tgz, not https://registry.npmjs.org/",
      "node_modules/e: resolved from http://registry.npmjs.org/e/-/e-1.0.0.tgz, not https://registry.npmjs.org/",
      "node_modules/e: no sha512 integrity hash",
      "node_modules/f: version file:../f is not a registry version",
      "node_modules/g: no sha512 integrity hash",
      "node_modules/x/node_modules/h: an install script not listed as known",
      "node_modules/i: an install script not listed as known",
      "node_modules/j: not a package from the registry (a link or a workspace)",
    ]);
  });
});

describe("the release checks of the dependencies", () => {
  const scripts = (
    JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      scripts: Record<string, string>;
    }
  ).scripts;

  it("audit the production packages (npm run audit) and write the SBOM (npm run sbom)", () => {
    expect(scripts.audit).to.equal("npm audit --omit dev");
    expect(scripts.sbom).to.equal("node scripts/sbom.js");
  });

  it("are not part of npm test, whose outcome an advisory published later must not change", () => {
    const run = Object.entries(scripts)
      .filter(([name]) => ["pretest", "test", "posttest", "lint", "build"].includes(name))
      .map(([, command]) => command)
      .join("\n");
    expect(run).to.not.match(/\baudit\b|\bsbom\b/);
  });
});
