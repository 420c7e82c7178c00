// The series an outside caller can make: ever new X-Road-Client values, service codes, paths
// and message ids leave the adapter's /metrics with as many series as a handful of requests did.

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { call, Harness, START_TIMEOUT_MS } from "../support/harness";

// 5 000 of each were sent once by hand with the same result; 500 keep the suite quick.
const DISTINCT = 500;
/** Requests sent at once: enough to be quick, few enough for the test machine. */
const AT_ONCE = 50;

async function inBatches(count: number, send: (i: number) => Promise<unknown>): Promise<void> {
  for (let start = 0; start < count; start += AT_ONCE) {
    const batch: Array<Promise<unknown>> = [];
    for (let i = start; i < Math.min(count, start + AT_ONCE); i++) batch.push(send(i));
    await Promise.all(batch);
  }
}

/** The series of the exposition: each line that is not a comment. */
async function seriesOf(adminUrl: string): Promise<string[]> {
  const text = await (await fetch(`${adminUrl}/metrics`)).text();
  return text
    .split("\n")
    .filter((line) => line.startsWith("sluice_"))
    .map((line) => line.slice(0, line.lastIndexOf(" ")));
}

describe("metric series a caller can create", function () {
  this.timeout(START_TIMEOUT_MS + 120_000);
  const harness = Harness.suite({
    sim: false,
    config: {
      // The stall guard off: on a loaded machine the adapter's loop, reading 300 requests at
      // once, lags past the 2 s default and answers some `busy`, a fixed label value no caller
      // chose, which the comparison below would count as a series the callers made.
      adapter: { maxLoopStall: "0s" },
      services: { lookup: { protocols: ["rest", "soap"], reply: { mode: "ack" }, backend: "sim" } },
      backends: {
        sim: { url: "http://127.0.0.1:9/", translator: "rest-json", queue: { highWater: 100_000 } },
      },
    },
    roles: ["adapter"],
  });
  const { roles } = harness;

  it("stays at the series of a few requests after thousands of distinct values", async () => {
    const url = roles.adapter.url;
    // One request of each kind first: the series they make are the baseline.
    const kinds = (i: number, tag: string) => [
      call(`${url}/rest/lookup`, { client: `EE/GOV/${tag}${i}/app`, body: "{}" }),
      call(`${url}/rest/svc-${tag}${i}/path-${i}`, { client: `EE/GOV/${tag}${i}/app`, body: "{}" }),
      call(`${url}/rest/lookup/deep/${tag}${i}`, { client: `EE/COM/${tag}${i}/x`, body: "{" }),
      call(`${url}/messages/${randomUUID()}`, { client: `EE/GOV/${tag}${i}/app` }),
      call(`${url}/unknown-${tag}${i}`, { client: `EE/GOV/${tag}${i}/app` }),
      call(`${url}/rest/lookup`, { client: `not an id ${tag}${i}`, body: "{}" }),
    ];
    await Promise.all(kinds(0, "a"));
    const before = await seriesOf(roles.adapter.adminUrl);

    await inBatches(DISTINCT, (i) => Promise.all(kinds(i, "b")));
    const after = await seriesOf(roles.adapter.adminUrl);
    const added = after.filter((series) => !before.includes(series));
    // Only the histogram's buckets of outcomes now timed otherwise may differ: no new names.
    expect(added.filter((series) => !series.includes("_bucket"))).to.deep.equal([]);
    expect(after.length).to.equal(before.length);
  });
});
