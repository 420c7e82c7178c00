import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";

const ROOT = path.resolve(__dirname, "..", "..", "..");

interface LockEntry {
  version?: string;
  license?: string;
  dev?: boolean;
  name?: string;
}
interface Lock {
  packages: Record<string, LockEntry>;
}
interface Package {
  name: string;
  version: string;
  license: string;
}

const { NOTICES_FILE, noticesText, productionPackages, productionSbom } = require(
  path.join(ROOT, "scripts/sbom.js"),
) as {
  NOTICES_FILE: string;
  noticesText: (lock: Lock) => string;
  productionPackages: (lock: Lock) => Package[];
  productionSbom: (sbom: object, lock: Lock) => Sbom;
};

interface Sbom {
  metadata: { component: { name: string } };
  components: { name: string }[];
  dependencies: { ref: string; dependsOn: string[] }[];
}

// Licenses a public agency can ship without obligations beyond keeping the notice (docs/security.md,
// "Supply chain"). A package under any other license is a decision to make and write down there.
const SHIPPABLE = new Set([
  "MIT",
  "ISC",
  "0BSD",
  "BSD-2-Clause",
  "BSD-3-Clause",
  "Apache-2.0",
  "BlueOak-1.0.0",
]);

describe("third-party notices", () => {
  const lock = JSON.parse(readFileSync(path.join(ROOT, "package-lock.json"), "utf8")) as Lock;

  it("are up to date with package-lock.json's production dependencies (else run npm run sbom)", () => {
    expect(readFileSync(NOTICES_FILE, "utf8")).to.equal(noticesText(lock));
  });

  it("list a production package npm locks, and no development one", () => {
    const notices = readFileSync(NOTICES_FILE, "utf8");
    const koa = lock.packages["node_modules/koa"];
    const mocha = lock.packages["node_modules/mocha"];
    expect(notices).to.match(new RegExp(`^koa@${koa.version} +${koa.license}$`, "m"));
    expect(mocha.dev).to.equal(true);
    expect(notices).to.not.match(/^mocha@/m);
  });

  it("name each package once per version, nested copies included", () => {
    const fake: Lock = {
      packages: {
        "": { name: "sluice" },
        "node_modules/a": { version: "1.0.0", license: "MIT" },
        "node_modules/b/node_modules/a": { version: "1.0.0", license: "MIT" },
        "node_modules/c/node_modules/a": { version: "2.0.0", license: "ISC" },
        "node_modules/d": { version: "1.0.0", license: "MIT", dev: true },
        "node_modules/e": { name: "f", version: "3.0.0" },
      },
    };
    expect(productionPackages(fake)).to.deep.equal([
      { name: "a", version: "1.0.0", license: "MIT" },
      { name: "a", version: "2.0.0", license: "ISC" },
      { name: "f", version: "3.0.0", license: "UNKNOWN" },
    ]);
  });

  it("name only licenses an agency can ship", () => {
    const others = productionPackages(lock).filter((p) => !SHIPPABLE.has(p.license));
    expect(others.map((p) => `${p.name}@${p.version} ${p.license}`)).to.deep.equal([]);
  });

  it("keep in the SBOM the production packages npm sbom lists, and refuse one it left out", () => {
    const fake: Lock = {
      packages: {
        "": { name: "sluice" },
        "node_modules/a": { version: "1.0.0", license: "MIT" },
        "node_modules/d": { version: "1.0.0", license: "MIT", dev: true },
      },
    };
    const component = (name: string) => ({ "bom-ref": `${name}@1.0.0`, name, version: "1.0.0" });
    const sbom = {
      metadata: { component: { "bom-ref": "sluice@0.1.0", name: "checkout-folder" } },
      components: [component("a"), component("d")],
      dependencies: [
        { ref: "sluice@0.1.0", dependsOn: ["a@1.0.0", "d@1.0.0"] },
        { ref: "d@1.0.0", dependsOn: ["a@1.0.0"] },
      ],
    };
    const kept = productionSbom(sbom, fake);
    expect(kept.metadata.component.name).to.equal("sluice");
    expect(kept.components.map((c) => c.name)).to.deep.equal(["a"]);
    expect(kept.dependencies).to.deep.equal([{ ref: "sluice@0.1.0", dependsOn: ["a@1.0.0"] }]);
    expect(() => productionSbom({ ...sbom, components: [component("d")] }, fake)).to.throw(
      "npm sbom left out a@1.0.0",
    );
  });
});
