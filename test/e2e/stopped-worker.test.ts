// A worker process stopped (SIGSTOP) while it holds a message, past its claim's lease, and then
// continued: another worker has taken the message over and called the backend meanwhile. The
// stopped one, back, must learn that it lost the claim and must not call the backend a second
// time, nor free the other's claim for a third copy. Real processes, the real broker and Redis;
// every wait is for an observable state.

import { expect } from "chai";
import * as amqplib from "amqplib";
import Redis from "ioredis";
import { requestCodec } from "../../shared/protocol/codec";
import { topologyNames } from "../../shared/protocol/names";
import { redisKeys } from "../../shared/protocol/redis-keys";
import { TransactionStore } from "../../shared/store/transaction-store";
import {
  AMQP_URL,
  call,
  eventually,
  Harness,
  REDIS_URL,
  type SluiceProcess,
} from "../support/harness";
import { requestMessage } from "../support/messages";

/** A harness with adapter and response worker for backend `sim` as `backend` configures it. */
function stoppedWorkerScope(backend: Record<string, unknown>) {
  const harness = new Harness();
  const scope = {
    harness,
    adapter: undefined as unknown as SluiceProcess,
    store: undefined as unknown as TransactionStore,
  };
  let redis: Redis | undefined;

  before(async function () {
    this.timeout(240_000);
    await harness.startSim({ latencyMs: 20 });
    harness.writeConfig({
      services: { file: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
      backends: { sim: { translator: "rest-json", ...backend } },
    });
    redis = new Redis(REDIS_URL);
    scope.store = new TransactionStore(redis, harness.prefix, 86_400_000);
    await harness.spawn("response-worker");
    scope.adapter = await harness.spawn("adapter");
  });
  after(async () => {
    redis?.disconnect();
    await harness.cleanup();
  });

  const submit = async () => {
    const answer = await call(`${scope.adapter.url}/rest/file`, { body: "{}" });
    expect(answer.status).to.equal(202);
    return answer.json.id as string;
  };
  const stateOf = async (id: string) =>
    (await call(`${scope.adapter.url}/messages/${id}`)).json.state as string;
  const callsOf = (id: string) => harness.sim.stats({ id }).calls.length;

  /**
   * Publishes copies of message `id`'s request into its queue, as a duplicate publish would
   * (docs/semantics.md: a processed id is never processed again): the stopped worker cannot take
   * more than its prefetch, so the running one gets at least one.
   */
  async function publishCopies(id: string, count: number): Promise<void> {
    const tx = await scope.store.get(id);
    if (!tx) throw new Error(`no record for ${id}`);
    const copy = requestMessage({
      id,
      xroadId: tx.xroadId,
      service: tx.service,
      backend: tx.backend,
      client: tx.client,
      protocol: tx.protocol,
      replyMode: tx.replyMode,
      createdAt: tx.createdAt,
      expiresAt: tx.expiresAt,
      path: "",
    });
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createConfirmChannel();
      for (let i = 0; i < count; i++) {
        channel.sendToQueue(
          topologyNames(harness.prefix).requestsQueue("sim"),
          requestCodec.encode(copy),
          { messageId: id, persistent: true, contentType: "application/json" },
        );
      }
      await channel.waitForConfirms();
    } finally {
      await connection.close();
    }
  }

  /** The first line `worker` logged about message `id` whose `msg` `matches`. */
  const settlementOf = (worker: SluiceProcess, id: string, matches: (msg: string) => boolean) =>
    eventually(
      async () => worker.lines.find((line) => line.id === id && matches(String(line.msg))),
      60_000,
      "the stopped worker's settlement of its copy",
    );

  /**
   * Makes backend `sim`'s next rate token due now: its GCRA state (one Redis key) is deleted, so
   * the first worker to ask gets it and the next waits a whole interval again.
   */
  const grantToken = async () => {
    await redis!.del(redisKeys(harness.prefix).rate("sim"));
  };

  return { scope, submit, stateOf, callsOf, publishCopies, settlementOf, grantToken };
}

describe("a worker stopped past its claim's lease before its call, then continued", function () {
  this.timeout(120_000);
  // A claim lasts 1 s + 5 s without renewal. One call per 10 minutes: a message claimed after a
  // call waits for its rate token, holding its claim, until the test grants one (`grantToken`),
  // so the worker is stopped while it waits however slow the machine, and for no longer than
  // the other worker takes to call.
  const { scope, submit, stateOf, callsOf, publishCopies, settlementOf, grantToken } =
    stoppedWorkerScope({
      timeout: "1s",
      maxInFlight: 2,
      rate: { limit: 1, per: "10m", burst: 0 },
      retry: { attempts: 3, backoff: ["200ms"] },
    });

  it("does not call the backend for a message another worker took over and called meanwhile", async () => {
    const first = await scope.harness.spawn("worker");
    // A call takes the rate token: the next message waits for the next one, claimed.
    const opener = await submit();
    await eventually(async () => (await stateOf(opener)) === "completed" || undefined, 60_000);
    const id = await submit();
    await eventually(async () => (await stateOf(id)) === "processing" || undefined, 60_000);
    // Started before the stop, so the time stopped is not a process start's: stopped past the
    // broker's heartbeat, the worker's connection would be closed and its message requeued.
    // Nothing is queued for it yet: the message is the first worker's, unacknowledged.
    await scope.harness.spawn("worker");
    expect(callsOf(id)).to.equal(0);

    process.kill(first.child.pid!, "SIGSTOP");
    let continued = false;
    try {
      // The other worker gets copies of the message; once the stopped worker's claim lapsed it
      // takes the message over, takes the token granted here and calls the backend.
      await publishCopies(id, 3);
      await grantToken();
      await eventually(async () => (await stateOf(id)) === "completed" || undefined, 60_000);
      expect(callsOf(id)).to.equal(1);
      // The continued worker's wait ends with a token too, and its last look comes.
      await grantToken();
      process.kill(first.child.pid!, "SIGCONT");
      continued = true;

      // The first worker, continued, goes on with its copy until it settles it one way or the
      // other: dropped (it lost the claim) or called.
      const settled = await settlementOf(
        first,
        id,
        (msg) => msg.startsWith("claim taken over") || msg === "backend answered",
      );
      expect(settled.msg).to.match(/^claim taken over by another worker/);
      expect(callsOf(id)).to.equal(1);
      expect(await stateOf(id)).to.equal("completed");
      const record = await scope.store.get(id);
      expect(record?.responses.map((r) => r.outcome)).to.deep.equal(["completed"]);
    } finally {
      if (!continued) process.kill(first.child.pid!, "SIGCONT");
    }
  });
});

describe("a worker stopped past its claim's lease during its call, then continued", function () {
  this.timeout(120_000);
  // A claim lasts 3 s + 5 s without renewal; a failed call is retried after 200 ms.
  const { scope, submit, stateOf, callsOf, publishCopies, settlementOf } = stoppedWorkerScope({
    timeout: "3s",
    maxInFlight: 3,
    retry: { attempts: 3, backoff: ["200ms"] },
  });

  it("neither parks a retry nor frees the claim of the worker that took the message over", async () => {
    const { harness } = scope;
    const first = await harness.spawn("worker");
    // The first call gets no answer before the stopped worker's deadline.
    harness.sim.update({ latencyMs: 60_000 });
    const id = await submit();
    await eventually(async () => callsOf(id) === 1 || undefined);
    process.kill(first.child.pid!, "SIGSTOP");
    let continued = false;
    try {
      harness.sim.update({ latencyMs: 2_000 });
      await harness.spawn("worker");
      await publishCopies(id, 3);
      // The second call: the one a call in flight past its lease costs (docs/reliability.md).
      await eventually(async () => callsOf(id) === 2 || undefined, 60_000);
      process.kill(first.child.pid!, "SIGCONT");
      continued = true;

      // Continued, the first worker's call is past its deadline: a failure to retry. Its retry
      // copy, parked and the other worker's claim freed, would be called beside the second call.
      const settled = await settlementOf(
        first,
        id,
        (msg) => msg.startsWith("claim taken over") || msg.includes("retry scheduled"),
      );
      await eventually(async () => (await stateOf(id)) === "completed" || undefined, 60_000);
      expect(callsOf(id)).to.equal(2);
      expect(settled.msg).to.equal("claim taken over by another worker; no retry");
      const record = await scope.store.get(id);
      expect(record?.responses.map((r) => r.outcome)).to.deep.equal(["completed"]);
    } finally {
      if (!continued) process.kill(first.child.pid!, "SIGCONT");
      harness.sim.update({ latencyMs: 20 });
    }
  });
});
