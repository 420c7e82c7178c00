// A translator that fails on a message: the caller's status document says what it may conclude
// (failed, not retried, the backend may have seen it, the reason is with the provider's
// operator) without the translator's own words, which stay in the dead letter for the operator.

import { expect } from "chai";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { call, eventually, Harness, type SluiceProcess } from "../support/harness";

/** Text a translator's error may hold that the calling organisation must never read. */
const INTERNAL = "connect to db.internal:5432 as sluice:hunter2 failed";

describe("a translator that fails on a message", function () {
  this.timeout(60_000);
  const harness = new Harness();
  let all: SluiceProcess;

  before(async () => {
    await harness.startSim();
    const module = path.join(harness.dir, "failing-translator.js");
    writeFileSync(
      module,
      "module.exports = { createTranslator: () => ({ async call() { " +
        `throw new Error(${JSON.stringify(INTERNAL)}); } }) };\n`,
    );
    harness.writeConfig({
      services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "custom" } },
      backends: { custom: { translator: module } },
    });
    all = await harness.spawn("all");
  });
  after(() => harness.cleanup());

  it("tells the caller what it may conclude, and the operator why", async () => {
    const accepted = await call(`${all.url}/rest/report`, { body: JSON.stringify({ n: 1 }) });
    expect(accepted.status, accepted.text).to.equal(202);
    const id = accepted.json.id as string;
    const status = await eventually(async () => {
      const answer = await call(`${all.url}/messages/${id}`);
      return answer.json.state === "failed" ? answer : undefined;
    });
    expect(status.json.error).to.deep.equal({
      code: "BackendFailed",
      message:
        "the message could not be translated for the backend, or the backend's answer for you: " +
        "not retried, and the backend may or may not have received it; the operator of this " +
        "gateway has the reason under this message's id",
    });
    expect(status.text).not.to.include("hunter2");

    const deadLetter = await eventually(async () => {
      const answer = await call(`${all.adminUrl}/admin/dead-letters/${id}`, {
        client: null,
        headers: harness.adminHeaders(),
      });
      return answer.status === 200 ? answer : undefined;
    });
    expect(deadLetter.json).to.include({ id, reason: "translator_error", error: INTERNAL });
  });
});
