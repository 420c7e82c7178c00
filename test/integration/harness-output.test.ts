// The test harness's own promise: a stopped role's output is all read when stop() resolves,
// so a test may look for the role's last lines ("stopped") at once.

import { expect } from "chai";
import { chmodSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Harness } from "../support/harness";

describe("the harness's stop and exited", function () {
  this.timeout(20_000);
  const harness = new Harness();
  after(() => harness.cleanup());

  it("resolve once the role's output is all read, not at its exit", async () => {
    // A stand-in for node: ready at once, and on SIGTERM it exits while its last line is
    // still to come through the pipe (a process holding the pipe writes it 300 ms later).
    // Node emits 'exit' before the pipe has ended; only 'close' waits for the line.
    const script = path.join(harness.dir, "late-last-line.sh");
    writeFileSync(
      script,
      [
        "#!/bin/sh",
        `trap '(sleep 0.3; echo "{\\"msg\\":\\"stopped\\"}") & exit 0' TERM`,
        `echo '{"msg":"sluice ready"}'`,
        "while :; do sleep 0.05; done",
        "",
      ].join("\n"),
    );
    chmodSync(script, 0o755);
    harness.node = script;
    const role = await harness.spawn("adapter");
    expect(await role.stop()).to.equal(0);
    expect(role.lines.map((line) => line.msg)).to.deep.equal(["sluice ready", "stopped"]);
  });
});
