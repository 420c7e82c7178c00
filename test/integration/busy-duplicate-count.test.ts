// sluice_backpressure_rejections_total counts the 503s answered, each once: at the high-water
// mark a resubmission of a persisted message (same client, service and X-Road id) is answered
// as its duplicate, over REST and SOAP alike, and leaves the counter as it was; a new message
// refused there adds one. An adapter alone, no worker: what it accepts stays ready in the
// queue, one message is each backend's mark.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { call, Harness, type SluiceProcess } from "../support/harness";
import { metricValue } from "../e2e/ops-support";
import { fixture, TEST_QUERY_SCHEMA } from "../fixtures/xroad-soap/outcomes";

const COUNTER = "sluice_backpressure_rejections_total";

describe("sluice_backpressure_rejections_total at the high-water mark: a duplicate is no refusal", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let sluice: SluiceProcess;

  const highWater = async (): Promise<number> =>
    (await metricValue(sluice.adminUrl, COUNTER, { reason: "high_water" })) ?? 0;
  /** Every reason together: a duplicate must not be counted under any. */
  const total = async (): Promise<number> => {
    const { text } = await call(`${sluice.adminUrl}/metrics`, { client: null });
    return text
      .split("\n")
      .filter((line) => line.startsWith(`${COUNTER}{`))
      .reduce((sum, line) => sum + Number(line.split(/\s+/).at(-1)), 0);
  };

  const rest = (xroadId: string) =>
    call(`${sluice.url}/rest/echo`, {
      body: JSON.stringify({ xroadId }),
      headers: { "X-Road-Id": xroadId, Prefer: "respond-async" },
    });
  const soap = async (xroadId: string) => {
    const response = await fetch(`${sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: fixture("simple.query")
        .toString("utf8")
        .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`),
    });
    return { status: response.status, text: await response.text(), headers: response.headers };
  };

  before(async function () {
    this.timeout(120_000);
    harness.writeConfig({
      adapter: { maxLoopStall: "0s" },
      services: {
        echo: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
        testQuery: {
          protocols: ["soap"],
          namespace: "http://cosumer.ee.xroad.net",
          schema: TEST_QUERY_SCHEMA,
          reply: { mode: "ack" },
          backend: "legacy-soap",
        },
      },
      backends: {
        legacy: {
          translator: "rest-json",
          url: "http://127.0.0.1:9",
          queue: { highWater: 1, maxLength: 10 },
        },
        "legacy-soap": {
          translator: "soap",
          url: "http://127.0.0.1:9",
          queue: { highWater: 1, maxLength: 10 },
        },
      },
    });
    sluice = await harness.spawn("adapter");
  });

  after(() => harness.cleanup());

  it("REST: the persisted message's resubmission gets its 202 uncounted; a new message's 503 adds one", async () => {
    const xroadId = randomUUID();
    const first = await rest(xroadId);
    expect(first.status, first.text).to.equal(202);
    const [highBefore, totalBefore] = [await highWater(), await total()];

    const again = await rest(xroadId);
    expect(again.status, again.text).to.equal(202);
    expect(again.json.id).to.equal(first.json.id);
    expect(await highWater()).to.equal(highBefore);
    expect(await total()).to.equal(totalBefore);

    // Refused before its body with an X-Road id (a record looked for, none found), and without.
    const refused = await rest(randomUUID());
    expect(refused.status, refused.text).to.equal(503);
    expect(await highWater()).to.equal(highBefore + 1);
    const anonymous = await call(`${sluice.url}/rest/echo`, { body: "{}" });
    expect(anonymous.status, anonymous.text).to.equal(503);
    expect(await highWater()).to.equal(highBefore + 2);
    expect(await total()).to.equal(totalBefore + 2);
  });

  it("SOAP: the persisted message's resubmission gets its acknowledgement uncounted; a new message's 503 adds one", async () => {
    const xroadId = randomUUID();
    const first = await soap(xroadId);
    expect(first.status, first.text).to.equal(200);
    const id = first.headers.get("x-sluice-id");
    expect(id).to.be.a("string");
    const [highBefore, totalBefore] = [await highWater(), await total()];

    const again = await soap(xroadId);
    expect(again.status, again.text).to.equal(200);
    expect(again.headers.get("x-sluice-id")).to.equal(id);
    expect(await highWater()).to.equal(highBefore);
    expect(await total()).to.equal(totalBefore);

    const refused = await soap(randomUUID());
    expect(refused.status, refused.text).to.equal(503);
    expect(refused.text).to.match(/Server\.Busy/);
    expect(await highWater()).to.equal(highBefore + 1);
    expect(await total()).to.equal(totalBefore + 1);
  });
});
