// An adapter killed between writing a message's record and the broker's confirm leaves a
// record the broker may never have got. Its caller, told nothing, resubmits with the same
// X-Road id: the adapter that takes the resubmission publishes the request itself (found by
// the SIGKILL-adapter run of `npm run chaos`, where such a message was acknowledged and lost).

import { expect } from "chai";
import { randomUUID } from "node:crypto";
import { call, Harness, untilState } from "../support/harness";
import { transactionMeta } from "../support/messages";

describe("a submission whose adapter died before the broker's confirm", function () {
  this.timeout(60_000);
  const harness = Harness.suite({
    config: {
      services: { order: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json" } },
    },
    roles: [{ role: "all", as: "sluice" }],
  });
  const store = harness.store(86_400_000);
  const client = "EE/GOV/70000001/case-app";
  const { roles } = harness;

  /** The caller's resubmission of `xroadId` (body `{ n }`). */
  const resubmit = (xroadId: string, n: number) =>
    call(`${roles.sluice.url}/rest/order`, {
      body: JSON.stringify({ n }),
      headers: { "X-Road-Id": xroadId },
      client,
    });
  const completed = (id: string) =>
    untilState(roles.sluice, id, ["completed"], 20_000, "the orphaned message to complete");

  /** The record a killed adapter leaves: written, never published, older than the confirm deadline. */
  async function orphan(xroadId: string, createdAt = Date.now() - 60_000): Promise<string> {
    const meta = transactionMeta({ xroadId, service: "order", backend: "sim", client, createdAt });
    const created = await store.create(meta);
    expect(created.created).to.equal(true);
    return meta.id;
  }

  it("is published by the resubmission's adapter under the same id and processed once", async () => {
    const xroadId = `orphan-${randomUUID()}`;
    const id = await orphan(xroadId);
    const answer = await resubmit(xroadId, 1);
    expect(answer.status, answer.text).to.equal(202);
    expect(answer.json.id).to.equal(id);
    await completed(id);
    // Resubmitted again once published: the same 202, no second publish, no second call.
    const again = await resubmit(xroadId, 1);
    expect(again.status).to.equal(202);
    expect(again.json.id).to.equal(id);
    expect((await store.get(id))?.published).to.equal(true);
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(harness.sim.calls({ id })).to.have.length(1);
    expect(
      roles.sluice.lines.some((l) => l.id === id && /never confirmed/.test(String(l.msg))),
    ).to.equal(true);
  });

  it("is published by the resubmission's adapter when the dead adapter's clock ran ahead", async () => {
    // Its record says it was made an hour from now. Its age is Redis's to tell: judged by the
    // record's time, a resubmission would wait that hour for a confirm that never comes.
    const xroadId = `orphan-${randomUUID()}`;
    const id = await orphan(xroadId, Date.now() + 3_600_000);
    // Older than the confirm deadline (adapter.publishTimeout 5 s + 1 s) by Redis's clock.
    await new Promise((resolve) => setTimeout(resolve, 6_500));
    const answer = await resubmit(xroadId, 4);
    expect(answer.status, answer.text).to.equal(202);
    expect(answer.json.id).to.equal(id);
    await completed(id);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("is published by a resubmission that finds another adapter's adoption unconfirmed", async () => {
    // Another adapter took the publish over, and its publish failed (its caller was told 503):
    // a resubmission answered 202 at once would have its caller stop resubmitting a message
    // the broker never got.
    const xroadId = `orphan-${randomUUID()}`;
    const id = await orphan(xroadId);
    expect(await store.adopt(id, "an-adapter-whose-publish-failed", 60_000)).to.equal(true);
    const answer = await resubmit(xroadId, 2);
    expect(answer.status, answer.text).to.equal(202);
    expect(answer.json.id).to.equal(id);
    expect((await store.get(id))?.published, "published before the 202").to.equal(true);
    await completed(id);
    expect(harness.sim.calls({ id })).to.have.length(1);
  });

  it("is refused (503), not acknowledged, when its record goes while another adapter's adoption is awaited", async () => {
    // The first submission was refused to its caller meanwhile (its undo ran late, after its
    // create went unanswered, or its record otherwise went): nobody will publish it, so a 202
    // for its id would acknowledge a message that is lost.
    const xroadId = `orphan-${randomUUID()}`;
    const id = await orphan(xroadId);
    expect(await store.adopt(id, "an-adapter-still-publishing", 60_000)).to.equal(true);
    const answering = resubmit(xroadId, 3);
    // The resubmission now waits for that adoption's publish (until it is stale).
    await new Promise((resolve) => setTimeout(resolve, 500));
    await harness.redis().del(store.key(id));
    const answer = await answering;
    expect(answer.status, answer.text).to.equal(503);
    expect(answer.json.type).to.equal("Busy");
    expect(harness.sim.calls({ id })).to.have.length(0);
  });
});
