// `sluice worker --backends A`: a worker pool per backend. A worker started for one backend
// consumes only that backend's request queue, so another backend's messages wait for their own
// pool (on Kubernetes, a Deployment and a KEDA ScaledObject per backend queue).

import { expect } from "chai";
import { call, eventually, Harness, START_TIMEOUT_MS } from "../support/harness";
import { RecordingBackend } from "./recording-backend";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const CLIENT = "EE/GOV/70000001/case-app";

/** The value of one series in a Prometheus text exposition, or undefined. */
function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("worker pools per backend (--backends)", function () {
  freshConnectionPerFetch();
  // Two worker starts in the test and three waits of up to 20 s each.
  this.timeout(2 * START_TIMEOUT_MS + 90_000);
  let alpha: RecordingBackend;
  let beta: RecordingBackend;
  const harness = Harness.suite({
    sim: false,
    config: async () => {
      alpha = await RecordingBackend.start();
      beta = await RecordingBackend.start();
      return {
        services: {
          toAlpha: { protocols: ["rest"], reply: { mode: "ack" }, backend: "alpha" },
          toBeta: { protocols: ["rest"], reply: { mode: "ack" }, backend: "beta" },
        },
        backends: {
          alpha: { translator: "rest-json", url: alpha.url },
          beta: { translator: "rest-json", url: beta.url },
        },
      };
    },
    roles: ["response-worker", "adapter"],
  });
  const { roles } = harness;
  after(async () => {
    await alpha?.close();
    await beta?.close();
  });

  it("consumes only the named backend's queue; the other's messages wait for their own pool", async () => {
    const alphaWorker = await harness.spawn("worker", {}, ["--backends", "alpha"]);
    const toAlpha = await call(`${roles.adapter.url}/rest/toAlpha/one`, { client: CLIENT });
    const toBeta = await call(`${roles.adapter.url}/rest/toBeta/one`, { client: CLIENT });
    expect([toAlpha.status, toBeta.status]).to.deep.equal([202, 202]);
    const status = async (id: string) =>
      (await call(`${roles.adapter.url}/messages/${id}`, { client: CLIENT })).json.state;
    await eventually(
      async () => (await status(toAlpha.json.id as string)) === "completed" || undefined,
      20_000,
      "alpha's message to be completed",
    );
    expect(alpha.calls.map((c) => c.path)).to.deep.equal(["/one"]);

    // The queue monitor reports alpha's queue consumed and beta's not, beta's message in it.
    const requests = (backend: string) =>
      `sluice_queue_consumers{queue="${harness.prefix}requests.${backend}"}`;
    const depth = `sluice_queue_depth_messages{queue="${harness.prefix}requests.beta"}`;
    await eventually(
      async () => {
        const text = await (await fetch(`${alphaWorker.adminUrl}/metrics`)).text();
        return sample(text, requests("alpha")) === 1 &&
          sample(text, requests("beta")) === 0 &&
          sample(text, depth) === 1
          ? true
          : undefined;
      },
      20_000,
      "the queue monitor to see alpha consumed and beta waiting",
    );
    expect(beta.calls).to.deep.equal([]);
    expect(await status(toBeta.json.id as string)).to.equal("accepted");

    // Beta's own pool takes it.
    await harness.spawn("worker", {}, ["--backends", "beta"]);
    await eventually(
      async () => (await status(toBeta.json.id as string)) === "completed" || undefined,
      20_000,
      "beta's message to be completed by beta's pool",
    );
    expect(beta.calls.map((c) => c.path)).to.deep.equal(["/one"]);
    expect(alpha.calls).to.have.length(1);
  });
});
