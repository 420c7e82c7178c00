// The SOAP status operation and the consumer direction: a SOAP read cannot be told from a local
// one (a security server sends SOAP providers no X-Road-Request-Id), so it never finds a
// consumer-direction message, as a REST read through a security server does not. Real Redis,
// under a prefix of its own removed afterwards.

import { randomUUID } from "node:crypto";
import { expect } from "chai";
import Redis from "ioredis";
import pino from "pino";
import { soapStatusContent } from "../../adapter/soap/soap-status";
import { readOwnStatus, type StatusRouteDeps } from "../../adapter/status-route";
import { SluiceError } from "../../shared/protocol/errors";
import { TransactionStore } from "../../shared/store/transaction-store";
import { REDIS_URL } from "../support/harness";
import { transactionMeta } from "../support/messages";

const CLIENT = "EE/GOV/70000001/shared";
/** The backend that calls another organisation's service (an xroad-rest one in a deployment). */
const REMOTE = "remote-registry";

describe("SOAP status operation and the consumer direction (real Redis)", () => {
  const prefix = `t-${randomUUID().slice(0, 8)}.`;
  let redis: Redis;
  let deps: StatusRouteDeps;

  before(() => {
    redis = new Redis(REDIS_URL);
    deps = {
      store: new TransactionStore(redis, prefix, 60_000),
      log: pino({ level: "silent" }),
      pollAfter: () => 1,
      consumerDirection: (tx) => tx.backend === REMOTE,
    };
  });
  after(async () => {
    const keys = await redis.keys(`${prefix}*`);
    if (keys.length > 0) await redis.del(...keys);
    redis.disconnect();
  });

  const notFound = async (read: Promise<unknown>): Promise<SluiceError> => {
    const error = await read.then(
      () => null,
      (thrown: unknown) => thrown,
    );
    expect(error).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).code).to.equal("NotFound");
    return error as SluiceError;
  };

  it("answers a consumer-direction message of the caller's client id as an unknown one, as REST through a security server does", async () => {
    const consumer = transactionMeta({ client: CLIENT, backend: REMOTE, protocol: "soap" });
    const provided = transactionMeta({ client: CLIENT, backend: "legacy", protocol: "soap" });
    await deps.store.create(consumer);
    await deps.store.create(provided);
    const unknown = await notFound(soapStatusContent(deps, CLIENT, randomUUID()));
    const hidden = await notFound(soapStatusContent(deps, CLIENT, consumer.id));
    expect(hidden.message).to.equal(unknown.message);
    expect(hidden.details).to.deep.equal(unknown.details);
    // REST through a security server answers the same; the local system reads it at
    // /messages/<id>, its acknowledgement's statusUrl.
    await notFound(readOwnStatus(deps, CLIENT, consumer.id, false, true));
    expect((await readOwnStatus(deps, CLIENT, consumer.id, false)).tx.id).to.equal(consumer.id);
    // A provider-direction message is read over SOAP as ever.
    const { messageId } = await soapStatusContent(deps, CLIENT, provided.id);
    expect(messageId).to.equal(provided.id);
  });
});
