import { expect } from "chai";
import type { ServiceConfig } from "../../shared/config/config";
import { SluiceError } from "../../shared/protocol/errors";
import {
  acceptedOutcome,
  admitCaller,
  checkXroadId,
  errorOutcome,
  offeredService,
  failureOf,
  type Caller,
} from "../../adapter/route-intake";

const policy = {
  allow: ["https://cb.example.org/"],
  allowHttp: false,
  allowPrivate: false,
  xroad: false,
};
const publicLookup = async (): Promise<string[]> => ["93.184.216.34"];

function service(extra: Partial<ServiceConfig> = {}): ServiceConfig {
  return { code: "q", allowedClients: null, callback: null, ...extra } as unknown as ServiceConfig;
}

function caller(extra: Partial<Caller> = {}): Caller {
  return {
    service: service(),
    protocol: "rest",
    client: "EE/GOV/a",
    xroadId: "id-1",
    replyMode: "ack",
    callbackHeader: "",
    ...extra,
  };
}

/** The fault code `work` throws or rejects with: admitCaller refuses synchronously. */
async function codeOf(work: () => unknown): Promise<string> {
  try {
    await work();
    return "none";
  } catch (error) {
    return (error as SluiceError).faultCode;
  }
}

describe("Route intake: what REST and SOAP share", () => {
  it("refuses a client outside the service's allowlist, in either protocol", async () => {
    const deps = { callbackPolicy: policy, lookup: publicLookup };
    const guarded = service({ allowedClients: ["EE/GOV/b"] });
    for (const protocol of ["rest", "soap"] as const) {
      expect(
        await codeOf(() => admitCaller(caller({ service: guarded, protocol }), deps)),
      ).to.equal("Client.AccessDenied");
    }
    expect(
      await codeOf(() => admitCaller(caller({ service: guarded, client: "EE/GOV/b" }), deps)),
    ).to.equal("none");
  });

  it("finds a service only where it is offered, and only among own names", async () => {
    const services = {
      both: service({ code: "both", protocols: ["rest", "soap"] } as Partial<ServiceConfig>),
      soapOnly: service({ code: "soapOnly", protocols: ["soap"] } as Partial<ServiceConfig>),
    };
    expect(offeredService(services, "both", "rest").code).to.equal("both");
    expect(offeredService(services, "soapOnly", "soap").code).to.equal("soapOnly");
    for (const [code, protocol] of [
      ["soapOnly", "rest"],
      ["toString", "rest"],
      ["__proto__", "soap"],
      ["nothing", "soap"],
    ] as const) {
      expect(await codeOf(() => offeredService(services, code, protocol))).to.equal(
        "Client.UnknownService",
      );
    }
  });

  it("checks the X-Road id with each protocol's code", async () => {
    expect(() => checkXroadId("a\r\nb", "rest")).to.throw(/line break/);
    expect(await codeOf(() => checkXroadId("a\nb", "rest"))).to.equal("Client.InvalidHeader");
    expect(await codeOf(() => checkXroadId("a\u0085", "soap"))).to.equal("Client.InvalidSoap");
    expect(await codeOf(() => checkXroadId("x".repeat(256), "soap"))).to.equal(
      "Client.InvalidSoap",
    );
    for (const fine of ["1234567890", "abc-é-ü", "x".repeat(255), "a b"]) {
      expect(() => checkXroadId(fine, "rest"), fine).to.not.throw();
    }
  });

  it("takes the caller's callback target, else the service's, and checks it", async () => {
    const deps = { callbackPolicy: policy, lookup: publicLookup };
    const own = caller({ replyMode: "callback", callbackHeader: "https://cb.example.org/x" });
    expect(await admitCaller(own, deps)).to.equal("https://cb.example.org/x");
    const fallback = caller({
      replyMode: "callback",
      service: service({ callback: "https://cb.example.org/svc" }),
    });
    expect(await admitCaller(fallback, deps)).to.equal("https://cb.example.org/svc");
    expect(await codeOf(() => admitCaller(caller({ replyMode: "callback" }), deps))).to.equal(
      "Client.InvalidCallback",
    );
    const elsewhere = caller({ replyMode: "callback", callbackHeader: "https://evil.example/x" });
    expect(await codeOf(() => admitCaller(elsewhere, deps))).to.equal("Client.InvalidCallback");
    // Not in callback mode: no target is looked at.
    expect(await admitCaller(caller({ callbackHeader: "https://evil.example/x" }), deps)).to.equal(
      null,
    );
  });

  it("maps every outcome that is not the backend's answer to one failure", () => {
    const answered = (state: string, code?: string) =>
      ({
        kind: "answered",
        id: "m",
        state,
        response: null,
        error: code ? { code, message: "m" } : null,
      }) as Parameters<typeof failureOf>[0];
    expect(failureOf(answered("failed"))).to.include({ code: "BackendFailed", status: 502 });
    expect(failureOf(answered("failed", "Timeout"))).to.include({ code: "Timeout", status: 504 });
    expect(failureOf(answered("expired"))).to.include({ code: "Timeout", status: 504 });
    expect(failureOf(answered("cancelled"))).to.include({ code: "Conflict", status: 409 });
    expect(failureOf(answered("rejected"))).to.include({ code: "BackendRejected", status: 502 });
    expect(failureOf(answered("completed"))).to.include({ code: "BackendFailed" });
    expect(failureOf(answered("toString"))).to.include({ code: "BackendFailed" });
  });

  it("labels answers and errors for the request metric", () => {
    expect(acceptedOutcome({ kind: "accepted", id: "m", duplicate: true, retryAfter: 1 })).to.equal(
      "duplicate",
    );
    expect(
      acceptedOutcome({ kind: "accepted", id: "m", duplicate: false, retryAfter: 1 }),
    ).to.equal("accepted");
    expect(errorOutcome(new SluiceError("Busy", "b"))).to.equal("busy");
    expect(errorOutcome(new SluiceError("Unavailable", "u"))).to.equal("unavailable");
    expect(errorOutcome(new SluiceError("ValidationFailed", "v"))).to.equal("invalid");
    expect(errorOutcome(new SluiceError("Internal", "i"))).to.equal("error");
  });
});
