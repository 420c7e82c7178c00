// The warning for connections closed at adapter.maxConnections: the throttled warning every
// refusal of the adapter uses, its interval ended by hand instead of by a clock.

import { EventEmitter } from "node:events";
import { expect } from "chai";
import type { Logger } from "pino";
import type { Schedule } from "../../shared/observability/throttled-warning";
import { warnRefusedConnections } from "../../adapter/refused-connections";

describe("warnRefusedConnections", () => {
  function setUp() {
    const lines: Array<{ fields: Record<string, unknown>; message: string }> = [];
    const log = {
      warn: (fields: Record<string, unknown>, message: string) => lines.push({ fields, message }),
    } as unknown as Logger;
    const pending: Array<() => void> = [];
    const schedule: Schedule = (fire) => {
      pending.push(fire);
      return () => undefined;
    };
    const server = new EventEmitter();
    const stop = warnRefusedConnections(server, log, 20, schedule);
    const elapse = (): void => pending.splice(0).forEach((fire) => fire());
    return { lines, server, stop, elapse };
  }

  it("warns of the first drop at once and of the rest of the interval in one line with their count", () => {
    const { lines, server, elapse } = setUp();
    for (let i = 0; i < 500; i++) server.emit("drop", {});
    const fields = { maxConnections: 20, reason: "max_connections" };
    const message = "connections refused: adapter.maxConnections reached";
    expect(lines).to.deep.equal([{ fields: { ...fields, count: 1 }, message }]);
    elapse();
    expect(lines).to.deep.equal([
      { fields: { ...fields, count: 1 }, message },
      { fields: { ...fields, count: 499 }, message },
    ]);
  });

  it("logs what the open interval counted when stopped", () => {
    const { lines, server, stop } = setUp();
    for (let i = 0; i < 3; i++) server.emit("drop", {});
    stop();
    expect(lines.map((line) => line.fields.count)).to.deep.equal([1, 2]);
  });
});
