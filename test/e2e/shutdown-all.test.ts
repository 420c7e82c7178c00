// One shutdown deadline for every role of a process: `sluice all` with slow work in each role
// (a sync caller waiting in the adapter, a backend call in the worker, a callback whose
// receiver never answers in the response worker's delivery) drains within `shutdown.grace`
// and exits 0, instead of each role taking a grace of its own until the force-exit.

import { expect } from "chai";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { call, eventually, Harness, type HttpAnswer, type SluiceProcess } from "../support/harness";
import { metricValue } from "./ops-support";

const GRACE = "3s";

describe("sluice all under SIGTERM with slow work in every role", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let receiver: http.Server;
  let receiverUrl: string;
  let received = 0;

  before(async () => {
    await harness.startSim();
    // A callback receiver that takes the request and never answers.
    receiver = http.createServer(() => received++);
    await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", () => resolve()));
    receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hooks/`;
    harness.writeConfig({
      shutdown: { grace: GRACE },
      services: {
        lookup: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "20s", maxWait: "30s" },
          backend: "slow",
        },
        notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "fast" },
      },
      backends: {
        // Each call takes 30 s: longer than the grace time and the caller's wait.
        slow: {
          translator: "rest-json",
          timeout: "40s",
          options: { headers: { "x-sim-latency": "30000" } },
        },
        fast: { translator: "rest-json" },
      },
      callbacks: {
        allow: [receiverUrl],
        allowHttp: true,
        allowPrivate: true,
        secret: "whsec_c2h1dGRvd24tYWxsLXRlc3Qtc2VjcmV0",
        // An attempt would outlast the grace time and the force-exit after it.
        timeout: "60s",
      },
    });
    sluice = await harness.spawn("all");
  });

  after(async () => {
    receiver?.closeAllConnections();
    await new Promise((resolve) => receiver?.close(resolve));
    await harness.cleanup();
  });

  it("exits 0 within shutdown.grace, never by the force-exit", async () => {
    // The response worker's delivery: a callback attempt under way.
    const notified = await call(`${sluice.url}/rest/notify`, {
      body: "{}",
      headers: { Prefer: "respond-async", "X-Callback-Url": `${receiverUrl}done` },
    });
    expect(notified.status, notified.text).to.equal(202);
    await eventually(async () => (received > 0 ? true : undefined), 15_000, "a callback attempt");

    // The adapter: a sync caller waiting; the worker: its backend call under way.
    const caller: Promise<HttpAnswer | Error> = call(`${sluice.url}/rest/lookup`, {
      body: "{}",
    }).catch((error: Error) => error);
    await eventually(
      async () =>
        (await metricValue(sluice.adminUrl, "sluice_sync_waiters")) === 1 &&
        harness.sim.stats().inFlight >= 1
          ? true
          : undefined,
      15_000,
      "a caller waiting and a call at the backend",
    );

    sluice.child.kill("SIGTERM");
    const code = await sluice.exited;
    expect(code).to.equal(0);
    const messages = sluice.lines.map((line) => line.msg);
    expect(messages).to.include("stopped");
    expect(messages).to.not.include("grace time exceeded; exiting");
    // The sync caller was answered while the adapter drained, not cut off.
    const answer = await caller;
    expect(answer).to.not.be.instanceOf(Error);
    expect((answer as HttpAnswer).status).to.equal(202);
  });
});
