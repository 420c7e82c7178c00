// The worker's decision after a backend call, one case per outcome row of docs/translators.md: what
// a 2xx, a business refusal, a transient failure (408, 429, 5xx, timeout, refused connection),
// a redirect, a translator failure and a shutdown come to, with and without attempts left.

import { expect } from "chai";
import {
  BackendAnswerError,
  BackendRedirectError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  SluiceError,
  type BackendResponse,
} from "../../shared/protocol/errors";
import { decideCall, type DecisionContext } from "../../worker/processing/call-decision";

const retry = { attempts: 3, backoffMs: [1_000, 5_000] };
const first: DecisionContext = {
  attempt: 1,
  retry,
  ordered: false,
  shuttingDown: false,
  maxMessageBytes: 16 * 1024 * 1024,
};
const last: DecisionContext = { ...first, attempt: 3 };
const answer = (status: number): BackendResponse => ({
  status,
  contentType: "application/json",
  body: "{}",
});

describe("the worker's decision after a backend call (docs/translators.md)", () => {
  it("2xx: completed with the backend's answers", () => {
    const answers = [answer(200), answer(201)];
    expect(decideCall({ answers }, first)).to.deep.equal({
      action: "complete",
      outcome: "completed",
      answers,
    });
  });

  it("answers that break the translator interface: failed at once as a translator error", () => {
    const broken: unknown[] = [
      { answers: [{ status: 200, body: {} }] },
      { answers: { status: 200, contentType: "text/plain", body: "" } },
      { answers: [answer(200), { ...answer(200), status: 1000 }] },
      { failure: new BackendRejectedError("no", undefined as unknown as BackendResponse) },
      { failure: new BackendUnavailableError("busy", { response: { status: 503 } as never }) },
    ];
    for (const result of broken) {
      expect(decideCall(result as never, first), JSON.stringify(result)).to.include({
        action: "fail",
        outcome: "poison",
        reason: "translator_error",
      });
    }
  });

  it("answers whose later ones would carry more than 64 MiB of the earlier again: failed at once", () => {
    // Each response is told with all those before it: 200 of 9 KB would carry 180 MB again.
    const of = (count: number) =>
      Array.from({ length: count }, () => ({ ...answer(200), body: "x".repeat(9_000) }));
    expect(decideCall({ answers: of(200) }, first)).to.include({
      action: "fail",
      outcome: "poison",
      reason: "translator_error",
    });
    expect(decideCall({ answers: of(20) }, first)).to.include({ action: "complete" });
    // One large answer is told once: no limit beyond the translator's own and the broker's
    // (amqpMaxMessageSize, here RabbitMQ 3.x's 128 MiB).
    const one = [{ ...answer(200), body: "x".repeat(70 * 1024 * 1024) }];
    const large = { ...first, maxMessageBytes: 128 * 1024 * 1024 };
    expect(decideCall({ answers: one }, large)).to.include({ action: "complete" });
  });

  it("an answer larger JSON-escaped than amqpMaxMessageSize allows a response message: failed at once", () => {
    // 64 KiB of broker message: 10 000 control characters are 60 000 bytes JSON-escaped.
    const small: DecisionContext = { ...first, maxMessageBytes: 64 * 1024 };
    const of = (body: string): BackendResponse => ({ ...answer(200), body });
    const control = of("\u0001".repeat(10_000));
    const failed = decideCall({ answers: [answer(200), control] }, small);
    expect(failed).to.include({ action: "fail", outcome: "poison", reason: "translator_error" });
    expect((failed as { cause: string }).cause).to.include("amqpMaxMessageSize of 65536 bytes");
    // Over the quick bound (6 bytes a character), within the exact size: as before.
    expect(decideCall({ answers: [of("a".repeat(25_000))] }, small)).to.include({
      action: "complete",
    });
    // A refusal's answer is a response message too.
    const refusal = new BackendRejectedError("the backend answered 422", {
      ...control,
      status: 422,
    });
    expect(decideCall({ failure: refusal }, small)).to.include({
      action: "fail",
      reason: "translator_error",
    });
    // A failure's own answer, too large, is left out of the failure it tells.
    const busy = new BackendUnavailableError("503", { response: { ...control, status: 503 } });
    expect(decideCall({ failure: busy }, { ...small, attempt: 3 })).to.include({
      action: "fail",
      reason: "retries_exhausted",
      response: null,
    });
  });

  it("4xx other than 408/429 (or a SOAP Client fault): rejected, never retried", () => {
    const refusal = new BackendRejectedError("the backend answered 422", answer(422));
    for (const context of [first, last]) {
      expect(decideCall({ failure: refusal }, context)).to.deep.equal({
        action: "reject",
        outcome: "rejected",
        response: refusal.response,
        error: { code: "BackendRejected", message: "the backend answered 422" },
      });
    }
  });

  it("408, 429, 5xx, refused connection with attempts left: retried after the backoff", () => {
    const failure = new BackendUnavailableError("503 from the backend", { response: answer(503) });
    expect(decideCall({ failure }, first)).to.deep.equal({
      action: "retry",
      outcome: "retryable_error",
      inPlace: false,
      delayMs: 1_000,
      nextAttempt: 2,
      cause: "503 from the backend",
    });
    expect(decideCall({ failure }, { ...first, attempt: 2 })).to.include({
      action: "retry",
      delayMs: 5_000,
      nextAttempt: 3,
    });
  });

  it("honours the backend's Retry-After when it asks for longer than the backoff", () => {
    const failure = new BackendUnavailableError("429", { retryAfterMs: 4_000 });
    expect(decideCall({ failure }, first)).to.include({ action: "retry", delayMs: 5_000 });
  });

  it("a timeout with attempts left: retried, counted as a timeout", () => {
    const failure = new BackendTimeoutError("no answer in 30 s");
    expect(decideCall({ failure }, first)).to.include({
      action: "retry",
      outcome: "timeout",
      nextAttempt: 2,
    });
  });

  it("an ordered backend retries in place, keeping its place in line", () => {
    const failure = new BackendUnavailableError("502");
    expect(decideCall({ failure }, { ...first, ordered: true })).to.include({
      action: "retry",
      inPlace: true,
      delayMs: 1_000,
    });
  });

  it("retries exhausted: failed and dead-lettered, with the backend's last answer", () => {
    const failure = new BackendUnavailableError("500 from the backend", { response: answer(500) });
    expect(decideCall({ failure }, last)).to.deep.equal({
      action: "fail",
      outcome: "retryable_error",
      reason: "retries_exhausted",
      error: { code: "BackendFailed", message: "the backend failed 3 times: 500 from the backend" },
      response: failure.response,
      cause: "500 from the backend",
    });
  });

  it("retries exhausted: the caller reads the failure's words, the operator its cause too", () => {
    // The status document goes to another organisation: the network error under a failure
    // names internal addresses, which only the operator's log and dead letter need.
    const cause = Object.assign(new Error("connect ECONNREFUSED 10.20.30.40:8443"), {
      code: "ECONNREFUSED",
    });
    const failure = new BackendUnavailableError("backend b unreachable: ECONNREFUSED", { cause });
    const decision = decideCall({ failure }, last);
    expect(decision).to.deep.include({
      action: "fail",
      error: {
        code: "BackendFailed",
        message: "the backend failed 3 times: backend b unreachable: ECONNREFUSED",
      },
      cause: "backend b unreachable: ECONNREFUSED (connect ECONNREFUSED 10.20.30.40:8443)",
    });
  });

  it("a certificate that does not name the host: the operator's words say what it names", () => {
    // Node lists only the certificate's IP addresses for a host given as one: here none.
    const cause = Object.assign(
      new Error(
        "Hostname/IP does not match certificate's altnames: IP: 10.0.3.7 is not in the cert's list: ",
      ),
      {
        code: "ERR_TLS_CERT_ALTNAME_INVALID",
        cert: { subject: { CN: "ss" }, subjectaltname: "DNS:ss.internal.example, DNS:ss" },
      },
    );
    const failure = new BackendUnavailableError(
      "backend b unreachable: ERR_TLS_CERT_ALTNAME_INVALID",
      { cause },
    );
    const decision = decideCall({ failure }, first) as { cause: string };
    expect(decision.cause).to.match(
      /10\.0\.3\.7 is not in the cert's list: ; the certificate names DNS:ss\.internal\.example, DNS:ss\)$/,
    );
    const bare = Object.assign(new Error("Hostname/IP does not match"), {
      code: "ERR_TLS_CERT_ALTNAME_INVALID",
      cert: { subject: { CN: "ss.internal.example" } },
    });
    const old = decideCall({ failure: new BackendUnavailableError("x", { cause: bare }) }, first);
    expect((old as { cause: string }).cause).to.contain(
      "names no subjectAltName, only CN=ss.internal.example",
    );
  });

  it("retries exhausted: a URL the cause quotes reaches the operator without its secrets", () => {
    // The soap package quotes the WSDL's URL whole, the backend's password and query key in it.
    const cause = new Error(
      "Invalid WSDL URL: http://svc:pw1@legacy.example:8080/soap?wsdl&apikey=k3y\n\n\r Code: 404",
    );
    const failure = new BackendUnavailableError("backend b: could not read its WSDL", { cause });
    const decision = decideCall({ failure }, last) as { cause: string };
    expect(decision.cause).to.equal(
      "backend b: could not read its WSDL (Invalid WSDL URL: http://legacy.example:8080/soap?[redacted]&apikey=[redacted])",
    );
  });

  it("retries exhausted by timeouts: failed as Timeout, so a sync caller gets 504", () => {
    const failure = new BackendTimeoutError("no answer in 30 s");
    expect(decideCall({ failure }, last)).to.deep.include({
      action: "fail",
      outcome: "timeout",
      reason: "retries_exhausted",
      error: { code: "Timeout", message: "the backend failed 3 times: no answer in 30 s" },
      response: null,
    });
  });

  it("a redirect: failed at once, never followed, never retried", () => {
    const failure = new BackendRedirectError("302", 302, "http://elsewhere/");
    expect(decideCall({ failure }, first)).to.deep.include({
      action: "fail",
      outcome: "redirect",
      reason: "backend_redirect",
      error: {
        code: "BackendFailed",
        message: "the backend answered 302 (a redirect, which is not followed)",
      },
    });
  });

  it("anything the translator throws that may not be called again: poison, failed at once", () => {
    for (const failure of [
      new Error("cannot map the body"),
      new SluiceError("BackendFailed", "broken multiple-responses body", { retryCall: false }),
      new SluiceError("Internal", "a bug"),
      "a thrown string",
    ]) {
      expect(decideCall({ failure }, first), String(failure)).to.deep.include({
        action: "fail",
        outcome: "poison",
        reason: "translator_error",
        error: {
          code: "BackendFailed",
          message:
            "the message could not be translated for the backend, or the backend's answer for " +
            "you: not retried, and the backend may or may not have received it; the operator of " +
            "this gateway has the reason under this message's id",
        },
      });
    }
  });

  it("an answer that is not the message's (BackendAnswerError): failed at once, its reason kept", () => {
    const failure = new BackendAnswerError("the answer does not echo the request's X-Road header");
    expect(decideCall({ failure }, first)).to.deep.include({
      action: "fail",
      outcome: "poison",
      reason: "translator_error",
      error: { code: "BackendFailed", message: failure.message },
    });
  });

  it("reads retryCall, not the kind: a translator's own transient error is retried", () => {
    const failure = new SluiceError("Unavailable", "the backend's queue is full");
    expect(decideCall({ failure }, first)).to.include({
      action: "retry",
      outcome: "retryable_error",
    });
  });

  it("shutdown: handed back, whatever the call came to (unless it answered)", () => {
    const shuttingDown = { ...first, shuttingDown: true };
    expect(decideCall({ failure: new BackendTimeoutError("aborted") }, shuttingDown)).to.deep.equal(
      { action: "hand-back", outcome: "interrupted" },
    );
    expect(decideCall({ answers: [answer(200)] }, shuttingDown)).to.include({
      action: "complete",
    });
  });

  it("shutdown: a refusal, a redirect or a foreign answer is the backend's answer, decided, not handed back to be called again", () => {
    const shuttingDown = { ...first, shuttingDown: true };
    expect(
      decideCall({ failure: new BackendRejectedError("422", answer(422)) }, shuttingDown),
    ).to.include({ action: "reject", outcome: "rejected" });
    expect(
      decideCall({ failure: new BackendRedirectError("302", 302, null) }, shuttingDown),
    ).to.include({ action: "fail", reason: "backend_redirect" });
    expect(decideCall({ failure: new BackendAnswerError("not ours") }, shuttingDown)).to.include({
      action: "fail",
      reason: "translator_error",
    });
    // A transient failure at shutdown is still the interrupted call's: handed back.
    expect(decideCall({ failure: new BackendUnavailableError("503") }, shuttingDown)).to.deep.equal(
      { action: "hand-back", outcome: "interrupted" },
    );
  });
});

describe("error properties", () => {
  it("keeps 'call again' and 'tell the caller when' apart; Internal is not retried", () => {
    expect(new SluiceError("Internal", "x").retryCall).to.equal(false);
    expect(new SluiceError("Internal", "x").retryAfter).to.equal(undefined);
    expect(new SluiceError("Unavailable", "x").retryCall).to.equal(true);
    const busy = new SluiceError("Busy", "queue full", { retryAfter: 7 });
    expect([busy.retryCall, busy.retryAfter, busy.status]).to.deep.equal([true, 7, 503]);
    // A 0.1.0 translator module's option name still works.
    expect(new SluiceError("BackendFailed", "x", { retryable: true }).retryCall).to.equal(true);
    expect(new SluiceError("BackendFailed", "x").retryable).to.equal(false);
  });
});
