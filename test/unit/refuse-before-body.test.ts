// The intake's judgement from a request's head alone (Intake.refuseBeforeBody), on a real
// Backpressure and SyncWaiters over stubs of the broker, the queue monitor and the store: a
// refusal is thrown before the body is read, except for a request whose X-Road id names a
// persisted message, which is read and answered as its duplicate, as `submit` decides.

import { expect } from "chai";
import pino from "pino";
import { refusal, rejectionOf } from "../support/rejection";
import { Backpressure, type BrokerState, type DepthSource } from "../../adapter/backpressure";
import { Intake, type IntakeDeps } from "../../adapter/intake";
import { SyncWaiters } from "../../adapter/sync-waiters";
import type { BackendConfig, ServiceConfig } from "../../shared/config/config";
import type { QueueSample } from "../../shared/broker/queue-monitor";
import { SluiceError } from "../../shared/protocol/errors";

const CLIENT = "EE/GOV/1/a";

const backend = {
  name: "legacy",
  rate: null,
  queue: { highWater: 2, maxLength: 10, clientShare: 1 },
} as unknown as BackendConfig;
const service = { code: "echo", backend: "legacy" } as unknown as ServiceConfig;

class Stubs implements BrokerState, DepthSource {
  blocked: string | null = null;
  depth = 0;
  storeUp = true;
  /** The record `findByXroadId` finds, or null. */
  record: { id: string; published: boolean } | null = null;
  lookups = 0;
  isConnected(): boolean {
    return true;
  }
  get(): QueueSample | undefined {
    return { depth: this.depth, consumers: 1, at: 0, drainRate: null };
  }
  estimatedDepth(): number {
    return this.depth;
  }
  notePublished(): void {}
  noteUnrouted(): void {}
  isMissing(): boolean {
    return false;
  }
}

describe("Intake.refuseBeforeBody: a 503 judged from the request's head", () => {
  let stubs: Stubs;
  let waiters: SyncWaiters;
  let intake: Intake;

  beforeEach(() => {
    stubs = new Stubs();
    waiters = new SyncWaiters(1);
    const backpressure = new Backpressure(
      stubs,
      stubs,
      { requestsQueue: (name) => `requests.${name}` },
      { storeReady: () => stubs.storeUp },
    );
    const store = {
      findByXroadId: () => {
        stubs.lookups++;
        return Promise.resolve(stubs.record);
      },
    };
    intake = new Intake({
      backpressure,
      waiters,
      store,
      backends: { legacy: backend },
      publishTimeoutMs: 1000,
      log: pino({ level: "silent" }),
    } as unknown as IntakeDeps);
  });

  afterEach(() => waiters.releaseAll());

  it("refuses nothing below the mark, and makes no promise", () => {
    expect(intake.refuseBeforeBody(service, CLIENT, null, false)).to.equal(null);
    expect(intake.refuseBeforeBody(service, CLIENT, "x-1", true)).to.equal(null);
  });

  it("at the mark throws the 503 Busy at once for a request without an X-Road id", () => {
    stubs.depth = 2;
    const error = refusal(() => intake.refuseBeforeBody(service, CLIENT, null, false));
    expect(error.code).to.equal("Busy");
    expect(error.retryAfter).to.be.at.least(1);
    expect(stubs.lookups).to.equal(0);
  });

  it("at the mark refuses an X-Road id without a record, or whose record was never published", async () => {
    stubs.depth = 2;
    const none = await rejectionOf(intake.refuseBeforeBody(service, CLIENT, "x-1", false)!);
    expect((none as SluiceError).code).to.equal("Busy");
    stubs.record = { id: "m-1", published: false };
    const unpublished = await rejectionOf(intake.refuseBeforeBody(service, CLIENT, "x-1", false)!);
    expect((unpublished as SluiceError).code).to.equal("Busy");
    expect(stubs.lookups).to.equal(2);
  });

  it("at the mark lets a persisted message's resubmission be read, to be answered as its duplicate", async () => {
    stubs.depth = 2;
    stubs.record = { id: "m-1", published: true };
    await intake.refuseBeforeBody(service, CLIENT, "x-1", false);
  });

  it("while Redis is down refuses at once, an X-Road id or not, without a look-up", () => {
    stubs.storeUp = false;
    const error = refusal(() => intake.refuseBeforeBody(service, CLIENT, "x-1", false));
    expect(error.code).to.equal("Unavailable");
    expect(stubs.lookups).to.equal(0);
  });

  it("with every waiter slot taken refuses a caller that waits, not one that does not", async () => {
    waiters.register("held", 60_000, "EE/GOV/1/b");
    expect(intake.refuseBeforeBody(service, CLIENT, null, false)).to.equal(null);
    const error = refusal(() => intake.refuseBeforeBody(service, CLIENT, null, true));
    expect(error.message).to.match(/too many callers waiting/);
    // A persisted message's resubmission gets its 202 instead, even one never published (its
    // duplicate publishes it): it is read.
    stubs.record = { id: "m-1", published: false };
    await intake.refuseBeforeBody(service, CLIENT, "x-1", true);
    stubs.record = null;
    const none = await rejectionOf(intake.refuseBeforeBody(service, CLIENT, "x-1", true)!);
    expect((none as SluiceError).message).to.match(/too many callers waiting/);
  });
});
