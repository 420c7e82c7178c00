// The status page's refresh updates the cards and lists in place, in chromium: a focused button
// is the same node refresh after refresh (never focused anew, so nothing is announced again), a
// Space or mouse button held down across a refresh still presses it, the live region is not
// written while nothing is done, and a button whose dead letter goes hands focus to the next in
// its list.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { call, Harness, type SluiceProcess } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";

describe("the status page updated in place", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let browser: Browser;
  let page: Page;
  let deadLetters: DeadLetters;

  before(async function () {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
      backends: { legacy: {} },
    });
    sluice = await harness.spawn("all");
    deadLetters = new DeadLetters(harness.redis(), harness.prefix, 3_600_000);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    await page.goto(`${sluice.adminUrl}/`);
    await page.getByLabel("Admin token").fill(harness.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("pause-legacy").waitFor();
  });
  after(async () => {
    await browser?.close();
    await harness.cleanup();
  });

  const focused = () =>
    page.evaluate<string | null>(
      "document.activeElement && document.activeElement.getAttribute('data-testid')",
    );
  const refreshes = async () =>
    Number(await page.getByTestId("meta").getAttribute("data-refreshes"));
  /** Waits for the page's own next `count` refreshes. */
  const waitRefreshes = async (count: number) => {
    const target = (await refreshes()) + count;
    // A function, not a string: the page's policy refuses a string evaluated in it.
    await page.waitForFunction(
      (least) => {
        const meta = (
          globalThis as unknown as {
            document: { getElementById(id: string): { dataset: Record<string, string> } };
          }
        ).document.getElementById("meta");
        return Number(meta.dataset.refreshes) >= least;
      },
      target,
      { timeout: 30_000 },
    );
  };
  const admin = (path: string) =>
    call(`${sluice.adminUrl}${path}`, { client: null, headers: harness.adminHeaders() });
  const paused = async () => (await admin("/admin/backends/legacy")).json.paused as boolean;

  it("keeps the focused button, its card and the live region untouched across refreshes", async () => {
    await page.getByTestId("pause-legacy").focus();
    // Marks on the nodes themselves: a node rebuilt in their place has none. Focus events on the
    // button and every change in a live region are counted from now on.
    await page.evaluate(`(() => {
      const button = document.activeElement;
      button.sluiceMark = "kept";
      document.querySelector('[data-testid="backend-legacy"]').sluiceMark = "kept";
      window.sluiceFocusEvents = 0;
      button.addEventListener("focus", () => { window.sluiceFocusEvents++; });
      window.sluiceLiveChanges = [];
      const observer = new MutationObserver((records) => {
        for (const r of records) window.sluiceLiveChanges.push(r.type + " " + (r.target.id || r.target.nodeName));
      });
      for (const region of document.querySelectorAll('[aria-live], [role="status"], [role="alert"], [role="log"]')) {
        observer.observe(region, { subtree: true, childList: true, characterData: true, attributes: true });
      }
    })()`);
    await waitRefreshes(4);
    const after = await page.evaluate<[unknown, unknown, number, string[]]>(`[
      document.activeElement.sluiceMark,
      document.querySelector('[data-testid="backend-legacy"]').sluiceMark,
      window.sluiceFocusEvents,
      window.sluiceLiveChanges,
    ]`);
    expect(after[0], "the focused button is the same node").to.equal("kept");
    expect(after[1], "the card is the same node").to.equal("kept");
    expect(after[2], "the button is not focused anew").to.equal(0);
    expect(after[3], "nothing written in a live region").to.deep.equal([]);
  });

  it("pauses with a Space held down across refreshes", async () => {
    await page.getByTestId("pause-legacy").focus();
    await page.keyboard.down("Space");
    await waitRefreshes(2);
    await page.keyboard.up("Space");
    await page.getByTestId("notice").filter({ hasText: "pause legacy: done" }).waitFor();
    expect(await paused()).to.equal(true);
    // The same node, now Resume, still focused.
    await page.getByTestId("resume-legacy").waitFor();
    expect(await focused()).to.equal("resume-legacy");
    expect(await page.evaluate<unknown>("document.activeElement.sluiceMark")).to.equal("kept");
  });

  it("pauses or resumes with a mouse button held down across refreshes", async () => {
    const was = await paused();
    const action = was ? "resume" : "pause";
    await page.getByTestId(`${action}-legacy`).hover();
    await page.mouse.down();
    await waitRefreshes(2);
    await page.mouse.up();
    await page
      .getByTestId("notice")
      .filter({ hasText: `${action} legacy: done` })
      .waitFor();
    expect(await paused()).to.equal(!was);
  });

  it("hands focus to the next dead letter's button when the focused one's goes", async () => {
    const [first, second] = [randomUUID(), randomUUID()];
    // The list is newest first: first above second.
    const now = Date.now();
    for (const [id, at] of [
      [second, now - 1000],
      [first, now],
    ] as const) {
      await recordDeadLetter(
        deadLetters,
        requestMessage({ id, service: "orders", backend: "legacy", path: "/x" }),
        { at },
      );
    }
    await page.getByTestId(`replay-${second}`).waitFor({ timeout: 20_000 });
    await page.getByTestId(`replay-${first}`).focus();
    await page.evaluate(`document.activeElement.sluiceMark = "first"`);
    await waitRefreshes(2);
    expect(await page.evaluate<unknown>("document.activeElement.sluiceMark")).to.equal("first");
    // Replayed elsewhere (the command line): its row goes at the next refresh.
    const replayed = await call(`${sluice.adminUrl}/admin/dead-letters/${first}/replay`, {
      method: "POST",
      client: null,
      headers: harness.adminHeaders(),
    });
    expect(replayed.status).to.equal(200);
    await page.getByTestId(`dead-${first}`).waitFor({ state: "detached" });
    expect(await focused()).to.equal(`replay-${second}`);
  });

  it("keeps a reason's Replay when a reason comes in above it", async () => {
    // The status document as the admin port gives it, the backend's dead letters by reason as
    // the test says: a new reason listed before the focused one's.
    let reasons: Record<string, number> = { zeta: 1 };
    await page.route("**/admin/status", async (route) => {
      const response = await route.fetch();
      const status = (await response.json()) as {
        backends: Array<{ name: string; deadLetters: Record<string, number> }>;
      };
      for (const backend of status.backends) backend.deadLetters = reasons;
      await route.fulfill({ response, json: status });
    });
    try {
      await page.getByTestId("replay-legacy-zeta").waitFor();
      await page.getByTestId("replay-legacy-zeta").focus();
      await page.evaluate(`document.activeElement.sluiceMark = "zeta"`);
      reasons = { alpha: 2, zeta: 1 };
      await page.getByTestId("replay-legacy-alpha").waitFor();
      await waitRefreshes(2);
      expect(await focused()).to.equal("replay-legacy-zeta");
      expect(await page.evaluate<unknown>("document.activeElement.sluiceMark")).to.equal("zeta");
      // The order turned round: the others move around the focused button, which is neither
      // taken out nor focused again.
      await page.evaluate(`(() => {
        window.sluiceFocusEvents = 0;
        document.activeElement.addEventListener("focus", () => { window.sluiceFocusEvents++; });
      })()`);
      reasons = { zeta: 1, alpha: 2 };
      await waitRefreshes(2);
      const order = await page.evaluate<string[]>(
        `[...document.querySelectorAll('[data-testid="backend-legacy"] [data-group="replay-reason"]')].map((b) => b.dataset.testid)`,
      );
      expect(order).to.deep.equal(["replay-legacy-zeta", "replay-legacy-alpha"]);
      expect(await page.evaluate<unknown>("document.activeElement.sluiceMark")).to.equal("zeta");
      expect(await page.evaluate<number>("window.sluiceFocusEvents")).to.equal(0);
    } finally {
      await page.unroute("**/admin/status");
    }
  });
});
