// A retry whose copy the broker did not confirm (the confirm lost, the connection up): the
// worker must not call the backend again at once. Real broker and Redis, the confirm of the
// retry copy dropped by a proxy, the delivery handled as the worker's consumer handles it.

import { expect } from "chai";
import pino from "pino";
import { patiently } from "../../shared/broker/patient-retry";
import { HEADERS } from "../../shared/protocol/names";
import { BackendUnavailableError, type BackendResponse } from "../../shared/protocol/errors";
import { whenReady } from "../../shared/store/redis";
import type { Translator } from "../../worker/translators/translator";
import {
  type BrokerSide,
  connectBrokerThrough,
  processorFor,
  testScope,
} from "../support/broker-scope";
import { AMQP_URL } from "../support/harness";
import { acceptedRequest } from "../support/messages";
import { confirmDropper, proxyTo } from "../support/tcp-proxy";

const log = pino({ level: "silent" });

describe("a retry whose publish the broker did not confirm (real broker and Redis)", function () {
  this.timeout(30_000);
  const scope = testScope("retry-publish-test");
  const { config, names, redis, store } = scope;
  const backend = config.backends.b;
  const confirms = confirmDropper();
  const proxy = proxyTo(AMQP_URL, () => ({ server: confirms.server() }));
  const shutdown = new AbortController();
  let amqp: BrokerSide;

  before(async () => {
    await whenReady(redis);
    amqp = await connectBrokerThrough(proxy, scope);
  });
  after(async () => {
    shutdown.abort();
    await amqp?.close().catch(() => undefined);
    await proxy.close();
    await scope.close();
  });

  it("calls the backend once: the copy is parked with the call counted, not handled again at once", async () => {
    const { request, delivery } = await acceptedRequest(store);
    const calls: string[] = [];
    // The backend is down; the confirm of the first retry copy is lost.
    const translator: Translator = {
      call: async (): Promise<BackendResponse[]> => {
        calls.push(request.id);
        if (calls.length === 1) confirms.arm();
        throw new BackendUnavailableError("backend b answered 503");
      },
    };
    // No hub listeners: no `processing` notice, whose confirm would be the one dropped.
    const processor = processorFor(scope, amqp, { translator, shutdown: shutdown.signal });
    // As the worker's consumer runs it: trouble thrown is tried again while holding the delivery.
    const settlement = await patiently(
      () => processor.process(delivery),
      log,
      () => true,
      3,
    );
    expect(confirms.dropped).to.equal(1);
    expect(settlement).to.equal("ack");
    expect(calls).to.have.length(1);
    // Parked for its backoff as attempt 2, the call counted; the claim released, marked called.
    const parked = await amqp.channel.get(names.retryQueue("b", backend.retry.backoffMs[0]), {
      noAck: true,
    });
    expect(parked && parked.properties.messageId).to.equal(request.id);
    expect(parked && parked.properties.headers?.[HEADERS.attempt]).to.equal(2);
    expect(parked && parked.properties.headers?.[HEADERS.calls]).to.equal(1);
    const seen = await store.peek(request.id);
    expect(seen && seen !== "refused" && seen.state).to.equal("accepted");
    expect(await store.wasCalled(request.id)).to.equal(true);
  });
});
