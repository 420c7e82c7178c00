// The Location of a 202 and of a hub registration names the provider an X-Road-Service header
// names, one path segment per part: never a part a URL parser would resolve away.

import { expect } from "chai";
import { providerOf, statusLocation } from "../../adapter/status-location";

const ID = "0b0e8c1e-6b7e-4c41-9d0f-2f6f1c1c2a10";

describe("status location", () => {
  it("names the provider of X-Road-Service, each part encoded once", () => {
    expect(providerOf("EE/GOV/70000002/sluice/echo", "echo")).to.deep.equal([
      "EE",
      "GOV",
      "70000002",
      "sluice",
    ]);
    expect(
      statusLocation({ service: "EE/GOV/70%2B2/sluice/echo/v1" }, "echo", "messages", ID),
    ).to.equal(`/r1/EE/GOV/70%2B2/sluice/messages/${ID}`);
  });

  it('takes no provider with an empty, "." or ".." part: the direct path instead', () => {
    for (const service of [
      "EE/GOV/../sluice/echo",
      "EE/GOV/70000002/%2E%2E/echo",
      "EE/%2e/70000002/sluice/echo",
      "EE//70000002/sluice/echo",
      "../../../../echo",
    ]) {
      expect(providerOf(service, "echo"), service).to.equal(null);
      expect(statusLocation({ service }, "echo", "messages", ID), service).to.equal(
        `/messages/${ID}`,
      );
    }
  });
});
