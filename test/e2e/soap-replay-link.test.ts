// A replayed dead letter is linked to its original in both status documents, and the original's
// caller sees the link (docs/operator.md): a SOAP caller, which reaches its status only through the
// SOAP status operation (`<messages><id>…</id></messages>`), sees `replayedAs` on the original
// and `replayOf` on the replay, as a REST caller sees them in the JSON status document.

import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";
import { fixture } from "../fixtures/xroad-soap/outcomes";

/** getstate.query's client: the owner of its message, and the one that may read its status. */
const CLIENT = "EE/BUSINESS/consumer";

describe("SOAP status operation: a replay's link to its original (e2e)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: {
        getState: {
          protocols: ["soap"],
          namespace: "http://x-road.eu/xsd/xroad.xsd",
          reply: { mode: "ack" },
          backend: "flaky",
        },
      },
      backends: { flaky: { retry: { attempts: 2, backoff: ["100ms"] } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  const query = fixture("getstate.query").toString("utf8");
  const soap = (envelope: string) =>
    call(`${roles.sluice.url}/soap`, {
      body: envelope,
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      client: null,
    });
  /** The SOAP status operation's answer for `id`, asked as getstate.query's client. */
  const soapStatus = async (id: string, xroadId: string) => {
    const answer = await soap(
      query
        .replace(
          "<id:serviceCode>getState</id:serviceCode>",
          "<id:serviceCode>messages</id:serviceCode>",
        )
        .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`)
        .replace(
          /<xroad:getState>[^<]*<\/xroad:getState>/,
          `<xroad:messages><xroad:id>${id}</xroad:id></xroad:messages>`,
        ),
    );
    expect(answer.status, answer.text).to.equal(200);
    return answer.text;
  };
  const settled = (id: string) =>
    eventually(
      async () => {
        const doc = (await call(`${roles.sluice.url}/messages/${id}`, { client: CLIENT })).json;
        return ["completed", "failed"].includes(doc.state) ? doc : undefined;
      },
      20_000,
      `message ${id} to settle`,
    );

  it("names the replay on the original (replayedAs) and the original on the replay (replayOf)", async () => {
    await harness.sim.update({ errorRate: 1 });
    const accepted = await soap(query);
    expect(accepted.status, accepted.text).to.equal(200);
    const original = /<id>([0-9a-f-]{36})<\/id>/.exec(accepted.text)![1];
    expect((await settled(original)).state).to.equal("failed");

    await harness.sim.update({ errorRate: 0 });
    const replayed = await eventually(async () => {
      const answer = await harness.admin(roles.sluice, `/admin/dead-letters/${original}/replay`, {
        method: "POST",
      });
      return answer.status === 200 ? answer.json : undefined;
    });
    expect(replayed.result).to.equal("replayed");
    const replay = replayed.replayedAs as string;
    expect((await settled(replay)).state).to.equal("completed");

    const first = await soapStatus(original, "status-of-original");
    expect(first).to.contain("<state>failed</state>");
    expect(first).to.contain(`<replayedAs>${replay}</replayedAs>`);
    expect(first).not.to.contain("<replayOf>");
    const second = await soapStatus(replay, "status-of-replay");
    expect(second).to.contain("<state>completed</state>");
    expect(second).to.contain(`<replayOf>${original}</replayOf>`);
    expect(second).not.to.contain("<replayedAs>");

    // The WSDL describes both, so a client built from it reads them.
    const wsdl = await (await fetch(`${roles.sluice.url}/soap?wsdl`)).text();
    expect(wsdl).to.contain('name="replayOf"');
    expect(wsdl).to.contain('name="replayedAs"');
  });
});
