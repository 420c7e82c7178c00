// A REST service's OpenAPI document (`/openapi/<serviceCode>`) is what an operator registers at
// the security server and what a consumer generates its client from: each answer a waiting caller
// gets is described there with the headers of Sluice's own it carries. A waiting caller gets the
// backend's answer with its own status (docs/rest.md, sync) and `Preference-Applied` when it sent
// `Prefer: wait=N`; an outcome without a backend answer (502, 504, 409) carries the message's
// state and the applied preferences as the backend's answer does (docs/semantics.md).

import { expect } from "chai";
import { call, Harness } from "../support/harness";

type Responses = Record<string, { headers?: Record<string, unknown> }>;

describe("REST service description: a waiting caller's answers as documented (e2e)", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0 },
    config: {
      services: { lookup: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { retry: { attempts: 1 } } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  /** The documented response for `status` (or the document's `default`), with its headers. */
  const documented = (responses: Responses, status: number) =>
    responses[String(status)] ?? responses.default;
  const undocumented = (answer: Headers, headers: Record<string, unknown> = {}) => {
    const names = Object.keys(headers).map((name) => name.toLowerCase());
    return ["x-road-id", "x-sluice-id", "x-sluice-state", "preference-applied"].filter(
      (name) => answer.has(name) && !names.includes(name),
    );
  };

  it("the backend's 200, its refusal (404) and a failure (502) to Prefer: wait=N: described with X-Sluice-State and Preference-Applied", async () => {
    const doc = (await (await fetch(`${roles.sluice.url}/openapi/lookup`)).json()) as {
      paths: Record<string, Record<string, { responses: Responses }>>;
    };
    const responses = doc.paths["/{path}"].post.responses;
    for (const [xroadId, extra, status] of [
      ["wait-ok", {}, 200],
      ["wait-refused", { "X-Sim-Status": "404" }, 404],
      ["wait-failed", { "X-Sim-Status": "500" }, 502],
    ] as const) {
      const answer = await call(`${roles.sluice.url}/rest/lookup/item`, {
        body: "{}",
        headers: { Prefer: "wait=10", "X-Road-Id": xroadId, ...extra },
      });
      expect(answer.status, answer.text).to.equal(status);
      expect(answer.headers.get("preference-applied")).to.equal("wait=10");
      const response = documented(responses, status);
      expect(response, `${status} is documented`).to.not.equal(undefined);
      expect(undocumented(answer.headers, response.headers), `${status}`).to.deep.equal([]);
    }
  });
});
