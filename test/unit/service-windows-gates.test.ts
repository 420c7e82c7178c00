import { expect } from "chai";
import pino from "pino";
import { BackendGates, STORE_OUTAGE_SHUT_MS } from "../../worker/backend-gates";
import { GatedConsumers } from "../../worker/gated-consumers";
import type { Broker, Consumer } from "../../shared/broker/amqp";
import { queueGateOpen } from "../../shared/observability/metrics";
import type { BackendPauses } from "../../shared/operator/backend-pauses";
import { compileServiceWindows, type ServiceWindows } from "../../shared/config/service-windows";
import { FixedClock } from "../../shared/runtime/clock";

/** The pause store's one read the gates use, answered from memory. */
function pausesOf(state: { paused: Set<string>; down?: boolean }): BackendPauses {
  return {
    pausedBackends: async () => {
      // ioredis's words for a command without a usable connection.
      if (state.down) throw new Error("Connection is closed.");
      return new Set(state.paused);
    },
  } as unknown as BackendPauses;
}

const silent = pino({ level: "silent" });

/** Gates for one backend "legacy" with `windows`, on a clock set to `iso`. */
function gatesAt(windows: ServiceWindows, iso: string): { gates: BackendGates; clock: FixedClock } {
  const clock = new FixedClock(Date.parse(iso));
  const gates = new BackendGates(
    new Map([["legacy", windows]]),
    pausesOf({ paused: new Set() }),
    silent,
    clock,
  );
  return { gates, clock };
}

/** Moves the clock to each instant in turn, in the order given, and expects the gate there. */
async function expectOpenAt(
  gates: BackendGates,
  clock: FixedClock,
  expected: Record<string, boolean>,
): Promise<void> {
  const seen: Record<string, boolean> = {};
  for (const iso of Object.keys(expected)) {
    clock.set(iso);
    await gates.refresh();
    seen[iso] = gates.isOpen("legacy");
  }
  expect(seen).to.deep.equal(expected);
}

describe("backend gates (service windows and pause)", () => {
  const office = compileServiceWindows([{ from: "08:00", to: "18:00" }], "w").windows;
  const always = compileServiceWindows([], "w").windows;

  it("starts from the clock it is given, not the wall clock", () => {
    expect(gatesAt(office, "2026-11-23T12:00:00Z").gates.isOpen("legacy")).to.equal(true);
    expect(gatesAt(office, "2026-11-23T02:00:00Z").gates.isOpen("legacy")).to.equal(false);
    expect(gatesAt(office, "2026-11-23T02:00:00Z").gates.closedReason("legacy")).to.equal(
      "outside service window",
    );
  });

  it("shuts at the end of a window, aborts waits, and opens again at its start", async () => {
    const { gates, clock } = gatesAt(office, "2026-11-23T17:59:00Z");
    const changes: boolean[] = [];
    gates.onChange("legacy", (open) => changes.push(open));
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(true);
    const waiting = gates.closingSignal("legacy");
    clock.set("2026-11-23T18:00:00Z");
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(false);
    expect(gates.closedReason("legacy")).to.equal("outside service window");
    expect(waiting.aborted).to.equal(true);
    // A wait begun while shut gets a fresh signal, aborted only at the next shutting.
    expect(gates.closingSignal("legacy").aborted).to.equal(false);
    clock.set("2026-11-24T08:00:00Z");
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(true);
    expect(changes).to.deep.equal([false, true]);
  });

  it("keeps a window open across midnight UTC and shuts it the next morning", async () => {
    const night = compileServiceWindows([{ from: "22:00", to: "02:00" }], "w").windows;
    const { gates, clock } = gatesAt(night, "2026-11-23T21:59:59Z");
    await expectOpenAt(gates, clock, {
      "2026-11-23T21:59:59Z": false,
      "2026-11-23T22:00:00Z": true,
      "2026-11-23T23:59:59Z": true,
      "2026-11-24T00:00:00Z": true,
      "2026-11-24T01:59:59Z": true,
      "2026-11-24T02:00:00Z": false,
      "2026-11-24T12:00:00Z": false,
    });
  });

  it("counts a midnight window for the day it starts on", async () => {
    const saturdayNight = compileServiceWindows(
      [{ days: ["sat"], from: "22:00", to: "02:00" }],
      "w",
    ).windows;
    // 2026-11-28 is a Saturday.
    const { gates, clock } = gatesAt(saturdayNight, "2026-11-28T12:00:00Z");
    await expectOpenAt(gates, clock, {
      "2026-11-28T01:00:00Z": false,
      "2026-11-28T22:30:00Z": true,
      "2026-11-29T01:00:00Z": true,
      "2026-11-29T22:30:00Z": false,
    });
  });

  it("follows the local clock of its zone when summer time starts and ends", async () => {
    const tallinn = compileServiceWindows(
      [{ days: ["mon-fri"], from: "08:00", to: "18:00", tz: "Europe/Tallinn" }],
      "w",
    ).windows;
    const { gates, clock } = gatesAt(tallinn, "2026-03-27T12:00:00Z");
    // Summer time starts on Sunday 2026-03-29 (UTC+2 → UTC+3): 08:00 local is 06:00Z on the
    // Friday before and 05:00Z on the Monday after.
    await expectOpenAt(gates, clock, {
      "2026-03-27T05:30:00Z": false,
      "2026-03-27T06:00:00Z": true,
      "2026-03-27T15:59:00Z": true,
      "2026-03-27T16:00:00Z": false,
      "2026-03-29T01:30:00Z": false,
      "2026-03-30T04:59:00Z": false,
      "2026-03-30T05:00:00Z": true,
      "2026-03-30T14:59:00Z": true,
      "2026-03-30T15:00:00Z": false,
    });
    // Summer time ends on Sunday 2026-10-25 (UTC+3 → UTC+2): 08:00 local moves from 05:00Z
    // on the Friday before to 06:00Z on the Monday after.
    await expectOpenAt(gates, clock, {
      "2026-10-23T05:00:00Z": true,
      "2026-10-23T14:59:00Z": true,
      "2026-10-23T15:00:00Z": false,
      "2026-10-26T05:00:00Z": false,
      "2026-10-26T06:00:00Z": true,
      "2026-10-26T15:59:00Z": true,
      "2026-10-26T16:00:00Z": false,
    });
  });

  it("shuts a paused backend only, and keeps the last known state while Redis is down", async () => {
    const state = { paused: new Set(["legacy"]), down: false };
    const gates = new BackendGates(
      new Map([
        ["legacy", always],
        ["other", always],
      ]),
      pausesOf(state),
      silent,
      new FixedClock(Date.parse("2026-11-23T02:00:00Z")),
    );
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(false);
    expect(gates.closedReason("legacy")).to.equal("paused");
    expect(gates.isOpen("other")).to.equal(true);
    state.down = true;
    state.paused.clear();
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(false);
    state.down = false;
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(true);
    expect(gates.closedReason("legacy")).to.equal(null);
  });

  it("shuts every gate once Redis has been out of reach for STORE_OUTAGE_SHUT_MS, and opens them when it is back", async () => {
    const state = { paused: new Set<string>(), down: false };
    const clock = new FixedClock(Date.parse("2026-11-23T02:00:00Z"));
    // One clock for the windows and the outage's length alike, moved by the test.
    const gates = new BackendGates(
      new Map([["legacy", always]]),
      pausesOf(state),
      silent,
      clock,
      1000,
      () => clock.now(),
    );
    const changes: boolean[] = [];
    gates.onChange("legacy", (open) => changes.push(open));
    const closing = gates.closingSignal("legacy");
    state.down = true;
    await gates.refresh();
    clock.advance(STORE_OUTAGE_SHUT_MS - 1);
    await gates.refresh();
    // A failover's seconds pass: the messages held are tried again in place.
    expect(gates.isOpen("legacy")).to.equal(true);
    clock.advance(1);
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(false);
    expect(gates.closedReason("legacy")).to.equal("waiting for Redis");
    // Waits for a slot or token end at once: those messages go back to the queue untouched.
    expect(closing.aborted).to.equal(true);
    expect(String(closing.reason)).to.contain("backend legacy is waiting for Redis");
    state.down = false;
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(true);
    expect(changes).to.deep.equal([false, true]);
    // Outside its window as well: that reason outlasts the outage, so it is the one told.
    const evening = new BackendGates(
      new Map([["legacy", office]]),
      pausesOf(state),
      silent,
      new FixedClock(Date.parse("2026-11-23T20:00:00Z")),
      1000,
      () => clock.now(),
    );
    state.down = true;
    await evening.refresh();
    clock.advance(STORE_OUTAGE_SHUT_MS);
    await evening.refresh();
    expect(evening.closedReason("legacy")).to.equal("outside service window");
    state.down = false;
    await gates.refresh();
    // The outage's clock starts again: one failed read after it does not shut the gate.
    state.down = true;
    await gates.refresh();
    clock.advance(STORE_OUTAGE_SHUT_MS / 2);
    await gates.refresh();
    expect(gates.isOpen("legacy")).to.equal(true);
  });

  it("keeps its gates as they are on a failed read that is no outage (a bug, not Redis away)", async () => {
    const clock = new FixedClock(Date.parse("2026-11-23T02:00:00Z"));
    let reads = 0;
    const failing = {
      pausedBackends: async () => {
        reads++;
        throw new Error("WRONGTYPE Operation against a key holding the wrong kind of value");
      },
    } as unknown as BackendPauses;
    const gates = new BackendGates(
      new Map([["legacy", always]]),
      failing,
      silent,
      clock,
      1000,
      () => clock.now(),
    );
    for (let i = 0; i < 3; i++) {
      await gates.refresh();
      clock.advance(STORE_OUTAGE_SHUT_MS);
    }
    expect(reads).to.equal(3);
    expect(gates.isOpen("legacy")).to.equal(true);
  });

  it("reports nothing for a change that does not change the gate", async () => {
    const { gates } = gatesAt(always, "2026-11-23T02:00:00Z");
    let calls = 0;
    gates.onChange("legacy", () => calls++);
    await gates.refresh();
    await gates.refresh();
    expect(calls).to.equal(0);
  });

  it("reports each request queue's gate for the SluiceNoConsumers alert: 0 while shut, 1 while open", async () => {
    const state = { paused: new Set(["legacy"]) };
    const gates = new BackendGates(
      new Map([["legacy", office]]),
      pausesOf(state),
      silent,
      new FixedClock(Date.parse("2026-11-23T12:00:00Z")),
    );
    await gates.refresh();
    const consumer: Consumer = {
      waitForConnect: async () => undefined,
      cancel: async () => undefined,
      close: async () => undefined,
    };
    const broker = { consume: () => consumer } as unknown as Broker;
    const queues = ["t.requests.legacy", "t.requests.legacy.p0"];
    const consumers = new GatedConsumers({
      broker,
      backend: "legacy",
      queues,
      prefetch: 1,
      gates,
      log: silent,
      onMessage: async () => undefined,
    });
    const gauge = async () => {
      const { values } = await queueGateOpen.get();
      return Object.fromEntries(
        values
          .filter((v) => queues.includes(String(v.labels.queue)))
          .map((v) => [v.labels.queue, v.value]),
      );
    };
    expect(await gauge()).to.deep.equal({ "t.requests.legacy": 0, "t.requests.legacy.p0": 0 });
    state.paused.clear();
    await gates.refresh();
    expect(await gauge()).to.deep.equal({ "t.requests.legacy": 1, "t.requests.legacy.p0": 1 });
    await consumers.close();
  });
});
