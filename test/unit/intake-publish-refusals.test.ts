// sluice_backpressure_rejections_total for a publish the broker refused or lost: counted under
// broker_refused, broker_down, or queue_missing (confirmed but returned: no queue took it) when
// the caller is answered 503, and not when it is answered otherwise: a 202 when a worker took
// the message whose confirm was lost, a 413 when the broker closed the channel over a message
// larger than its max_message_size. Intake over stubs of the broker and the store, with a real
// Backpressure.

import { expect } from "chai";
import pino from "pino";
import { rejectionOf } from "../support/rejection";
import { Backpressure, type BrokerState, type DepthSource } from "../../adapter/backpressure";
import { Intake, type IntakeDeps, type Submission } from "../../adapter/intake";
import { SyncWaiters } from "../../adapter/sync-waiters";
import type { BackendConfig, ServiceConfig } from "../../shared/config/config";
import type { QueueSample } from "../../shared/broker/queue-monitor";
import { UnroutedPublishError } from "../../shared/broker/unrouted-publish";
import { metrics } from "../../shared/observability/metrics";
import { SluiceError } from "../../shared/protocol/errors";

const backend = {
  name: "legacy",
  rate: null,
  ordering: undefined,
  queue: { highWater: 100, maxLength: 1000, clientShare: 1 },
} as unknown as BackendConfig;
const service = { code: "echo", backend: "legacy", expireAfterMs: null } as ServiceConfig;

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
  /** Queues a returned publish marked missing, as the queue monitor keeps them. */
  readonly unrouted = new Set<string>();
  noteUnrouted(queue: string): void {
    this.unrouted.add(queue);
  }
  isMissing(queue: string): boolean {
    return this.unrouted.has(queue);
  }
}

async function counted(): Promise<Record<string, number>> {
  const { values } = await metrics.backpressureRejections.get();
  return Object.fromEntries(values.map((v) => [String(v.labels.reason), v.value]));
}

describe("Intake: a refused or lost publish is counted as a refusal only when answered 503", () => {
  let waiters: SyncWaiters;
  /** What the broker's publish fails with, and what the record's discard finds. */
  let publishError: Error;
  let discarded: "discarded" | "taken" | "kept";
  let learnedLimit: number | null;
  /** The max_message_size the broker's refusal of the publish teaches, or null. */
  let taught: number | null;
  let intake: Intake;
  /** The record of a first submission whose adapter stopped before its confirm, or null. */
  let orphan: Record<string, unknown> | null;
  /** Publishes the broker was asked for. */
  let publishes: number;

  const submission = (): Submission => ({
    service,
    protocol: "rest",
    client: "EE/GOV/1/a",
    xroadId: null,
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
    publishError = new SluiceError("Busy", "message broker refused the message (queue full)", {
      retryAfter: 2,
    });
    discarded = "discarded";
    learnedLimit = null;
    taught = null;
    orphan = null;
    const stubs = new Stubs();
    const backpressure = new Backpressure(stubs, stubs, {
      requestsQueue: (name) => `requests.${name}`,
    });
    const store = {
      create: () =>
        Promise.resolve(orphan ? { created: false, existingId: orphan.id } : { created: true }),
      get: () => Promise.resolve(orphan),
      ageMs: () => Promise.resolve(60_000),
      adopt: () => Promise.resolve(true),
      discard: () => Promise.resolve(discarded),
      notePublished: () => undefined,
    };
    publishes = 0;
    const broker = {
      publish: () => {
        publishes++;
        learnedLimit = taught;
        return Promise.reject(publishError);
      },
      get maxMessageBytes() {
        return learnedLimit;
      },
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

  it("the broker's refusal answered 503 Busy is counted once, under broker_refused", async () => {
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Busy");
    expect(await counted()).to.deep.equal({ broker_refused: 1 });
  });

  it("a connection lost under the publish, answered 503 Unavailable, is counted once, under broker_down", async () => {
    publishError = new SluiceError("Unavailable", "broker did not confirm the message: closed");
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Unavailable");
    expect(await counted()).to.deep.equal({ broker_down: 1 });
  });

  it("a publish confirmed but routed to no queue (returned), answered 503 Unavailable, is counted once, under queue_missing", async () => {
    publishError = new UnroutedPublishError();
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Unavailable");
    expect(await counted()).to.deep.equal({ queue_missing: 1 });
  });

  it("a returned publish marks its queue missing at once: the next request is refused before it is published", async () => {
    publishError = new UnroutedPublishError();
    await rejectionOf(intake.submit(submission()));
    expect(publishes).to.equal(1);
    // Refused by the check, as when the monitor's sample finds the queue gone: not recorded,
    // published, returned and discarded again until that sample.
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("Unavailable");
    expect((error as Error).message).to.equal("the request queue is not declared");
    expect(publishes).to.equal(1);
    expect(await counted()).to.deep.equal({ queue_missing: 2 });
  });

  it("a resubmission whose publish of an orphaned first submission the broker refuses is answered 503 and counted once", async () => {
    orphan = {
      id: "m-orphan",
      xroadId: "x-1",
      service: "echo",
      backend: "legacy",
      client: "EE/GOV/1/a",
      protocol: "rest",
      replyMode: "ack",
      owner: null,
      callback: null,
      createdAt: 0,
      expiresAt: null,
      state: "accepted",
      published: false,
      responses: [],
    };
    const error = await rejectionOf(intake.submit({ ...submission(), xroadId: "x-1" }));
    expect((error as SluiceError).code).to.equal("Busy");
    expect(await counted()).to.deep.equal({ broker_refused: 1 });
  });

  it("a lost confirm of a message a worker took is answered 202, and counted as no refusal", async () => {
    discarded = "taken";
    const result = await intake.submit(submission());
    expect(result.kind).to.equal("accepted");
    expect(await counted()).to.deep.equal({});
  });

  it("a message over the max_message_size the broker just taught is answered 413, and counted as no refusal", async () => {
    publishError = new SluiceError("Unavailable", "broker did not confirm the message: closed");
    taught = 16;
    const error = await rejectionOf(intake.submit(submission()));
    expect((error as SluiceError).code).to.equal("PayloadTooLarge");
    expect(await counted()).to.deep.equal({});
  });
});
