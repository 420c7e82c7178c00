import { expect } from "chai";
import {
  EXIT_FAILED,
  EXIT_UNREACHABLE,
  exitCodeOf,
  failureExit,
  refusedExit,
} from "../../cli/exit-codes";
import { SluiceError } from "../../shared/protocol/errors";
import { amqpStartupError, redisStartupError } from "../../shared/runtime/startup-error";

function refused(): Error {
  return Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), { code: "ECONNREFUSED" });
}

describe("the sluice command's exit codes", () => {
  it("are 3 for Redis or RabbitMQ out of reach, 1 for what they refused", () => {
    expect(exitCodeOf(redisStartupError("redis://127.0.0.1:1", refused()))).to.equal(3);
    expect(exitCodeOf(amqpStartupError("amqp://127.0.0.1:1", refused()))).to.equal(3);
    expect(exitCodeOf(new Error("Command timed out"))).to.equal(EXIT_UNREACHABLE);
    expect(exitCodeOf(new SluiceError("Unavailable", "Redis unavailable"))).to.equal(3);
    const wrongPassword = new Error("WRONGPASS invalid username-password pair");
    expect(exitCodeOf(redisStartupError("redis://127.0.0.1:6379", wrongPassword))).to.equal(1);
    const login = new Error("Handshake terminated by server: 403 (ACCESS-REFUSED)");
    expect(exitCodeOf(amqpStartupError("amqp://127.0.0.1", login))).to.equal(EXIT_FAILED);
    expect(exitCodeOf(new SluiceError("NotFound", "no such message"))).to.equal(1);
    expect(exitCodeOf(new TypeError("a bug"))).to.equal(1);
  });

  it("are 3 for a replay the broker did not take, 1 for another refusal, 0 when done", () => {
    expect(refusedExit({ result: "refused", retryAfter: 5 })).to.equal(3);
    expect(refusedExit({ result: "refused" })).to.equal(1);
    expect(refusedExit({ result: "replayed" })).to.equal(0);
  });

  it("are 3 for a bulk run stopped by Redis not answering, 1 for another error", () => {
    expect(failureExit("Command timed out")).to.equal(3);
    expect(failureExit("Connection is closed.")).to.equal(3);
    expect(
      failureExit("WRONGTYPE Operation against a key holding the wrong kind of value"),
    ).to.equal(1);
  });

  it("are 3 for a bulk run stopped by a Redis command its lost connection failed, or a Redis not ready yet", () => {
    // What ioredis fails a command in flight with once its connection is lost (maxRetriesPerRequest).
    expect(
      failureExit(
        'Reached the max retries per request limit (which is 1). Refer to "maxRetriesPerRequest" option for details.',
      ),
    ).to.equal(3);
    expect(failureExit("LOADING Redis is loading the dataset in memory")).to.equal(3);
    expect(failureExit("READONLY You can't write against a read only replica.")).to.equal(3);
    expect(failureExit("ERR max number of clients reached")).to.equal(3);
    expect(failureExit("ERR unknown command 'FOO'")).to.equal(1);
  });
});
