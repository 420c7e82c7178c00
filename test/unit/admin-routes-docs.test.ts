// docs/operator.md's table of endpoints against the routes the admin port registers
// (shared/operator/operator-routes.ts): each route is listed, each listed request is served.

import { readFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";

const ROOT = path.resolve(__dirname, "..", "..", "..");

/**
 * The operator routes as registered: `route("GET", /^\/admin\/status$/, …)` (or
 * `admin.addRoute(…)` straight).
 */
function registeredRoutes(source: string): Array<{ method: string; pattern: RegExp }> {
  return [...source.matchAll(/\b(?:addRoute|route)\("([A-Z]+)", \/(.+?)\/, /g)].map((m) => ({
    method: m[1],
    pattern: new RegExp(m[2]),
  }));
}

/**
 * The requests the page's tables name (`` `GET /admin/messages/<id>` ``, placeholders filled
 * in); its prose also names the service port's own.
 */
function documentedRequests(markdown: string): Array<{ method: string; path: string }> {
  const rows = markdown
    .split("\n")
    .filter((line) => line.startsWith("|"))
    .join("\n");
  return [...rows.matchAll(/`(GET|POST|PUT|DELETE|PATCH) (\/[^`?\s]*)[^`]*`/g)].map((m) => ({
    method: m[1],
    path: m[2].replace(/<[^>]+>/g, "x1"),
  }));
}

describe("the admin port's endpoints in docs/operator.md", () => {
  const routes = registeredRoutes(
    readFileSync(path.join(ROOT, "shared", "operator", "operator-routes.ts"), "utf8"),
  );
  const requests = documentedRequests(readFileSync(path.join(ROOT, "docs", "operator.md"), "utf8"));
  // Served by the admin server itself, before any operator route.
  const builtIn = ["GET /metrics", "GET /healthz", "GET /readyz", "POST /login", "POST /logout"];

  it("lists every operator route", () => {
    expect(routes.length).to.be.greaterThan(10);
    const unlisted = routes.filter(
      (route) => !requests.some((r) => r.method === route.method && route.pattern.test(r.path)),
    );
    expect(unlisted.map((route) => `${route.method} ${route.pattern.source}`)).to.deep.equal([]);
  });

  it("names only requests the admin port serves", () => {
    const unserved = requests.filter(
      (r) =>
        !builtIn.includes(`${r.method} ${r.path}`) &&
        !routes.some((route) => r.method === route.method && route.pattern.test(r.path)),
    );
    expect(unserved).to.deep.equal([]);
  });
});
