// A SOAP backend answering its own Fault with an application faultcode (the security server's
// customfault.answer: foo:FOOCODE, an actor, a foo:detail) through the `soap` translator: the
// Fault is retried, and once the retries are spent the SOAP caller's Server.BackendFailed
// carries the backend's Fault whole in its detail, its foo: prefix declared.

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { expect } from "chai";
import { call, Harness } from "../support/harness";
import { startLegacySim } from "../../legacy-sim/legacy-sim";
import { childElements, directText, parseXml, type XmlElement } from "../../adapter/soap/safe-xml";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const CLIENT = "EE/BUSINESS/consumer";

describe("SOAP: a backend's own application Fault after the retries (customfault.answer)", function () {
  freshConnectionPerFetch();
  this.timeout(60_000);
  const harness = new Harness();
  let backend: Server;
  let sluiceUrl: string;
  let posts = 0;

  before(async () => {
    // The simulator's WSDL, its address this backend's, which answers every call with the Fault.
    const sim = await startLegacySim({ port: 0 });
    const wsdl = await (await fetch(`${sim.url}/soap?wsdl`)).text();
    await sim.close();
    const answer = fixture("customfault.answer");
    backend = createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        if (req.method === "GET") {
          res.writeHead(200, { "content-type": "text/xml" }).end(wsdl.split(sim.url).join(url()));
          return;
        }
        posts += 1;
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
      backends: {
        legacy: { translator: "soap", url: url(), retry: { attempts: 2, backoff: ["1s"] } },
      },
    });
    sluiceUrl = (await harness.spawn("all")).url;
  });

  after(async () => {
    await harness.cleanup();
    backend.closeAllConnections();
    await new Promise((resolve) => backend.close(resolve));
  });

  it("reaches the caller as Server.BackendFailed with foo:FOOCODE, the actor and the detail", async () => {
    const request = fixture("getstate.query")
      .toString("utf8")
      .replace(/<xroad:id>[^<]*<\/xroad:id>/, `<xroad:id>customfault-${Date.now()}</xroad:id>`);
    const response = await fetch(`${sluiceUrl}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: request,
    });
    const text = await response.text();
    expect(response.status).to.equal(500);
    expect(posts, "the application Fault is retried").to.equal(2);
    const id = response.headers.get("x-sluice-id") as string;
    expect(id).to.match(/^[0-9a-f-]{36}$/);

    // Parsed with namespaces: every prefix in the answer is declared.
    const root = parseXml(text);
    const body = childElements(root).find((e) => e.local === "Body") as XmlElement;
    const [fault] = childElements(body);
    const child = (e: XmlElement, local: string) =>
      childElements(e).find((c) => c.local === local) as XmlElement;
    expect(fault.local).to.equal("Fault");
    // The contract's own code stays outside; the backend's Fault is inside its detail.
    expect(directText(child(fault, "faultcode"))).to.equal("Server.BackendFailed");
    expect(text, "the backend's Fault in the detail").to.include(
      "<faultcode>foo:FOOCODE</faultcode>",
    );
    const detail = child(fault, "detail");
    expect(directText(child(detail, "id"))).to.equal(id);
    expect(directText(child(detail, "status"))).to.equal("500");
    const own = child(child(detail, "response"), "Fault");
    expect(own.namespace).to.equal("http://schemas.xmlsoap.org/soap/envelope/");
    expect(directText(child(own, "faultcode"))).to.equal("foo:FOOCODE");
    expect(own.inScope.get("foo")).to.equal("http://example.org/foo");
    expect(directText(child(own, "faultstring"))).to.equal("STRING");
    expect(directText(child(own, "faultactor"))).to.equal("ACTOR");
    const ownDetail = child(child(own, "detail"), "detail");
    expect(ownDetail.namespace).to.equal("http://example.org/foo");
    expect(directText(ownDetail)).to.equal("DETAIL");

    // The status document kept the same answer: a REST reader of the message sees it too.
    const status = await call(`${sluiceUrl}/messages/${id}`, { client: CLIENT });
    expect(status.json.state).to.equal("failed");
    const last = status.json.responses[status.json.responses.length - 1];
    expect(last.status).to.equal(500);
    expect(String(last.body)).to.contain("<faultcode>foo:FOOCODE</faultcode>");
    expect(String(last.body)).to.contain("<foo:detail>DETAIL</foo:detail>");
  });
});
