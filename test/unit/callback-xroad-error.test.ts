import { expect } from "chai";
import { readXroadError } from "../../response-worker/callback-sender";

/** The security server's error answer to a callback sent as an X-Road REST call. */
const answer = (message: string) => ({
  status: 500,
  headers: { "x-road-error": "Server.ServerProxy.ServiceFailed" },
  text: JSON.stringify({ type: "Server.ServerProxy.ServiceFailed", message }),
});

/** Whether `text` holds half of a surrogate pair without the other. */
const loneHalf = (text: string) => /\p{Cs}/u.test(text);

describe("a callback's X-Road error, in the failure recorded for the delivery", () => {
  it("makes a lone half of a surrogate pair the security server sent U+FFFD", () => {
    const failure = readXroadError(answer("broken \ud800 text"))?.failure;
    expect(failure?.message).to.contain("broken \uFFFD text");
    expect(loneHalf(failure?.message ?? "")).to.equal(false);
  });

  it("cuts a long message at 500 characters, never between a pair's halves", () => {
    const prefix = "the security server answered Server.ServerProxy.ServiceFailed: ";
    // The pair's first half falls on the 500th character.
    const text = "x".repeat(500 - prefix.length - 1) + "😀".repeat(10);
    const message = readXroadError(answer(text))?.failure?.message ?? "";
    expect(message.length).to.be.at.most(500);
    expect(loneHalf(message)).to.equal(false);
    expect(message.startsWith(prefix)).to.equal(true);
  });
});
