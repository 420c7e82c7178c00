// What a running role's reconnect lines say of a lost RabbitMQ or Redis connection.

import { expect } from "chai";
import { connectionLossReading } from "../../shared/runtime/startup-error";

const NOT_ANSWERING = "something listens there but did not answer in time";

describe("connectionLossReading", () => {
  it("reads a connection the server closed or reset as closed, never as a server that runs and does not answer", () => {
    for (const lost of [
      // amqplib, on the close RabbitMQ sends as it stops (rabbitmqctl stop, a restart).
      Object.assign(
        new Error(
          `Connection closed: 320 (CONNECTION-FORCED) with message "CONNECTION_FORCED - broker forced connection closure with reason 'shutdown'"`,
        ),
        { code: 320 },
      ),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
      Object.assign(new Error("write EPIPE"), { code: "EPIPE" }),
      new Error("Unexpected close"),
      new Error("Socket closed abruptly during opening handshake"),
      new Error("Connection is closed."),
    ]) {
      const reading = connectionLossReading(lost, "RabbitMQ");
      expect(reading?.kind, lost.message).to.equal("closed");
      expect(reading?.why, lost.message).to.not.include(NOT_ANSWERING);
      expect(reading?.why, lost.message).to.include("closed or reset the connection");
    }
  });

  it("reads a missed heartbeat or a timeout as a server that runs and does not answer", () => {
    for (const lost of [new Error("Heartbeat timeout"), new Error("connect ETIMEDOUT")]) {
      const reading = connectionLossReading(lost, "Redis");
      expect(reading?.kind, lost.message).to.equal("silent");
      expect(reading?.why, lost.message).to.include(NOT_ANSWERING);
    }
  });

  it("reads a refused connection as a server not running there, and says nothing of others", () => {
    const refused = Object.assign(new Error("connect ECONNREFUSED 127.0.0.1:1"), {
      code: "ECONNREFUSED",
    });
    expect(connectionLossReading(refused, "Redis")?.kind).to.equal("refused");
    expect(connectionLossReading(new Error("something else"), "Redis")).to.equal(null);
  });
});
