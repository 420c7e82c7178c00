// The simulators' framing, over raw sockets: legacy-sim and xroad-sim are real servers Sluice
// talks to, and a simulator that serves a request the real system refuses (RFC 9112; X-Road's
// Jetty) lets a test pass against it that fails in production. Each probe is refused, or read
// one way only.

import { expect } from "chai";
import { startLegacySim, type LegacySim } from "../../legacy-sim/legacy-sim";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { rawExchange } from "../support/raw-exchange";

const CLIENT = "EE/GOV/70000001/case-app";

describe("HTTP framing at the simulators, over raw sockets", function () {
  this.timeout(30_000);
  let legacy: LegacySim;
  let xroad: XroadSim;

  before(async () => {
    legacy = await startLegacySim({ port: 0, latencyMs: 0 });
    xroad = await startXroadSim({ services: {} });
  });

  after(async () => {
    await legacy?.close();
    await xroad?.close();
  });

  const sims = (): [string, number, string][] => [
    ["legacy-sim", legacy.port, "/rest/x"],
    ["xroad-sim", xroad.port, "/r1/EE/GOV/70000002/sluice/echo/x"],
  ];
  const head = (path: string, version: string) =>
    `POST ${path} HTTP/${version}\r\nHost: x\r\nX-Road-Client: ${CLIENT}\r\nContent-Type: application/json\r\n`;
  const next = (path: string) =>
    `GET ${path}?next HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`;

  it("a request line of HTTP/2.0 or HTTP/0.9 is refused, the connection closed", async () => {
    for (const [name, port, path] of sims()) {
      for (const version of ["2.0", "0.9"]) {
        const request = `${head(path, version)}Connection: keep-alive\r\nContent-Length: 2\r\n\r\n{}`;
        const answer = await rawExchange(port, request + next(path));
        // Jetty: 426 for a request line of HTTP/2.0 (no h2c upgrade), 505 for the others.
        const status = name === "xroad-sim" && version === "2.0" ? 426 : 505;
        expect(answer.statuses, `${name} HTTP/${version}`).to.deep.equal([status]);
      }
      const bare = await rawExchange(port, `GET ${path}\r\n\r\n`);
      expect(bare.statuses, `${name} without a version`).to.deep.equal([505]);
    }
  });
  it("an HTTP/1.0 request with Transfer-Encoding is answered and the connection closed", async () => {
    // RFC 9112 §6.1: its framing is faulty, the connection closes after the answer; Node read it
    // chunked and, with keep-alive, read what followed as the next request.
    for (const [name, port, path] of sims()) {
      const request = `${head(path, "1.0")}Connection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n`;
      const answer = await rawExchange(port, request + next(path));
      expect(answer.statuses, name).to.have.lengthOf(1);
    }
  });
  it("a request with two Host lines is 400, the connection closed", async () => {
    // RFC 9112 §3.2; Jetty: "Duplicate Host Header". Node kept the first and served it.
    for (const [name, port, path] of sims()) {
      const request = `${head(path, "1.1")}Host: y\r\nContent-Length: 2\r\n\r\n{}`;
      const answer = await rawExchange(port, request + next(path));
      expect(answer.statuses, name).to.deep.equal([400]);
      // In another case, or after 2 000 other lines (Node keeps only so many by default).
      const cased = `${head(path, "1.1")}HOST: y\r\nContent-Length: 2\r\n\r\n{}`;
      expect((await rawExchange(port, cased + next(path))).statuses, name).to.deep.equal([400]);
      const lines = Array.from({ length: 2000 }, (_, i) => `a${i}: b\r\n`).join("");
      const late = `${head(path, "1.1")}${lines}Host: y\r\nContent-Length: 2\r\n\r\n{}`;
      const refused = (await rawExchange(port, late + next(path))).statuses;
      // xroad-sim refuses so long a head as Jetty does (431), before looking at Host.
      expect(refused, `${name}, Host after 2 000 lines`).to.deep.equal([
        name === "xroad-sim" ? 431 : 400,
      ]);
    }
  });
});
