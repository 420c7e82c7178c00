// A JSON body naming one member twice in an object: JSON.parse (and so the schema check) reads
// the last value, while the body reaches the backend as sent and its parser may read the first.
// Such a body is refused with 400 InvalidJson at intake, whatever the schema; nothing is kept.

import { expect } from "chai";
import { call, eventually, Harness } from "../support/harness";

const SCHEMA = {
  type: "object",
  required: ["amount"],
  properties: { amount: { type: "integer", maximum: 100 } },
};

describe("JSON bodies with a member name twice (adapter)", function () {
  this.timeout(90_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0, recordDetails: true },
    config: {
      services: {
        payment: { protocols: ["rest"], schema: SCHEMA, reply: { mode: "ack" }, backend: "sim" },
        notes: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" },
      },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: ["all"],
  });
  const post = (service: string, body: string) =>
    call(`${harness.roles.all.url}/rest/${service}`, { body });

  it("is 400 InvalidJson naming the name, and never reaches the backend", async () => {
    for (const [service, body, name] of [
      // The schema allows 5, a backend reading the first value gets 100000.
      ["payment", '{"amount":100000,"amount":5}', "amount"],
      // The same name written with an escape.
      ["payment", '{"amount":5,"\\u0061mount":100000}', "amount"],
      ["payment", '{"amount":5,"meta":[{"x":1},{"k":1,"k":2}]}', "k"],
      ["notes", '{"text":"a","text":"b"}', "text"],
    ]) {
      const answer = await post(service, body);
      expect(answer.status, body).to.equal(400);
      const json = answer.json as { type: string; message: string };
      expect(json.type, body).to.equal("InvalidJson");
      expect(json.message, body).to.include(`"${name}"`);
    }
  });

  it("the same name in different objects, or in a string, is no duplicate: accepted and delivered", async () => {
    const body = '{"amount":5,"meta":[{"k":1},{"k":2}],"note":"\\"amount\\":1,","x":{"amount":7}}';
    const answer = await post("payment", body);
    expect(answer.status).to.equal(202);
    const id = answer.headers.get("x-sluice-id") as string;
    const [delivered] = await eventually(async () => {
      const calls = harness.sim.calls({ id });
      return calls.length ? calls : undefined;
    });
    expect(delivered.body?.toString("utf8")).to.equal(body);
    // Only that one: none of the refused bodies was kept and sent.
    expect(harness.sim.calls()).to.have.length(1);
  });
});
