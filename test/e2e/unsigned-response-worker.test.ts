// Roles whose configurations disagree on callbacks.secret: an adapter with it takes a callback
// that a response worker without it cannot sign. The callback is never sent unsigned; it
// becomes a dead callback the operator sees, and redelivers once the response worker has the
// secret.

import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import path from "node:path";
import { expect } from "chai";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import { call, eventually } from "../support/harness";
import { CallbackStack } from "./callback-stack";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";
const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

describe("a response worker without the adapters' callbacks.secret", function () {
  this.timeout(60_000);
  const suite = CallbackStack.suite((receiver) => ({
    services: { notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" } },
    backends: { sim: { translator: "rest-json" } },
    callbacks: {
      allow: [`https://127.0.0.1:${receiver.port}/hooks/`],
      allowPrivate: true,
      secret: SECRET,
    },
  }));

  it("sends nothing unsigned: a dead callback, redelivered once it has the secret", async () => {
    const { stack, receiver } = suite;
    const withSecret = stack.config;
    await stack.stopBack();
    stack.config = { ...withSecret, callbacks: { ...withSecret.callbacks, secrets: [] } };
    await stack.startBack();

    const answer = await call(`${stack.adapterUrl}/rest/notify`, {
      body: "{}",
      client: CLIENT,
      headers: {
        Prefer: "respond-async",
        "X-Callback-Url": `https://127.0.0.1:${receiver.port}/hooks/unsigned`,
      },
    });
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;
    const settled = await eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client: CLIENT });
      return s.json.delivery === "pending" ? undefined : s.json;
    }, 20_000);
    expect(settled).to.include({ state: "completed", delivery: "delivery_failed" });
    const dead = await new DeadCallbacks(
      stack.harness.redis(),
      withSecret.prefix,
      withSecret.retentionMs,
    ).get(id);
    expect(dead).to.include({ reason: "refused", attempts: 0, webhookId: `msg_${id}.1` });
    expect(dead?.failure).to.contain("no callbacks.secret");
    expect(receiver.calls).to.deep.equal([]);

    await stack.stopBack();
    stack.config = withSecret;
    await stack.startBack();
    const redelivered = spawnSync(
      process.execPath,
      [BIN, "dead-callbacks", "redeliver", id, "--config", stack.harness.configFile],
      { env: { ...process.env, LOG_LEVEL: "warn" }, encoding: "utf8", timeout: 30_000 },
    );
    expect(redelivered.status, redelivered.stderr).to.equal(0);
    await receiver.waitForCalls(1, 20_000);
    const [sent] = receiver.calls;
    expect(verifyWebhook(SECRET, sent.headers, sent.body)).to.deep.equal({ valid: true });
    expect(JSON.parse(sent.body)).to.include({ id, state: "completed" });
    await eventually(async () => {
      const s = await call(`${stack.adapterUrl}/messages/${id}`, { client: CLIENT });
      return s.json.delivery === "delivered" ? true : undefined;
    }, 20_000);
  });
});
