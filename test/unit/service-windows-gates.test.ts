import { expect } from "chai";
import pino from "pino";
import { BackendGates } from "../../worker/backend-gates";
import type { BackendPauses } from "../../worker/backend-pause";
import { compileServiceWindows } from "../../shared/service-windows";

/** The pause store's one read the gates use, answered from memory. */
function pausesOf(state: { paused: Set<string>; down?: boolean }): BackendPauses {
  return {
    pausedBackends: async () => {
      if (state.down) throw new Error("Redis down");
      return new Set(state.paused);
    },
  } as unknown as BackendPauses;
}

const at = (iso: string): number => Date.parse(iso);
const silent = pino({ level: "silent" });

describe("backend gates (service windows and pause)", () => {
  const office = compileServiceWindows([{ from: "08:00", to: "18:00" }], "w").windows;
  const always = compileServiceWindows([], "w").windows;

  it("shuts at the end of a window, aborts waits, and opens again at its start", async () => {
    const gates = new BackendGates(
      new Map([["legacy", office]]),
      pausesOf({ paused: new Set() }),
      silent,
    );
    const changes: boolean[] = [];
    gates.onChange("legacy", (open) => changes.push(open));
    await gates.refresh(at("2026-11-23T17:59:00Z"));
    expect(gates.isOpen("legacy")).to.equal(true);
    const waiting = gates.closingSignal("legacy");
    await gates.refresh(at("2026-11-23T18:00:00Z"));
    expect(gates.isOpen("legacy")).to.equal(false);
    expect(gates.closedReason("legacy")).to.equal("outside service window");
    expect(waiting.aborted).to.equal(true);
    // A wait begun while shut gets a fresh signal, aborted only at the next shutting.
    expect(gates.closingSignal("legacy").aborted).to.equal(false);
    await gates.refresh(at("2026-11-24T08:00:00Z"));
    expect(gates.isOpen("legacy")).to.equal(true);
    expect(changes).to.deep.equal([false, true]);
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

  it("reports nothing for a change that does not change the gate", async () => {
    const gates = new BackendGates(
      new Map([["legacy", always]]),
      pausesOf({ paused: new Set() }),
      silent,
    );
    let calls = 0;
    gates.onChange("legacy", () => calls++);
    await gates.refresh();
    await gates.refresh();
    expect(calls).to.equal(0);
  });
});
