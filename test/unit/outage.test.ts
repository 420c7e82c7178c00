// Which errors are Redis or the broker out of reach (503, ask again later) and which are bugs
// (500): the errors as ioredis and amqplib raise them, by their names and words.

import { expect } from "chai";
import { ReplyError } from "ioredis";
import { SluiceError } from "../../shared/protocol/errors";
import pino from "pino";
import {
  logUnlessOutage,
  outageAnswer,
  outageOf,
  type Dependency,
} from "../../shared/runtime/outage";

const named = (name: string, message: string) => Object.assign(new Error(message), { name });

/** Each of `errors` is read as `dependency` out of reach (null: as a bug). */
function expectRead(errors: unknown[], dependency: Dependency | null): void {
  for (const error of errors) expect(outageOf(error), String(error)).to.equal(dependency);
}

describe("outage or bug", () => {
  it("knows ioredis's failures for want of a connection or an answer as Redis out of reach", () => {
    expectRead(
      [
        new Error("Command timed out"),
        new Error("Connection is closed."),
        new Error("Stream isn't writeable and enableOfflineQueue options is false"),
        named("AbortError", "Command aborted due to connection close"),
        named(
          "MaxRetriesPerRequestError",
          "Reached the max retries per request limit (which is 1).",
        ),
        new ReplyError("LOADING Redis is loading the dataset in memory"),
        new ReplyError("READONLY You can't write against a read only replica."),
        new ReplyError("MASTERDOWN Link with MASTER is down"),
        new ReplyError("OOM command not allowed when used memory > 'maxmemory'."),
        new ReplyError("BUSY Redis is busy running a script."),
        new ReplyError("ERR max number of clients reached"),
      ],
      "Redis",
    );
  });

  it("knows a channel or connection of the broker that is gone", () => {
    expectRead(
      [
        named("IllegalOperationError", "Channel closed"),
        new Error("channel closed"),
        new Error("Channel ended, no reply will be forthcoming"),
        new Error("Socket closed abruptly during opening handshake"),
        new Error("Heartbeat timeout"),
        new Error("not connected to RabbitMQ"),
      ],
      "message broker",
    );
  });

  it("takes anything else for a bug: calling again would meet it again", () => {
    expectRead(
      [
        new TypeError("Cannot read properties of undefined (reading 'state')"),
        new RangeError("Invalid time value"),
        new SyntaxError("Unexpected token u in JSON at position 0"),
        new ReplyError("WRONGTYPE Operation against a key holding the wrong kind of value"),
        new ReplyError("ERR Error running script (call to f_0123): user_script:3: bad argument"),
        new Error("Command timed out after a while"),
        "Command timed out",
        null,
      ],
      null,
    );
  });

  it("answers an outage 503 with Retry-After, keeps a SluiceError, leaves a bug as it is", () => {
    const timeout = new Error("Command timed out");
    const answer = outageAnswer(timeout, (dependency, error) => `${dependency}: ${error.message}`);
    expect(answer).to.be.instanceOf(SluiceError);
    expect(answer).to.include({
      code: "Unavailable",
      status: 503,
      message: "Redis: Command timed out",
    });
    expect((answer as SluiceError).retryAfter).to.be.greaterThan(0);
    const busy = new SluiceError("Busy", "queue full", { retryAfter: 2 });
    expect(outageAnswer(busy, () => "x")).to.equal(busy);
    const bug = new TypeError("x is not a function");
    expect(outageAnswer(bug, () => "x")).to.equal(bug);
  });
  it("logs a bug behind a best-effort step with its stack, and an outage not at all", () => {
    const lines: Array<Record<string, unknown>> = [];
    const log = pino({ level: "info" }, { write: (line: string) => lines.push(JSON.parse(line)) });
    logUnlessOutage(log, new Error("Command timed out"), "could not mark");
    expect(lines, "an outage is the readiness checks' to report").to.deep.equal([]);
    logUnlessOutage(log, new TypeError("x is undefined"), "could not mark");
    expect(lines).to.have.length(1);
    expect(lines[0]).to.include({ level: 50, msg: "could not mark" });
    expect(String(lines[0].err)).to.match(/^TypeError: x is undefined\n\s+at /);
  });
});
