// Dead callbacks sent again by the operator, end to end on one `sluice all`: a receiver that
// fails until it is mended lets the final callback die (delivery_failed); the operator lists it,
// mends the receiver and redelivers it from the admin port and from the CLI, twice at once; the
// receiver gets it exactly once, with the same webhook-id, and the delivery becomes delivered.

import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { call, eventually, Harness, type CallOptions } from "../support/harness";

const CLIENT = "EE/GOV/70000001/case-app";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");
const SECRET = `whsec_${randomBytes(32).toString("base64")}`;

describe("dead callbacks redelivered by the operator (admin port and CLI)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    receiver: { secret: SECRET },
    config: {
      services: { notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" } },
      backends: { sim: {} },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  const admin = (route: string, options?: CallOptions) =>
    harness.admin(roles.sluice, route, options);
  const status = (id: string) => call(`${roles.sluice.url}/messages/${id}`, { client: CLIENT });
  const sluiceCli = (args: string[]) =>
    new Promise<{ status: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [BIN, ...args, "--config", harness.configFile],
        { env: { ...process.env, LOG_LEVEL: "warn" }, encoding: "utf8", timeout: 30_000 },
        (error, stdout, stderr) => {
          const code = (error as { code?: unknown } | null)?.code;
          resolve({ status: error ? (typeof code === "number" ? code : -1) : 0, stdout, stderr });
        },
      );
    });
  const delivery = (id: string, wanted: string) =>
    eventually(
      async () => ((await status(id)).json.delivery === wanted ? true : undefined),
      20_000,
      `delivery of ${id} to become ${wanted}`,
    );
  const callsTo = (hookPath: string) => harness.receiver.calls.filter((c) => c.path === hookPath);

  /** A callback-mode message whose final callback dies at a receiver answering 500. */
  async function deadCallback(hookPath: string): Promise<string> {
    harness.receiver.respond = (c) => (c.path === hookPath ? { status: 500 } : { status: 204 });
    const answer = await call(`${roles.sluice.url}/rest/notify`, {
      body: JSON.stringify({ case: 7 }),
      client: CLIENT,
      headers: { Prefer: "respond-async", "X-Callback-Url": harness.receiver.url(hookPath) },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    await delivery(id, "delivery_failed");
    // The backoff of 300 ms and 600 ms: three attempts, all refused.
    expect(callsTo(hookPath)).to.have.length(3);
    return id;
  }

  it("lists a dead callback with its target (no query value), reason, attempts and age", async () => {
    // The caller's token in its callback URL reaches the receiver, never the operator.
    const id = await deadCallback("/hooks/listed?token=s3cret");
    const shown = harness.receiver.url("/hooks/listed?token=[redacted]");
    const list = await admin("/admin/dead-callbacks");
    expect(list.status).to.equal(200);
    const entry = (list.json.deadCallbacks as Array<Record<string, unknown>>).find(
      (e) => e.id === id,
    );
    expect(entry).to.deep.include({
      id,
      target: shown,
      receiver: new URL(harness.receiver.url("/")).origin,
      reason: "exhausted",
      attempts: 3,
      status: 500,
      delivery: "delivery_failed",
      redeliveries: 0,
      webhookId: `msg_${id}.1`,
    });
    expect(entry!.ageSeconds).to.be.a("number");
    const byReason = await admin("/admin/dead-callbacks?reason=gone");
    expect(byReason.json.deadCallbacks.map((e: { id: string }) => e.id)).to.not.include(id);
    // Behind the token like every operator endpoint.
    const anonymous = await call(`${roles.sluice.adminUrl}/admin/dead-callbacks`, { client: null });
    expect(anonymous.status).to.equal(401);
    const cli = await sluiceCli(["dead-callbacks", "list", "--json"]);
    expect(cli.status, cli.stderr).to.equal(0);
    expect((JSON.parse(cli.stdout) as Array<{ id: string }>).map((e) => e.id)).to.include(id);
    const table = await sluiceCli(["dead-callbacks", "list", "--target", shown]);
    expect(table.stdout).to.include(id).and.include(shown);
    const show = await sluiceCli(["dead-callbacks", "show", id, "--json"]);
    expect(JSON.parse(show.stdout)).to.deep.include({ id, target: shown });
    const message = await admin(`/admin/messages/${id}`);
    expect(message.json.callback).to.equal(shown);
    for (const text of [list.text, cli.stdout, table.stdout, show.stdout, message.text]) {
      expect(text).to.not.include("s3cret");
    }
  });

  it("redelivers one from the admin port once, however many ask at once, with the same webhook-id", async () => {
    const id = await deadCallback("/hooks/admin");
    const [dead] = callsTo("/hooks/admin");
    harness.receiver.respond = () => ({ status: 204 });

    const answers = await Promise.all([
      admin(`/admin/dead-callbacks/${id}/redeliver`, { method: "POST" }),
      admin(`/admin/dead-callbacks/${id}/redeliver`, { method: "POST" }),
      admin("/admin/dead-callbacks/redeliver", { body: JSON.stringify({ id }) }),
    ]);
    const results = answers.map((a) => a.json.result ?? a.json.redelivered?.[0]?.result);
    expect(
      results.filter((r) => r === "redelivered"),
      JSON.stringify(results),
    ).to.have.length(1);
    // The others: already under way, or (the bulk one) no longer delivery_failed when listed.
    expect(
      results.every((r) => r === "redelivered" || r === "already" || r === undefined),
    ).to.equal(true);

    await delivery(id, "delivered");
    const sent = callsTo("/hooks/admin").slice(3);
    expect(sent, "redelivered exactly once").to.have.length(1);
    expect(sent[0].headers["webhook-id"]).to.equal(dead.headers["webhook-id"]);
    expect(verifyWebhook(SECRET, sent[0].headers, sent[0].body)).to.deep.equal({ valid: true });
    const document = JSON.parse(sent[0].body);
    expect(document).to.deep.include({ id, state: "completed", delivery: "pending" });
    const states = (await status(id)).json.history.map((h: { state: string }) => h.state);
    expect(states.slice(-3)).to.deep.equal(["delivery_failed", "pending", "delivered"]);

    // Delivered: no longer listed, and asking again sends nothing.
    const list = await admin("/admin/dead-callbacks");
    expect(list.json.deadCallbacks.map((e: { id: string }) => e.id)).to.not.include(id);
    const again = await admin(`/admin/dead-callbacks/${id}/redeliver`, { method: "POST" });
    expect(again.json).to.deep.include({ result: "already", delivery: "delivered" });
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(callsTo("/hooks/admin")).to.have.length(4);
  });

  it("redelivers a filtered set from the CLI, at once with the admin port's bulk redelivery, each once", async () => {
    const first = await deadCallback("/hooks/cli-1");
    const second = await deadCallback("/hooks/cli-2");
    harness.receiver.respond = () => ({ status: 204 });
    const origin = new URL(harness.receiver.url("/")).origin;

    const refused = await sluiceCli(["dead-callbacks", "redeliver"]);
    expect(refused.status).to.equal(2); // a usage mistake
    expect(refused.stderr).to.match(/--all/);
    const [cli, bulk] = await Promise.all([
      sluiceCli(["dead-callbacks", "redeliver", "--receiver", origin, "--json"]),
      admin("/admin/dead-callbacks/redeliver", { body: JSON.stringify({ reason: "exhausted" }) }),
    ]);
    expect(cli.status, cli.stderr).to.equal(0);
    expect(bulk.status).to.equal(200);
    const redelivered = [
      ...(JSON.parse(cli.stdout) as { redelivered: Array<{ id: string; result: string }> })
        .redelivered,
      ...(bulk.json.redelivered as Array<{ id: string; result: string }>),
    ].filter((r) => r.result === "redelivered");
    // Both sent, each by one of the two (the bulk one also takes what earlier tests left dead).
    const ids = redelivered.map((r) => r.id);
    expect(ids).to.include.members([first, second]);
    expect(new Set(ids).size, "no message redelivered twice").to.equal(ids.length);

    await delivery(first, "delivered");
    await delivery(second, "delivered");
    expect(callsTo("/hooks/cli-1").slice(3), "the first redelivered once").to.have.length(1);
    expect(callsTo("/hooks/cli-2").slice(3), "the second redelivered once").to.have.length(1);

    const show = await sluiceCli(["dead-callbacks", "show", first, "--json"]);
    expect(show.status, show.stderr).to.equal(0);
    expect(JSON.parse(show.stdout)).to.deep.include({ id: first, delivery: "delivered" });
  });

  it("records the delivery failed again when the redelivery fails too, ready for another", async () => {
    const id = await deadCallback("/hooks/still-broken");
    const cli = await sluiceCli(["dead-callbacks", "redeliver", id]);
    expect(cli.status, cli.stderr).to.equal(0);
    expect(cli.stdout).to.match(/redelivered/);
    await eventually(async () => (callsTo("/hooks/still-broken").length === 6 ? true : undefined));
    await delivery(id, "delivery_failed");
    const shown = await admin(`/admin/dead-callbacks/${id}`);
    expect(shown.json).to.deep.include({ delivery: "delivery_failed", redeliveries: 1 });
  });
});
