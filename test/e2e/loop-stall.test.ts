// A burst of large, well-formed SOAP envelopes (each ~1 MB of small elements, within every
// limit, a few tenths of a second to read) sent at once: the adapter reads some and answers
// the rest 503 Busy while its event loop is stalled, instead of reading them all one after
// another and holding every other caller behind them; afterwards it serves as before.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import { Harness } from "../support/harness";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import { metricValue } from "./ops-support";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const XML = "text/xml; charset=utf-8";

/** simple.query with a fresh X-Road id and a Body of `elements` small elements. */
function envelope(elements: number): string {
  return fixture("simple.query")
    .toString("utf8")
    .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${randomUUID()}</xroad:id>`)
    .replace(
      /<SOAP-ENV:Body>[\s\S]*<\/SOAP-ENV:Body>/,
      `<SOAP-ENV:Body><ns1:testQuery xmlns:ns1="http://cosumer.ee.xroad.net"><request>${"<z>&amp;</z>".repeat(elements)}</request></ns1:testQuery></SOAP-ENV:Body>`,
    );
}

describe("event-loop stall guard (adapter.maxLoopStall 50ms, 24 large envelopes at once)", function () {
  freshConnectionPerFetch();
  this.timeout(120_000);
  const harness = Harness.suite({
    config: {
      adapter: { port: 0, maxLoopStall: "50ms" },
      services: {
        testQuery: {
          protocols: ["soap"],
          reply: { mode: "ack" },
          backend: "held",
          maxBodySize: "2mb",
        },
      },
      backends: { held: { translator: "rest-json" } },
    },
    // The adapter alone: the acknowledged messages wait in the queue.
    roles: ["adapter"],
  });
  const { roles } = harness;

  it("reads some, answers the rest Server.Busy with Retry-After, and serves normally afterwards", async () => {
    const post = (body: string) =>
      fetch(`${roles.adapter.url}/soap`, {
        method: "POST",
        headers: { "Content-Type": XML },
        body,
      }).then(async (r) => ({
        status: r.status,
        retryAfter: r.headers.get("retry-after"),
        text: await r.text(),
      }));
    const answers = await Promise.all(Array.from({ length: 24 }, () => post(envelope(80_000))));
    const busy = answers.filter((a) => a.status !== 200);
    for (const answer of busy) {
      expect(answer.status, answer.text.slice(0, 300)).to.equal(503);
      expect(answer.text).to.include("Server.Busy");
      expect(answer.text).to.include("the adapter is overloaded");
      expect(answer.retryAfter).to.equal("1");
    }
    expect(busy.length, "refused while the loop was stalled").to.be.at.least(1);
    expect(answers.length - busy.length, "read").to.be.at.least(1);
    expect(
      await metricValue(roles.adapter.adminUrl, "sluice_backpressure_rejections_total", {
        reason: "loop_stalled",
      }),
    ).to.equal(busy.length);
    // Once the burst is over, a request of the same kind is read and acknowledged.
    const after = await post(envelope(1_000));
    expect(after.status, after.text.slice(0, 300)).to.equal(200);
  });
});
