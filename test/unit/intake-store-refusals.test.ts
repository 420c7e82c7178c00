// sluice_backpressure_rejections_total for the 503s the intake meets after the checks passed:
// a Redis command that fails under the request is counted under redis_down, and a resubmission
// whose first submission was refused a moment ago under just_refused, each once, as
// sluice_requests_total counts them. Intake over a stub of the store, with a real Backpressure.

import { expect } from "chai";
import pino from "pino";
import { rejectionOf } from "../support/rejection";
import { Backpressure, type BrokerState, type DepthSource } from "../../adapter/backpressure";
import { Intake, type IntakeDeps, type Submission } from "../../adapter/intake";
import { SyncWaiters } from "../../adapter/sync-waiters";
import type { BackendConfig, ServiceConfig } from "../../shared/config/config";
import type { QueueSample } from "../../shared/broker/queue-monitor";
import { metrics } from "../../shared/observability/metrics";
import { SluiceError } from "../../shared/protocol/errors";

const CLIENT = "EE/GOV/1/a";
const backend = {
  name: "legacy",
  rate: null,
  ordering: undefined,
  queue: { highWater: 100, maxLength: 1000, clientShare: 1 },
} as unknown as BackendConfig;
const service = { code: "echo", backend: "legacy", expireAfterMs: null } as ServiceConfig;

/** What ioredis fails a command with when its connection is gone. */
const REDIS_GONE = (): Error => new Error("Connection is closed.");

class Stubs implements BrokerState, DepthSource {
  blocked: string | null = null;
  isConnected(): boolean {
    return true;
  }
  get(): QueueSample | undefined {
    return { depth: 0, consumers: 1, at: 0, drainRate: null };
  }
  estimatedDepth(): number {
    return 0;
  }
  notePublished(): void {}
  noteUnrouted(): void {}
  isMissing(): boolean {
    return false;
  }
}

async function counted(): Promise<Record<string, number>> {
  const { values } = await metrics.backpressureRejections.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

describe("Intake: a 503 met after the checks passed is counted once, by its cause", () => {
  let waiters: SyncWaiters;
  let intake: Intake;
  /** What the store's create does: a new record, an earlier one's id, or a failure. */
  let create: () => Promise<unknown>;
  /** What the store's read of a record does. */
  let get: () => Promise<unknown>;
  let published = 0;

  const submission = (): Submission => ({
    service,
    protocol: "rest",
    client: CLIENT,
    xroadId: "x-1",
    replyMode: "ack",
    waitMs: 0,
    callback: null,
    request: {
      method: "POST",
      path: "",
      query: "",
      xroadHeaders: {},
      headers: {},
      contentType: "application/json",
      body: '{"a":1}',
      bodyEncoding: "utf8",
    },
  });

  beforeEach(() => {
    metrics.backpressureRejections.reset();
    waiters = new SyncWaiters(10);
    published = 0;
    create = () => Promise.resolve({ created: true });
    get = () => Promise.resolve(null);
    const stubs = new Stubs();
    const backpressure = new Backpressure(stubs, stubs, {
      requestsQueue: (name) => `requests.${name}`,
    });
    const store = {
      create: () => create(),
      get: () => get(),
      discard: () => Promise.resolve("discarded"),
      notePublished: () => undefined,
    };
    const broker = {
      publish: () => {
        published++;
        return Promise.resolve();
      },
      maxMessageBytes: null,
    };
    intake = new Intake({
      broker,
      publisher: {},
      store,
      waiters,
      backpressure,
      names: { requestsExchange: "requests" },
      backends: { legacy: backend },
      instanceId: "a-1",
      maxMessageBytes: 16 * 1024 * 1024,
      publishTimeoutMs: 1000,
      log: pino({ level: "silent" }),
    } as unknown as IntakeDeps);
  });

  afterEach(() => waiters.releaseAll());

  it("Redis failing the record's create is answered 503 Unavailable, counted once under redis_down", async () => {
    create = () => Promise.reject(REDIS_GONE());
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Unavailable");
    expect(await counted()).to.deep.equal({ redis_down: 1 });
    expect(published).to.equal(0);
  });

  it("Redis failing a resubmission's read of its first submission is answered 503 Unavailable, counted once under redis_down", async () => {
    create = () => Promise.resolve({ created: false, existingId: "m-first" });
    get = () => Promise.reject(REDIS_GONE());
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Unavailable");
    expect(await counted()).to.deep.equal({ redis_down: 1 });
  });

  it("a resubmission whose first submission was refused (its record gone) is answered 503 Busy, counted once under just_refused", async () => {
    create = () => Promise.resolve({ created: false, existingId: "m-first" });
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Busy");
    expect((error as SluiceError).message).to.match(/just refused/);
    expect(await counted()).to.deep.equal({ just_refused: 1 });
  });

  it("a bug in the store (not an outage) is no 503, and counted as no refusal", async () => {
    create = () => Promise.reject(new TypeError("undefined is not a function"));
    const error = await rejectionOf(intake.submit(submission()));
    expect(error).to.not.be.instanceOf(SluiceError);
    expect(await counted()).to.deep.equal({});
  });
});
