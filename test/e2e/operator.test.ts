// The operator's controls end to end, on one `sluice all`: the admin port's token (401 without
// or with a wrong one, 404 without one configured, loopback by default), dead letters listed,
// replayed once after the backend recovered and linked both ways, messages looked up by id and
// by (client, service, X-Road id) and cancelled.

import { execFile, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { call, eventually, Harness, type CallOptions, START_TIMEOUT_MS } from "../support/harness";

const CLIENT = "EE/GOV/70000001/case-app";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

describe("operator controls (admin token, dead letters, replay, lookup)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: {
        orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "flaky" },
        parked: { protocols: ["rest"], reply: { mode: "ack" }, backend: "held" },
        // Its backend is paused once and never resumed: its messages stay accepted.
        frozen: { protocols: ["rest"], reply: { mode: "ack" }, backend: "stopped" },
      },
      backends: {
        flaky: { retry: { attempts: 2, backoff: ["100ms"] } },
        held: {},
        stopped: {},
      },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  const admin = (route: string, options?: CallOptions) =>
    harness.admin(roles.sluice, route, options);
  const submit = async (service: string, xroadId = randomUUID()) => {
    const answer = await call(`${roles.sluice.url}/rest/${service}/orders`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Road-Id": xroadId },
    });
    expect(answer.status).to.equal(202);
    return answer.json.id as string;
  };
  const status = (id: string) => call(`${roles.sluice.url}/messages/${id}`);
  const sluiceCli = (args: string[]) =>
    spawnSync(process.execPath, [BIN, ...args, "--config", harness.configFile], {
      env: { ...process.env, LOG_LEVEL: "warn" },
      encoding: "utf8",
      timeout: 30_000,
    });
  /** As sluiceCli, without blocking this process: its HTTP connections stay answered. */
  const sluiceCliLater = (args: string[], env: Record<string, string> = {}) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args, "--config", harness.configFile],
        { env: { ...process.env, LOG_LEVEL: "warn", ...env }, encoding: "utf8", timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = (error as { code?: unknown } | null)?.code;
          resolve({ status: error ? (typeof code === "number" ? code : -1) : 0, stdout, stderr });
        },
      );
    });
  const settled = (id: string) =>
    eventually(
      async () => {
        const doc = (await status(id)).json;
        return ["completed", "failed", "rejected", "expired", "cancelled"].includes(doc.state)
          ? doc
          : undefined;
      },
      20_000,
      `message ${id} to settle`,
    );

  describe("the admin port", () => {
    it("binds to loopback unless configured otherwise", () => {
      const listening = roles.sluice.lines.find((line) => line.msg === "admin port listening");
      expect(listening).to.include({ adminHost: "127.0.0.1" });
    });

    it("refuses operator endpoints without the token or with a wrong one (401), keeps metrics and health open", async () => {
      for (const path of ["/admin/status", "/admin/dead-letters", "/", "/admin/messages/x"]) {
        const none = await call(`${roles.sluice.adminUrl}${path}`, { client: null });
        expect(none.status, path).to.equal(401);
        const wrong = await call(`${roles.sluice.adminUrl}${path}`, {
          client: null,
          headers: { authorization: `Bearer ${harness.adminToken}x` },
        });
        expect(wrong.status, path).to.equal(401);
      }
      const pause = await call(`${roles.sluice.adminUrl}/admin/backends/held/pause`, {
        method: "POST",
        client: null,
      });
      expect(pause.status).to.equal(401);
      expect(pause.headers.get("www-authenticate")).to.match(/^Bearer/);
      for (const path of ["/metrics", "/healthz", "/readyz"]) {
        expect(
          (await call(`${roles.sluice.adminUrl}${path}`, { client: null })).status,
          path,
        ).to.equal(200);
      }
      expect((await admin("/admin/status")).status).to.equal(200);
      const never = JSON.stringify(roles.sluice.lines);
      expect(never).to.not.include(harness.adminToken);
    });
  });

  describe("dead letters", () => {
    let original = "";
    let replay = "";

    it("lists a message whose retries were exhausted, with its reason", async () => {
      await harness.sim.update({ errorRate: 1 });
      original = await submit("orders");
      expect((await settled(original)).state).to.equal("failed");
      const listed = await eventually(async () => {
        const answer = await admin("/admin/dead-letters?service=orders");
        return answer.json.deadLetters.length ? answer.json.deadLetters : undefined;
      });
      expect(listed).to.have.length(1);
      expect(listed[0]).to.include({
        id: original,
        reason: "retries_exhausted",
        service: "orders",
        backend: "flaky",
        client: CLIENT,
        attempts: 2,
        replayedAs: null,
      });
      expect(listed[0].error).to.include("500");
      expect(listed[0].ageSeconds).to.be.a("number");
      for (const filter of ["reason=translator_error", "backend=held", "client=EE/X/Y/Z"]) {
        expect(
          (await admin(`/admin/dead-letters?${filter}`)).json.deadLetters,
          filter,
        ).to.deep.equal([]);
      }
      const one = await admin(`/admin/dead-letters/${original}`);
      expect(one.json.request).to.include({ id: original, service: "orders" });
      // A name the configuration lacks is most likely a typo: warned of beside the answer.
      expect((await admin("/admin/dead-letters?service=orders")).json).not.to.have.property(
        "warnings",
      );
      const typo = await admin("/admin/dead-letters?backend=flakey&service=order");
      expect(typo.json.deadLetters).to.deep.equal([]);
      expect(typo.json.warnings).to.deep.equal([
        'backend "flakey" names no backend of this configuration (flaky, held, stopped); only dead letters of one since removed can match it',
        `service "order" names no service of this configuration (orders, parked, frozen); only dead letters of one since removed can match it`,
      ]);
    });

    it("replays it after the backend recovered: a new message, linked both ways, completed", async () => {
      await harness.sim.update({ errorRate: 0 });
      const answer = await admin(`/admin/dead-letters/${original}/replay`, { method: "POST" });
      expect(answer.status).to.equal(200);
      expect(answer.json).to.include({
        id: original,
        result: "replayed",
        mayHaveReachedBackend: true,
      });
      expect(answer.json.warning).to.include("Idempotency-Key");
      replay = answer.json.replayedAs;
      expect(replay).to.be.a("string").and.not.equal(original);

      const done = await settled(replay);
      expect(done.state).to.equal("completed");
      expect(done.replayOf).to.equal(original);
      expect(done.history.map((h: { state: string }) => h.state)).to.include.members([
        "accepted",
        "processing",
        "completed",
      ]);
      const first = (await status(original)).json;
      expect(first.state).to.equal("failed");
      expect(first.replayedAs).to.equal(replay);
      // Two failed calls and the replay's, which carries the original's Idempotency-Key.
      const calls = harness.sim.calls({ id: original });
      expect(calls.map((c) => c.status)).to.deep.equal([500, 500, 200]);
    });

    it("replays the same dead letter once, however often it is asked", async () => {
      const again = await admin(`/admin/dead-letters/${original}/replay`, { method: "POST" });
      expect(again.json).to.include({ result: "already", replayedAs: replay });
      const bulk = await admin("/admin/dead-letters/replay", {
        method: "POST",
        body: JSON.stringify({ service: "orders" }),
      });
      expect(bulk.json.replayed).to.deep.equal([]);
      expect(bulk.json).not.to.have.property("warnings");
      const typo = await admin("/admin/dead-letters/replay", {
        method: "POST",
        body: JSON.stringify({ backend: "flakey" }),
      });
      expect(typo.json.replayed).to.deep.equal([]);
      expect(typo.json.warnings).to.have.length(1);
      expect(typo.json.warnings[0]).to.match(/^backend "flakey" names no backend/);
      expect(harness.sim.calls({ id: original })).to.have.length(3);
      const refused = await admin("/admin/dead-letters/replay", { method: "POST", body: "{}" });
      expect(refused.status).to.equal(400);
    });

    it("refuses a limit that is not a whole number of 1 or more (400), lists with a good one", async () => {
      for (const bad of ["abc", "0", "-5", "2.5"]) {
        for (const path of ["/admin/dead-letters", "/admin/dead-callbacks"]) {
          const answer = await admin(`${path}?limit=${bad}`);
          expect(answer.status, `${path}?limit=${bad}`).to.equal(400);
          expect(answer.json.message).to.include("limit takes a whole number");
        }
        for (const path of ["/admin/dead-letters/replay", "/admin/dead-callbacks/redeliver"]) {
          const answer = await admin(path, {
            method: "POST",
            body: JSON.stringify({ all: true, limit: bad }),
          });
          expect(answer.status, `${path} limit ${bad}`).to.equal(400);
        }
      }
      const listed = await admin("/admin/dead-letters?limit=1&service=orders");
      expect(listed.status).to.equal(200);
      expect(listed.json.deadLetters).to.have.length(1);
    });

    it("is listed, shown and (not) replayed again from the command line", function () {
      // Six runs of the command line, each a node process started and connected: on a loaded
      // machine one can take ten seconds or more, and the test waits on each to exit.
      this.timeout(180_000);
      const list = sluiceCli(["dead-letters", "list", "--service", "orders", "--json"]);
      expect(list.status, list.stderr).to.equal(0);
      const listed = JSON.parse(list.stdout) as Array<{ id: string; replayedAs: string }>;
      expect(listed.find((e) => e.id === original)).to.include({ replayedAs: replay });
      const table = sluiceCli(["dead-letters", "list", "--reason", "retries_exhausted"]);
      expect(table.stdout).to.match(/^AGE\s+REASON\s+BACKEND/);
      expect(table.stdout).to.include(original);
      const again = sluiceCli(["dead-letters", "replay", original]);
      expect(again.status).to.equal(0);
      expect(again.stdout).to.include(`${original}: already as ${replay}`);
      const shown = sluiceCli(["messages", "show", replay, "--json"]);
      expect(JSON.parse(shown.stdout)).to.include({
        id: replay,
        replayOf: original,
        state: "completed",
      });
      const nothing = sluiceCli(["dead-letters", "replay"]);
      expect(nothing.status).to.equal(2); // a usage mistake
      expect(nothing.stderr).to.include("--all");
    });

    it("replays a filtered set in one request", async () => {
      await harness.sim.update({ errorRate: 1 });
      const ids = [await submit("orders"), await submit("orders")];
      for (const id of ids) expect((await settled(id)).state).to.equal("failed");
      await harness.sim.update({ errorRate: 0 });
      await eventually(async () =>
        (await admin("/admin/dead-letters?reason=retries_exhausted&replayed=no")).json.deadLetters
          .length === 2
          ? true
          : undefined,
      );
      const bulk = await admin("/admin/dead-letters/replay", {
        method: "POST",
        body: JSON.stringify({ backend: "flaky", reason: "retries_exhausted" }),
      });
      expect(bulk.json.skipped).to.deep.equal([]);
      expect(bulk.json.replayed.map((r: { id: string }) => r.id).sort()).to.deep.equal(ids.sort());
      for (const r of bulk.json.replayed)
        expect((await settled(r.replayedAs)).state).to.equal("completed");
    });
  });

  describe("a bulk discard from the command line", () => {
    it("dry-runs, discards what the dry run listed with its note, and no replay takes them", async function () {
      // Seven runs of the command line, each a node process started and connected (see above).
      this.timeout(180_000);
      await harness.sim.update({ errorRate: 1 });
      const ids = [await submit("orders"), await submit("orders")];
      for (const id of ids) expect((await settled(id)).state).to.equal("failed");
      await harness.sim.update({ errorRate: 0 });
      const note = "poison: the backend refuses these for good";

      const unnoted = await sluiceCliLater(["dead-letters", "discard", "--backend", "flaky"]);
      expect(unnoted.status).to.equal(2); // a usage mistake, before anything is connected
      expect(unnoted.stderr).to.include("--note");

      const dry = await sluiceCliLater([
        "dead-letters",
        "discard",
        "--backend",
        "flaky",
        "--note",
        note,
        "--dry-run",
      ]);
      expect(dry.status, dry.stderr).to.equal(0);
      for (const id of ids) expect(dry.stdout).to.include(`${id}: would discard (backend flaky)`);
      expect(dry.stdout).to.include(
        "2 would be discarded, 0 skipped (dry run: nothing was discarded)",
      );
      const until = /--until (\S+)\)/.exec(dry.stdout)?.[1];
      expect(until, dry.stdout).to.be.a("string");

      const real = await sluiceCliLater([
        "dead-letters",
        "discard",
        "--backend",
        "flaky",
        "--note",
        note,
        "--until",
        until!,
      ]);
      expect(real.status, real.stderr).to.equal(0);
      for (const id of ids) expect(real.stdout).to.match(new RegExp(`${id}: discarded at `));
      expect(real.stdout).to.include("2 discarded, 0 skipped");

      const replay = await sluiceCliLater(["dead-letters", "replay", ids[0], "--json"]);
      expect(replay.status, replay.stderr).to.equal(0);
      expect(JSON.parse(replay.stdout)).to.include({ result: "already", discarded: true });
      const line = await sluiceCliLater(["dead-letters", "replay", ids[0]]);
      expect(line.stdout).to.match(new RegExp(`^${ids[0]}: already \\(discarded at \\S+\\)$`, "m"));
      const waiting = await admin("/admin/dead-letters?backend=flaky&replayed=no");
      expect(waiting.json.deadLetters.map((e: { id: string }) => e.id)).to.not.include.members(ids);

      const journal = await sluiceCliLater(["journal", "--limit", "3", "--json"]);
      const run = (JSON.parse(journal.stdout) as Array<{ action: string; target: string }>).find(
        (e) => e.action === "dead-letter.discard-bulk",
      );
      expect(JSON.parse(run!.target)).to.deep.equal({ backend: "flaky", until, limit: 1000, note });
    });
  });

  describe("messages", () => {
    it("are found by gateway id and by (client, service, X-Road id), and cancelled by the operator", async () => {
      expect((await admin("/admin/backends/held/pause", { method: "POST" })).json.paused).to.equal(
        true,
      );
      const xroadId = randomUUID();
      const id = await submit("parked", xroadId);
      const byId = await admin(`/admin/messages/${id}`);
      expect(byId.status).to.equal(200);
      expect(byId.json).to.include({
        id,
        xroadId,
        service: "parked",
        client: CLIENT,
        backend: "held",
      });
      const query = new URLSearchParams({ client: CLIENT, service: "parked", xroadId });
      const byXroad = await admin(`/admin/messages?${query}`);
      expect(byXroad.json.id).to.equal(id);
      query.set("service", "orders");
      expect((await admin(`/admin/messages?${query}`)).status).to.equal(404);
      expect((await admin(`/admin/messages/${randomUUID()}`)).status).to.equal(404);

      const cancelled = await admin(`/admin/messages/${id}`, { method: "DELETE" });
      expect(cancelled.status).to.equal(200);
      expect(cancelled.json).to.include({ state: "cancelled" });
      expect(cancelled.json.error).to.deep.equal({
        code: "Cancelled",
        message: "cancelled by the operator",
      });
      // Repeated (its answer lost, or to be sure), the operator's cancel answers as it did.
      for (const [path, method] of [
        [`/admin/messages/${id}`, "DELETE"],
        [`/admin/messages/${id}/cancel`, "POST"],
      ]) {
        const again = await admin(path, { method });
        expect(again.status, `${method} ${path}: ${again.text}`).to.equal(200);
        expect(again.json).to.include({ id, state: "cancelled" });
        expect(again.json.error).to.deep.equal(cancelled.json.error);
      }

      // A message its client cancelled is not the operator's cancel: that stays a conflict.
      const byClient = await submit("parked");
      expect(
        (await call(`${roles.sluice.url}/messages/${byClient}`, { method: "DELETE" })).status,
      ).to.equal(200);
      const refused = await admin(`/admin/messages/${byClient}`, { method: "DELETE" });
      expect(refused.status).to.equal(409);
      expect(refused.json).to.deep.equal({
        type: "Conflict",
        message: "the message is cancelled and can no longer be cancelled",
      });
      await admin("/admin/backends/held/resume", { method: "POST" });
      expect(harness.sim.calls({ id })).to.have.length(0);
    });

    it("are cancelled from the command line, and a repeated cancel is told it is done", async () => {
      // Not "held": paused right after the test before resumed it, its consumers could still
      // be attaching, and such a consumer kept handing the message back until the broker
      // dead-lettered it (delivery_limit). A backend paused once stays clear of that.
      expect((await admin("/admin/backends/stopped/pause", { method: "POST" })).status).to.equal(
        200,
      );
      const id = await submit("frozen");
      const first = await sluiceCliLater(["messages", "cancel", id]);
      expect(first.status, first.stderr).to.equal(0);
      expect(first.stdout.trim()).to.equal(`${id}: cancelled`);
      const again = await sluiceCliLater(["messages", "cancel", id]);
      expect(again.status, again.stderr).to.equal(0);
      expect(again.stdout.trim()).to.equal(`${id}: cancelled (already, by the operator)`);
      const json = await sluiceCliLater(["messages", "cancel", id, "--json"]);
      expect(json.status, json.stderr).to.equal(0);
      expect(JSON.parse(json.stdout)).to.deep.equal({ id, state: "cancelled", already: true });
      expect((await status(id)).json).to.include({ state: "cancelled" });

      // Cancelled by its client: the operator's cancel is refused, exit 1 with the reason.
      const byClient = await submit("frozen");
      expect(
        (await call(`${roles.sluice.url}/messages/${byClient}`, { method: "DELETE" })).status,
      ).to.equal(200);
      const refused = await sluiceCliLater(["messages", "cancel", byClient]);
      expect(refused.status).to.equal(1);
      expect(refused.stderr).to.include("the message is cancelled and can no longer be cancelled");
      expect(harness.sim.calls({ id })).to.have.length(0);
    });

    it("are cancelled from the command line with the broker out of reach: done, exit 0, a warning", async () => {
      expect((await admin("/admin/backends/held/pause", { method: "POST" })).status).to.equal(200);
      try {
        const id = await submit("parked");
        // Nothing listens on port 9: only the notice to callbacks and hub listeners needs it.
        const cancelled = await sluiceCliLater(["messages", "cancel", id], {
          AMQP_URL: "amqp://guest:guest@127.0.0.1:9",
        });
        expect(cancelled.status, cancelled.stderr).to.equal(0);
        expect(cancelled.stdout.trim()).to.equal(`${id}: cancelled`);
        expect(cancelled.stderr).to.include("warning: the message is cancelled");
        expect((await admin(`/admin/messages/${id}`)).json.state).to.equal("cancelled");
      } finally {
        await admin("/admin/backends/held/resume", { method: "POST" });
      }
    });

    it("are found by (client, X-Road id) alone, across services, or told ambiguous", async () => {
      const xroadId = randomUUID();
      const first = await submit("parked", xroadId);
      const query = new URLSearchParams({ client: CLIENT, xroadId });
      const found = await admin(`/admin/messages?${query}`);
      expect(found.status, found.text).to.equal(200);
      expect(found.json).to.include({ id: first, service: "parked" });
      const shown = await sluiceCliLater([
        "messages",
        "show",
        "--client",
        CLIENT,
        "--xroad-id",
        xroadId,
        "--json",
      ]);
      expect(shown.status, shown.stderr).to.equal(0);
      expect(JSON.parse(shown.stdout)).to.include({ id: first });

      // The same X-Road id sent to another service is another message (docs/semantics.md).
      const second = await submit("orders", xroadId);
      const both = await admin(`/admin/messages?${query}`);
      expect(both.status).to.equal(409);
      expect(both.json.type).to.equal("Ambiguous");
      expect(both.json.matches.map((m: { id: string }) => m.id).sort()).to.deep.equal(
        [first, second].sort(),
      );
      query.set("service", "orders");
      expect((await admin(`/admin/messages?${query}`)).json.id).to.equal(second);
      query.delete("xroadId");
      expect((await admin(`/admin/messages?${query}`)).status).to.equal(400);
    });
  });
});

describe("an admin port without a token", function () {
  // The test starts a worker: a start takes up to START_TIMEOUT_MS on a loaded machine.
  this.timeout(START_TIMEOUT_MS + 30_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("does not serve the operator endpoints at all (404), only metrics and health", async () => {
    await harness.startSim();
    harness.writeConfig({
      services: { q: { backend: "b" } },
      backends: { b: {} },
      admin: { port: 0 },
    });
    const sluice = await harness.spawn("worker");
    for (const path of ["/admin/status", "/", "/admin/dead-letters"]) {
      const answer = await call(`${sluice.adminUrl}${path}`, {
        client: null,
        headers: harness.adminHeaders(),
      });
      expect(answer.status, path).to.equal(404);
    }
    expect((await call(`${sluice.adminUrl}/healthz`, { client: null })).status).to.equal(200);
    expect(sluice.lines.find((l) => l.msg === "admin port listening")).to.include({
      operatorEndpoints: "off (no admin token)",
    });
  });
});
