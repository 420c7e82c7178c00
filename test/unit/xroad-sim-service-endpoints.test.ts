// A REST service's endpoints as the simulated security server lists them in listMethods and
// allowedMethods (PR-MREST Annex B.1): generated from an OpenAPI description as X-Road's
// OpenApiParser generates them, and added by hand in the configuration.

import { expect } from "chai";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { generatedEndpoints } from "../../xroad-sim/service-endpoints";
import { loadSimConfig } from "../../xroad-sim/sim-config-file";
import { compileService } from "../../xroad-sim/sim-options";

const ok = { responses: { "200": { description: "ok" } } };

describe("xroad-sim: a REST service's endpoints", () => {
  it("generates one endpoint per operation, a path's in X-Road's order, each {param} as *", () => {
    // The paths of PR-MREST Annex B.1's petstore example, its operations written out of order.
    const doc = {
      openapi: "3.0.0",
      paths: {
        "/pet": { post: ok, put: ok },
        "/pet/findByStatus": { get: ok },
        "/pet/{petId}": { delete: ok, post: ok, get: ok, parameters: [], summary: "a pet" },
        "/pet/{petId}/uploadImage": { post: ok },
        "/store/order/{orderId}": { trace: ok, options: ok, head: ok, patch: ok },
        // Java's greedy \{[^/]*} takes a segment's first { to its last }.
        "/files/{name}.{ext}/v{n}x": { get: ok },
      },
    };
    expect(generatedEndpoints(doc)).to.deep.equal([
      { method: "PUT", path: "/pet" },
      { method: "POST", path: "/pet" },
      { method: "GET", path: "/pet/findByStatus" },
      { method: "GET", path: "/pet/*" },
      { method: "POST", path: "/pet/*" },
      { method: "DELETE", path: "/pet/*" },
      { method: "POST", path: "/pet/*/uploadImage" },
      { method: "PATCH", path: "/store/order/*" },
      { method: "HEAD", path: "/store/order/*" },
      { method: "OPTIONS", path: "/store/order/*" },
      { method: "TRACE", path: "/store/order/*" },
      { method: "GET", path: "/files/*/v*x" },
    ]);
  });

  it("generates none from a document without paths", () => {
    expect(generatedEndpoints({ openapi: "3.0.0" })).to.deep.equal([]);
    expect(generatedEndpoints("not a document")).to.deep.equal([]);
  });

  it("takes endpoints added by hand to a REST service, refusing what X-Road's admin refuses", () => {
    const compiled = compileService(
      "EE/GOV/1/sub/svc",
      { url: "http://127.0.0.1:1/svc", endpoints: [{ method: "GET", path: "/a/*" }] },
      1000,
    );
    expect(compiled)
      .to.have.property("endpoints")
      .that.deep.equals([{ method: "GET", path: "/a/*" }]);
    const problems = compileService(
      "EE/GOV/1/sub/svc",
      {
        url: "http://127.0.0.1:1/svc",
        endpoints: [
          { method: "get", path: "/a" },
          { method: "CONNECT", path: "/a" },
          { method: "*", path: "" },
        ],
      },
      1000,
    );
    expect(problems).to.be.an("array").with.length(3);
    expect(
      compileService(
        "EE/GOV/1/sub/q",
        { url: "http://127.0.0.1:1/q", type: "soap", endpoints: [{ method: "GET", path: "/" }] },
        1000,
      ),
    ).to.deep.equal(["service EE/GOV/1/sub/q: endpoints are a REST service's"]);
  });

  it("reads endpoints from the configuration file", () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sluice-sim-endpoints-"));
    try {
      const file = path.join(dir, "xroad-sim.yaml");
      writeFileSync(
        file,
        "services:\n  EE/GOV/1/sub/svc:\n    url: http://127.0.0.1:1/svc\n" +
          "    endpoints:\n      - { method: GET, path: /school }\n",
      );
      expect(loadSimConfig(file, {}).services?.["EE/GOV/1/sub/svc"]?.endpoints).to.deep.equal([
        { method: "GET", path: "/school" },
      ]);
      writeFileSync(
        file,
        "services:\n  EE/GOV/1/sub/svc:\n    url: http://127.0.0.1:1/svc\n    endpoints: /school\n",
      );
      expect(() => loadSimConfig(file, {})).to.throw(
        /services\.EE\/GOV\/1\/sub\/svc\.endpoints must be a list/,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
