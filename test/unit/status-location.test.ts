import { expect } from "chai";
import pino from "pino";
import { UnreachableLocationWarning } from "../../adapter/status-location";

describe("a Location no caller behind X-Road can reach", () => {
  it("is warned of once, when a call came through a security server and xroad.provider is not set", () => {
    const lines: string[] = [];
    const log = pino({ level: "warn" }, { write: (line: string) => void lines.push(line) });
    const warning = new UnreachableLocationWarning(log);
    // A direct call (a local system, a test) has its direct path: nothing to say.
    warning.note({});
    warning.note({ service: "EE/GOV/1/sub/q" });
    expect(lines).to.deep.equal([]);
    warning.note({ requestId: "EE-ss1-abc" });
    warning.note({ requestId: "EE-ss1-def" });
    expect(lines).to.have.length(1);
    expect(JSON.parse(lines[0]).msg).to.include("set xroad.provider");
  });
});
