// Hub listeners for the operator, end to end on one `sluice all`: listed by client and by
// receiver with their callbacks' query values redacted, and removed by id from the admin port
// or the command line, after which the listener hears nothing and its client's own DELETE
// answers as after its own removal.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/COM/70000002/bob";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

interface Listed {
  id: string;
  client: string;
  callback: string;
  receiver: string;
  query: string;
  ageSeconds: number;
  refusedByConfiguration?: string | null;
}

describe("hub listeners, for the operator", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    receiver: {
      secret: SECRET,
      listeners: [
        { client: ALICE, path: "/events/alice?token=s3cret", query: "service=orders" },
        { client: ALICE, path: "/events/alice-all" },
        { client: BOB, path: "/events/bob" },
      ],
    },
    config: {
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: {} },
    },
    roles: [{ role: "all", as: "adapter" }],
  });
  const admin = (route: string, method = "GET") =>
    harness.admin(harness.roles.adapter, route, { method });
  const listed = async (query = ""): Promise<Listed[]> => {
    const answer = await admin(`/admin/hub-listeners${query}`);
    expect(answer.status, answer.text).to.equal(200);
    return answer.json.hubListeners as Listed[];
  };
  const sluiceCli = (args: string[], configFile = harness.configFile) =>
    spawnSync(process.execPath, [BIN, ...args, "--config", configFile], {
      env: { ...process.env, LOG_LEVEL: "warn" },
      encoding: "utf8",
      timeout: 30_000,
    });

  it("lists every client's, a client's or a receiver's, the callbacks' query values redacted", async () => {
    const all = await listed();
    expect(all.map((l) => l.client).sort()).to.deep.equal([ALICE, ALICE, BOB].sort());
    const origin = new URL(harness.receiver.url("/")).origin;
    const alices = await listed(`?client=${encodeURIComponent(ALICE)}`);
    expect(alices.map((l) => l.callback).sort()).to.deep.equal([
      `${origin}/events/alice-all`,
      `${origin}/events/alice?token=[redacted]`,
    ]);
    expect(JSON.stringify(all)).to.not.contain("s3cret");
    expect(alices.find((l) => l.callback.includes("token"))).to.include({
      query: "service=orders",
      receiver: origin,
    });
    // Any URL of the receiver names it; another receiver has none.
    const query = `?receiver=${encodeURIComponent(`${origin}/elsewhere`)}`;
    expect(await listed(query)).to.have.length(3);
    expect(await listed("?receiver=https%3A%2F%2Fgone.example")).to.deep.equal([]);
    expect(await listed("?limit=1")).to.have.length(1);
    expect((await admin("/admin/hub-listeners?limit=abc")).status).to.equal(400);
  });

  it("says which listeners the configuration refuses, and why, as the configuration given judges", async () => {
    // The roles' configuration admits every receiver.
    const admitted = await listed();
    expect(admitted).to.have.length(3);
    expect(admitted.map((l) => l.refusedByConfiguration)).to.deep.equal([null, null, null]);
    // The same with allowHttp turned off, as a rollout brings it to one process before the
    // others: the receivers here are http://, so that configuration refuses every listener.
    const config = JSON.parse(readFileSync(harness.configFile, "utf8"));
    config.callbacks.allowHttp = false;
    const narrowed = path.join(path.dirname(harness.configFile), "narrowed.json");
    writeFileSync(narrowed, JSON.stringify(config), { mode: 0o600 });
    const list = sluiceCli(["hub-listeners", "list", "--json"], narrowed);
    expect(list.status, list.stderr).to.equal(0);
    const refused = JSON.parse(list.stdout) as Listed[];
    expect(refused.map((l) => l.id).sort()).to.deep.equal(admitted.map((l) => l.id).sort());
    expect(refused.map((l) => l.refusedByConfiguration)).to.deep.equal(
      refused.map(() => "the callback URL must use https://"),
    );
    const table = sluiceCli(["hub-listeners", "list"], narrowed);
    expect(table.status, table.stderr).to.equal(0);
    expect(table.stdout).to.match(
      /^AGE\s+ID\s+CLIENT\s+CALLBACK\s+QUERY\s+REFUSED BY CONFIGURATION/,
    );
    expect(table.stdout).to.contain("the callback URL must use https://");
    // Nothing is removed for it: the running configuration still lists them all.
    expect(await listed()).to.have.length(3);
  });

  it("removes one by id, which then hears nothing; its client's own DELETE answers 204", async () => {
    const [bobs] = await listed(`?client=${encodeURIComponent(BOB)}`);
    const removed = await admin(`/admin/hub-listeners/${bobs.id}`, "DELETE");
    expect(removed.status, removed.text).to.equal(200);
    expect(removed.json.removed).to.include({ id: bobs.id, client: BOB });
    expect((await admin(`/admin/hub-listeners/${bobs.id}`, "DELETE")).status).to.equal(404);
    expect(await listed(`?client=${encodeURIComponent(BOB)}`)).to.deep.equal([]);
    // Told it is gone, as after a removal of its own whose answer it lost.
    const byBob = await call(`${harness.roles.adapter.url}/hub/${bobs.id}`, {
      method: "DELETE",
      client: BOB,
    });
    expect(byBob.status).to.equal(204);

    const bobsMessage = await call(`${harness.roles.adapter.url}/rest/orders`, {
      client: BOB,
      body: "{}",
    });
    const alicesMessage = await call(`${harness.roles.adapter.url}/rest/orders`, {
      client: ALICE,
      body: "{}",
    });
    const completed = (c: { path: string; body: string }, id: string) =>
      JSON.parse(c.body).correlationId === id &&
      JSON.parse(c.body).event.message.state === "completed";
    await eventually(async () =>
      harness.receiver.calls.some(
        (c) => c.path === "/events/alice-all" && completed(c, alicesMessage.json.id),
      )
        ? true
        : undefined,
    );
    await eventually(async () =>
      (await call(`${harness.roles.adapter.url}/messages/${bobsMessage.json.id}`, { client: BOB }))
        .json.state === "completed"
        ? true
        : undefined,
    );
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(harness.receiver.calls.filter((c) => c.path === "/events/bob")).to.deep.equal([]);
  });

  it("lists and removes from the command line", () => {
    const list = sluiceCli(["hub-listeners", "list", "--client", ALICE, "--json"]);
    expect(list.status, list.stderr).to.equal(0);
    const alices = JSON.parse(list.stdout) as Listed[];
    expect(alices).to.have.length(2);
    const table = sluiceCli(["hub-listeners", "list"]);
    expect(table.status, table.stderr).to.equal(0);
    expect(table.stdout).to.match(/^AGE\s+ID\s+CLIENT\s+CALLBACK\s+QUERY/);
    expect(table.stdout).to.contain("token=[redacted]").and.not.contain("s3cret");
    const removed = sluiceCli(["hub-listeners", "remove", alices[0].id]);
    expect(removed.status, removed.stderr).to.equal(0);
    expect(removed.stdout).to.contain(`${alices[0].id}: removed (client ${ALICE})`);
    const again = sluiceCli(["hub-listeners", "remove", alices[0].id]);
    expect(again.status).to.equal(1);
    expect(again.stderr).to.contain(`no such hub listener ${alices[0].id}`);
    const left = sluiceCli(["hub-listeners", "list", "--json"]);
    expect((JSON.parse(left.stdout) as Listed[]).map((l) => l.id)).to.deep.equal([alices[1].id]);
  });
});
