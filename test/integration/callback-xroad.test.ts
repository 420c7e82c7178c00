import { expect } from "chai";
import { randomBytes } from "node:crypto";
import type { CallbackPolicy } from "../../shared/delivery/callback-target";
import { SafeHttp } from "../../shared/delivery/safe-http";
import { CallbackSender } from "../../response-worker/callback-sender";
import { verifyWebhook } from "../../response-worker/webhook-signature";
import { CallbackReceiver } from "./callback-receiver";
import { createTestPki } from "../support/test-pki";
import { startXroadSim } from "../../xroad-sim/xroad-sim";
import { refusingPeer, type RefusingPeer } from "../support/refusing-peer";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const OLD_SECRET = `whsec_${randomBytes(32).toString("base64")}`;

describe("X-Road callback targets through the security server (real HTTP)", () => {
  let securityServer: CallbackReceiver;
  let http: SafeHttp;
  let publicHttp: SafeHttp;
  const policy: CallbackPolicy = {
    allow: ["xroad:EE/GOV/"],
    allowHttp: false,
    allowPrivate: false,
    xroad: true,
  };
  const request = {
    webhookId: "msg_x.1",
    messageId: "0b7e1c2a-5d1f-4e63-9a55-2f1d1e6b7c10",
    target: "xroad:EE/GOV/70000001/callbacks/resultReady",
    body: '{"state":"completed"}',
  };

  before(async () => {
    securityServer = await CallbackReceiver.start({ tls: false });
    // The security server is the operator's own and may be private; the receiver lives behind it.
    http = new SafeHttp({ allowPrivate: true });
    publicHttp = new SafeHttp({ allowPrivate: false });
  });
  beforeEach(() => {
    securityServer.calls.length = 0;
  });
  after(async () => {
    await http.close();
    await publicHttp.close();
    await securityServer.close();
  });

  it("POSTs to /r1/<service> with Sluice's X-Road-Client and the signed body", async () => {
    const sender = new CallbackSender({
      secrets: [SECRET, OLD_SECRET],
      policy,
      http: publicHttp,
      xroad: {
        securityServerUrl: `http://127.0.0.1:${securityServer.port}/`,
        client: "EE/GOV/70000009/sluice",
        http,
      },
    });
    const result = await sender.send(request);
    expect(result).to.deep.equal({ outcome: "delivered", status: 204 });
    const [call] = securityServer.calls;
    expect(call.method).to.equal("POST");
    expect(call.path).to.equal("/r1/EE/GOV/70000001/callbacks/resultReady");
    expect(call.headers["x-road-client"]).to.equal("EE/GOV/70000009/sluice");
    // The same on every attempt of the delivery, as its webhook-id.
    expect(call.headers["x-road-id"]).to.equal(request.webhookId);
    expect(call.headers["x-sluice-id"]).to.equal(request.messageId);
    expect(call.headers["content-type"]).to.equal("application/json");
    expect(call.body).to.equal(request.body);
    expect(verifyWebhook(SECRET, call.headers, call.body).valid).to.equal(true);
    expect(verifyWebhook(OLD_SECRET, call.headers, call.body).valid).to.equal(true);
    expect((await sender.send(request)).outcome).to.equal("delivered");
    expect(securityServer.calls[1].headers["x-road-id"]).to.equal(request.webhookId);
  });

  it("sends X-Road-Client with each part percent-encoded, as a security server decodes it (PR-REST §4.3)", async () => {
    // "?" is an identifier character (§4.8) but no URI segment's: sent raw, X-Road refuses it.
    const sender = new CallbackSender({
      secrets: [SECRET],
      policy,
      http: publicHttp,
      xroad: {
        securityServerUrl: `http://127.0.0.1:${securityServer.port}/`,
        client: "EE/GOV/70?9/sluice",
        http,
      },
    });
    expect((await sender.send(request)).outcome).to.equal("delivered");
    expect(securityServer.calls[0].headers["x-road-client"]).to.equal("EE/GOV/70%3F9/sluice");
  });

  it("refuses an X-Road target when no security server is configured or the allowlist lacks it", async () => {
    const withoutServer = new CallbackSender({ secrets: [SECRET], policy, http });
    expect((await withoutServer.send(request)).outcome).to.equal("refused");
    const xroad = {
      securityServerUrl: `http://127.0.0.1:${securityServer.port}`,
      client: "EE/GOV/70000009/sluice",
      http,
    };
    const narrow = new CallbackSender({
      secrets: [SECRET],
      policy: { ...policy, allow: ["xroad:EE/COM/"] },
      http,
      xroad,
    });
    const refused = await narrow.send(request);
    expect(refused.outcome).to.equal("refused");
    expect(refused.failure?.message).to.match(/does not match any allowed callback prefix/);
    expect(securityServer.calls).to.have.length(0);
  });

  it("reaches a security server that requires Sluice's client certificate (xroad-sim, mTLS)", async () => {
    const pki = createTestPki();
    const ssCert = pki.ca.issue("ss", { cn: "localhost" });
    const sluice = pki.ca.issue("sluice", { cn: "sluice" });
    const sim = await startXroadSim({
      tls: { cert: ssCert.cert, key: ssCert.key },
      // Sluice's own certificate as its subsystem's "Information System TLS certificate".
      clients: { "EE/GOV/70000009/sluice": { certificates: sluice.cert } },
      services: {
        "EE/GOV/70000001/callbacks/resultReady": { url: securityServer.url("/hooks") },
      },
    });
    const withCert = new SafeHttp({
      allowPrivate: true,
      ca: pki.ca.cert,
      cert: sluice.cert,
      key: sluice.key,
    });
    const withoutCert = new SafeHttp({ allowPrivate: true, ca: pki.ca.cert });
    const through = (client: SafeHttp) =>
      new CallbackSender({
        secrets: [SECRET],
        policy,
        http: publicHttp,
        xroad: { securityServerUrl: sim.url, client: "EE/GOV/70000009/sluice", http: client },
      });
    try {
      expect(await through(withCert).send(request)).to.deep.equal({
        outcome: "delivered",
        status: 204,
      });
      const [call] = securityServer.calls;
      expect(call.path).to.equal("/hooks");
      expect(call.headers["x-road-client"]).to.equal("EE/GOV/70000009/sluice");
      expect(sim.calls()[0].service).to.equal("EE/GOV/70000001/callbacks/resultReady");
      expect(verifyWebhook(SECRET, call.headers, call.body).valid).to.equal(true);

      const refused = await through(withoutCert).send(request);
      expect(refused.outcome).to.equal("retry");
      expect(refused.failure?.message).to.include("SslAuthenticationFailed");
      expect(securityServer.calls).to.have.length(1);
    } finally {
      await withCert.close();
      await withoutCert.close();
      await sim.close();
      pki.cleanup();
    }
  });

  // X-Road errors of the security servers themselves (X-Road-Error), as xroad-sim raises them.
  describe("when the security server answers with an X-Road error", () => {
    let sim: Awaited<ReturnType<typeof startXroadSim>>;
    let down: RefusingPeer;
    const sender = () =>
      new CallbackSender({
        secrets: [SECRET],
        policy,
        http: publicHttp,
        xroad: { securityServerUrl: sim.url, client: "EE/GOV/70000009/sluice", http },
      });
    const to = (service: string) => ({ ...request, target: `xroad:${service}` });

    before(async () => {
      down = await refusingPeer();
      const nowhere = down.url("/gone");
      sim = await startXroadSim({
        services: {
          "EE/GOV/70000001/callbacks/resultReady": {
            url: securityServer.url("/hooks"),
            allowedClients: ["EE/GOV/70000002/someoneElse"],
          },
          "EE/GOV/70000001/callbacks/down": { url: nowhere },
        },
      });
    });
    after(async () => {
      await sim.close();
      await down.close();
    });

    it("stops at access denied, naming the X-Road error", async () => {
      const result = await sender().send(to("EE/GOV/70000001/callbacks/resultReady"));
      expect(result.outcome).to.equal("rejected");
      expect(result.failure?.kind).to.equal("xroad");
      expect(result.failure?.message).to.match(
        /^the security server answered Server\.ServerProxy\.AccessDenied: Request is not allowed/,
      );
      expect(securityServer.calls).to.have.length(0);
    });

    it("stops at an unknown service", async () => {
      const result = await sender().send(to("EE/GOV/70000001/callbacks/noSuchService"));
      expect(result.outcome).to.equal("rejected");
      expect(result.failure?.message).to.match(/Server\.ServerProxy\.UnknownService/);
    });

    it("tries again when the receiving service cannot be reached", async () => {
      const result = await sender().send(to("EE/GOV/70000001/callbacks/down"));
      expect(result.outcome).to.equal("retry");
      expect(result.failure?.kind).to.equal("xroad");
      expect(result.failure?.message).to.match(/ServiceFailed\.NetworkError/);
    });
  });
});
