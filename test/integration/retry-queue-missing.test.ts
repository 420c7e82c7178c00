// A retry whose delay queue is gone (deleted by an operator, a policy, a half-applied upgrade):
// the broker drops an unroutable copy yet confirms it, so the worker must not ack the delivery
// on that confirm. Real broker and Redis, the backend answering 503.

import type { ConfirmChannel } from "amqplib";
import { expect } from "chai";
import pino from "pino";
import { Writable } from "node:stream";
import { declareBackendTopology } from "../../shared/broker/topology";
import { HEADERS } from "../../shared/protocol/names";
import { BackendUnavailableError, type BackendResponse } from "../../shared/protocol/errors";
import { whenReady } from "../../shared/store/redis";
import type { Translator } from "../../worker/translators/translator";
import { type BrokerSide, connectBroker, processorFor, testScope } from "../support/broker-scope";
import { acceptedRequest, transactionMeta, requestMessage, deliveryOf } from "../support/messages";

const PARK_RETRYING = "could not park the message for its retry; retrying the publish";

/** A logger that resolves `heard` once a line with the given message is written. */
function listeningLog(msg: string) {
  let hear!: () => void;
  const heard = new Promise<void>((resolve) => (hear = resolve));
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if ((JSON.parse(chunk.toString()) as { msg?: string }).msg === msg) hear();
      done();
    },
  });
  return { log: pino({ level: "warn" }, sink), heard };
}

describe("a retry whose delay queue is missing (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("retry-queue-missing-test");
  const { config, names, redis, store } = scope;
  const backend = config.backends.b;
  const shutdown = new AbortController();
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBroker(scope);
  });
  after(async () => {
    shutdown.abort();
    await amqp?.close().catch(() => undefined);
    await scope.close();
  });

  it("keeps the delivery and parks the copy once the queue is back, instead of acking a dropped copy", async () => {
    const retryQueue = names.retryQueue("b", backend.retry.backoffMs[0]);
    await amqp.channel.deleteQueue(retryQueue);
    const { request, delivery } = await acceptedRequest(store);
    const calls: string[] = [];
    const translator: Translator = {
      call: async (): Promise<BackendResponse[]> => {
        calls.push(request.id);
        throw new BackendUnavailableError("backend b answered 503");
      },
    };
    const { log, heard } = listeningLog(PARK_RETRYING);
    const processor = processorFor(scope, amqp, { translator, log, shutdown: shutdown.signal });
    const settling = processor.process(delivery);
    // Acked on the confirm of a dropped copy, the message would be gone: the record back at
    // accepted and nothing queued anywhere to bring it back.
    const first = await Promise.race([
      settling.then((settlement) => `settled ${String(settlement)} with no queue to take the copy`),
      heard.then(() => "publish retried"),
    ]);
    expect(first).to.equal("publish retried");
    // The queue declared again (as a restarted role would), the copy is parked and only then acked.
    await declareBackendTopology(amqp.channel as unknown as ConfirmChannel, names, backend);
    expect(await settling).to.equal("ack");
    expect(calls).to.have.length(1);
    const parked = await amqp.channel.get(retryQueue, { noAck: true });
    expect(parked && parked.properties.messageId).to.equal(request.id);
    expect(parked && parked.properties.headers?.[HEADERS.attempt]).to.equal(2);
    const seen = await store.peek(request.id);
    expect(seen && seen !== "refused" && seen.state).to.equal("accepted");
  });

  it("hands back a copy claimed by another worker when its parking queue is missing, instead of acking it", async () => {
    const parkQueue = names.retryQueue("b", Math.min(...backend.retry.backoffMs));
    await amqp.channel.deleteQueue(parkQueue);
    const meta = transactionMeta();
    await store.create(meta);
    // Another worker holds the claim: the copy is to be parked until that claim ends.
    await store.transition(meta.id, ["accepted"], "processing", { claimMs: 60_000 });
    const request = requestMessage({ id: meta.id, createdAt: meta.createdAt });
    const delivery = deliveryOf(request);
    const processor = processorFor(scope, amqp, {
      translator: { call: async () => [] },
      shutdown: shutdown.signal,
    });
    // Thrown, the consumer keeps the delivery and handles it again; acked, it would be gone.
    const outcome = await processor.process(delivery).then(
      (settlement) => `settled ${String(settlement)}`,
      (error: Error) => `failed: ${error.message}`,
    );
    expect(outcome).to.equal("failed: no queue took the message (topology missing)");
    await declareBackendTopology(amqp.channel as unknown as ConfirmChannel, names, backend);
  });
});
