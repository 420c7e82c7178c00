// The adapter's admission decision on stubs of the broker's state and the queue monitor: every
// cause of a 503 with its code and Retry-After, and the depth estimate that stops a burst.

import { expect } from "chai";
import { refusal } from "../support/rejection";
import {
  Backpressure,
  clampRetryAfter,
  NO_CONSUMER_RETRY_AFTER,
  type BrokerState,
  type DepthSource,
} from "../../adapter/backpressure";
import type { BackendConfig } from "../../shared/config/config";
import type { QueueSample } from "../../shared/broker/queue-monitor";

const QUEUE = "requests.legacy";

function backend(overrides: Partial<BackendConfig> = {}): BackendConfig {
  return {
    name: "legacy",
    translator: "rest-json",
    url: "http://127.0.0.1:1",
    rate: { limit: 10, perMs: 1000, burst: 0 },
    maxInFlight: 4,
    timeoutMs: 1000,
    retry: { attempts: 1, backoffMs: [1000] },
    ordering: "none",
    queue: { highWater: 5, maxLength: 10, clientShare: 0.5 },
    windows: [],
    options: {},
    ...overrides,
  };
}

class StubBroker implements BrokerState {
  connected = true;
  blocked: string | null = null;
  isConnected(): boolean {
    return this.connected;
  }
}

class StubMonitor implements DepthSource {
  sample: QueueSample | undefined = { depth: 0, consumers: 1, at: Date.now(), drainRate: null };
  published = 0;
  get(queue: string): QueueSample | undefined {
    return queue === QUEUE ? this.sample : undefined;
  }
  estimatedDepth(queue: string): number | undefined {
    return queue === QUEUE && this.sample ? this.sample.depth + this.published : undefined;
  }
  notePublished(queue: string): void {
    if (queue === QUEUE) this.published++;
  }
  missing = false;
  noteUnrouted(queue: string): void {
    if (queue === QUEUE) this.missing = true;
  }
  isMissing(queue: string): boolean {
    return queue === QUEUE && this.missing;
  }
}

const names = { requestsQueue: (name: string) => `requests.${name}` };

describe("Backpressure", () => {
  let broker: StubBroker;
  let monitor: StubMonitor;
  let storeUp: boolean;
  let bp: Backpressure;

  beforeEach(() => {
    broker = new StubBroker();
    monitor = new StubMonitor();
    storeUp = true;
    bp = new Backpressure(broker, monitor, names, { storeReady: () => storeUp });
  });

  it("admits while the queue is below its high-water mark", () => {
    monitor.sample!.depth = 4;
    const admission = bp.admit(backend(), "EE/GOV/1/a");
    admission.release();
  });

  it("refuses at the high-water mark with Busy, 503 and an integer Retry-After", () => {
    monitor.sample = { depth: 5, consumers: 1, at: Date.now(), drainRate: null };
    const err = refusal(() => bp.admit(backend(), "EE/GOV/1/a"));
    expect(err.code).to.equal("Busy");
    expect(err.status).to.equal(503);
    expect(Number.isInteger(err.retryAfter)).to.equal(true);
    expect(err.retryAfter).to.be.within(1, 300);
  });

  it("counts admitted but unconfirmed messages, so a burst stops at the high-water mark", () => {
    const admissions = [];
    for (let i = 0; i < 5; i++) admissions.push(bp.admit(backend(), "EE/GOV/1/a"));
    expect(refusal(() => bp.admit(backend(), "EE/GOV/1/a")).code).to.equal("Busy");
    admissions[0].release();
    bp.admit(backend(), "EE/GOV/1/a");
  });

  it("moves a confirmed publish into the monitor's count, once", async () => {
    const admission = bp.admit(backend(), "EE/GOV/1/a");
    admission.publishing();
    admission.settled(null);
    admission.settled(null);
    admission.release();
    expect(monitor.published).to.equal(1);
    expect(bp.depth(backend())).to.equal(1);
  });

  it("a failed publish frees its place without counting as published", async () => {
    const admission = bp.admit(backend(), "EE/GOV/1/a");
    admission.publishing();
    admission.settled(new Error("nacked"));
    admission.release();
    expect(monitor.published).to.equal(0);
    expect(bp.depth(backend())).to.equal(0);
  });

  it("refuses with Unavailable while the broker is disconnected", () => {
    broker.connected = false;
    const err = refusal(() => bp.admit(backend(), "EE/GOV/1/a"));
    expect(err.code).to.equal("Unavailable");
    expect(err.status).to.equal(503);
    expect(err.retryAfter).to.be.within(1, 300);
  });

  it("refuses with Busy while the broker blocks publishers (memory or disk alarm)", () => {
    broker.blocked = "low on memory";
    const err = refusal(() => bp.admit(backend(), "EE/GOV/1/a"));
    expect(err.code).to.equal("Busy");
    expect(err.retryAfter).to.be.within(1, 300);
    broker.blocked = null;
    bp.admit(backend(), "EE/GOV/1/a").release();
  });

  it("refuses with Unavailable while Redis is disconnected", () => {
    storeUp = false;
    expect(refusal(() => bp.admit(backend(), "EE/GOV/1/a")).code).to.equal("Unavailable");
    storeUp = true;
    bp.admit(backend(), "EE/GOV/1/a").release();
  });

  it("refuses with Unavailable while the request queue does not exist (nowhere to route to)", () => {
    monitor.missing = true;
    expect(refusal(() => bp.admit(backend(), "EE/GOV/1/a")).code).to.equal("Unavailable");
    monitor.missing = false;
    bp.admit(backend(), "EE/GOV/1/a").release();
  });

  it("refuses everything with Unavailable once intake stops for shutdown", () => {
    bp.stopIntake();
    const err = refusal(() => bp.admit(backend(), "EE/GOV/1/a"));
    expect(err.code).to.equal("Unavailable");
    expect(err.message).to.match(/shutting down/);
  });

  it("refuses with Busy when too many publishes await a confirm", async () => {
    const limited = new Backpressure(broker, monitor, names, { maxInFlightPublishes: 1 });
    const first = limited.admit(
      backend({ queue: { highWater: 100, maxLength: 100, clientShare: 0.5 } }),
      "EE/GOV/1/a",
    );
    first.publishing();
    expect(refusal(() => limited.admit(backend(), "EE/GOV/1/a")).code).to.equal("Busy");
    first.settled(null);
    limited.admit(backend(), "EE/GOV/1/a").release();
  });

  it("frees a publish's place when its admission is released before the publish settled", () => {
    const limited = new Backpressure(broker, monitor, names, { maxInFlightPublishes: 1 });
    const first = limited.admit(
      backend({ queue: { highWater: 100, maxLength: 100, clientShare: 0.5 } }),
      "EE/GOV/1/a",
    );
    first.publishing();
    first.release();
    limited.admit(backend(), "EE/GOV/1/a").release();
    // A settle arriving after the release counts nothing twice.
    first.settled(null);
    expect(monitor.published).to.equal(0);
    const second = limited.admit(backend(), "EE/GOV/1/a");
    second.publishing();
    expect(refusal(() => limited.admit(backend(), "EE/GOV/1/a")).code).to.equal("Busy");
    second.release();
  });

  describe("one client's flood (queue.clientShare, default 0.5)", () => {
    const A = "EE/GOV/1/flood";
    const B = "EE/GOV/2/other";
    const ten = () => backend({ queue: { highWater: 10, maxLength: 100, clientShare: 0.5 } });
    const admitted = (client: string, times = 1) => {
      for (let i = 0; i < times; i++) bp.admit(ten(), client).release();
    };

    it("refuses a client that sent most of the intake once the queue is at half the mark, and admits the others", () => {
      admitted(B);
      admitted(A, 4);
      monitor.sample = { depth: 5, consumers: 1, at: Date.now(), drainRate: 2 };
      const err = refusal(() => bp.admit(ten(), A));
      expect(err.code).to.equal("Busy");
      expect(err.status).to.equal(503);
      expect(err.message).to.match(/more than its share/);
      monitor.sample.depth = 8;
      expect(refusal(() => bp.admit(ten(), A)).retryAfter).to.equal(2); // (8 - 5 + 1) / 2
      // The room above is the other client's, up to the mark itself.
      monitor.sample.depth = 9;
      admitted(B);
      monitor.sample.depth = 10;
      expect(refusal(() => bp.admit(ten(), B)).message).to.match(
        /backlog for this service is full/,
      );
    });

    it("admits every client below half the mark", () => {
      admitted(B);
      admitted(A, 20);
      monitor.sample = { depth: 4, consumers: 1, at: Date.now(), drainRate: null };
      admitted(A);
    });

    it("lets a client alone fill the whole backlog", () => {
      admitted(A, 4);
      monitor.sample = { depth: 9, consumers: 1, at: Date.now(), drainRate: null };
      admitted(A);
    });

    it("admits a client whose part is at most the share, and counts only what was admitted", () => {
      admitted(A, 3);
      admitted(B, 3);
      monitor.sample = { depth: 6, consumers: 1, at: Date.now(), drainRate: null };
      admitted(A); // 4 of 7 is over half: the next is refused
      expect(refusal(() => bp.admit(ten(), A)).code).to.equal("Busy");
      admitted(B); // 4 of 8: A at exactly half is admitted again
      admitted(A);
    });

    it("is off with clientShare 1", () => {
      const off = backend({ queue: { highWater: 10, maxLength: 100, clientShare: 1 } });
      bp.admit(off, B).release();
      for (let i = 0; i < 4; i++) bp.admit(off, A).release();
      monitor.sample = { depth: 9, consumers: 1, at: Date.now(), drainRate: null };
      bp.admit(off, A).release();
    });
  });

  describe("Retry-After", () => {
    it("is the backlog above the mark divided by the measured drain rate", () => {
      monitor.sample = { depth: 45, consumers: 1, at: Date.now(), drainRate: 2 };
      const err = refusal(() =>
        bp.admit(
          backend({ queue: { highWater: 5, maxLength: 100, clientShare: 0.5 } }),
          "EE/GOV/1/a",
        ),
      );
      expect(err.retryAfter).to.equal(21); // (45 - 5 + 1) / 2 = 20.5 → 21
    });

    it("uses the configured rate limit while no drain was measured", () => {
      monitor.sample = { depth: 35, consumers: 1, at: Date.now(), drainRate: 0 };
      expect(bp.retryAfter(backend())).to.equal(4); // 35 / 10 per second
    });

    it("is a fixed wait when nothing consumes the queue", () => {
      monitor.sample = { depth: 3, consumers: 0, at: Date.now(), drainRate: 0 };
      expect(bp.retryAfter(backend())).to.equal(NO_CONSUMER_RETRY_AFTER);
    });

    it("stays within 1..300 whole seconds", () => {
      expect(clampRetryAfter(0)).to.equal(1);
      expect(clampRetryAfter(0.2)).to.equal(1);
      expect(clampRetryAfter(1.01)).to.equal(2);
      expect(clampRetryAfter(10_000)).to.equal(300);
      expect(clampRetryAfter(Infinity)).to.equal(300);
      monitor.sample = { depth: 1_000_000, consumers: 1, at: Date.now(), drainRate: 0.5 };
      expect(bp.retryAfter(backend())).to.equal(300);
    });
  });
});
