// One shutdown deadline per process: every role drains against the same one, intake first,
// and work still running when it passes is left to the role to hand back.

import { expect } from "chai";
import {
  drainRoles,
  ShutdownDeadline,
  type DrainingRole,
} from "../../shared/runtime/shutdown-deadline";

describe("shutdown deadline", () => {
  it("tells whether work settled before it", async () => {
    const deadline = new ShutdownDeadline(60_000);
    expect(await deadline.within(Promise.resolve())).to.equal(true);
    expect(await deadline.within(Promise.reject(new Error("failed, but settled")))).to.equal(true);
    deadline.dispose();
    const over = new ShutdownDeadline(0);
    expect(await over.within(new Promise(() => undefined))).to.equal(false);
    expect(over.passed).to.equal(true);
  });

  it("drains every role against one deadline, in reverse start order, then closes them", async () => {
    const events: string[] = [];
    const seen: ShutdownDeadline[] = [];
    const role = (name: string): DrainingRole => ({
      name,
      async drain(deadline) {
        seen.push(deadline);
        // Work that never ends: each role gives up when the shared deadline passes.
        const finished = await deadline.within(new Promise(() => undefined));
        events.push(`${name} drained (${finished ? "done" : "deadline"})`);
      },
      async close() {
        events.push(`${name} closed`);
      },
    });
    await drainRoles([role("response-worker"), role("worker"), role("adapter")], 20);
    expect(events).to.deep.equal([
      "adapter drained (deadline)",
      "worker drained (deadline)",
      "response-worker drained (deadline)",
      "response-worker closed",
      "worker closed",
      "adapter closed",
    ]);
    expect(new Set(seen).size, "one deadline for all").to.equal(1);
  });
});
