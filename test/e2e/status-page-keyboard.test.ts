// The status page with the keyboard alone, in chromium: sign in, reach a backend's Pause and a
// dead letter's Replay with Tab and Shift+Tab, keep them focused while the page refreshes every
// second (each refresh updates the cards and lists), and press them with Space and Enter.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { call, Harness, type SluiceProcess } from "../support/harness";
import { recordDeadLetter, requestMessage, TEST_CLIENT } from "../support/messages";

/** The contrast ratio of two CSS rgb() colours, as WCAG reckons it. */
function contrast(a: string, b: string): number {
  const luminance = (rgb: string) => {
    const [r, g, b] = (rgb.match(/\d+/g) ?? []).slice(0, 3).map((n) => {
      const c = Number(n) / 255;
      return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const [hi, lo] = [luminance(a), luminance(b)].sort((x, y) => y - x);
  return (hi + 0.05) / (lo + 0.05);
}

describe("the status page with the keyboard alone", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let browser: Browser;
  let page: Page;

  before(async function () {
    await harness.startSim({ latencyMs: 0 });
    harness.writeConfig({
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
      backends: { legacy: {} },
    });
    sluice = await harness.spawn("all");
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  });
  after(async () => {
    await browser?.close();
    await harness.cleanup();
  });

  // Strings, run in the page: the tests compile without the DOM's types.
  const focused = () =>
    page.evaluate<string | null>(
      "document.activeElement && document.activeElement.getAttribute('data-testid')",
    );
  const refreshes = async () =>
    Number(await page.getByTestId("meta").getAttribute("data-refreshes"));
  /** Waits for the page's own next `count` refreshes, each of which updates the lists. */
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
  /** Presses `key` until the control of `testId` has focus, at most `limit` times. */
  const tabTo = async (testId: string, key = "Tab", limit = 40) => {
    for (let i = 0; i < limit; i++) {
      if ((await focused()) === testId) return;
      await page.keyboard.press(key);
    }
    expect(await focused(), `${key} reaches ${testId}`).to.equal(testId);
  };
  const admin = (path: string) =>
    call(`${sluice.adminUrl}${path}`, { client: null, headers: harness.adminHeaders() });

  it("signs in with the keyboard", async () => {
    await page.goto(`${sluice.adminUrl}/`);
    // The token field takes focus from the start (autofocus), with no click: the browser gives
    // it at its next rendering after the load, which on a loaded machine comes after `goto`.
    await page.waitForFunction(
      () =>
        (
          globalThis as unknown as {
            document: { activeElement: { getAttribute(name: string): string | null } | null };
          }
        ).document.activeElement?.getAttribute("name") === "token",
      undefined,
      { timeout: 10_000 },
    );
    await page.keyboard.type(harness.adminToken);
    await page.keyboard.press("Tab");
    await page.keyboard.press("Enter");
    await page.getByTestId("pause-legacy").waitFor();
  });

  it("keeps a backend's Pause focused across refreshes, and pauses it with Space", async () => {
    await tabTo("pause-legacy");
    // The page's own focus ring, of 3:1 at least against the page (WCAG 2.4.7, 1.4.11).
    const ring = await page.evaluate<string[]>(
      `(() => { const s = getComputedStyle(document.activeElement);
        return [s.outlineStyle, s.outlineWidth, s.outlineColor, getComputedStyle(document.body).backgroundColor]; })()`,
    );
    expect(ring.slice(0, 2)).to.deep.equal(["solid", "3px"]);
    expect(contrast(ring[2], ring[3])).to.be.at.least(3);
    await waitRefreshes(3);
    expect(await focused(), "still focused after three refreshes").to.equal("pause-legacy");
    await page.keyboard.press("Space");
    await page.getByTestId("notice").filter({ hasText: "pause legacy: done" }).waitFor();
    expect((await admin("/admin/backends/legacy")).json.paused).to.equal(true);
    // The same control, now Resume, keeps focus.
    await page.getByTestId("resume-legacy").waitFor();
    await waitRefreshes(2);
    expect(await focused()).to.equal("resume-legacy");
  });

  it("keeps a dead letter's Replay focused across refreshes, and replays it with Enter", async () => {
    const id = randomUUID();
    const deadLetters = new DeadLetters(harness.redis(), harness.prefix, 3_600_000);
    await recordDeadLetter(
      deadLetters,
      requestMessage({ id, service: "orders", backend: "legacy", path: "/x" }),
      { at: Date.now() },
    );
    await page.getByTestId(`replay-${id}`).waitFor({ timeout: 20_000 });
    // Each row's buttons name their dead letter and its client, not just "replay".
    const named = (action: string) =>
      page.getByRole("button", {
        name: `${action} dead letter ${id.slice(0, 8)}… of ${TEST_CLIENT}`,
      });
    expect(await named("Replay").getAttribute("data-testid")).to.equal(`replay-${id}`);
    expect(await named("Discard").getAttribute("data-testid")).to.equal(`discard-${id}`);
    expect(await page.getByRole("button", { name: "Resume legacy" }).count()).to.equal(1);
    await tabTo(`discard-${id}`);
    await tabTo(`replay-${id}`, "Shift+Tab", 1);
    await waitRefreshes(3);
    expect(await focused(), "still focused after three refreshes").to.equal(`replay-${id}`);
    await page.keyboard.press("Enter");
    await page
      .getByTestId("notice")
      .filter({ hasText: `replay ${id}: replayed as ` })
      .waitFor();
    expect((await deadLetters.get(id))?.replayedAs).to.be.a("string");
    // Its row is gone: focus goes to the list's heading, not to the top of the page.
    await page.getByTestId(`dead-${id}`).waitFor({ state: "detached" });
    expect(await page.evaluate<string>("document.activeElement.id")).to.equal("dead-heading");
    await page.keyboard.press("Tab");
    expect(await page.evaluate<string>("document.activeElement.tagName")).to.equal("BUTTON");
  });
});
