// Each role owns its channels and its settings: in `sluice all` the adapter publishes on a
// channel of its own with its own confirm timeout (`adapter.publishTimeout`), whichever role
// started first, and a role's close takes its own channels only.

import { expect } from "chai";
import pino from "pino";
import { startRoles } from "../../cli/roles";
import { loadConfig } from "../../shared/config/config";
import { startRuntime, type Role, type Runtime } from "../../shared/runtime/runtime";
import { drainRoles } from "../../shared/runtime/shutdown-deadline";
import { Harness } from "../support/harness";

describe("the roles of sluice all", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let runtime: Runtime | null = null;
  let roles: Role[] = [];

  after(async () => {
    await drainRoles(roles, 2_000);
    await runtime?.close();
    await harness.cleanup();
  });

  it("each publish on their own channel; adapter.publishTimeout is honoured", async () => {
    const config = loadConfig(
      harness.writeConfig({
        adapter: { port: 0, publishTimeout: "9s" },
        services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "b" } },
        backends: { b: { url: "http://127.0.0.1:9", translator: "rest-json" } },
      }),
    );
    runtime = await startRuntime(config, pino({ level: "silent" }), 0);
    // The response worker starts first: before, the channel it opened was everyone's, at 5 s.
    roles = await startRoles("all", runtime);
    expect(roles.map((role) => role.name)).to.deep.equal([
      "callbacks",
      "response-worker",
      "worker",
      "adapter",
    ]);
    expect(runtime.broker.channelPublishTimeouts()).to.include({
      "response-worker.publisher": 5_000,
      "worker.publisher": 5_000,
      "adapter.publisher": 9_000,
    });
  });
});
