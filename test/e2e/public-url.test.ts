// The service descriptions name the configured public URL, or relative URLs: never the Host of
// the request that fetched them. A caller who writes its own Host (or X-Forwarded-Host) gets the
// same OpenAPI and WSDL documents as anyone else, so neither a client, nor a security server
// registering the description, nor a cache in front of Sluice can be pointed elsewhere.

import { expect } from "chai";
import http from "node:http";
import { freshConnectionPerNodeRequest } from "../support/fresh-connections";
import { Harness, START_TIMEOUT_MS, type SluiceProcess } from "../support/harness";

const HOSTILE = {
  host: "evil.example",
  "x-forwarded-host": "evil.example",
  "x-forwarded-proto": "https",
  forwarded: "host=evil.example;proto=https",
};

/** GET `path` of `port` with raw headers (fetch would not send a Host of the test's choosing). */
function get(
  port: number,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path, headers }, (res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (chunk: string) => (body += chunk));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      res.on("error", reject);
    });
    req.on("error", reject);
  });
}

const DOCUMENTS = [
  "/openapi/personSearch",
  "/rest/personSearch/openapi.json",
  "/openapi/messages",
  "/rest/messages/openapi.json",
  "/soap?wsdl",
  "/soap/getState?wsdl",
];

/** Every description, fetched with the adapter's own address and with a hostile Host. */
async function documents(adapter: SluiceProcess): Promise<Map<string, string>> {
  const served = new Map<string, string>();
  for (const path of DOCUMENTS) {
    const plain = await get(adapter.port, path);
    expect(plain.status, path).to.equal(200);
    const hostile = await get(adapter.port, path, HOSTILE);
    expect(hostile.status, path).to.equal(200);
    // Compared as a whole, reported briefly: a document is kilobytes long.
    expect(hostile.body === plain.body, `${path} changed with the Host header`).to.equal(true);
    expect(plain.body, path).to.not.contain("evil.example");
    expect(plain.body, path).to.not.contain("127.0.0.1");
    served.set(path, plain.body);
  }
  return served;
}

const serverUrl = (doc: string): unknown => (JSON.parse(doc) as { servers: unknown }).servers;
const locations = (wsdl: string): string[] =>
  [...wsdl.matchAll(/<soap:address location="([^"]*)"/g)].map((m) => m[1]);

describe("service descriptions: public URL, not the Host header (e2e)", function () {
  this.timeout(2 * START_TIMEOUT_MS);
  freshConnectionPerNodeRequest();
  const harness = new Harness();
  const config = {
    services: {
      personSearch: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      getState: { protocols: ["soap"], reply: { mode: "ack" }, backend: "legacy" },
    },
    backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
  };

  after(() => harness.cleanup());

  it("without adapter.publicUrl: relative service URLs, whatever Host the request names", async () => {
    harness.writeConfig(config);
    const adapter = await harness.spawn("adapter");
    const served = await documents(adapter);
    expect(serverUrl(served.get("/openapi/personSearch")!)).to.deep.equal([
      { url: "/rest/personSearch" },
    ]);
    // Beside the service, relative to where it is served: right through X-Road's path mapping.
    expect(serverUrl(served.get("/rest/messages/openapi.json")!)).to.deep.equal([
      { url: "../messages" },
    ]);
    expect(locations(served.get("/soap?wsdl")!)).to.deep.equal(["/soap"]);
    await adapter.stop();
  });

  it("with adapter.publicUrl: the configured base, whatever Host the request names", async () => {
    harness.writeConfig({
      ...config,
      adapter: { port: 0, publicUrl: "https://Sluice.internal:8443/gw/" },
    });
    const adapter = await harness.spawn("adapter");
    const served = await documents(adapter);
    expect(serverUrl(served.get("/openapi/personSearch")!)).to.deep.equal([
      { url: "https://sluice.internal:8443/gw/rest/personSearch" },
    ]);
    // The document beside the service stays relative: fetched through a security server, an
    // internal address would name nothing the consumer reaches.
    expect(serverUrl(served.get("/rest/personSearch/openapi.json")!)).to.deep.equal([
      { url: "../personSearch" },
    ]);
    expect(serverUrl(served.get("/openapi/messages")!)).to.deep.equal([
      { url: "https://sluice.internal:8443/gw/rest/messages" },
    ]);
    expect(locations(served.get("/soap/getState?wsdl")!)).to.deep.equal([
      "https://sluice.internal:8443/gw/soap",
    ]);
    await adapter.stop();
  });
});
