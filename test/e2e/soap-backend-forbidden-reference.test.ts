// A SOAP backend's Fault whose text refers to characters XML does not allow (`&#0;`, `&#xD800;`):
// read as those characters, a NUL and a lone surrogate went into the Fault Sluice wrote back to
// the SOAP caller (which a strict reader then refuses whole) and into the status document
// (`\u0000`, `\ud800`, which a strict JSON reader refuses). The answer is the backend's malformed
// one, unreadable as any broken 500 (retried, then Server.BackendFailed), naming the reference,
// in XML and JSON any reader reads.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { call, Harness } from "../support/harness";
import { startLegacySim } from "../../legacy-sim/legacy-sim";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import { fixture } from "../fixtures/xroad-soap/outcomes";

const CLIENT = "EE/BUSINESS/consumer";
// Outside XML's characters: C0 controls but tab, LF and CR; surrogates; U+FFFE and U+FFFF.
// eslint-disable-next-line no-control-regex -- the control characters are what it finds
const NOT_XML = /[\x00-\x08\x0B\x0C\x0E-\x1F\uD800-\uDFFF\uFFFE\uFFFF]/;

describe("SOAP: a backend's Fault referring to characters XML does not allow", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let backend: Server;
  let sluiceUrl: string;

  before(async () => {
    const sim = await startLegacySim({ port: 0 });
    const wsdl = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    const answer = fixture("customfault.answer")
      .toString("utf8")
      .replace(
        "<faultstring>STRING</faultstring>",
        "<faultstring>bad &#0; and &#xD800;</faultstring>",
      );
    backend = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/xml" }).end(wsdl.split(sim.url).join(url()));
          return;
        }
        res.writeHead(500, { "content-type": "text/xml; charset=UTF-8" }).end(answer);
      });
    });
    await new Promise<void>((resolve) => backend.listen(0, "127.0.0.1", resolve));
    const url = () => `http://127.0.0.1:${(backend.address() as AddressInfo).port}`;
    harness.writeConfig({
      services: {
        getState: {
          protocols: ["soap"],
          namespace: "http://x-road.eu/xsd/xroad.xsd",
          reply: { mode: "sync", wait: "20s" },
          backend: "legacy",
        },
      },
      backends: { legacy: { translator: "soap", url: url(), retry: { attempts: 1 } } },
    });
    sluiceUrl = (await harness.spawn("all")).url;
  });

  after(async () => {
    await harness.cleanup();
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  });

  it("reaches the caller as Server.BackendFailed naming the reference, in well-formed XML and strict JSON", async () => {
    const request = fixture("getstate.query")
      .toString("utf8")
      .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>forbidden-${Date.now()}</xroad:id>`);
    const response = await fetch(`${sluiceUrl}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: request,
    });
    const text = await response.text();
    expect(response.status).to.equal(500);
    expect(NOT_XML.exec(text), "a character XML does not allow in the answer").to.equal(null);
    const root = parseXml(text);
    const body = childElements(root).find((e) => e.local === "Body") as XmlElement;
    const [fault] = childElements(body);
    const child = (e: XmlElement, local: string) =>
      childElements(e).find((c) => c.local === local) as XmlElement;
    expect(directText(child(fault, "faultcode"))).to.equal("Server.BackendFailed");
    expect(directText(child(fault, "faultstring"))).to.contain(
      "character reference &#0; is not allowed in XML",
    );

    const id = response.headers.get("x-sluice-id") as string;
    const status = await call(`${sluiceUrl}/messages/${id}`, { client: CLIENT });
    expect(status.json.state).to.equal("failed");
    // JSON.parse takes "\ud800" and "\u0000"; a strict reader refuses the first.
    expect(status.text).to.not.match(/\\u0000|\\ud[89a-f][0-9a-f]{2}/i);
    expect(JSON.stringify(status.json.error)).to.contain("&#0; is not allowed in XML");
  });
});
