// The status page in a real browser (Debian's chromium driven by playwright-core): sign in
// with the admin token, watch a paused backend's queue depth rise live, pause and resume with
// the buttons, and replay a dead letter by reason. Set SLUICE_SCREENSHOT=<file.png> to keep a
// screenshot (docs/status-page.png is made this way).

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import type { Browser, Page } from "playwright-core";
import { launchChromium } from "../support/chromium";
import pino from "pino";
import { DeadLetters } from "../../shared/operator/dead-letters";
import { OperatorJournal } from "../../shared/operator/operator-journal";
import { RecentFailures } from "../../shared/operator/recent-failures";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";
import { recordDeadLetter, requestMessage } from "../support/messages";
import { CallbackReceiver } from "../integration/callback-receiver";

const silent = pino({ level: "silent" });
/** The client `call` sends as unless told otherwise. */
const CLIENT = "EE/GOV/70000001/case-app";

describe("the status page in a browser", function () {
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let browser: Browser;
  let page: Page;
  let receiver: CallbackReceiver;

  before(async function () {
    await harness.startSim({ latencyMs: 0 });
    receiver = await CallbackReceiver.start({ tls: false });
    harness.writeConfig({
      services: {
        orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
        notices: { protocols: ["rest"], reply: { mode: "ack" }, backend: "mailer" },
        hooks: { protocols: ["rest"], reply: { mode: "callback" }, backend: "mailer" },
        strays: { protocols: ["rest"], reply: { mode: "ack" }, backend: "orphan" },
      },
      callbacks: receiver.loopbackCallbacks(`whsec_${Buffer.alloc(32, 7).toString("base64")}`),
      backends: {
        legacy: { rate: { limit: 50, per: "1s", burst: 10 }, queue: { highWater: 40 } },
        mailer: {
          retry: { attempts: 1 },
          windows: [{ days: ["mon-sun"], from: "00:00", to: "24:00", tz: "UTC" }],
        },
        // Running, always open, and served by no worker: what SluiceNoConsumers pages for.
        orphan: { queue: { highWater: 3 } },
      },
    });
    sluice = await harness.spawn("all", {}, ["--backends", "legacy,mailer"]);
    browser = await launchChromium();
    // A viewer far from UTC, with another language: the page's times must not follow either.
    page = await browser.newPage({
      viewport: { width: 1280, height: 900 },
      timezoneId: "Pacific/Kiritimati",
      locale: "de-DE",
    });
  });
  after(async () => {
    await browser?.close();
    await harness.cleanup();
    await receiver?.close();
  });

  const submit = async (service: string) => {
    const answer = await call(`${sluice.url}/rest/${service}/x`, {
      body: JSON.stringify({ n: 1 }),
      headers: { "X-Road-Id": randomUUID() },
    });
    expect(answer.status).to.equal(202);
    return answer.json.id as string;
  };
  /** Records a dead letter of a request of the default client to `service` at `backend`. */
  const deadLetter = (
    service: string,
    backend: string,
    id: string,
    entry: Parameters<typeof recordDeadLetter>[2],
    client = CLIENT,
  ) =>
    recordDeadLetter(
      new DeadLetters(harness.redis(), harness.prefix, 3_600_000),
      requestMessage({ id, service, backend, client, path: "/x" }),
      entry,
    );
  const depthShown = async () => Number(await page.getByTestId("depth-legacy").textContent());

  it("asks for the admin token, and signs in with it", async () => {
    await page.goto(`${sluice.adminUrl}/`);
    await page.getByLabel("Admin token").fill("not-the-token-at-all");
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").waitFor();
    await page.getByLabel("Admin token").fill(harness.adminToken);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByTestId("backend-legacy").waitFor();
    expect(await page.getByTestId("paused-legacy").textContent()).to.equal("running");
    const meta = page.getByTestId("meta").filter({ hasText: "updated" });
    await meta.waitFor();
    expect(await meta.textContent()).to.match(/, updated \d\d:\d\d:\d\d UTC$/);
  });

  it("refuses a sign-in form posted from another site's page, token and all", async () => {
    // Another site's page, as the operator's browser would load it, posting the right token.
    const context = await browser.newContext();
    try {
      const other = await context.newPage();
      await other.route("http://elsewhere.example/**", (route) =>
        route.fulfill({
          contentType: "text/html",
          body: `<form method="post" action="${sluice.adminUrl}/login">
            <input name="token" value="${harness.adminToken}"><button>go</button></form>`,
        }),
      );
      await other.goto("http://elsewhere.example/");
      const [answer] = await Promise.all([
        other.waitForResponse((r) => new URL(r.url()).pathname === "/login"),
        other.getByRole("button", { name: "go" }).click(),
      ]);
      expect(answer.status()).to.equal(403);
      expect(await context.cookies(sluice.adminUrl), "no session cookie").to.have.length(0);
      // Still not signed in: the status page asks for the token.
      await other.goto(`${sluice.adminUrl}/`);
      await other.getByLabel("Admin token").waitFor();
      expect(await other.getByTestId("backends").count()).to.equal(0);
    } finally {
      await context.close();
    }
    // The operator's own sign-in was not counted against the address either.
    await page.reload();
    await page.getByTestId("backend-legacy").waitFor();
  });

  it("warns plainly of a running backend no worker consumes, and names the runbook", async () => {
    const warning = page.getByTestId("no-consumers-orphan");
    await warning.waitFor();
    const text = await warning.textContent();
    expect(text).to.include("No worker consumes orphan's queue");
    expect(text).to.include("sluice worker --backends orphan");
    expect(text).to.include("docs/operations.md, SluiceNoConsumers");
    expect(await page.getByTestId("consumers-orphan").textContent()).to.equal("0");
    // Served backends raise nothing.
    expect(await page.getByTestId("no-consumers-legacy").count()).to.equal(0);
    expect(await page.getByTestId("no-consumers-mailer").count()).to.equal(0);
  });

  it("pauses with its button, and shows the depth rising live while the worker is paused", async () => {
    await page.getByTestId("pause-legacy").click();
    await page.getByTestId("resume-legacy").waitFor();
    expect(await page.getByTestId("paused-legacy").textContent()).to.equal("paused");
    const state = await call(`${sluice.adminUrl}/admin/backends/legacy`, {
      client: null,
      headers: harness.adminHeaders(),
    });
    expect(state.json.paused).to.equal(true);

    const seen: number[] = [];
    for (let i = 0; i < 3; i++) {
      for (let k = 0; k < 5; k++) await submit("orders");
      // The page polls; no reload happens between these readings.
      seen.push(
        await eventually(
          async () => {
            const depth = await depthShown();
            return depth >= 5 * (i + 1) ? depth : undefined;
          },
          15_000,
          `the page to show depth ${5 * (i + 1)}`,
        ),
      );
    }
    expect(seen[0]).to.be.lessThan(seen[2]);
    expect(harness.sim.calls()).to.have.length(0);
    // The worker let go of the paused queue on purpose: no consumer, and no warning of it.
    await eventually(async () =>
      (await page.getByTestId("consumers-legacy").textContent()) === "0" ? true : undefined,
    );
    expect(await page.getByTestId("no-consumers-legacy").count()).to.equal(0);
  });

  it("tells how long ago by the server's clock, not by a viewer's clock that is hours ahead", async () => {
    const admin = (action: string) =>
      call(`${sluice.adminUrl}/admin/backends/mailer/${action}`, {
        method: "POST",
        client: null,
        headers: harness.adminHeaders(),
      });
    expect((await admin("pause")).status).to.equal(200);
    const skewed = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    try {
      await skewed.clock.install({ time: Date.now() + 3 * 3_600_000 });
      await skewed.goto(`${sluice.adminUrl}/`);
      await skewed.getByLabel("Admin token").fill(harness.adminToken);
      await skewed.getByRole("button", { name: "Sign in" }).click();
      // Paused moments ago by the server's clock.
      const since = skewed.getByTestId("backend-mailer").getByText(/^since /);
      await since.waitFor();
      expect(await since.textContent()).to.match(/^since (just now|\d+ s ago|\d+ min ago) \(/);
    } finally {
      await skewed.close();
      await admin("resume");
    }
  });

  it("shows a dead letter by reason and replays it with its button", async () => {
    await harness.sim.update({ errorRate: 1 });
    const failed = await submit("notices");
    await page.getByTestId("replay-mailer-retries_exhausted").waitFor({ timeout: 20_000 });
    await page.getByTestId(`dead-${failed}`).waitFor();
    // The failed call, with its time in ISO beside the stored epoch milliseconds.
    const status = await call(`${sluice.adminUrl}/admin/status`, {
      client: null,
      headers: harness.adminHeaders(),
    });
    type Failure = { id: string; at: number; failedAt: string };
    const backends = status.json.backends as Array<{ name: string; recentFailures: Failure[] }>;
    const failure = backends
      .find((b) => b.name === "mailer")!
      .recentFailures.find((f) => f.id === failed)!;
    expect(failure.at).to.be.a("number");
    expect(failure.failedAt).to.equal(new Date(failure.at).toISOString());
    // The page shows that instant as the server said it, in UTC, and the message's id, which
    // the operator looks up with `sluice messages show`.
    const shown = await page.getByTestId(`failure-${failed}`).first().textContent();
    expect(shown).to.contain(
      `(${failure.failedAt.replace(".000Z", "Z")}), message ${failed}, attempt`,
    );
    if (process.env.SLUICE_SCREENSHOT) {
      await page.screenshot({ path: process.env.SLUICE_SCREENSHOT, fullPage: true });
    }
    await harness.sim.update({ errorRate: 0 });
    // The bulk button asks first, with its dry run's numbers; dismissed, nothing is sent.
    const asked: string[] = [];
    page.once("dialog", (dialog) => {
      asked.push(dialog.message());
      void dialog.dismiss();
    });
    await page.getByTestId("replay-mailer-retries_exhausted").click();
    await page.getByText(/replay retries_exhausted: not done; 1 would be replayed/).waitFor();
    expect(asked).to.have.length(1);
    expect(asked[0]).to.match(
      /^replay retries_exhausted: 1 would be replayed( \(1 may have reached the backend already\))?, 0 refused, 0 skipped\. Go ahead\?$/,
    );
    expect((await call(`${sluice.url}/messages/${failed}`)).json.replayedAs).to.equal(undefined);
    // Confirmed, it acts on what its question counted: a dead letter of the same reason that
    // arrived while the dialog was open is left for the next click.
    let late = "";
    page.once("dialog", (dialog) => {
      late = randomUUID();
      void deadLetter("notices", "mailer", late, { at: Date.now() }).then(() => dialog.accept());
    });
    await page.getByTestId("replay-mailer-retries_exhausted").click();
    const done = page.getByText(/^replay retries_exhausted: \d+ replayed/);
    await done.waitFor();
    expect(await done.textContent()).to.equal("replay retries_exhausted: 1 replayed, 0 skipped");
    const deadLetters = new DeadLetters(harness.redis(), harness.prefix, 3_600_000);
    expect((await deadLetters.get(late))?.replayedAs, "arrived after the dry run").to.equal(null);
    const discarded = await call(`${sluice.adminUrl}/admin/dead-letters/${late}/discard`, {
      client: null,
      method: "POST",
      headers: harness.adminHeaders(),
    });
    expect(discarded.status, discarded.text).to.equal(200);
    const original = await call(`${sluice.url}/messages/${failed}`);
    const replay = original.json.replayedAs as string;
    expect(replay).to.be.a("string");
    await eventually(async () =>
      (await call(`${sluice.url}/messages/${replay}`)).json.state === "completed"
        ? true
        : undefined,
    );
    await page.getByTestId(`dead-${failed}`).waitFor({ state: "detached" });
  });

  it("discards a dead letter with its button, once the operator confirms", async () => {
    const id = randomUUID();
    await deadLetter("notices", "mailer", id, { at: Date.now() });
    await page.getByTestId(`discard-${id}`).waitFor({ timeout: 20_000 });
    const deadLetters = new DeadLetters(harness.redis(), harness.prefix, 3_600_000);
    // Declined, nothing is sent.
    const asked: string[] = [];
    page.once("dialog", (dialog) => {
      asked.push(dialog.message());
      void dialog.dismiss();
    });
    await page.getByTestId(`discard-${id}`).click();
    await page.getByText(`discard ${id}: not done`).waitFor();
    expect(asked).to.deep.equal([
      `discard ${id} (mailer, retries_exhausted): never to be replayed. Why? (optional, kept in the journal) OK discards it.`,
    ]);
    expect((await deadLetters.get(id))?.discardedAt).to.equal(null);
    // Confirmed, it is discarded and leaves the list of those waiting.
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId(`discard-${id}`).click();
    await page.getByText(`discard ${id}: discarded`).waitFor();
    expect((await deadLetters.get(id))?.discardedAt).to.be.a("number");
    await page.getByTestId(`dead-${id}`).waitFor({ state: "detached" });
    const journal = new OperatorJournal(harness.redis(), harness.prefix, silent);
    const [unnoted] = await journal.newest(1);
    expect(unnoted).to.include({ action: "dead-letter.discard", target: id, via: "admin" });
    expect(unnoted).to.not.have.property("note");

    // With a note: sent past the page's CSRF check, and journaled with the discard. One the
    // admin port refuses (a bidirectional mark) says why, and discards nothing.
    const noted = randomUUID();
    await deadLetter("notices", "mailer", noted, { at: Date.now() });
    await page.getByTestId(`discard-${noted}`).waitFor({ timeout: 20_000 });
    page.once("dialog", (dialog) => void dialog.accept("spoofed \u202egnp.exe"));
    await page.getByTestId(`discard-${noted}`).click();
    await page.getByText(`discard ${noted} failed: note is one line of text`).waitFor();
    expect((await deadLetters.get(noted))?.discardedAt).to.equal(null);
    page.once("dialog", (dialog) => void dialog.accept("resubmitted by the caller 👍"));
    await page.getByTestId(`discard-${noted}`).click();
    await page.getByText(`discard ${noted}: discarded`).waitFor();
    const [entry] = await journal.newest(1);
    expect(entry).to.include({
      action: "dead-letter.discard",
      target: noted,
      note: "resubmitted by the caller 👍",
      result: "discarded",
      credential: "session",
    });
  });

  it("names a dead letter whose id has /, ?, # and .. in it by that id alone", async () => {
    // Written to the store directly: the adapter issues UUIDs, but the page must not build
    // another path (or a query, or a fragment) out of whatever id it lists.
    const odd = (n: number) => `../${randomUUID()}/x?y=${n}#z/..`;
    const replayed = odd(1);
    const discarded = odd(2);
    await deadLetter("notices", "mailer", replayed, { at: Date.now() });
    await deadLetter("notices", "mailer", discarded, { at: Date.now() });
    const deadLetters = new DeadLetters(harness.redis(), harness.prefix, 3_600_000);
    await page.getByTestId(`replay-${replayed}`).click({ timeout: 20_000 });
    await page.getByText(`replay ${replayed}: replayed as `).waitFor();
    expect((await deadLetters.get(replayed))?.replayedAs).to.be.a("string");
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId(`discard-${discarded}`).click({ timeout: 20_000 });
    await page.getByText(`discard ${discarded}: discarded`).waitFor();
    expect((await deadLetters.get(discarded))?.discardedAt).to.be.a("number");
    await page.getByTestId(`dead-${discarded}`).waitFor({ state: "detached" });
  });

  it("counts a bulk replay that was refused as refused, not replayed", async () => {
    // A message that completed, with a dead letter as the broker's delivery limit leaves when
    // a worker that lost its channel still got the backend's answer: its replay is refused.
    const id = await submit("notices");
    await eventually(async () =>
      (await call(`${sluice.url}/messages/${id}`)).json.state === "completed" ? true : undefined,
    );
    await deadLetter("notices", "mailer", id, {
      reason: "delivery_limit",
      error: "the broker dead-lettered it",
      attempts: 3,
    });
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId("replay-mailer-delivery_limit").click();
    await page
      .getByText(/delivery_limit: 0 replayed, 1 refused \(the original completed/)
      .waitFor();
  });

  it("counts dead callbacks by reason and redelivers them with its button", async () => {
    receiver.respond = () => ({ status: 500 });
    const answer = await call(`${sluice.url}/rest/hooks/x`, {
      body: JSON.stringify({ n: 1 }),
      headers: {
        "X-Road-Id": randomUUID(),
        Prefer: "respond-async",
        "X-Callback-Url": receiver.url("/hooks/page"),
      },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    await page.getByTestId("redeliver-callbacks-exhausted").waitFor({ timeout: 20_000 });
    expect(await page.getByTestId("dead-callbacks").textContent()).to.include("exhausted: 1");
    const failedCalls = receiver.calls.length;
    receiver.respond = () => ({ status: 204 });
    page.once("dialog", (dialog) => void dialog.accept());
    await page.getByTestId("redeliver-callbacks-exhausted").click();
    await page.getByText("redeliver exhausted: 1 redelivered").waitFor();
    await eventually(async () =>
      (await call(`${sluice.url}/messages/${id}`)).json.delivery === "delivered" ? true : undefined,
    );
    expect(receiver.calls.slice(failedCalls), "redelivered once").to.have.length(1);
    await page.getByTestId("redeliver-callbacks-exhausted").waitFor({ state: "detached" });
  });

  it("resumes with its button, and the depth falls to zero", async () => {
    await page.getByTestId("resume-legacy").click();
    await page.getByTestId("pause-legacy").waitFor();
    await eventually(
      async () => ((await depthShown()) === 0 ? true : undefined),
      30_000,
      "depth 0",
    );
    await eventually(async () => (harness.sim.calls().length >= 16 ? true : undefined), 15_000);
  });

  it("polls a slow admin port one request at a time, never piling requests up", async () => {
    // Each status answer is held for longer than the page's poll period: a page polling on a
    // fixed interval has a second request out before the first is answered.
    const isStatus = (url: string) => new URL(url).pathname === "/admin/status";
    let inFlight = 0;
    let most = 0;
    let answered = 0;
    const started = () => {
      inFlight++;
      most = Math.max(most, inFlight);
    };
    const ended = () => {
      inFlight--;
      answered++;
    };
    const onRequest = (r: { url(): string }) => isStatus(r.url()) && started();
    const onEnd = (r: { url(): string }) => isStatus(r.url()) && ended();
    page.on("request", onRequest);
    page.on("requestfinished", onEnd);
    page.on("requestfailed", onEnd);
    await page.route("**/admin/status", async (route) => {
      const answer = await route.fetch();
      await new Promise((resolve) => setTimeout(resolve, 2500));
      await route.fulfill({ response: answer }).catch(() => undefined);
    });
    try {
      await eventually(async () => (answered >= 3 ? true : undefined), 45_000, "3 slow polls");
      expect(most, "status requests in flight at once").to.equal(1);
      // Still showing what the slow answers said.
      expect(await page.getByTestId("paused-legacy").textContent()).to.equal("running");
    } finally {
      await page.unroute("**/admin/status");
      page.off("request", onRequest);
      page.off("requestfinished", onEnd);
      page.off("requestfailed", onEnd);
    }
  });
  it("says since when its figures are old when the admin port stops answering", async () => {
    // As when Redis stalls behind /admin/status: the last figures stay, marked as old.
    await page.route("**/admin/status", (route) =>
      route.fulfill({
        status: 503,
        contentType: "application/json",
        body: JSON.stringify({ error: "Unavailable", message: "Redis did not answer" }),
      }),
    );
    const meta = page.getByTestId("meta");
    try {
      await meta.filter({ hasText: "not updated" }).waitFor({ timeout: 15_000 });
      expect(await meta.textContent()).to.match(
        /^not updated since \d\d:\d\d:\d\d UTC \(Redis did not answer\): the figures below are from then$/,
      );
      expect(await page.getByTestId("backends").getAttribute("class")).to.include("stale-figures");
    } finally {
      await page.unroute("**/admin/status");
    }
    await meta.filter({ hasText: "updated" }).filter({ hasNotText: "not updated" }).waitFor();
    expect(await page.getByTestId("backends").getAttribute("class")).to.equal("backends");
  });

  it("says when RabbitMQ is out of reach, and how old each queue figure is", async () => {
    const banner = page.getByTestId("broker");
    expect(await banner.isHidden()).to.equal(true);
    expect(await page.getByTestId("sampled-legacy").count()).to.equal(0);
    // The admin port's answer while its broker is gone (test/e2e/outage.test.ts has the real
    // one): disconnected, and the monitor's last figures a minute old.
    await page.route("**/admin/status", async (route) => {
      const answer = await route.fetch();
      const status = await answer.json();
      const minuteAgo = new Date(Date.parse(status.generatedAt) - 60_000).toISOString();
      status.broker = { connected: false };
      for (const backend of status.backends) backend.queue.sampledAt = minuteAgo;
      await route.fulfill({ response: answer, json: status }).catch(() => undefined);
    });
    try {
      await banner.filter({ hasText: "RabbitMQ is out of reach" }).waitFor({ timeout: 15_000 });
      expect(await banner.textContent()).to.include("the queue figures below are the last ones");
      expect(await page.getByTestId("sampled-legacy").textContent()).to.match(
        /^, as of 60 s ago \(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d/,
      );
    } finally {
      await page.unroute("**/admin/status");
    }
    await banner.waitFor({ state: "hidden", timeout: 15_000 });
    expect(await page.getByTestId("sampled-legacy").count()).to.equal(0);
  });

  it("says its dead-letter list is the newest 50 when more wait", async () => {
    for (let i = 0; i < 51; i++) {
      await deadLetter("strays", "orphan", randomUUID(), { error: "503 from the backend" });
    }
    const shown = page.getByTestId("dead-shown").filter({ hasText: "newest 50 of" });
    await shown.waitFor({ timeout: 15_000 });
    const total = Number(/newest 50 of (\d+) shown/.exec((await shown.textContent()) ?? "")?.[1]);
    expect(total).to.be.at.least(51);
    expect(await page.locator("#dead tr").count()).to.equal(50);
  });
  it("keeps a dead letter of a client with the longest parts within the page's width", async () => {
    // Four parts of 255 characters, as the header check takes them: the client column was
    // 7 000 px wide and every row's id and replay button off screen.
    const long = "Z".repeat(255);
    const id = randomUUID();
    await deadLetter("strays", "orphan", id, { error: "503" }, `EE/${long}/${long}/${long}`);
    await page.getByTestId(`dead-${id}`).waitFor({ timeout: 15_000 });
    // A string, run in the page: the tests compile without the DOM's types.
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    expect(width).to.be.at.most(1280);
  });

  it("shows what callers and backends wrote as text, within the page's width and not reordering the rest", async () => {
    // What runs if any of it were read as HTML: the page's CSP would refuse inline handlers,
    // so a refusal is looked for as well as the changed title.
    const run = "document.title='pwned'";
    const markup = `<img src=x onerror="${run}"></script><script>${run}</script>`;
    // A client the adapter takes: no whitespace, separator or format character in a part.
    const client = `EE/javascript:alert(1)/"><img/<script>alert(2)<`;
    const violations: string[] = [];
    const onConsole = (m: { text(): string }) => {
      if (/Content.Security.Policy|Refused to/i.test(m.text())) violations.push(m.text());
    };
    page.on("console", onConsole);
    await harness.sim.update({ errorRate: 1 });
    let id: string;
    try {
      const answer = await call(`${sluice.url}/rest/notices/x`, {
        body: JSON.stringify({ n: 1 }),
        headers: { "X-Road-Id": randomUUID(), "X-Road-Client": client },
      });
      expect(answer.status, answer.text).to.equal(202);
      id = answer.json.id as string;
      await page.getByTestId(`dead-${id}`).waitFor({ timeout: 20_000 });
    } finally {
      await harness.sim.update({ errorRate: 0 });
    }
    // A backend's words as the worker keeps them (a SOAP fault's faultstring, a remote
    // provider's message: up to 500 characters), with a right-to-left override that would show
    // the outcome after it in the same line reversed, and a run too long to wrap at a space.
    const error = `backend orphan answered a SOAP Fault soap:Server: ${markup} \u202eliamgnol ${"W".repeat(400)}`;
    const failed = randomUUID();
    await new RecentFailures(harness.redis(), harness.prefix).note("orphan", {
      id: failed,
      at: Date.now(),
      attempt: 1,
      error,
      outcome: "dead-lettered",
    });
    await deadLetter("strays", "orphan", failed, { error }, client);
    const row = page.getByTestId(`dead-${failed}`);
    await row.waitFor({ timeout: 15_000 });
    const failure = page.getByTestId(`failure-${failed}`);
    await failure.waitFor({ timeout: 15_000 });

    expect(await page.getByTestId(`dead-${id}`).textContent()).to.include(client);
    expect(await row.textContent())
      .to.include(markup)
      .and.to.include(client);
    expect(await failure.textContent()).to.include(markup);
    expect(
      await page.locator("#backends img, #dead img, #backends script, #dead script").count(),
    ).to.equal(0);
    expect(await page.title()).to.equal("Sluice status");
    page.off("console", onConsole);
    expect(violations, "nothing tried to run").to.deep.equal([]);
    // The card keeps to the page's width with the long run in it.
    const width = await page.evaluate<number>("document.documentElement.scrollWidth");
    expect(width).to.be.at.most(1280);
    // The override ends with the backend's words: what follows them reads as written.
    expect(await failure.locator("bdi").allTextContents()).to.deep.equal([error]);
  });

  it("says plainly that a backend at its high-water mark has its new requests refused", async () => {
    // Nothing consumes orphan's queue: two messages reach its client share's mark (half of 3,
    // rounded up), three its high-water mark.
    for (let k = 0; k < 2; k++) await submit("strays");
    const shared = page.getByTestId("client-share-orphan");
    await shared.waitFor({ timeout: 15_000 });
    expect(await shared.textContent()).to.include(
      "past 2 queued, a client that sent more than 50 % of the recent intake is refused (503 Busy)",
    );
    expect(await page.getByTestId("high-water-orphan").count()).to.equal(0);
    await submit("strays");
    const refused = page.getByTestId("high-water-orphan");
    await refused.waitFor({ timeout: 15_000 });
    expect(await refused.textContent()).to.include(
      "New requests for orphan are refused (503 Busy)",
    );
    expect(await page.getByTestId("high-water-legacy").count()).to.equal(0);
    expect(await page.getByTestId("client-share-orphan").count()).to.equal(0);
    // As the adapter does.
    await eventually(async () => {
      const answer = await call(`${sluice.url}/rest/strays/x`, {
        body: "{}",
        headers: { "X-Road-Id": randomUUID() },
      });
      return answer.status === 503 ? true : undefined;
    });
  });
});
