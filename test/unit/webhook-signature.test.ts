import { expect } from "chai";
import {
  secretProblem,
  signWebhook,
  signature,
  verifyWebhook,
} from "../../response-worker/webhook-signature";

// The test vector published with the Standard Webhooks reference libraries.
const VECTOR = {
  secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
  id: "msg_p5jXN8AQM9LWM0D4loKWxJek",
  timestamp: 1614265330,
  body: '{"test": 2432232314}',
  signature: "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
};
const OTHER = "whsec_" + Buffer.alloc(32, 7).toString("base64");

describe("webhook signatures", () => {
  it("reproduces the Standard Webhooks test vector", () => {
    expect(signature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, VECTOR.body)).to.equal(
      VECTOR.signature,
    );
    expect(
      signature(VECTOR.secret, VECTOR.id, VECTOR.timestamp, Buffer.from(VECTOR.body)),
    ).to.equal(VECTOR.signature);
  });

  it("signs with the unix timestamp in seconds", () => {
    const headers = signWebhook([VECTOR.secret], VECTOR.id, VECTOR.body, 1614265330_999);
    expect(headers).to.deep.equal({
      "webhook-id": VECTOR.id,
      "webhook-timestamp": "1614265330",
      "webhook-signature": VECTOR.signature,
    });
  });

  it("signs with every secret during a rotation, and each secret verifies alone", () => {
    const headers = signWebhook([OTHER, VECTOR.secret], VECTOR.id, VECTOR.body, 1614265330_000);
    const parts = headers["webhook-signature"].split(" ");
    expect(parts).to.have.length(2);
    expect(parts[1]).to.equal(VECTOR.signature);
    const now = 1614265330_000;
    expect(verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now })).to.deep.equal({
      valid: true,
    });
    expect(verifyWebhook(OTHER, headers, VECTOR.body, { now })).to.deep.equal({ valid: true });
  });

  it("verifies the vector and refuses tampering, other secrets and stale timestamps", () => {
    const headers = {
      "webhook-id": VECTOR.id,
      "webhook-timestamp": String(VECTOR.timestamp),
      "webhook-signature": VECTOR.signature,
    };
    const now = VECTOR.timestamp * 1000;
    expect(verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now }).valid).to.equal(true);
    expect(verifyWebhook(VECTOR.secret, headers, VECTOR.body + " ", { now }).valid).to.equal(false);
    expect(verifyWebhook(OTHER, headers, VECTOR.body, { now }).valid).to.equal(false);
    expect(
      verifyWebhook(VECTOR.secret, { ...headers, "webhook-id": "msg_other" }, VECTOR.body, { now })
        .valid,
    ).to.equal(false);
    const late = verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now: now + 301_000 });
    expect(late).to.deep.equal({ valid: false, reason: "timestamp outside tolerance" });
    const early = verifyWebhook(VECTOR.secret, headers, VECTOR.body, { now: now - 301_000 });
    expect(early.valid).to.equal(false);
    expect(
      verifyWebhook(VECTOR.secret, headers, VECTOR.body, {
        now: now + 3_600_000,
        toleranceSeconds: 3600,
      }).valid,
    ).to.equal(true);
  });

  it("accepts a matching v1 signature among unknown versions and junk", () => {
    const headers = {
      "webhook-id": VECTOR.id,
      "webhook-timestamp": String(VECTOR.timestamp),
      "webhook-signature": `v2,abc v1,bm9wZQ== junk ${VECTOR.signature}`,
    };
    const result = verifyWebhook(VECTOR.secret, headers, VECTOR.body, {
      now: VECTOR.timestamp * 1000,
    });
    expect(result.valid).to.equal(true);
  });

  it("refuses missing headers and a non-numeric timestamp", () => {
    const now = VECTOR.timestamp * 1000;
    expect(verifyWebhook(VECTOR.secret, {}, VECTOR.body, { now }).valid).to.equal(false);
    const result = verifyWebhook(
      VECTOR.secret,
      { "webhook-id": "x", "webhook-timestamp": "soon", "webhook-signature": VECTOR.signature },
      VECTOR.body,
      { now },
    );
    expect(result).to.deep.equal({ valid: false, reason: "invalid timestamp" });
  });

  it("checks configured secrets", () => {
    expect(secretProblem(VECTOR.secret)).to.equal(null);
    expect(secretProblem("MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")).to.match(/whsec_/);
    expect(secretProblem("whsec_not base64!")).to.match(/base64/);
    expect(secretProblem("whsec_" + Buffer.alloc(8).toString("base64"))).to.match(/24 to 64/);
    expect(secretProblem(42)).to.match(/string/);
  });
});
