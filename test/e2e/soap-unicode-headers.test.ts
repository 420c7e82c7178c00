// A SOAP caller's X-Road header fields are XML text, any Unicode; a rest-json backend gets them
// as HTTP headers. A userId, issue or identifier part that HTTP cannot carry as it is (beyond
// ISO-8859-1) reaches the backend encoded (RFC 8187 UTF-8''), and the message completes: it was
// acknowledged and then dead-lettered because Node refused the header value. (The X-Road id
// itself is refused at intake in that case: docs/soap.md.)

import { expect } from "chai";
import { Harness } from "../support/harness";
import { childElements, directText, parseXml } from "../../adapter/soap/safe-xml";
import { fixture, testQueryService } from "../fixtures/xroad-soap/outcomes";
import { decodeHttpHeaderValue, httpHeaderValue } from "../../shared/protocol/header-value";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const USER_ID = "EE:PIN:Šimon Žemaitis";
const ISSUE = "Дело № 5 😀";
const MEMBER = "tootja-Š";

/** simple.query with a userId, an issue, a provider member code and an X-Road id of its own. */
function request(xroadId: string): string {
  return fixture("simple.query")
    .toString("utf8")
    .replace(
      /<xroad:userId>[^<]*<\/xroad:userId>/,
      `<xroad:userId>${USER_ID}</xroad:userId><xroad:issue>${ISSUE}</xroad:issue>`,
    )
    .replace("<id:memberCode>producer</id:memberCode>", `<id:memberCode>${MEMBER}</id:memberCode>`)
    .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>${xroadId}</xroad:id>`);
}

describe("SOAP header fields beyond ISO-8859-1 to a rest-json backend (e2e)", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { recordDetails: true },
    config: {
      services: {
        testQuery: testQueryService("sim", { mode: "sync", wait: "20s", maxWait: "20s" }),
      },
      backends: { sim: { translator: "rest-json", retry: { attempts: 1, backoff: ["1s"] } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("the backend records userId, issue and service encoded, decoding to the caller's text; the message completes", async () => {
    const xroadId = `unicode-${process.pid}-${Date.now()}`;
    const sent = request(xroadId);
    const answer = await fetch(`${roles.sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: sent,
    });
    const text = await answer.text();
    expect(answer.status, text).to.equal(200);
    const body = childElements(childElements(parseXml(text)).find((e) => e.local === "Body")!)[0];
    expect(body.local, text).to.equal("testQueryResponse");
    // X-Road's echo keeps the caller's own text.
    expect(text).to.contain(`<xroad:userId>${USER_ID}</xroad:userId>`);
    expect(text).to.contain(`<xroad:issue>${ISSUE}</xroad:issue>`);

    const id = answer.headers.get("x-sluice-id") as string;
    const [call] = harness.sim.calls({ id });
    const headers = call.headers as Record<string, string>;
    expect(headers["x-road-userid"]).to.equal(httpHeaderValue(USER_ID));
    expect(headers["x-road-userid"]).to.match(/^UTF-8''/);
    expect(decodeHttpHeaderValue(headers["x-road-userid"])).to.equal(USER_ID);
    expect(decodeHttpHeaderValue(headers["x-road-issue"])).to.equal(ISSUE);
    expect(decodeHttpHeaderValue(headers["x-road-service"])).to.equal(
      `EE/BUSINESS/${MEMBER}/testQuery`,
    );
    expect(headers["x-road-id"]).to.equal(xroadId);

    const status = await fetch(`${roles.sluice.url}/messages/${id}`, {
      headers: { "X-Road-Client": "EE/BUSINESS/consumer" },
    });
    const document = (await status.json()) as { state: string };
    expect(document.state).to.equal("completed");
    expect(directText(body)).to.be.a("string");
  });
});
