// The status page and its sign-in page checked by axe-core at WCAG 2.1 A and AA (EN 301 549's
// web requirements) in chromium, in every state an operator meets: the sign-in page, a refused
// sign-in, a healthy installation, a paused backend, a failing one with a long error, dead
// letters listed, a page that cannot reach the admin port, and a queue at its high-water mark.
// axe is put in the page by evaluating its source: a <script> tag would be refused by the
// page's Content-Security-Policy, which stays as strict as it is.

import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { call, Harness, type SluiceProcess } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";

const AXE = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");
const TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"];

describe("the status page checked by axe-core at WCAG 2.1 AA", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let browser: Browser;
  let page: Page;

  before(async function () {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      services: {
        orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
        strays: { protocols: ["rest"], reply: { mode: "ack" }, backend: "orphan" },
      },
      backends: { legacy: {}, orphan: { queue: { highWater: 1 } } },
    });
    // No worker serves orphan: its queue fills up to the mark.
    sluice = await harness.spawn("all", {}, ["--backends", "legacy"]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await harness.cleanup();
  });

  /**
   * axe's violations of the page as it is, one line each: rule, element, what fails; of the
   * WCAG 2.1 A and AA rules, or of the `rules` named.
   */
  const violations = async (rules?: string[]): Promise<string[]> => {
    if (!(await page.evaluate<boolean>("typeof axe !== 'undefined'"))) await page.evaluate(AXE);
    const only = rules ? { type: "rule", values: rules } : { type: "tag", values: TAGS };
    return page.evaluate<string[]>(
      `axe.run(document, { runOnly: ${JSON.stringify(only)} })
        .then((r) => r.violations.flatMap((v) =>
          v.nodes.map((n) => v.id + " " + n.target.join(" ") + ": " + n.failureSummary)))`,
    );
  };
  const admin = (path: string, method = "GET") =>
    call(`${sluice.adminUrl}${path}`, { method, client: null, headers: harness.adminHeaders() });

  it("the sign-in page", async () => {
    await page.goto(`${sluice.adminUrl}/`);
    await page.getByLabel("Admin token").waitFor();
    expect(await violations()).to.deep.equal([]);
  });

  it("a refused sign-in", async () => {
    await page.getByLabel("Admin token").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    expect(await violations()).to.deep.equal([]);
  });

  it("signed in, everything healthy", async () => {
    await page.getByLabel("Admin token").fill(harness.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("meta").filter({ hasText: "updated" }).waitFor();
    await page.getByTestId("pause-legacy").waitFor();
    expect(await violations()).to.deep.equal([]);
  });

  it("a paused backend", async () => {
    expect((await admin("/admin/backends/legacy/pause", "POST")).status).to.equal(200);
    await page.getByTestId("resume-legacy").waitFor();
    expect(await violations()).to.deep.equal([]);
  });

  it("a failing backend with a long error, and dead letters listed", async () => {
    const error = `backend legacy answered a SOAP Fault soap:Server: ${"W".repeat(400)} timed out`;
    const ids = [randomUUID(), randomUUID()];
    for (const id of ids) {
      await new RecentFailures(harness.redis(), harness.prefix).note("legacy", {
        id,
        at: Date.now(),
        attempt: 1,
        error,
        outcome: "dead-lettered",
      });
      await recordDeadLetter(
        new DeadLetters(harness.redis(), harness.prefix, 3_600_000),
        requestMessage({ id, service: "orders", backend: "legacy", path: "/x" }),
        { error },
      );
    }
    for (const id of ids) await page.getByTestId(`dead-${id}`).waitFor({ timeout: 15_000 });
    await page.locator("[data-testid=backend-legacy] .badge.failing").waitFor();
    expect(await violations()).to.deep.equal([]);
  });

  it("has its banner and main landmarks, all content inside them", async () => {
    expect(await page.getByRole("banner").count()).to.equal(1);
    expect(await page.getByRole("main").count()).to.equal(1);
    expect(
      await violations(["landmark-one-main", "region", "landmark-no-duplicate-banner"]),
    ).to.deep.equal([]);
  });

  it("names every column of the dead letters' table, their buttons' one too", async () => {
    expect(await page.getByRole("columnheader", { name: "actions" }).count()).to.equal(1);
    expect(await violations(["empty-table-header"])).to.deep.equal([]);
  });

  it("a queue at its high-water mark", async () => {
    const sent = await call(`${sluice.url}/rest/strays/x`, {
      body: "{}",
      headers: { "X-Road-Id": randomUUID() },
    });
    expect(sent.status).to.equal(202);
    await page.getByTestId("high-water-orphan").waitFor({ timeout: 15_000 });
    expect(await violations()).to.deep.equal([]);
  });

  it("the page cannot reach the admin port: its figures are stale", async () => {
    await page.route("**/admin/status", (route) =>
      route.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ error: "Unavailable", message: "Redis did not answer" }),
      }),
    );
    try {
      await page.getByTestId("meta").filter({ hasText: "not updated" }).waitFor();
      expect(await violations()).to.deep.equal([]);
      // Said in words on each card and list, not by fading alone.
      expect(await page.getByTestId("stale-legacy").textContent()).to.equal("stale");
      expect(await page.getByTestId("dead-stale").isVisible()).to.equal(true);
    } finally {
      await page.unroute("**/admin/status");
    }
    await page.getByTestId("stale-legacy").waitFor({ state: "detached" });
    expect(await page.getByTestId("dead-stale").isVisible()).to.equal(false);
  });
});
