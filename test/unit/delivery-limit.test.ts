import { expect } from "chai";
import { deliveryLimitKeptMessage } from "../../shared/broker/delivery-limit";
import { watchPolicyCommand } from "../../shared/broker/topology";

describe("delivery limits given by a policy", () => {
  it("gives the watch queue's policy as before", () => {
    expect(watchPolicyCommand("dead-letter.watch")).to.equal(
      "rabbitmqctl set_policy --apply-to queues --priority 10 sluice-dead-letter-watch " +
        "'^dead-letter\\.watch$' '{\"delivery-limit\":10000}'",
    );
  });

  it("names the watch queue's policy under the installation's prefix, one per installation", () => {
    expect(watchPolicyCommand("demo.dead-letter.watch")).to.equal(
      "rabbitmqctl set_policy --apply-to queues --priority 10 demo.sluice-dead-letter-watch " +
        "'^demo\\.dead-letter\\.watch$' '{\"delivery-limit\":10000}'",
    );
  });

  it("tells the operator the command, and that policies matching one queue do not combine", () => {
    const message = deliveryLimitKeptMessage("the callbacks queue", "p.callbacks", "x", 7);
    expect(message).to.match(/^the callbacks queue exists without its delivery limit/);
    expect(message).to.include(
      "rabbitmqctl set_policy --apply-to queues --priority 10 x '^p\\.callbacks$' " +
        "'{\"delivery-limit\":7}'",
    );
    expect(message).to.include("only the highest-priority policy matching a queue applies");
  });
});
