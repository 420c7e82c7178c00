// The error codes the docs promise callers against the closed list Sluice emits
// (shared/protocol/errors.ts): a SOAP faultcode or REST error type named on a page about
// Sluice's own answers must be one Sluice can send, and the SOAP page lists every code.

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { ERROR_CODES } from "../../shared/protocol/errors";

const ROOT = path.resolve(__dirname, "..", "..", "..");
const read = (page: string) => readFileSync(path.join(ROOT, page), "utf8");

/**
 * Pages about Sluice's own answers. The consumer direction, callbacks through X-Road and the
 * simulators' pages name the security server's codes (`Server.ServerProxy.…`), not Sluice's.
 */
const PAGES = [
  "README.md",
  "docs/semantics.md",
  "docs/soap.md",
  "docs/rest.md",
  "docs/backpressure.md",
  "docs/configuration.md",
  "docs/operator.md",
  "docs/operations.md",
  "docs/worker-limits.md",
];

describe("error codes in the docs", () => {
  it("every Client.<Code> and Server.<Code> they name is one Sluice sends", () => {
    const unknown: string[] = [];
    let named = 0;
    for (const page of PAGES) {
      for (const m of read(page).matchAll(/\b(Client|Server)\.([A-Z][A-Za-z]+)\b/g)) {
        named++;
        if (!(ERROR_CODES as readonly string[]).includes(m[2])) unknown.push(`${page}: ${m[0]}`);
      }
    }
    expect(named).to.be.greaterThan(20);
    expect(unknown).to.deep.equal([]);
  });

  it("docs/soap.md's fault table has a row for every code but the status documents' own", () => {
    const rows = new Set(
      [...read("docs/soap.md").matchAll(/^\| `(?:Client|Server)\.([A-Za-z]+)` +\|/gm)].map(
        (m) => m[1],
      ),
    );
    // Never a SOAP fault: JSON and path errors are REST's, method and conflict answers are
    // the status and hub resources', Ambiguous the admin port's, Expired and Cancelled are
    // states in a status document.
    const restOnly = ["InvalidJson", "InvalidPath", "MethodNotAllowed"];
    const notFaults = [...restOnly, "Conflict", "Ambiguous", "Expired", "Cancelled"];
    const missing = ERROR_CODES.filter((code) => !notFaults.includes(code) && !rows.has(code));
    expect(missing).to.deep.equal([]);
  });
});
