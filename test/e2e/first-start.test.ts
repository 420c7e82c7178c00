// A first start on a broker that has never seen this installation (a prefix of its own): every
// role comes up without a warning, since nothing is wrong yet.

import { expect } from "chai";
import { Harness, START_TIMEOUT_MS } from "../support/harness";

const config = {
  services: { report: { protocols: ["rest"], reply: { mode: "ack" }, backend: "sim" } },
  backends: { sim: { translator: "rest-json", retry: { attempts: 3, backoff: ["1s", "5s"] } } },
};

/** Lines at warn level or above, for the failure message. */
const complaints = (lines: Array<Record<string, unknown>>) =>
  lines.filter((line) => !["trace", "debug", "info"].includes(String(line.level)));

describe("first start on an empty broker", function () {
  // Each test starts a role: a start takes up to START_TIMEOUT_MS on a loaded machine.
  this.timeout(START_TIMEOUT_MS + 30_000);

  for (const role of ["adapter", "worker", "response-worker", "all"]) {
    it(`${role}: logs no warning`, async () => {
      const harness = new Harness();
      try {
        await harness.startSim();
        harness.writeConfig(config);
        const proc = await harness.spawn(role);
        // Past "sluice ready", and a few of the queue monitor's rounds after it.
        await new Promise((resolve) => setTimeout(resolve, 2_500));
        expect(proc.lines.some((line) => line.msg === "sluice ready")).to.equal(true);
        expect(complaints(proc.lines)).to.deep.equal([]);
      } finally {
        await harness.cleanup();
      }
    });
  }
});
