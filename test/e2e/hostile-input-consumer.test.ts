// Hostile input around the consumer direction, on real processes: a local caller sending X-Road
// headers twice or with control characters, and a security server (or the remote provider
// behind it) answering SOAP nested hundreds of thousands of elements deep, a local SOAP envelope
// with entities or past the XML limits, and REST paths that leave the remote service as written
// on the wire. Each is refused or passed on, and the process keeps serving while it is. A
// consumer-direction message is found by none but its local caller (REST through a security
// server, the SOAP status operation).

import { expect } from "chai";
import http from "node:http";
import net, { type AddressInfo } from "node:net";
import { call, Harness, type SluiceProcess, untilState } from "../support/harness";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";
import { TRANSLATOR_FAILED } from "../../worker/processing/call-decision";

const CONSUMER = "EE/GOV/70000001/sluice-consumer";
const LOCAL_APP = "EE/GOV/70000001/case-app";
const NS = "http://legacy.sluice.example/";
const XRD = "http://x-road.eu/xsd/xroad.xsd";
const IDS = "http://x-road.eu/xsd/identifiers";

/** What the stub security server answers in a SOAP Body, by the caller's `<st:case>`. */
const ANSWERS: Record<string, () => string> = {
  plain: () => "<st:state>ok</st:state>",
  // 2.1 MB, well under maxResponseBytes: resolving every element's namespace through all the
  // scopes around it took minutes, the whole process (adapter included) frozen meanwhile.
  deep: () => "<a>".repeat(300_000) + "</a>".repeat(300_000),
  // Deeper than the default adapter.xml.maxDepth (64), within the one this suite configures.
  deeper: () => "<a>".repeat(80) + "x" + "</a>".repeat(80),
  // A raw 0x01 in the remote provider's text: XML allows it nowhere, not even as a reference.
  control: () => "<st:state>a\u0001b</st:state>",
};

/** A local SOAP caller's request for `getState`, its case naming the stub's answer. */
function soapCall(id: string, answer: string): string {
  return `<?xml version="1.0" encoding="UTF-8"?>
<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}" xmlns:st="${NS}">
  <SOAP-ENV:Header>
    <xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>case-app</id:subsystemCode></xrd:client>
    <xrd:service id:objectType="SERVICE"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>sluice-consumer</id:subsystemCode><id:serviceCode>getState</id:serviceCode></xrd:service>
    <xrd:id>${id}</xrd:id>
    <xrd:protocolVersion>4.0</xrd:protocolVersion>
  </SOAP-ENV:Header>
  <SOAP-ENV:Body><st:getState><st:case>${answer}</st:case></st:getState></SOAP-ENV:Body>
</SOAP-ENV:Envelope>`;
}

/** A local SOAP caller's status operation (`messages`, the default statusService) for `messageId`. */
function soapStatusCall(id: string, messageId: string): string {
  return soapCall(id, "plain")
    .replace(
      "<id:serviceCode>getState</id:serviceCode>",
      "<id:serviceCode>messages</id:serviceCode>",
    )
    .replace(
      /<st:getState>[\s\S]*<\/st:getState>/,
      `<st:messages><st:id>${messageId}</st:id></st:messages>`,
    );
}

/** The status line of what the adapter answers a request written byte for byte, as no client normalises it. */
function rawStatusLine(url: string, requestLine: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = net.connect(Number(port), hostname, () =>
      socket.end(
        `${requestLine}\r\nHost: ${hostname}:${port}\r\nX-Road-Client: ${LOCAL_APP}\r\nConnection: close\r\n\r\n`,
      ),
    );
    let text = "";
    socket.setEncoding("latin1");
    socket.on("data", (chunk: string) => (text += chunk));
    socket.on("end", () => resolve(text));
    socket.on("error", reject);
  });
}

/** A REST call with header lines exactly as given (repeated names stay separate lines). */
function rawCall(
  url: string,
  path: string,
  headers: Record<string, string | string[]>,
): Promise<{ status: number; json: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const request = http.request(`${url}${path}`, { method: "GET", headers }, (response) => {
      let text = "";
      response.setEncoding("utf8");
      response.on("data", (chunk: string) => (text += chunk));
      response.on("end", () =>
        resolve({ status: response.statusCode ?? 0, json: JSON.parse(text || "{}") }),
      );
    });
    request.on("error", reject);
    request.end();
  });
}

const SPLIT = JSON.stringify({
  responses: [
    { status: 200, body: { part: 1 } },
    { status: 404, body: { forged: true } },
  ],
});

describe("Hostile input, consumer direction: the local caller's X-Road headers, the security server's answers", function () {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  this.timeout(90_000);
  const harness = new Harness();
  let sluice: SluiceProcess;
  let stub: http.Server;
  /** Every call the stub security server got: its path and headers. */
  const calls: Array<{ url: string; headers: http.IncomingHttpHeaders }> = [];

  before(async () => {
    stub = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        calls.push({ url: req.url ?? "", headers: req.headers });
        const body = Buffer.concat(chunks).toString("utf8");
        if (req.url === "/") {
          // SOAP: the request's own header echoed, as a security server's answer does.
          const header = /<SOAP-ENV:Header>([\s\S]*)<\/SOAP-ENV:Header>/.exec(body)?.[1] ?? "";
          const answer = ANSWERS[/<st:case>([^<]*)</.exec(body)?.[1] ?? "plain"]();
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(
            `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}"><SOAP-ENV:Header>${header}</SOAP-ENV:Header><SOAP-ENV:Body><st:getStateResponse xmlns:st="${NS}">${answer}</st:getStateResponse></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
          );
          return;
        }
        if (req.url?.endsWith("/deep-error") || req.url?.endsWith("/deep-many")) {
          // 8 MB of JSON nested 4 million deep: V8's JSON.parse takes many seconds over it.
          const headers: Record<string, string> = { "content-type": "application/json" };
          if (req.url.endsWith("/deep-error"))
            headers["x-road-error"] = "Server.ServerProxy.AccessDenied";
          else headers["x-multiple-responses"] = "true";
          res.writeHead(200, headers).end("[".repeat(4_000_000) + "]".repeat(4_000_000));
          return;
        }
        const large = /\/large-(\d+)$/.exec(req.url ?? "");
        if (large) {
          // Responses of 9 KB each: every one is told with all those before it.
          const responses = Array.from({ length: Number(large[1]) }, (_, i) => ({
            body: `${i} `.padEnd(9_000, "x"),
          }));
          res.writeHead(200, {
            "content-type": "application/json",
            "x-multiple-responses": "true",
          });
          res.end(JSON.stringify({ responses }));
          return;
        }
        if (req.url?.endsWith("/split")) {
          // One 200 that Sluice's convention would make a 200 and a 404 of another body.
          res.writeHead(200, {
            "content-type": "application/json",
            "x-multiple-responses": "true",
          });
          res.end(SPLIT);
          return;
        }
        if (req.url?.endsWith("/many")) {
          // Sluice's multiple-responses convention, 100 000 of them in 1.2 MB.
          const responses = Array.from({ length: 100_000 }, () => ({ body: "" }));
          res.writeHead(200, {
            "content-type": "application/json",
            "x-multiple-responses": "true",
          });
          res.end(JSON.stringify({ responses }));
          return;
        }
        res.writeHead(200, { "content-type": "application/json" }).end('{"ok":true}');
      });
    });
    await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
    const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
    const remote = { timeout: "20s", retry: { attempts: 1, backoff: ["1s"] } };
    harness.writeConfig({
      adapter: { port: 0, xml: { maxDepth: 100 } },
      securityServer: { url: stubUrl, client: CONSUMER },
      services: {
        lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "registry" },
        local: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
        getState: {
          protocols: ["soap"],
          namespace: NS,
          reply: { mode: "sync", wait: "20s", maxWait: "25s" },
          backend: "registry-soap",
        },
      },
      backends: {
        registry: {
          translator: "xroad-rest",
          service: "EE/GOV/70000002/registry/lookup",
          ...remote,
        },
        "registry-soap": {
          translator: "xroad-soap",
          service: "EE/GOV/70000002/registry-soap/getState",
          ...remote,
        },
        // A provider-direction backend: the stub stands in for the legacy system too.
        legacy: { translator: "rest-json", url: `${stubUrl}/legacy` },
      },
    });
    sluice = await harness.spawn("all");
  });

  after(async () => {
    await harness.cleanup();
    stub?.closeAllConnections();
    await new Promise((resolve) => stub?.close(resolve));
  });

  it("a repeated X-Road-UserId, X-Road-Issue or X-Road-Represented-Party is 400 DuplicateHeaderField; nothing is sent on", async () => {
    // Node joins repeated lines with ", ": the security server was sent the user "EE1, EE2"
    // and the represented party of class COM and code "1, COM/2", a party no caller named.
    for (const path of ["/rest/lookup/person", "/rest/local/person"]) {
      for (const [name, values] of [
        ["X-Road-UserId", ["EE1", "EE2"]],
        ["X-Road-Issue", ["case-1", "case-2"]],
        ["X-Road-Represented-Party", ["COM/1", "COM/2"]],
      ] as Array<[string, string[]]>) {
        const answer = await rawCall(sluice.url, path, {
          "X-Road-Client": LOCAL_APP,
          [name]: values,
        });
        expect(answer.status, `${path} ${name}`).to.equal(400);
        expect(answer.json.type, `${path} ${name}`).to.equal("DuplicateHeaderField");
        expect(String(answer.json.message)).to.include(name);
      }
    }
    expect(calls, "nothing reached the security server or the backend").to.deep.equal([]);
    // Once each, they pass on as ever.
    const once = await call(`${sluice.url}/rest/lookup/person`, {
      client: LOCAL_APP,
      headers: { "X-Road-UserId": "EE1", "X-Road-Represented-Party": "COM/1" },
    });
    expect(once.status, once.text).to.equal(202);
  });

  it("an X-Road-UserId, X-Road-Issue or X-Road-Represented-Party with a C1 control character is 400 InvalidHeader", async () => {
    // U+0085 (NEL) is obs-text to the HTTP parser, a line break to many log readers.
    for (const name of ["X-Road-UserId", "X-Road-Issue", "X-Road-Represented-Party"]) {
      const answer = await rawCall(sluice.url, "/rest/lookup/person", {
        "X-Road-Client": LOCAL_APP,
        [name]: "EE1\u0085forged: line",
      });
      expect(answer.status, name).to.equal(400);
      expect(answer.json.type, name).to.equal("InvalidHeader");
    }
  });

  /**
   * The headers the security server received for one ack call of the local app carrying
   * `headers` (and an Accept-Language of its own, which must pass on).
   */
  async function headersSentOn(headers: Record<string, string>): Promise<Record<string, unknown>> {
    const sent = await call(`${sluice.url}/rest/lookup/person`, {
      client: LOCAL_APP,
      headers: { ...headers, "Accept-Language": "et" },
    });
    expect(sent.status, sent.text).to.equal(202);
    const id = sent.json.id as string;
    await untilState(sluice, id, ["completed"], 30_000);
    const seen = calls.filter((c) => c.headers["x-road-id"] === id);
    expect(seen.map((c) => c.url)).to.deep.equal(["/r1/EE/GOV/70000002/registry/lookup/person"]);
    expect(seen[0].headers["accept-language"], "the caller's own header passes").to.equal("et");
    return seen[0].headers;
  }

  it("no X-Forwarded-* header of the local network reaches the remote provider, whatever its name", async () => {
    // An authenticating proxy in front of Sluice (oauth2-proxy, Envoy's mTLS) names the local
    // user, their token and their client certificate in X-Forwarded-* headers of its own: the
    // local network's, never another organisation's to read.
    const forwarded = {
      "X-Forwarded-User": "jaan.tamm",
      "X-Forwarded-Email": "jaan.tamm@agency.example",
      "X-Forwarded-Groups": "case-officers",
      "X-Forwarded-Access-Token": "local-access-token",
      "X-Forwarded-Client-Cert": 'Hash=ab12;Subject="CN=case-app"',
      "X-Forwarded-Ssl": "on",
    };
    const seen = await headersSentOn(forwarded);
    const leaked = Object.keys(seen).filter((name) => name.startsWith("x-forwarded-"));
    expect(leaked).to.deep.equal([]);
  });

  it("the client addresses that load balancers and ingress proxies add stay in the organisation", async () => {
    // Each names the local caller's address inside the operator's network, as Forwarded and
    // X-Real-IP do: ingress-nginx behind another balancer, Envoy, Cloudflare, Fastly, Rackspace.
    const origin = {
      "X-Original-Forwarded-For": "10.1.2.3",
      "X-Envoy-External-Address": "10.1.2.3",
      "X-Cluster-Client-Ip": "10.1.2.3",
      "Cf-Connecting-Ip": "10.1.2.3",
      "Fastly-Client-Ip": "10.1.2.3",
      "X-Originating-Ip": "10.1.2.3",
      "X-Remote-Addr": "10.1.2.3",
      "X-Remote-Ip": "10.1.2.3",
    };
    const seen = await headersSentOn(origin);
    const leaked = Object.keys(origin)
      .map((name) => name.toLowerCase())
      .filter((name) => seen[name] !== undefined);
    expect(leaked).to.deep.equal([]);
  });

  it("the local page a call was made from (Referer, Origin) stays in the organisation", async () => {
    // A browser-based local system's fetch names its intranet page, and with it the host names
    // of the operator's network and what the page's query holds (a person's code, a case).
    const page = {
      Referer: "https://cases.intranet.agency.example/person?code=38001010000",
      Origin: "https://cases.intranet.agency.example",
    };
    const seen = await headersSentOn(page);
    const leaked = Object.keys(page)
      .map((name) => name.toLowerCase())
      .filter((name) => seen[name] !== undefined);
    expect(leaked).to.deep.equal([]);
  });

  it("the tokens and client certificates of gateways and authenticating proxies stay in the organisation", async () => {
    // The names under which API gateways and authenticating proxies in front of Sluice pass the
    // local caller's key, token or client certificate on to it: each a credential of the local
    // network, which a remote provider could present elsewhere as the caller.
    const credentials = {
      "Ocp-Apim-Subscription-Key": "local-apim-key",
      "X-Amzn-Oidc-Accesstoken": "local-alb-token",
      "X-Amzn-Oidc-Data": "local-alb-claims",
      "X-Auth-Request-Access-Token": "local-oauth2-proxy-token",
      "X-Goog-Iap-Jwt-Assertion": "local-iap-jwt",
      "X-Ms-Token-Aad-Access-Token": "local-easy-auth-token",
      "X-Ms-Token-Aad-Id-Token": "local-easy-auth-id-token",
      "X-Ms-Client-Principal": "local-easy-auth-principal",
      "X-Ssl-Client-Cert": "local-client-cert",
      "Ssl-Client-Cert": "local-client-cert",
      "X-Client-Cert": "local-client-cert",
      "X-Arr-ClientCert": "local-client-cert",
      "X-Id-Token": "local-id-token",
      "X-Jwt-Assertion": "local-jwt",
    };
    const seen = await headersSentOn(credentials);
    const leaked = Object.keys(credentials)
      .map((name) => name.toLowerCase())
      .filter((name) => seen[name] !== undefined);
    expect(leaked).to.deep.equal([]);
  });

  it("a call that came through a security server (X-Road-Request-Id) is refused by a consumer-direction service: 403, nothing sent on", async () => {
    // A security server that offered the service would let every client granted it call the
    // remote service as Sluice's own X-Road client.
    // Its X-Road-UserId would be passed on with the remote call: how the test tells that call
    // from the calls of earlier cases' messages, which may still be arriving.
    const RELAYED_USER = "EE-relayed-through-a-security-server";
    const relayed = await call(`${sluice.url}/rest/lookup/person`, {
      client: "EE/COM/12345678/stranger",
      body: "{}",
      headers: {
        "X-Road-Request-Id": "9c5c3c3e-7c2b-4a5e-9d43-2a9e1f0c1d11",
        "X-Road-UserId": RELAYED_USER,
      },
    });
    expect(relayed.status, relayed.text).to.equal(403);
    expect(relayed.json.type).to.equal("AccessDenied");
    expect(String(relayed.json.message)).to.include("X-Road-Request-Id");
    // A provider-direction service is what a security server calls: served as ever.
    const provided = await call(`${sluice.url}/rest/local/person`, {
      body: "{}",
      headers: { "X-Road-Request-Id": "9c5c3c3e-7c2b-4a5e-9d43-2a9e1f0c1d12" },
    });
    expect(provided.status, provided.text).to.equal(202);
    await untilState(sluice, provided.json.id as string, ["completed"], 30_000);
    const id = provided.json.id as string;
    expect(calls.filter((c) => c.headers["x-sluice-id"] === id).map((c) => c.url)).to.deep.equal([
      "/legacy/person",
    ]);
    expect(calls.filter((c) => c.headers["x-road-userid"] === RELAYED_USER)).to.deep.equal([]);
  });

  it("through a security server (X-Road-Request-Id) a consumer-direction message is not there: status and cancel are 404, as for an unknown id", async () => {
    // An X-Road client whose id a local system also uses must not read or cancel that local
    // system's calls of other organisations' services.
    const local = await call(`${sluice.url}/rest/lookup/person`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { Prefer: "respond-async" },
    });
    expect(local.status, local.text).to.equal(202);
    const id = local.json.id as string;
    const relayed = { "X-Road-Request-Id": "9c5c3c3e-7c2b-4a5e-9d43-2a9e1f0c1d21" };
    const unknown = await call(`${sluice.url}/rest/messages/00000000-0000-4000-8000-000000000000`, {
      client: LOCAL_APP,
      headers: relayed,
    });
    expect(unknown.status, unknown.text).to.equal(404);
    for (const path of [`/rest/messages/${id}`, `/messages/${id}`]) {
      const read = await call(`${sluice.url}${path}`, { client: LOCAL_APP, headers: relayed });
      expect(read.status, `${path} ${read.text}`).to.equal(404);
      expect(read.json).to.deep.equal(unknown.json);
      const cancel = await call(`${sluice.url}${path}`, {
        client: LOCAL_APP,
        method: "DELETE",
        headers: relayed,
      });
      expect(cancel.status, `${path} ${cancel.text}`).to.equal(404);
      expect(cancel.json).to.deep.equal(unknown.json);
    }
    // The local system reads it as ever, never cancelled by the tries above.
    const own = await call(`${sluice.url}/messages/${id}`, { client: LOCAL_APP });
    expect(own.status, own.text).to.equal(200);
    expect(own.json.state).to.not.equal("cancelled");
    // A provider-direction message is read through a security server as ever.
    const provided = await call(`${sluice.url}/rest/local/person`, {
      client: LOCAL_APP,
      body: "{}",
      headers: relayed,
    });
    expect(provided.status, provided.text).to.equal(202);
    const read = await call(`${sluice.url}/rest/messages/${provided.json.id as string}`, {
      client: LOCAL_APP,
      headers: relayed,
    });
    expect(read.status, read.text).to.equal(200);
  });

  it("the SOAP status operation answers a consumer-direction message Client.NotFound, as an unknown id; the local caller reads it at /messages/<id>", async () => {
    // A security server sends SOAP providers no X-Road-Request-Id: a SOAP read may be an X-Road
    // client sharing the local system's id, so it never finds that system's calls.
    const local = await call(`${sluice.url}/rest/lookup/person`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { Prefer: "respond-async" },
    });
    expect(local.status, local.text).to.equal(202);
    const id = local.json.id as string;
    const soapStatus = (xroadId: string, messageId: string) =>
      call(`${sluice.url}/soap`, {
        client: null,
        body: soapStatusCall(xroadId, messageId),
        headers: { "Content-Type": "text/xml; charset=utf-8" },
      });
    const faultOf = (text: string) => ({
      code: /<faultcode>([^<]*)<\/faultcode>/.exec(text)?.[1],
      string: /<faultstring>([^<]*)<\/faultstring>/.exec(text)?.[1],
    });
    const unknown = await soapStatus("status-unknown", "00000000-0000-4000-8000-000000000000");
    expect(unknown.status, unknown.text).to.equal(500);
    expect(faultOf(unknown.text).code).to.equal("Client.NotFound");
    const hidden = await soapStatus("status-consumer", id);
    expect(hidden.status, hidden.text).to.equal(500);
    expect(faultOf(hidden.text)).to.deep.equal(faultOf(unknown.text));
    expect(hidden.text).to.not.include(id);
    // The local caller reads it at its acknowledgement's statusUrl.
    const own = await call(`${sluice.url}/messages/${id}`, { client: LOCAL_APP });
    expect(own.status, own.text).to.equal(200);
    expect(own.json.id).to.equal(id);
  });

  it("a consumer-direction 202 names the status as the local caller reaches it, whatever X-Road-Service it sent", async () => {
    // Its X-Road-Service names the remote provider: a Location through X-Road would send the
    // local system to that provider's status service, with the gateway id.
    const answer = await call(`${sluice.url}/rest/lookup/person`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { "X-Road-Service": "EE/GOV/70000002/registry/lookup" },
    });
    expect(answer.status, answer.text).to.equal(202);
    const direct = `/messages/${answer.json.id as string}`;
    expect(answer.headers.get("location")).to.equal(direct);
    expect(answer.json.statusUrl).to.equal(direct);
    // A provider-direction service's caller came through X-Road: its status is reached there.
    const provided = await call(`${sluice.url}/rest/local/person`, {
      client: LOCAL_APP,
      body: "{}",
      headers: { "X-Road-Service": "EE/GOV/70000001/sluice/local" },
    });
    expect(provided.status, provided.text).to.equal(202);
    expect(provided.headers.get("location")).to.equal(
      `/r1/EE/GOV/70000001/sluice/messages/${provided.json.id as string}`,
    );
  });

  it("a remote provider's X-Multiple-Responses answer reaches the caller as it came; a backend of the operator's own is split", async () => {
    // PR-REST §4.6: the security server passes the provider's answer on unchanged. Split, a
    // provider of another organisation could turn its 200 into any status and body.
    const remote = await call(`${sluice.url}/rest/lookup/split`, { client: LOCAL_APP });
    expect(remote.status, remote.text).to.equal(202);
    const passed = await untilState(
      sluice,
      remote.json.id as string,
      ["completed", "failed"],
      30_000,
    );
    expect(passed.json.state, passed.text).to.equal("completed");
    expect(passed.json.responses).to.have.length(1);
    expect(passed.json.responses[0].status).to.equal(200);
    expect(passed.json.responses[0].body).to.deep.equal(JSON.parse(SPLIT));

    const own = await call(`${sluice.url}/rest/local/split`, { client: LOCAL_APP });
    expect(own.status, own.text).to.equal(202);
    const split = await untilState(sluice, own.json.id as string, ["completed", "failed"], 30_000);
    expect(split.json.state, split.text).to.equal("completed");
    expect(split.json.responses.map((r: { status: number }) => r.status)).to.deep.equal([200, 404]);
  });

  it("a backend's answer of 100 000 responses ends the message failed, not processing for ever", async () => {
    // Recording them overflowed the stack, and the worker retried recording for ever.
    const accepted = await call(`${sluice.url}/rest/local/many`, { client: LOCAL_APP });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, ["completed", "failed", "rejected"], 30_000);
    expect(settled.json.state, settled.text.slice(0, 500)).to.equal("failed");
    expect(settled.json.error.code).to.equal("BackendFailed");
    expect(settled.json.responses).to.have.length.below(2);
  });

  it("a backend's answer of 200 responses of 9 KB ends the message failed: told one by one they would carry 180 MB again", async () => {
    // Each response was stored and told (record read back, callback, hub event) with all those
    // before it: this 1.8 MB answer moved 180 MB through Redis, and 1 000 of 10 KB 5 GB.
    const accepted = await call(`${sluice.url}/rest/local/large-200`, { client: LOCAL_APP });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const settled = await untilState(sluice, id, ["completed", "failed", "rejected"], 120_000);
    expect(settled.json.state, settled.text.slice(0, 500)).to.equal("failed");
    expect(settled.json.error.code).to.equal("BackendFailed");
    // The reason is the operator's to read (the log and the dead letter), as for any answer
    // the translator cannot take.
    expect(
      sluice.output.some((line) => line.includes(id) && line.includes("would carry")),
    ).to.equal(true);
    expect(settled.json.responses).to.have.length.below(2);

    // Fewer of them are responses as before.
    const few = await call(`${sluice.url}/rest/local/large-20`, { client: LOCAL_APP });
    expect(few.status, few.text).to.equal(202);
    const done = await untilState(
      sluice,
      few.json.id as string,
      ["completed", "failed", "rejected"],
      30_000,
    );
    expect(done.json.state, done.text.slice(0, 500)).to.equal("completed");
    expect(done.json.responses).to.have.length(20);
  });

  it("JSON answers nested 4 million deep are not parsed: the process serves while they are read, and each message ends", async () => {
    // An X-Road error from the security server; many responses from a backend of the
    // operator's own (a remote provider's answer is passed on as it came, PR-REST §4.6).
    for (const [path, state] of [
      ["lookup/deep-error", "rejected"],
      ["local/deep-many", "failed"],
    ]) {
      const accepted = await call(`${sluice.url}/rest/${path}`, { client: LOCAL_APP });
      expect(accepted.status, accepted.text).to.equal(202);
      const id = accepted.json.id as string;
      // A hang guard only (a read takes milliseconds; a machine busy with other work may take
      // seconds): that nothing parsed the answer is shown by the document below.
      let doc: { state: string; responses?: { body: unknown }[] } = { state: "accepted" };
      while (!["completed", "failed", "rejected"].includes(doc.state)) {
        const answer = await fetch(`${sluice.url}/messages/${id}`, {
          headers: { "X-Road-Client": LOCAL_APP },
          signal: AbortSignal.timeout(30_000),
        });
        doc = (await answer.json()) as typeof doc;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      expect(doc.state, path).to.equal(state);
      // The security server's error document is carried as its text, never parsed into arrays;
      // the backend's many responses were refused before any was stored.
      const body = doc.responses?.[0]?.body;
      if (state === "rejected") expect(body).to.be.a("string").with.length(8_000_000);
      else expect(body).to.equal("");
    }
  });

  it("a remote SOAP answer 80 deep, within the configured adapter.xml.maxDepth, reaches the caller as XML", async () => {
    const answer = await fetch(`${sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: soapCall(`deeper-${Date.now()}`, "deeper"),
    });
    const text = await answer.text();
    expect(answer.status, text.slice(0, 500)).to.equal(200);
    // The remote Response's content, unwrapped into the caller's own Response element.
    expect(text).to.match(
      new RegExp(
        `<(\\w+:)?getStateResponse\\b[^>]*>${ANSWERS.deeper()}</(\\w+:)?getStateResponse>`,
      ),
    );
  });

  it("a remote SOAP answer holding a raw control character is refused: neither the caller's answer nor the status document carries it", async () => {
    const answer = await fetch(`${sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: soapCall(`control-${Date.now()}`, "control"),
    });
    const text = await answer.text();
    expect(answer.status, text.slice(0, 500)).to.equal(500);
    expect(text).to.not.include("\u0001");
    expect(text).to.match(/<faultcode>[^<]*Server\.BackendFailed<\/faultcode>/);
    expect(text).to.include(TRANSLATOR_FAILED);
    const id = answer.headers.get("x-sluice-id") as string;
    const status = await call(`${sluice.url}/messages/${id}`, { client: LOCAL_APP });
    expect(status.json.state, status.text).to.equal("failed");
    // JSON writes the character escaped: read back, no string of the document holds it.
    const strings: string[] = [];
    JSON.parse(status.text, (_key, value: unknown) => {
      if (typeof value === "string") strings.push(value);
      return value;
    });
    expect(strings.join(" ")).to.not.include("\u0001");
  });

  it("a remote SOAP answer nested 300 000 elements deep reaches the caller as escaped text, and the process serves meanwhile", async () => {
    const before = calls.length;
    const deep = fetch(`${sluice.url}/soap`, {
      method: "POST",
      headers: { "Content-Type": "text/xml; charset=utf-8" },
      body: soapCall(`deep-${Date.now()}`, "deep"),
    });
    // Once the security server has answered, the worker reads the answer: other callers of
    // the same process are served while it does.
    while (calls.length === before) await new Promise((resolve) => setTimeout(resolve, 50));
    const other = await call(`${sluice.url}/rest/lookup/other`, { client: LOCAL_APP });
    expect(other.status, other.text).to.equal(202);
    const answer = await deep;
    const text = await answer.text();
    expect(answer.status, text.slice(0, 500)).to.equal(200);
    // Deeper than adapter.xml.maxDepth: the caller's own Response element holds the whole
    // remote answer as escaped text, Envelope included (docs/soap.md), none of it as XML.
    const response = /<(\w+:)?getStateResponse\b[^>]*>([^<]*)<\/\1?getStateResponse>/.exec(text);
    expect(response, text.slice(0, 2_000)).to.not.equal(null);
    const escaped = response?.[2] ?? "";
    expect(escaped).to.match(/^&lt;SOAP-ENV:Envelope /);
    expect(escaped).to.include(
      `&lt;st:getStateResponse xmlns:st=&quot;${NS}&quot;&gt;${"&lt;a&gt;".repeat(1_000)}`,
    );
    expect(escaped).to.have.length.greaterThan(300_000 * "&lt;a&gt;&lt;/a&gt;".length);
    expect(text).to.not.include("<a>");
    expect(text).to.not.match(/at .*\.js:\d+/);
  });

  it("a local SOAP call with a DOCTYPE, 300 attributes, nesting past maxDepth or a control character in userId is a Client fault; nothing is sent on", async () => {
    const before = calls.length;
    const plain = soapCall("hostile-plain", "plain");
    const hostile: Array<[string, string, string]> = [
      [
        "an internal entity",
        plain.replace("?>", '?><!DOCTYPE x [<!ENTITY e "expanded">]>'),
        "Client.InvalidXml",
      ],
      [
        "an external entity",
        plain.replace("?>", '?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'),
        "Client.InvalidXml",
      ],
      [
        "300 attributes",
        plain.replace(
          "<st:getState>",
          `<st:getState ${Array.from({ length: 300 }, (_, i) => `a${i}="1"`).join(" ")}>`,
        ),
        "Client.InvalidXml",
      ],
      [
        "nesting past adapter.xml.maxDepth",
        soapCall("hostile-deep", "<a>".repeat(200) + "</a>".repeat(200)),
        "Client.InvalidXml",
      ],
      [
        "a line break in userId",
        plain.replace("</xrd:id>", "</xrd:id><xrd:userId>EE1&#13;&#10;X-Evil: 1</xrd:userId>"),
        "Client.InvalidSoap",
      ],
    ];
    for (const [what, body, code] of hostile) {
      const answer = await call(`${sluice.url}/soap`, {
        client: null,
        body,
        headers: { "Content-Type": "text/xml; charset=utf-8" },
      });
      expect(answer.status, what).to.equal(500);
      expect(answer.text, what).to.include(`<faultcode>${code}</faultcode>`);
      expect(answer.text, what).to.not.include("expanded");
    }
    expect(calls.slice(before), "nothing reached the security server").to.deep.equal([]);
  });

  it("a REST path leaving the remote service in any spelling is 400 InvalidPath as written on the wire; nothing is sent on", async () => {
    const before = calls.length;
    // Written byte for byte: fetch and every URL class resolve `..` before sending.
    for (const path of [
      "/rest/lookup/..",
      "/rest/lookup/../local/person",
      "/rest/lookup/%2e%2e/local",
      "/rest/lookup/.%2E/local",
      "/rest/lookup/..;x/local",
      "/rest/lookup/a/%2e%2e%2f..%2flocal",
      "/rest/lookup/a%2Fb",
      "/rest/lookup/a%5cb",
      "/rest/lookup/a%00b",
      "/rest/lookup/a%252e%252e",
      "/rest/lookup/%C0%AE%C0%AE",
      "/rest/lookup/%EF%BC%8E%EF%BC%8E",
      "/rest/lookup//local",
      // Only dots and spaces: X-Road's Jetty passes them as written, Windows reads them as `..`.
      "/rest/lookup/.../local",
      "/rest/lookup/..%20/local",
    ]) {
      const head = await rawStatusLine(sluice.url, `GET ${path} HTTP/1.1`);
      expect(head.split("\r\n")[0], path).to.equal("HTTP/1.1 400 Bad Request");
      expect(head, path).to.include('"type":"InvalidPath"');
    }
    expect(calls.slice(before), "nothing reached the security server").to.deep.equal([]);
  });
});
