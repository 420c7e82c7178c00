// The security-server simulator's REST metaservices (PR-MREST): listMethods and allowedMethods
// from the registered services, getOpenAPI from a description URL served by a real HTTP server.

import { expect } from "chai";
import fs from "node:fs";
import http from "node:http";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { request } from "undici";
import YAML from "yaml";
import { loadSimConfig } from "../../xroad-sim/sim-config-file";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { refusingPeer, type RefusingPeer } from "../support/refusing-peer";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const PROVIDER = "EE/GOV/1234/prov";
const CLIENT = "EE/GOV/5678/cons";
const OTHER = "EE/GOV/9/other";

/** A provider's description server: each path answers what `pages` holds for it. */
interface DescriptionServer {
  url: string;
  seen: Array<{ method: string; url: string; headers: http.IncomingHttpHeaders }>;
  close(): Promise<void>;
}

const JSON_DOC = {
  openapi: "3.0.3",
  info: { title: "svc", version: "1" },
  servers: [
    { url: "https://provider.internal:8443/base/svc?x=1" },
    { url: "https://{host}/base/svc", variables: { host: { default: "a.example" } } },
  ],
  paths: {
    "/things/{id}": { get: { responses: { "200": { description: "a thing" } } } },
    // Written POST before GET: X-Road lists a path's operations GET, PUT, POST, DELETE, ...
    "/things/{id}/parts/{part}": {
      parameters: [],
      post: { responses: { "201": { description: "added" } } },
      get: { responses: { "200": { description: "a part" } } },
    },
  },
};

const YAML_TEXT = `openapi: 3.1.0
info: { title: yamlsvc, version: "2" }
servers:
  - url: http://10.0.0.7/api/v2
paths:
  /items:
    post:
      responses: { "201": { description: created } }
`;

async function startDescriptionServer(): Promise<DescriptionServer> {
  const pages: Record<string, [number, Record<string, string>, string]> = {
    "/openapi.json": [200, { "content-type": "application/json" }, JSON.stringify(JSON_DOC)],
    "/docs/yamlsvc": [200, { "content-type": "application/x-yaml" }, YAML_TEXT],
    "/swagger.json": [200, {}, JSON.stringify({ openapi: "2.0", paths: {} })],
  };
  const seen: DescriptionServer["seen"] = [];
  const server = http.createServer((req, res) => {
    seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers });
    const page = pages[req.url ?? ""];
    req.resume();
    if (!page) {
      res.writeHead(404, { "content-type": "text/plain" });
      res.end("no such page");
      return;
    }
    res.writeHead(page[0], page[1]);
    res.end(page[2]);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

describe("xroad-sim REST metaservices (PR-MREST)", function () {
  freshConnectionPerFetch();
  this.timeout(20_000);
  let docs: DescriptionServer;
  let sim: XroadSim;
  let down: RefusingPeer;

  const get = async (
    pathAndQuery: string,
    client: string | null = CLIENT,
  ): Promise<{
    status: number;
    headers: Record<string, string | string[] | undefined>;
    text: string;
  }> => {
    const answer = await request(`${sim.url}${pathAndQuery}`, {
      headers: client === null ? {} : { "x-road-client": client, "x-road-id": "meta-1" },
    });
    return { status: answer.statusCode, headers: answer.headers, text: await answer.body.text() };
  };

  beforeEach(async () => {
    docs = await startDescriptionServer();
    down = await refusingPeer();
    sim = await startXroadSim({
      services: {
        [`${PROVIDER}/svc`]: {
          url: `${docs.url}/base/svc`,
          descriptionUrl: `${docs.url}/openapi.json`,
        },
        [`${PROVIDER}/yamlsvc`]: {
          url: `${docs.url}/api`,
          descriptionUrl: `${docs.url}/docs/yamlsvc`,
        },
        [`${PROVIDER}/plain`]: {
          url: `${docs.url}/plain`,
          endpoints: [
            { method: "GET", path: "/school" },
            { method: "*", path: "/school/*" },
            // Every service's whole-service endpoint, never listed.
            { method: "*", path: "**" },
          ],
        },
        [`${PROVIDER}/closed`]: {
          url: `${docs.url}/x`,
          allowedClients: [OTHER],
          endpoints: [{ method: "PUT", path: "/closed" }],
        },
        [`${PROVIDER}/soapy`]: { url: `${docs.url}/soap`, type: "soap" },
        [`${PROVIDER}/gone`]: { url: `${docs.url}/g`, descriptionUrl: `${docs.url}/missing` },
        [`${PROVIDER}/old`]: { url: `${docs.url}/o`, descriptionUrl: `${docs.url}/swagger.json` },
        [`${PROVIDER}/down`]: {
          url: `${docs.url}/d`,
          descriptionUrl: down.url("/openapi.json"),
        },
        "EE/GOV/1234/prov2/elsewhere": { url: `${docs.url}/e` },
        "EE/GOV/1234/own": { url: `${docs.url}/own` },
        "EE/COM/42/soap-only/q/v1": { url: `${docs.url}/soap`, type: "soap" },
      },
    });
  });
  afterEach(async () => {
    await sim.close();
    await docs.close();
    await down.close();
  });

  const entry = (
    code: string,
    type: "REST" | "OPENAPI",
    endpoints: Array<{ method: string; path: string }> = [],
  ): Record<string, unknown> => ({
    member_class: "GOV",
    member_code: "1234",
    object_type: "SERVICE",
    service_code: code,
    service_type: type,
    subsystem_code: "prov",
    xroad_instance: "EE",
    endpoint_list: endpoints,
  });

  // The endpoints generated from each OpenAPI description (OpenApiParser.parse: `{param}` as
  // `*`), and those added by hand, as PR-MREST Annex B.1 lists them.
  const SVC_ENDPOINTS = [
    { method: "GET", path: "/things/*" },
    { method: "GET", path: "/things/*/parts/*" },
    { method: "POST", path: "/things/*/parts/*" },
  ];
  const YAMLSVC_ENDPOINTS = [{ method: "POST", path: "/items" }];
  const PLAIN_ENDPOINTS = [
    { method: "GET", path: "/school" },
    { method: "*", path: "/school/*" },
  ];

  it("listMethods lists the provider's REST services in the shape of Annex B.1, nothing else", async () => {
    const answer = await get(`/r1/${PROVIDER}/listMethods`);
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.headers["content-type"]).to.equal("application/json");
    expect(JSON.parse(answer.text)).to.deep.equal({
      service: [
        entry("svc", "OPENAPI", SVC_ENDPOINTS),
        entry("yamlsvc", "OPENAPI", YAMLSVC_ENDPOINTS),
        entry("plain", "REST", PLAIN_ENDPOINTS),
        entry("closed", "REST", [{ method: "PUT", path: "/closed" }]),
        // Descriptions X-Road could not have registered (not found, OpenAPI 2.0, unreachable)
        // generate no endpoints.
        entry("gone", "OPENAPI"),
        entry("old", "OPENAPI"),
        entry("down", "OPENAPI"),
      ],
    });
    // Answered as any X-Road REST service is: X-Road's headers, the caller's X-Road-Id.
    expect(answer.headers["x-road-service"]).to.equal(`${PROVIDER}/listMethods`);
    expect(answer.headers["x-road-client"]).to.equal(CLIENT);
    expect(answer.headers["x-road-id"]).to.equal("meta-1");
    expect(answer.headers["x-road-request-hash"]).to.be.a("string").and.not.equal("");
    expect(answer.headers["x-road-error"]).to.equal(undefined);
    // The descriptions are read for their endpoints with a plain GET, nothing of the call's.
    expect(docs.seen.map((r) => `${r.method} ${r.url}`)).to.have.members([
      "GET /openapi.json",
      "GET /docs/yamlsvc",
      "GET /missing",
      "GET /swagger.json",
    ]);
    const [call] = sim.calls();
    expect(call).to.include({ service: `${PROVIDER}/listMethods`, client: CLIENT, status: 200 });
  });

  it("answers a member's metaservices as X-Road 7.4 does: Invalid request URI; a SOAP-only subsystem lists nothing", async () => {
    // RestRequest.decodeIdentifiers reads five identifier parts before a metaservice is known:
    // /r1/EE/GOV/1234/listMethods has four, so the client proxy refuses it, whatever the
    // member has registered.
    for (const meta of ["listMethods", "allowedMethods", "getOpenAPI?serviceCode=own"]) {
      const member = await get(`/r1/EE/GOV/1234/${meta}`);
      expect(member.status, meta).to.equal(500);
      expect(member.headers["x-road-error"], meta).to.equal("Server.ClientProxy.InternalError");
      expect(JSON.parse(member.text), meta).to.include({
        type: "Server.ClientProxy.InternalError",
        message: "Invalid request URI",
      });
    }
    // A path after the code names subsystem `listMethods`'s service `x`: an ordinary call,
    // refused on the provider's side for want of that subsystem, no metaservice.
    const longer = await get("/r1/EE/GOV/1234/listMethods/x");
    expect(longer.status).to.equal(500);
    expect(String(longer.headers["x-road-error"])).to.match(/^Server\.ServerProxy\./);
    expect(JSON.parse(longer.text).message).to.include("EE/GOV/1234/listMethods");
    // A subsystem's metaservice is one whatever path follows its code (canHandle reads the
    // code and the method only).
    const withPath = await get(`/r1/${PROVIDER}/listMethods/anything?x=1`);
    expect(withPath.status, withPath.text).to.equal(200);
    expect(withPath.headers["x-road-service"]).to.equal(`${PROVIDER}/listMethods`);
    // No service was called: only the descriptions were read, for their endpoints.
    const descriptions = ["/openapi.json", "/docs/yamlsvc", "/missing", "/swagger.json"];
    expect(docs.seen.map((r) => r.url).filter((url) => !descriptions.includes(url))).to.deep.equal(
      [],
    );

    const soapOnly = await get("/r1/EE/COM/42/soap-only/listMethods");
    expect(soapOnly.status, soapOnly.text).to.equal(200);
    expect(JSON.parse(soapOnly.text)).to.deep.equal({ service: [] });
  });

  it("allowedMethods lists only the services the calling client may use", async () => {
    const codes = async (client: string): Promise<string[]> => {
      const answer = await get(`/r1/${PROVIDER}/allowedMethods`, client);
      expect(answer.status, answer.text).to.equal(200);
      expect(answer.headers["x-road-service"]).to.equal(`${PROVIDER}/allowedMethods`);
      const list = JSON.parse(answer.text) as { service: Array<{ service_code: string }> };
      return list.service.map((s) => s.service_code);
    };
    expect(await codes(CLIENT)).to.deep.equal(["svc", "yamlsvc", "plain", "gone", "old", "down"]);
    expect(await codes(OTHER)).to.include("closed");
  });

  it("allowedMethods lists every endpoint of a service the client may use", async () => {
    // The simulator's access rights are on the whole service, X-Road's `*` `**` endpoint, which
    // matches each endpoint (ServerConfImpl.getAllowedRestServices, EndpointType.matches).
    const answer = await get(`/r1/${PROVIDER}/allowedMethods`, OTHER);
    expect(answer.status, answer.text).to.equal(200);
    const list = JSON.parse(answer.text) as { service: Array<Record<string, unknown>> };
    const byCode = new Map(list.service.map((s) => [s.service_code, s.endpoint_list]));
    expect(byCode.get("svc")).to.deep.equal(SVC_ENDPOINTS);
    expect(byCode.get("plain")).to.deep.equal(PLAIN_ENDPOINTS);
    expect(byCode.get("closed")).to.deep.equal([{ method: "PUT", path: "/closed" }]);
  });

  it("lists and describes a disabled service as X-Road does, while calls to it are refused", async () => {
    // X-Road 7.4 lists a disabled service description's services (ServiceDAOImpl
    // .getServicesByDescriptionType reads no disabled flag) and serves its OpenAPI description
    // (RestMetadataServiceHandlerImpl.handleGetOpenApi does not look at it either); only a call
    // of the service itself is refused (ServerRestMessageProcessor.verifyAccess).
    sim.register(`${PROVIDER}/svc`, {
      url: `${docs.url}/base/svc`,
      descriptionUrl: `${docs.url}/openapi.json`,
      disabled: { notice: "Maintenance" },
    });
    const codes = (text: string): string[] =>
      (JSON.parse(text) as { service: Array<{ service_code: string }> }).service.map(
        (s) => s.service_code,
      );
    expect(codes((await get(`/r1/${PROVIDER}/listMethods`)).text)).to.include("svc");
    expect(codes((await get(`/r1/${PROVIDER}/allowedMethods`)).text)).to.include("svc");
    const description = await get(`/r1/${PROVIDER}/getOpenAPI?serviceCode=svc`);
    expect(description.status, description.text).to.equal(200);
    const called = await get(`/r1/${PROVIDER}/svc`);
    expect(called.headers["x-road-error"]).to.equal("Server.ServerProxy.ServiceDisabled");
  });

  it("getOpenAPI answers a JSON description as JSON, its fixed server URLs cut to their path", async () => {
    // Every client may read it: metaservices are not behind the service's access rights.
    const answer = await get(`/r1/${PROVIDER}/getOpenAPI?serviceCode=svc`, OTHER);
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.headers["content-type"]).to.equal("application/json");
    expect(answer.headers["x-road-service"]).to.equal(`${PROVIDER}/getOpenAPI`);
    const doc = JSON.parse(answer.text) as typeof JSON_DOC;
    expect(doc.servers).to.deep.equal([{ url: "/base/svc" }, JSON_DOC.servers[1]]);
    expect(doc.paths).to.deep.equal(JSON_DOC.paths);
    expect(doc.openapi).to.equal("3.0.3");
    // A plain GET of the registered URL: no X-Road headers reach the description server.
    expect(docs.seen).to.have.length(1);
    expect(docs.seen[0]).to.include({ method: "GET", url: "/openapi.json" });
    expect(docs.seen[0].headers["x-road-client"]).to.equal(undefined);
  });

  it("getOpenAPI answers a YAML description as YAML; the parameter name is read in any case", async () => {
    const answer = await get(`/r1/${PROVIDER}/getOpenAPI?servicecode=plain&SERVICECODE=yamlsvc`);
    expect(answer.status, answer.text).to.equal(200);
    expect(answer.headers["content-type"]).to.equal("application/x-yaml");
    expect(() => JSON.parse(answer.text)).to.throw();
    const doc = YAML.parse(answer.text) as { servers: unknown; paths: unknown; openapi: string };
    expect(doc.openapi).to.equal("3.1.0");
    expect(doc.servers).to.deep.equal([{ url: "/api/v2" }]);
    expect(doc.paths).to.deep.equal((YAML.parse(YAML_TEXT) as { paths: unknown }).paths);
  });

  it("answers X-Road's errors: unknown provider, missing or unknown serviceCode, no OpenAPI description, a failed read", async () => {
    const cases: Array<[string, number, string, RegExp]> = [
      [
        "/r1/EE/GOV/1234/nobody/listMethods",
        500,
        "Server.ServerProxy.UnknownMember",
        /Client 'SUBSYSTEM:EE\/GOV\/1234\/nobody' not found/,
      ],
      [
        "/r1/EE/GOV/1234/nobody/getOpenAPI?serviceCode=svc",
        500,
        "Server.ServerProxy.UnknownMember",
        /nobody/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI`,
        500,
        "Server.ServerProxy.InvalidRequest",
        /Missing serviceCode/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=nothing`,
        500,
        "Server.ServerProxy.InternalError",
        /Service not found: SERVICE:EE\/GOV\/1234\/prov\/nothing/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=plain`,
        500,
        "Server.ServerProxy.InternalError",
        /Invalid service type: REST/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=soapy`,
        500,
        "Server.ServerProxy.InternalError",
        /Invalid service type: WSDL/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=gone`,
        500,
        "Server.ServerProxy.InternalError",
        /Failed reading service description from .*\/missing\. Status: 404/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=old`,
        500,
        "Server.ServerProxy.InternalError",
        /Incompatible openapi version/,
      ],
      [
        `/r1/${PROVIDER}/getOpenAPI?serviceCode=down`,
        500,
        "Server.ServerProxy.NetworkError",
        /127\.0\.0\.1/,
      ],
    ];
    for (const [url, status, type, message] of cases) {
      const answer = await get(url);
      expect(answer.status, url).to.equal(status);
      expect(answer.headers["x-road-error"], url).to.equal(type);
      const body = JSON.parse(answer.text) as Record<string, string>;
      expect(body.type, url).to.equal(type);
      expect(body.message, url).to.match(message);
      // A random UUID per error (X-Road's CodedException), not the X-Road id.
      expect(body.detail, url).to.match(
        /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
      );
    }
    const noClient = await get(`/r1/${PROVIDER}/listMethods`, null);
    expect(noClient.status).to.equal(500);
    expect(noClient.headers["x-road-error"]).to.equal("Server.ClientProxy.InvalidClientIdentifier");
  });

  it("only GET is a metaservice: another method goes to a service of that code", async () => {
    const answer = await request(`${sim.url}/r1/${PROVIDER}/listMethods`, {
      method: "POST",
      headers: { "x-road-client": CLIENT, "content-type": "application/json" },
      body: "{}",
    });
    expect(answer.statusCode).to.equal(500);
    expect(answer.headers["x-road-error"]).to.equal("Server.ServerProxy.UnknownService");
    await answer.body.text();
  });

  it("checks descriptionUrl like the other service fields, and reads it from the config file", async () => {
    const bad = (service: Record<string, unknown>): Promise<unknown> =>
      startXroadSim({ services: { [`${PROVIDER}/x`]: { url: docs.url, ...service } } }).then(
        async (started) => {
          await started.close();
          return null;
        },
        (error: Error) => error,
      );
    expect(await bad({ descriptionUrl: "ftp://h/openapi.json" }))
      .to.be.instanceOf(RangeError)
      .with.property("message")
      .that.contains(`service ${PROVIDER}/x: descriptionUrl must be http:// or https://`);
    expect(await bad({ descriptionUrl: "not a url" }))
      .to.be.instanceOf(RangeError)
      .with.property("message")
      .that.contains("is not a URL");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xroad-sim-meta-"));
    try {
      const file = path.join(dir, "sim.yaml");
      fs.writeFileSync(
        file,
        `services:\n  ${PROVIDER}/svc:\n    url: ${docs.url}/base/svc\n    descriptionUrl: ${docs.url}/openapi.json\n`,
      );
      const options = loadSimConfig(file);
      expect(options.services?.[`${PROVIDER}/svc`]?.descriptionUrl).to.equal(
        `${docs.url}/openapi.json`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
