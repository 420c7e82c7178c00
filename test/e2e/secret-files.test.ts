// A role given its secrets as files (AMQP_URL_FILE, REDIS_URL_FILE, SLUICE_ADMIN_TOKEN_FILE), as
// Kubernetes mounts them: it connects with the files' URLs, its admin port takes the file's
// token, and none of the values stands in its environment.

import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { expect } from "chai";
import { AMQP_URL, call, eventually, Harness, REDIS_URL } from "../support/harness";

describe("secrets given as files", function () {
  this.timeout(90_000);
  const fileToken = `file-admin-${randomUUID()}`;
  const harness: Harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: { orders: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" } },
      backends: { legacy: {} },
      // Nothing listens here: the role reaches RabbitMQ and Redis only through the files' URLs.
      amqpUrl: "amqp://guest:guest@127.0.0.1:1",
      redisUrl: "redis://127.0.0.1:1",
    },
    roles: [
      {
        role: "all",
        as: "sluice",
        env: () => {
          const file = (name: string, value: string) => {
            const at = path.join(harness.dir, name);
            // As Kubernetes writes a Secret's file: the value and a line break, mode 0440.
            writeFileSync(at, `${value}\n`, { mode: 0o440 });
            return at;
          };
          return Promise.resolve({
            AMQP_URL: "",
            REDIS_URL: "",
            SLUICE_ADMIN_TOKEN: "",
            AMQP_URL_FILE: file("amqp-url", AMQP_URL),
            REDIS_URL_FILE: file("redis-url", REDIS_URL),
            SLUICE_ADMIN_TOKEN_FILE: file("admin-token", fileToken),
          });
        },
      },
    ],
  });
  const { roles } = harness;

  it("connects with the files' URLs and carries a message through", async () => {
    const accepted = await call(`${roles.sluice.url}/rest/orders/items`, {
      body: JSON.stringify({ order: 1 }),
      headers: { "X-Road-Id": randomUUID() },
    });
    expect(accepted.status).to.equal(202);
    const id = accepted.json.id as string;
    const done = await eventually(
      async () => {
        const doc = (await call(`${roles.sluice.url}/messages/${id}`)).json;
        return doc.state === "completed" ? doc : undefined;
      },
      30_000,
      `message ${id} to complete`,
    );
    expect(done.state).to.equal("completed");
  });

  it("takes the file's admin token over the configuration's", async () => {
    const bearer = (token: string) => ({ headers: { authorization: `Bearer ${token}` } });
    expect((await harness.admin(roles.sluice, "/admin/status", bearer(fileToken))).status).to.equal(
      200,
    );
    expect(
      (await harness.admin(roles.sluice, "/admin/status", bearer(harness.adminToken))).status,
    ).to.equal(401);
  });

  it("holds none of the values in its environment", function () {
    if (process.platform !== "linux") this.skip();
    const environ = readFileSync(`/proc/${roles.sluice.child.pid}/environ`, "utf8");
    expect(environ).to.include("SLUICE_ADMIN_TOKEN_FILE=");
    expect(environ).to.not.include(fileToken);
    expect(environ.split("\0")).to.not.include(`AMQP_URL=${AMQP_URL}`);
  });
});
