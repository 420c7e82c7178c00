// The status page and its sign-in page under their Content-Security-Policy, in chromium: no
// inline style or script is admitted, and nothing the pages do is refused by the policy.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { call, Harness, type SluiceProcess } from "../support/harness";

describe("the status page under its Content-Security-Policy", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let browser: Browser;
  let page: Page;
  /** What the browser refused by the policy, from the event and from the console alike. */
  const refused: string[] = [];

  before(async function () {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
      backends: { legacy: { queue: { highWater: 40 } } },
    });
    sluice = await harness.spawn("all");
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.exposeFunction("reportPolicyViolation", (text: string) => refused.push(text));
    // A string, run in each document before its own script: the tests compile without the DOM.
    await page.addInitScript(
      `document.addEventListener("securitypolicyviolation", (e) =>
        window.reportPolicyViolation(e.violatedDirective + " " + e.blockedURI + " " + e.sample));`,
    );
    page.on("console", (m) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) refused.push(m.text());
    });
  });
  after(async () => {
    await browser?.close();
    await harness.cleanup();
  });
  afterEach(() => {
    expect(refused, "refused by the Content-Security-Policy").to.deep.equal([]);
  });

  const styleSrc = (policy: string | null) =>
    /(?:^|;\s*)style-src ([^;]*)/.exec(policy ?? "")?.[1] ?? "";

  it("styles the sign-in page with no inline style but its own, admitted by digest", async () => {
    const answer = await page.goto(`${sluice.adminUrl}/`);
    const policy = answer!.headers()["content-security-policy"];
    expect(styleSrc(policy)).to.match(/^'sha256-[A-Za-z0-9+/]+=*'$/);
    // Its style applied: the page is a narrow column.
    await page.getByLabel("Admin token").waitFor();
    expect(await page.evaluate<string>("getComputedStyle(document.body).maxWidth")).to.equal(
      "360px",
    );
  });

  it("styles the status page from its own stylesheet, with inline style refused", async () => {
    await page.getByLabel("Admin token").fill(harness.adminToken);
    const [answer] = await Promise.all([
      page.waitForResponse((r) => new URL(r.url()).pathname === "/" && r.status() === 200),
      page.getByRole("button", { name: "Sign in" }).click(),
    ]);
    expect(styleSrc(answer.headers()["content-security-policy"])).to.equal("'self'");
    await page.getByTestId("backend-legacy").waitFor();
    expect(await page.evaluate<string>("getComputedStyle(document.body).backgroundColor")).to.equal(
      "rgb(246, 247, 249)",
    );
    // The queue's bar, its width set by the script, with messages waiting behind a pause.
    const paused = await call(`${sluice.adminUrl}/admin/backends/legacy/pause`, {
      method: "POST",
      client: null,
      headers: harness.adminHeaders(),
    });
    expect(paused.status).to.equal(200);
    for (let k = 0; k < 4; k++) {
      const sent = await call(`${sluice.url}/rest/orders/x`, {
        body: "{}",
        headers: { "X-Road-Id": randomUUID() },
      });
      expect(sent.status).to.equal(202);
    }
    await page.getByTestId("depth-legacy").filter({ hasText: /^4$/ }).waitFor({ timeout: 15_000 });
    expect(
      await page.evaluate<string>(
        "document.querySelector('[data-testid=backend-legacy] .bar > div').style.width",
      ),
    ).to.equal("10%");
  });
});
