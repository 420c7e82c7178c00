// A callback under way when the response-worker process is killed (SIGKILL), with separate
// adapter, worker and response-worker processes: the job the dead process held goes back to
// the queue, the next response worker sends it (same webhook-id) and the delivery settles.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { call, eventually, Harness, START_TIMEOUT_MS } from "../support/harness";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";

describe("a callback under way when its response worker is killed", function () {
  // Up to 50 s of waits and a response worker's start in the test.
  this.timeout(START_TIMEOUT_MS + 90_000);
  const harness = Harness.suite({
    receiver: { secret: SECRET },
    config: {
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: ["response-worker", "worker", "adapter"],
  });

  for (const signal of ["SIGKILL", "SIGTERM"] as const) {
    it(`${signal}: is sent again by the next response worker, same webhook-id, and the delivery settles delivered`, async () => {
      const { receiver, roles } = harness;
      receiver.respond = () => "hang";
      const submitted = await call(`${roles.adapter.url}/rest/notify`, {
        body: "{}",
        client: CLIENT,
        headers: { "X-Callback-Url": receiver.url("/hooks/crash") },
      });
      expect(submitted.status, submitted.text).to.equal(202);
      const id = submitted.json.id as string;
      const ofMessage = () => receiver.calls.filter((c) => JSON.parse(c.body).id === id);
      await eventually(async () => ofMessage()[0], 20_000, "the first attempt");

      // Killed mid-attempt, or stopped with an attempt that outlasts the shutdown grace:
      // nothing settles the job, which the broker hands out again.
      const code = await roles["response-worker"].stop(signal);
      if (signal === "SIGTERM") expect(code).to.equal(0);
      receiver.respond = () => ({ status: 204 });
      receiver.release({ status: 204 });
      roles["response-worker"] = await harness.spawn("response-worker");

      const settled = await eventually(
        async () => {
          const status = await call(`${roles.adapter.url}/messages/${id}`, { client: CLIENT });
          return status.json?.delivery === "delivered" ? status : undefined;
        },
        30_000,
        "the delivery settled",
      );
      expect(settled.json.state).to.equal("completed");
      const calls = ofMessage();
      expect(calls.length).to.be.at.least(2);
      expect(new Set(calls.map((c) => c.headers["webhook-id"])).size).to.equal(1);
    });
  }
});

describe("a callback attempt set apart when its response worker is killed", function () {
  // Up to 100 s of waits and a response worker's start in the test.
  this.timeout(START_TIMEOUT_MS + 120_000);
  const harness = Harness.suite({
    receiver: { secret: SECRET },
    config: (h) => ({
      services: {
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json" } },
      // The copy of an attempt set apart comes back after the rest of this plus 5 s, rounded
      // up to the step-aside queue's 30 s. The kill must come while the attempt is still under
      // way (set apart after 1 s, its mark not yet in Redis): had the attempt timed out first,
      // its retry and the copy would both be sent, the at-least-once case the docs describe.
      // 20 s leaves that window wide on a loaded machine and still brings the copy at 30 s.
      callbacks: { ...h.receiver.loopbackCallbacks(SECRET), timeout: "20s" },
    }),
    roles: ["response-worker", "worker", "adapter"],
  });

  const setApart = async (): Promise<number> => {
    const { roles } = harness;
    const answer = await harness.admin(roles["response-worker"], "/metrics");
    const found = /^sluice_callback_attempts_set_apart (\d+)$/m.exec(answer.text);
    return found ? Number(found[1]) : 0;
  };

  it("SIGKILL: its copy is made by the next response worker, once, and the delivery settles delivered", async () => {
    const { receiver, roles } = harness;
    receiver.respond = () => "hang";
    const submitted = await call(`${roles.adapter.url}/rest/notify`, {
      body: "{}",
      client: CLIENT,
      headers: { "X-Callback-Url": receiver.url("/hooks/apart") },
    });
    expect(submitted.status, submitted.text).to.equal(202);
    const id = submitted.json.id as string;
    const ofMessage = () => receiver.calls.filter((c) => JSON.parse(c.body).id === id);
    await eventually(async () => ofMessage()[0], 20_000, "the first attempt");
    await eventually(
      async () => ((await setApart()) === 1 ? true : undefined),
      20_000,
      "the attempt set apart",
    );

    // Its delivery was acknowledged when it was set apart: only the copy stands for it now.
    await roles["response-worker"].stop("SIGKILL");
    receiver.respond = () => ({ status: 204 });
    roles["response-worker"] = await harness.spawn("response-worker");

    const settled = await eventually(
      async () => {
        const status = await call(`${roles.adapter.url}/messages/${id}`, { client: CLIENT });
        return status.json?.delivery === "delivered" ? status : undefined;
      },
      60_000,
      "the delivery settled",
    );
    expect(settled.json.state).to.equal("completed");
    const calls = ofMessage();
    expect(calls, "the hung attempt and the copy's").to.have.length(2);
    expect(new Set(calls.map((c) => c.headers["webhook-id"])).size).to.equal(1);
  });
});
