import { expect } from "chai";
import { TargetSlots, type SlotRelease } from "../../response-worker/target-slots";
import { receiverOf } from "../../shared/delivery/callback-target";

describe("delivery slots per receiver", () => {
  let clock = 1_000_000;
  const slots = (perTarget = 2) => new TargetSlots({ perTarget, waitMs: 60_000, now: () => clock });

  it("gives a receiver at most its slots, and the other receivers theirs", async () => {
    const s = slots();
    expect(await s.take("https://a.test")).to.be.a("function");
    expect(await s.take("https://a.test")).to.be.a("function");
    expect(await s.take("https://b.test")).to.be.a("function");
    expect(s.busy("https://a.test")).to.equal(2);
    expect(s.busy("https://b.test")).to.equal(1);
  });

  it("lets a job wait for a moving receiver and hands it the next free slot, first come first served", async () => {
    const s = slots();
    const first = (await s.take("r"))!;
    await s.take("r");
    const order: string[] = [];
    const a = s.take("r").then((release) => (order.push("a"), release));
    const b = s.take("r").then((release) => (order.push("b"), release));
    first();
    const releaseA = (await a) as SlotRelease;
    expect(releaseA).to.be.a("function");
    expect(order).to.deep.equal(["a"]);
    expect(s.busy("r")).to.equal(2);
    releaseA();
    expect(await b).to.be.a("function");
    expect(order).to.deep.equal(["a", "b"]);
  });

  it("lets no more jobs wait than the receiver has slots", async () => {
    const s = slots();
    const release = (await s.take("r"))!;
    await s.take("r");
    const waiting = [s.take("r"), s.take("r")];
    expect(await s.take("r")).to.equal(null);
    release();
    expect(await waiting[0]).to.be.a("function");
  });

  // A hanging receiver: its attempts started long ago and none ended. A job held for it would
  // sit in the consumer's prefetch, which the other receivers' jobs need.
  it("gives up at once on a receiver that is not moving", async () => {
    const s = slots();
    await s.take("r");
    await s.take("r");
    clock += 60_000;
    expect(await s.take("r")).to.equal(null);
    expect(await s.take("other")).to.be.a("function");
  });

  it("counts a slot given back twice once", async () => {
    const s = slots(1);
    const release = (await s.take("r"))!;
    release();
    release();
    expect(s.busy("r")).to.equal(0);
    await s.take("r");
    expect(s.busy("r")).to.equal(1);
  });
});

describe("the receiver of a callback target", () => {
  it("is the URL's origin: scheme, host and port", () => {
    expect(receiverOf("https://Hooks.Example.org/a/b?token=1")).to.equal(
      "https://hooks.example.org",
    );
    expect(receiverOf("https://hooks.example.org:443/x")).to.equal("https://hooks.example.org");
    expect(receiverOf("https://hooks.example.org:8443/x")).to.equal(
      "https://hooks.example.org:8443",
    );
    expect(receiverOf("http://hooks.example.org/x")).to.equal("http://hooks.example.org");
    expect(receiverOf("https://[::1]:8443/x")).to.equal("https://[::1]:8443");
  });

  it("is the service for an X-Road target", () => {
    expect(receiverOf("xroad:EE/GOV/70000001/callbacks/resultReady")).to.equal(
      "xroad:EE/GOV/70000001/callbacks/resultReady",
    );
    expect(receiverOf("xroad:EE/GOV/70000001/callbacks/other")).to.equal(
      "xroad:EE/GOV/70000001/callbacks/other",
    );
  });

  it("is none for a target that is neither", () => {
    expect(receiverOf("not a url")).to.equal(null);
    expect(receiverOf("xroad:EE/GOV")).to.equal(null);
  });
});
