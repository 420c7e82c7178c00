// A service port bound to loopback only serves requests that address it by a loopback name or
// by adapter.publicUrl's host: a web page that re-points its own name to 127.0.0.1 (DNS
// rebinding) would otherwise submit calls from the browser of anyone on the machine.

import { expect } from "chai";
import http from "node:http";
import { Harness, type SluiceProcess } from "../support/harness";

const CLIENT = "EE/GOV/70000001/case-app";

interface Answer {
  status: number;
  type: string;
  body: string;
}

/** A POST to `path` on 127.0.0.1:`port` naming `host` in its Host header. */
function postAs(port: number, host: string, path: string, body: string, type: string) {
  return new Promise<Answer>((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        path,
        method: "POST",
        headers: { host, "content-type": type, "x-road-client": CLIENT },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            type: String(res.headers["content-type"]),
            body: text,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("a service port bound to loopback only", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let adapter: SluiceProcess;

  before(async () => {
    harness.writeConfig({
      adapter: { host: "127.0.0.1", port: 0, publicUrl: "https://sluice.internal:8443" },
      services: {
        echo: { protocols: ["rest", "soap"], reply: { mode: "ack" }, backend: "legacy" },
      },
      backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
    });
    adapter = await harness.spawn("adapter");
  });
  after(() => harness.cleanup());

  const rest = (host: string) => postAs(adapter.port, host, "/rest/echo", "{}", "application/json");

  it("serves a Host naming a loopback address, localhost or adapter.publicUrl's host", async () => {
    for (const host of [
      `127.0.0.1:${adapter.port}`,
      `localhost:${adapter.port}`,
      `[::1]:${adapter.port}`,
      "sluice.internal:8443",
      "SLUICE.internal",
      // Fully qualified, and with an empty port (the scheme's): the same hosts.
      `localhost.:${adapter.port}`,
      "localhost:",
      "sluice.internal.",
    ]) {
      const answer = await rest(host);
      expect(answer.status, `${host}: ${answer.body}`).to.equal(202);
    }
  });

  it("refuses any other Host with 421 InvalidHeader, a SOAP fault on /soap, accepting nothing", async () => {
    for (const host of [
      "evil.example",
      `evil.example:${adapter.port}`,
      "127.0.0.1.evil.example",
      "sluice.internal.evil.example",
      "localhost..",
    ]) {
      const answer = await rest(host);
      expect(answer.status, host).to.equal(421);
      const json = JSON.parse(answer.body) as { type: string; message: string };
      expect(json.type).to.equal("InvalidHeader");
      expect(json.message).to.include("listens on loopback only");
    }
    const soap = await postAs(adapter.port, "evil.example", "/soap", "<x/>", "text/xml");
    expect(soap.status).to.equal(421);
    expect(soap.body).to.include("<faultcode>Client.InvalidHeader</faultcode>");
  });
});
