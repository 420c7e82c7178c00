import { expect } from "chai";
import { parseCallbackTarget, type CallbackPolicy } from "../../shared/delivery/callback-target";
import { keyCovers } from "../../shared/delivery/callback-scope";
import { SluiceError } from "../../shared/protocol/errors";

const ALICE = "EE/GOV/70000001/alice";
const BOB = "EE/GOV/70000002/bob";

// A broad general list, with Alice's receiver and X-Road service carved out of it for her.
const policy: CallbackPolicy = {
  allow: ["https://*.tenants.example.org/", "https://shared.example.org/hooks/", "xroad:EE/GOV/"],
  clients: {
    [ALICE]: [
      "https://alice.tenants.example.org/hooks",
      "https://alice-only.example.org/",
      "xroad:EE/GOV/70000001/alice/",
    ],
    "EE/GOV/70000003": ["https://carol.example.org/"],
  },
  allowHttp: false,
  allowPrivate: false,
  xroad: true,
};

function refusal(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    expect(error).to.be.instanceOf(SluiceError);
    expect((error as SluiceError).code).to.equal("InvalidCallback");
    expect((error as SluiceError).status).to.equal(400);
    return (error as SluiceError).message;
  }
  throw new Error("expected a refusal");
}

describe("callback targets scoped by client", () => {
  it("lets a client use its own receivers, including ones the general list does not name", () => {
    const own = "https://alice.tenants.example.org/hooks/done";
    expect(parseCallbackTarget(own, policy, ALICE).target).to.equal(own);
    const only = "https://alice-only.example.org/x";
    expect(parseCallbackTarget(only, policy, ALICE).target).to.equal(only);
    const service = "xroad:EE/GOV/70000001/alice/resultReady";
    expect(parseCallbackTarget(service, policy, ALICE).target).to.equal(service);
  });

  it("lets a client with its own list use the general list too", () => {
    const shared = "https://shared.example.org/hooks/a";
    expect(parseCallbackTarget(shared, policy, ALICE).target).to.equal(shared);
    expect(parseCallbackTarget(shared, policy, BOB).target).to.equal(shared);
  });

  it("refuses another client's receiver, though the general list admits it, naming no owner", () => {
    for (const target of [
      "https://alice.tenants.example.org/hooks",
      "https://alice-only.example.org/x",
      "xroad:EE/GOV/70000001/alice/resultReady",
    ]) {
      const message = refusal(() => parseCallbackTarget(target, policy, BOB));
      expect(message).to.match(/ is not allowed for client EE\/GOV\/70000002\/bob$/);
      expect(message).not.to.include("70000001");
      expect(message).not.to.include("alice");
    }
    // The rest of Alice's host is still everyone's, as the general list says.
    const beside = "https://alice.tenants.example.org/public";
    expect(parseCallbackTarget(beside, policy, BOB).target).to.equal(beside);
  });

  it("tells a target in no list from another client's own", () => {
    expect(
      refusal(() => parseCallbackTarget("https://elsewhere.example.com/", policy, BOB)),
    ).to.equal("the callback URL does not match any allowed callback prefix");
  });

  it("gives a member's receivers to its subsystems, and a subsystem's to it alone", () => {
    const carol = "https://carol.example.org/cb";
    expect(parseCallbackTarget(carol, policy, "EE/GOV/70000003").target).to.equal(carol);
    expect(parseCallbackTarget(carol, policy, "EE/GOV/70000003/billing").target).to.equal(carol);
    refusal(() => parseCallbackTarget(carol, policy, "EE/GOV/700000031/billing"));
    const own = "https://alice-only.example.org/x";
    refusal(() => parseCallbackTarget(own, policy, "EE/GOV/70000001"));
    refusal(() => parseCallbackTarget(own, policy, "EE/GOV/70000001/other"));
    expect(keyCovers("EE/GOV/70000001/alice", "EE/GOV/70000001/alice/x")).to.equal(false);
  });

  it("refuses every client's own receiver to a delivery that names no client", () => {
    const message = refusal(() =>
      parseCallbackTarget("https://alice-only.example.org/x", policy, null),
    );
    expect(message).to.equal("the callback URL is not allowed for a delivery that names no client");
    const shared = "https://shared.example.org/hooks/a";
    expect(parseCallbackTarget(shared, policy, null).target).to.equal(shared);
  });

  it("is the general list alone when no client has its own (a configuration before this)", () => {
    const plain: CallbackPolicy = { ...policy, clients: undefined };
    const target = "https://alice.tenants.example.org/hooks";
    expect(parseCallbackTarget(target, plain, BOB).target).to.equal(target);
    expect(parseCallbackTarget(target, { ...policy, clients: {} }, null).target).to.equal(target);
  });

  it("refuses another client the owner's receiver in every spelling a receiver reads as it", () => {
    const owned: CallbackPolicy = {
      ...policy,
      clients: { ...policy.clients, [ALICE]: ["https://alice.tenants.example.org/hooks/"] },
    };
    const everyones: CallbackPolicy = { ...policy, clients: {} };
    // Each is admitted by the general list as written, and reaches Alice's /hooks/ at a
    // receiver that decodes, drops path parameters, folds case or ignores a trailing slash.
    for (const spelling of [
      "https://alice.tenants.example.org/hooks",
      "https://alice.tenants.example.org/%68ooks/",
      "https://alice.tenants.example.org/HOOKS/x",
      "https://alice.tenants.example.org/hooks;v=1/x",
      "https://alice.tenants.example.org/hooks%3Bv=1",
      "https://alice.tenants.example.org/hooks./x",
      "https://alice.tenants.example.org/hooks%20",
    ]) {
      expect(parseCallbackTarget(spelling, everyones, BOB).target, spelling).to.equal(
        new URL(spelling).href,
      );
      expect(
        refusal(() => parseCallbackTarget(spelling, owned, BOB)),
        spelling,
      ).to.equal(`the callback URL is not allowed for client ${BOB}`);
    }
    // A host written with DNS's root dot is the same host.
    const rooted: CallbackPolicy = {
      ...owned,
      allow: [...owned.allow, "https://alice.tenants.example.org./"],
    };
    expect(
      refusal(() => parseCallbackTarget("https://alice.tenants.example.org./hooks/", rooted, BOB)),
    ).to.equal(`the callback URL is not allowed for client ${BOB}`);
    // Another path on the same host is not Alice's, and she keeps hers as the entry writes it.
    const other = "https://alice.tenants.example.org/hooks-bob";
    expect(parseCallbackTarget(other, owned, BOB).target).to.equal(other);
    const own = "https://alice.tenants.example.org/hooks/done";
    expect(parseCallbackTarget(own, owned, ALICE).target).to.equal(own);
  });

  it("refuses another client an IPv4 receiver written as an IPv4-mapped IPv6 address, and the other way round", () => {
    // Private receivers allowed (a provider's own network), every address admitted in general.
    const spellings = [
      "https://[::ffff:10.0.0.5]/hooks",
      "https://[::ffff:a00:5]/hooks",
      "https://[0:0:0:0:0:ffff:10.0.0.5]/hooks",
    ];
    const general = ["https://10.0.0.5/", ...spellings.map((s) => `${new URL(s).origin}/`)];
    const base = { ...policy, allow: general, allowPrivate: true };
    const byIPv4: CallbackPolicy = { ...base, clients: { [ALICE]: ["https://10.0.0.5/hooks"] } };
    for (const spelling of spellings) {
      expect(
        refusal(() => parseCallbackTarget(spelling, byIPv4, BOB)),
        spelling,
      ).to.equal(`the callback URL is not allowed for client ${BOB}`);
    }
    const byMapped: CallbackPolicy = {
      ...base,
      clients: { [ALICE]: ["https://[::ffff:10.0.0.5]/hooks"] },
    };
    expect(refusal(() => parseCallbackTarget("https://10.0.0.5/hooks", byMapped, BOB))).to.equal(
      `the callback URL is not allowed for client ${BOB}`,
    );
    // Another address, mapped or not, is another receiver.
    const other = "https://[::ffff:10.0.0.6]/hooks";
    const otherAllowed: CallbackPolicy = {
      ...byIPv4,
      allow: [...general, `${new URL(other).origin}/`],
    };
    expect(parseCallbackTarget(other, otherAllowed, BOB).target).to.equal(new URL(other).href);
    expect(parseCallbackTarget("https://10.0.0.5/hooks", byIPv4, ALICE).kind).to.equal("url");
  });

  it("refuses another client an IPv4 receiver written as a NAT64 or 6to4 IPv6 address, and the other way round", () => {
    // 64:ff9b::/96 reaches 10.0.0.5 through a NAT64 translator, 2002:a00:5::/48 through a relay.
    const spellings = [
      "https://[64:ff9b::a00:5]/hooks",
      "https://[64:ff9b::10.0.0.5]/hooks",
      "https://[2002:a00:5::]/hooks",
      "https://[2002:a00:5:1::7]/hooks",
    ];
    const general = ["https://10.0.0.5/", ...spellings.map((s) => `${new URL(s).origin}/`)];
    const base = { ...policy, allow: general, allowPrivate: true };
    const byIPv4: CallbackPolicy = { ...base, clients: { [ALICE]: ["https://10.0.0.5/hooks"] } };
    for (const spelling of spellings) {
      expect(
        refusal(() => parseCallbackTarget(spelling, byIPv4, BOB)),
        spelling,
      ).to.equal(`the callback URL is not allowed for client ${BOB}`);
    }
    for (const entry of ["https://[64:ff9b::a00:5]/hooks", "https://[2002:a00:5::]/hooks"]) {
      const byIPv6: CallbackPolicy = { ...base, clients: { [ALICE]: [entry] } };
      expect(
        refusal(() => parseCallbackTarget("https://10.0.0.5/hooks", byIPv6, BOB)),
        entry,
      ).to.equal(`the callback URL is not allowed for client ${BOB}`);
    }
    // Another IPv4 address inside the same prefixes is another receiver.
    const other = "https://[64:ff9b::a00:6]/hooks";
    const otherAllowed: CallbackPolicy = {
      ...byIPv4,
      allow: [...general, `${new URL(other).origin}/`],
    };
    expect(parseCallbackTarget(other, otherAllowed, BOB).target).to.equal(new URL(other).href);
  });
});
