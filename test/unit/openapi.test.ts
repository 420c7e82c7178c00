// The OpenAPI documents of REST services and of the status service: valid for a real OpenAPI
// validator, built from the configuration, with the service URL as the security server sees it.

import { expect } from "chai";
import { assertValidOpenApi } from "../support/openapi-check";
import path from "node:path";
import { restServiceOpenApi, statusServiceOpenApi } from "../../adapter/openapi";
import { REQUEST_REFUSALS } from "../../adapter/request-refusals";
import { OUTCOME_FAILURES } from "../../adapter/route-intake";
import { asSluiceError } from "../../shared/protocol/errors";
import { providerOf, statusLocation } from "../../adapter/status-location";
import { loadConfig } from "../../shared/config/config";

const DEMO = path.resolve(__dirname, "..", "..", "..", "config", "demo.yaml");

/** The status service's document (with its hub when `hub`), read as plain JSON. */
function statusDoc(hub: boolean) {
  return statusServiceOpenApi("messages", "https://sluice.example/rest/messages", hub) as Record<
    string,
    any // eslint-disable-line @typescript-eslint/no-explicit-any
  >;
}

/** Every operation of the status service with its hub: path, method. */
const STATUS_OPERATIONS = [
  ["/{id}", "get"],
  ["/{id}", "delete"],
  ["/hub", "post"],
  ["/hub/{hubId}", "delete"],
];

describe("OpenAPI descriptions", () => {
  const config = loadConfig(DEMO);

  for (const service of Object.values(config.services).filter((s) =>
    s.protocols.includes("rest"),
  )) {
    it(`${service.code}: a valid OpenAPI 3.1 document with the service's schema as request body`, async () => {
      const url = `https://sluice.example:8080/rest/${service.code}`;
      const doc = restServiceOpenApi(service, url) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
      await assertValidOpenApi(doc);
      expect(doc.servers).to.deep.equal([{ url }]);
      const post = doc.paths["/"].post;
      expect(post.requestBody.content["application/json"].schema).to.deep.equal(
        service.schema ?? {},
      );
      // The adapter refuses a POST without a body to a service with a schema.
      expect(post.requestBody.required).to.equal(service.schema !== null);
      expect(Object.keys(post.responses)).to.include.members(["200", "202", "400", "503"]);
      expect(post.responses["202"].headers).to.have.keys(
        "Location",
        "Retry-After",
        "Preference-Applied",
        "X-Road-Id",
        "X-Sluice-Id",
        "X-Sluice-State",
      );
    });
  }

  it("offers an XML body only, on the methods that carry one, where the backend sends it as a SOAP Body's element", async () => {
    const service = {
      ...config.services.personLookup,
      contentTypes: ["application/xml", "text/plain"],
    };
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const doc = restServiceOpenApi(service, "https://sluice.example/rest/x", true) as any;
    await assertValidOpenApi(doc);
    for (const path of ["/", "/{path}"]) {
      expect(Object.keys(doc.paths[path]).filter((k) => k !== "parameters")).to.deep.equal([
        "post",
        "put",
        "patch",
      ]);
      expect(doc.paths[path].post.requestBody).to.deep.equal({
        required: true,
        content: { "application/xml": { schema: {} } },
      });
    }
  });

  it("a sync service without a schema taking JSON, XML and text: a valid document", async () => {
    const service = {
      ...config.services.personSearch,
      schema: null,
      reply: { ...config.services.personSearch.reply, mode: "sync" as const },
      contentTypes: ["application/xml", "text/plain"],
    };
    await assertValidOpenApi(restServiceOpenApi(service, "/rest/personSearch"));
  });

  it("describes every error a waiting caller can get for an outcome, with what it means", () => {
    const service = config.services.personLookup;
    const doc = restServiceOpenApi(service, "https://sluice.example:8080/rest/personLookup");
    const responses = (doc as Record<string, any>).paths["/"].post.responses; // eslint-disable-line @typescript-eslint/no-explicit-any
    const missing = Object.entries(OUTCOME_FAILURES)
      .filter(([, f]) => !String(responses[f.status]?.description ?? "").includes(f.code))
      .map(([outcome, f]) => `${outcome}: ${f.status} ${f.code}`);
    expect(missing).to.deep.equal([]);
    // A 504 may follow a call the backend received (docs/semantics.md): never "not sent" alone.
    expect(responses["504"].description).to.match(/may have received/);
    // A 502 BackendFailed also ends a message its translator failed on, never retried, which
    // the backend may have received (docs/semantics.md, docs/translators.md).
    expect(responses["502"].description).to.match(/translator failed/);
    expect(responses["502"].description).to.match(/may have received/);
  });

  it("describes the refusals of the request itself and Sluice's own fault, from their table", () => {
    const service = config.services.personLookup;
    const doc = restServiceOpenApi(service, "https://sluice.example:8080/rest/personLookup");
    const responses = (doc as Record<string, any>).paths["/"].post.responses; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const [status, code] of [
      [405, "MethodNotAllowed"],
      [417, "InvalidHeader"],
      [431, "InvalidHeader"],
      [500, "Internal"],
    ] as const) {
      expect(responses[status]?.description, String(status)).to.include(code);
      expect(responses[status].content["application/json"].schema).to.deep.equal({
        $ref: "#/components/schemas/Error",
      });
    }
    // A status documented for other reasons as well keeps them, the refusal's meaning added.
    expect(responses[400].description).to.match(
      /^Invalid request: headers, body .* no Host header/,
    );
    // The table is what the adapter answers: the generic wrap of a fault is its 500 row.
    const fault = asSluiceError(new Error("boom"));
    expect([fault.code, fault.status]).to.deep.equal([
      REQUEST_REFUSALS.internal.code,
      REQUEST_REFUSALS.internal.status,
    ]);
  });

  it("declares X-Road-Client on every operation: required, unless the service names a client for local callers", async () => {
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const clientOf = (operation: any) =>
      operation.parameters.find((p: { name: string }) => p.name === "X-Road-Client");
    const service = config.services.personLookup;
    const provided = restServiceOpenApi(service, "/rest/personLookup") as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const header = clientOf(provided.paths["/{path}"].post);
    expect(header).to.include({ in: "header", required: true });
    expect(new RegExp(header.schema.pattern).test("EE/GOV/70000001/app")).to.equal(true);
    expect(new RegExp(header.schema.pattern).test("EE/GOV")).to.equal(false);
    expect(header.description).to.match(/MissingHeader.*InvalidHeader.*DuplicateHeaderField/);
    const local = { ...service, client: "EE/GOV/70000001/sluice-consumer" };
    const consumer = restServiceOpenApi(local, "/rest/x") as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    await assertValidOpenApi(consumer);
    expect(clientOf(consumer.paths["/"].get).required).to.equal(false);
    expect(clientOf(consumer.paths["/"].get).description).to.include(local.client);
    // The status service: a message of such a service is read without the header, the hub
    // always needs it.
    const status = statusServiceOpenApi("messages", "/rest/messages", true, true) as Record<
      string,
      any // eslint-disable-line @typescript-eslint/no-explicit-any
    >;
    await assertValidOpenApi(status);
    expect(clientOf(status.paths["/{id}"]).required).to.equal(false);
    expect(clientOf(status.paths["/hub"]).required).to.equal(true);
    expect(clientOf(status.paths["/hub/{hubId}"]).required).to.equal(true);
    expect(clientOf(statusDoc(true).paths["/{id}"]).required).to.equal(true);
  });

  it("the status service: a valid document with status, cancel and the hub", async () => {
    const doc = statusDoc(true);
    await assertValidOpenApi(doc);
    expect(Object.keys(doc.paths)).to.deep.equal(["/{id}", "/hub", "/hub/{hubId}"]);
    expect(Object.keys(doc.paths["/{id}"])).to.include.members(["get", "delete"]);
    // Every route that reads Redis answers 503 with Retry-After while it is out of reach.
    for (const [path, method] of STATUS_OPERATIONS) {
      expect(Object.keys(doc.paths[path][method].responses), `${method} ${path}`).to.include("503");
    }
  });

  it("the status service: every answer its routes give, the X-Road headers' 400 and the port's refusals", () => {
    const doc = statusDoc(true);
    for (const [path, method] of STATUS_OPERATIONS) {
      const responses = doc.paths[path][method].responses;
      // A read without X-Road-Client is 400 MissingHeader; the others are the port's own.
      expect(Object.keys(responses), `${method} ${path}`).to.include.members([
        "400",
        "408",
        "414",
        "417",
        "421",
        "431",
        "500",
      ]);
      expect(responses[400].description, `${method} ${path}`).to.match(/InvalidHeader/);
    }
    // Another method on a message is 405 (its own: GET, HEAD, DELETE), not the business route's.
    for (const method of ["get", "delete"]) {
      expect(doc.paths["/{id}"][method].responses[405].description).to.match(/GET, HEAD or DELETE/);
    }
    // A cancel's answer carries the message's id, as a read's does.
    expect(doc.paths["/{id}"].delete.responses[200].headers).to.have.property("X-Sluice-Id");
    // Both are no-store, as the route sends them (one client's document is no cache's).
    for (const method of ["get", "delete"]) {
      expect(
        doc.paths["/{id}"][method].responses[200].headers["Cache-Control"].schema.enum,
      ).to.deep.equal(["no-store"]);
    }
  });

  it("a business service lists the parser's 408 and 414 too", () => {
    const doc = restServiceOpenApi(
      config.services.personLookup,
      "https://sluice.example:8080/rest/personLookup",
    ) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    for (const status of ["408", "414"]) {
      expect(doc.paths["/"].get.responses[status]?.description, status).to.include(
        "InvalidRequest",
      );
    }
  });

  it("the status service without a callback secret: no hub, which would answer 404", async () => {
    const doc = statusDoc(false);
    await assertValidOpenApi(doc);
    expect(Object.keys(doc.paths)).to.deep.equal(["/{id}"]);
    expect(doc.info.description).not.to.match(/hub/);
  });

  it("a real validator refuses a broken document (the check can fail)", async () => {
    const doc = statusDoc(true);
    doc.paths["/{id}"].get.parameters = [{ name: "id", in: "nowhere" }];
    const error = await assertValidOpenApi(doc).then(
      () => null,
      (e: Error) => e,
    );
    expect(error).to.be.instanceOf(Error);
  });
});

describe("status location through X-Road", () => {
  it("names /r1/<provider subsystem>/<status service>/<id> when X-Road-Service came along", () => {
    expect(
      statusLocation(
        { service: "EE/GOV/7000/sluice/personSearch" },
        "personSearch",
        "messages",
        "abc",
      ),
    ).to.equal("/r1/EE/GOV/7000/sluice/messages/abc");
    // A member's own service, a versioned id, and characters a path must encode.
    expect(providerOf("EE/GOV/7000/personSearch", "personSearch")).to.deep.equal([
      "EE",
      "GOV",
      "7000",
    ]);
    expect(providerOf("EE/GOV/7000/sub/personSearch/v1", "personSearch")).to.deep.equal([
      "EE",
      "GOV",
      "7000",
      "sub",
    ]);
    expect(statusLocation({ service: "EE/GOV/70?0/sub/q" }, "q", "messages", "x")).to.equal(
      "/r1/EE/GOV/70%3F0/sub/messages/x",
    );
  });

  it("names xroad.provider for a call a security server forwarded without X-Road-Service", () => {
    // X-Road's security server sends the provider X-Road-Request-Id, never X-Road-Service.
    const forwarded = { requestId: "f92591a3-6bf0-49b1-987b-0dd78c034cc3" };
    expect(statusLocation(forwarded, "q", "messages", "x", "EE/GOV/70?0/sluice")).to.equal(
      "/r1/EE/GOV/70%3F0/sluice/messages/x",
    );
    // A direct caller (no security server in between) keeps the direct path.
    expect(statusLocation({}, "q", "messages", "x", "EE/GOV/7000/sluice")).to.equal("/messages/x");
    // An X-Road-Service on a forwarded request is the consumer's own (a security server passes
    // it on unchecked): the configured provider comes first.
    expect(
      statusLocation(
        { service: "EE/GOV/7000/other-sub/q", ...forwarded },
        "q",
        "messages",
        "x",
        "EE/GOV/7000/sluice",
      ),
    ).to.equal("/r1/EE/GOV/7000/sluice/messages/x");
  });

  it("reads X-Road-Service part by part percent-decoded, and encodes each part once", () => {
    // PR-REST §4.2: each identifier part is sent percent-encoded (here "70+1" and "q?").
    expect(statusLocation({ service: "EE/GOV/70%2B1/sub/q%3F" }, "q?", "messages", "x")).to.equal(
      "/r1/EE/GOV/70%2B1/sub/messages/x",
    );
  });

  it("stays /messages/<id> without X-Road-Service, or when it names another service", () => {
    expect(statusLocation({}, "q", "messages", "x")).to.equal("/messages/x");
    expect(statusLocation({ service: "EE/GOV/7000/sub/other" }, "q", "messages", "x")).to.equal(
      "/messages/x",
    );
  });
});
