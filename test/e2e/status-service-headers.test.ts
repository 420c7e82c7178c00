// The status service's OpenAPI document (`/openapi/messages`) is what an operator registers at the
// security server and what a consumer generates its client from: each answer of the status
// service names there every header the answer carries. A security server always sends X-Road-Id,
// and every answer echoes it (docs/rest.md), status, cancel and hub answers included.

import { expect } from "chai";
import { randomBytes } from "node:crypto";
import { Harness, START_TIMEOUT_MS } from "../support/harness";
import { freshConnectionPerFetch } from "../support/fresh-connections";

const CLIENT = "EE/GOV/70000001/consumer";
/** The headers of Sluice's own making that a document must name when an answer carries them. */
const OWN_HEADERS = ["x-road-id", "x-sluice-id", "x-sluice-state", "location", "retry-after"];

type Operation = { responses: Record<string, { headers?: Record<string, unknown> }> };

describe("status service: each answer's headers are the ones its OpenAPI document names (e2e)", function () {
  freshConnectionPerFetch();
  this.timeout(2 * START_TIMEOUT_MS);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("GET and DELETE of a message, hub registration and removal: X-Road-Id and X-Sluice-Id as documented", async () => {
    harness.writeConfig({
      services: {
        personSearch: { protocols: ["rest"], reply: { mode: "ack" }, backend: "legacy" },
      },
      // No worker runs: the message stays accepted, so it can be cancelled.
      backends: { legacy: { translator: "rest-json", url: "http://127.0.0.1:9" } },
      callbacks: {
        allow: ["http://127.0.0.1:9/hooks/"],
        allowHttp: true,
        allowPrivate: true,
        secret: `whsec_${randomBytes(32).toString("base64")}`,
      },
    });
    const adapter = await harness.spawn("adapter");
    const base = `http://127.0.0.1:${adapter.port}`;
    const doc = (await (await fetch(`${base}/openapi/messages`)).json()) as {
      paths: Record<string, Record<string, Operation>>;
    };
    const call = (method: string, path: string, xroadId: string, body?: string) =>
      fetch(`${base}${path}`, {
        method,
        headers: {
          "x-road-client": CLIENT,
          "x-road-id": xroadId,
          ...(body ? { "content-type": "application/json" } : {}),
        },
        body,
      });
    /** Every header of Sluice's own the answer carries, missing from its documented response. */
    const undocumented = (answer: Response, path: string, method: string): string[] => {
      const documented = doc.paths[path][method].responses[String(answer.status)];
      expect(documented, `${method} ${path} ${answer.status} is documented`).to.not.equal(
        undefined,
      );
      const names = Object.keys(documented.headers ?? {}).map((name) => name.toLowerCase());
      return OWN_HEADERS.filter((name) => answer.headers.has(name) && !names.includes(name));
    };

    const accepted = await call("POST", "/rest/personSearch", "x-1", "{}");
    expect(accepted.status).to.equal(202);
    const { id } = (await accepted.json()) as { id: string };

    const status = await call("GET", `/rest/messages/${id}`, "x-2");
    expect(status.status).to.equal(200);
    expect(status.headers.get("x-road-id")).to.equal("x-2");
    expect(undocumented(status, "/{id}", "get")).to.deep.equal([]);

    const cancelled = await call("DELETE", `/rest/messages/${id}`, "x-3");
    expect(cancelled.status).to.equal(200);
    expect(cancelled.headers.get("x-road-id")).to.equal("x-3");
    expect(undocumented(cancelled, "/{id}", "delete")).to.deep.equal([]);

    const registered = await call(
      "POST",
      "/rest/messages/hub",
      "x-4",
      JSON.stringify({ callback: "http://127.0.0.1:9/hooks/events" }),
    );
    expect(registered.status).to.equal(201);
    expect(registered.headers.get("x-road-id")).to.equal("x-4");
    expect(undocumented(registered, "/hub", "post")).to.deep.equal([]);
    const { id: hubId } = (await registered.json()) as { id: string };

    const removed = await call("DELETE", `/rest/messages/hub/${hubId}`, "x-5");
    expect(removed.status).to.equal(204);
    expect(removed.headers.get("x-road-id")).to.equal("x-5");
    expect(undocumented(removed, "/hub/{hubId}", "delete")).to.deep.equal([]);
    await adapter.stop();
  });
});
