import { expect } from "chai";
import { hostname } from "node:os";
import { PassThrough, Writable } from "node:stream";
import { createLogger, messageLogger, resolveFormat } from "../../shared/observability/logger";
import { restoringEnv } from "../support/environment";

/** Collects the JSON lines a logger writes. */
function capture(): {
  stream: Writable;
  raw: () => string;
  lines: () => Record<string, unknown>[];
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const raw = () => chunks.join("");
  const lines = () =>
    raw()
      .split("\n")
      .filter((line) => line.length > 0)
      .map((line) => JSON.parse(line) as Record<string, unknown>);
  return { stream, raw, lines };
}

describe("logger", () => {
  const saved = {
    level: process.env.LOG_LEVEL,
    redact: process.env.LOG_REDACT,
    format: process.env.LOG_FORMAT,
  };
  // Each case starts from the defaults, whatever the shell running the suite exports.
  beforeEach(() => {
    delete process.env.LOG_LEVEL;
    delete process.env.LOG_REDACT;
    delete process.env.LOG_FORMAT;
  });
  afterEach(() => {
    for (const [key, value] of [
      ["LOG_LEVEL", saved.level],
      ["LOG_REDACT", saved.redact],
      ["LOG_FORMAT", saved.format],
    ] as const) {
      if (value === undefined) delete process.env[key];
      else process.env[key] = value;
    }
  });

  it("writes JSON lines with the role, instance and a textual level", () => {
    delete process.env.LOG_LEVEL;
    const out = capture();
    const log = createLogger("worker", { destination: out.stream, instance: "w-1" });
    log.info({ queue: "requests.legacy" }, "consuming");
    const [line] = out.lines();
    expect(line).to.include({ role: "worker", instance: "w-1", level: "info", msg: "consuming" });
    expect(line.queue).to.equal("requests.legacy");
    expect(line.time).to.be.a("string");
  });

  it("names the instance from SLUICE_INSTANCE, else the host name", () => {
    restoringEnv(["SLUICE_INSTANCE"], () => {
      process.env.SLUICE_INSTANCE = "pod-7";
      const named = capture();
      createLogger("adapter", { destination: named.stream }).info("x");
      expect(named.lines()[0].instance).to.equal("pod-7");
      delete process.env.SLUICE_INSTANCE;
      const host = capture();
      createLogger("adapter", { destination: host.stream }).info("x");
      expect(host.lines()[0].instance).to.equal(hostname());
    });
  });

  it("redacts bodies and user ids by default", () => {
    delete process.env.LOG_REDACT;
    const out = capture();
    const log = createLogger("adapter", { destination: out.stream });
    log.info(
      {
        body: "secret payload",
        userId: "EE12345678901",
        req: { body: '{"a":1}', headers: { "x-road-userid": "EE1", "x-road-client": "EE/GOV/1" } },
        message: { userId: "EE2", soap: { bodyXml: "<x/>" } },
        status: { responses: [{ seq: 1, body: "answer text" }] },
        headers: { authorization: "Bearer tok-123" },
        callbacks: { secret: "whsec_bG9nZ2VyLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzLWxvbmc=" },
      },
      "received",
    );
    const [line] = out.lines();
    const text = JSON.stringify(line);
    expect(line.body).to.equal("[redacted]");
    expect(line.userId).to.equal("[redacted]");
    const req = line.req as { body: string; headers: Record<string, string> };
    expect(req.body).to.equal("[redacted]");
    expect(req.headers["x-road-userid"]).to.equal("[redacted]");
    expect(req.headers["x-road-client"]).to.equal("EE/GOV/1");
    expect(text).not.to.include("secret payload");
    expect(text).not.to.include("EE12345678901");
    expect(text).not.to.include("<x/>");
    expect(text).not.to.include("answer text");
    expect(text).not.to.include("tok-123");
    expect(text).not.to.include("whsec_bG9nZ2VyLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzLWxvbmc=");
    expect((line.status as { responses: { seq: number }[] }).responses[0].seq).to.equal(1);
  });

  it("keeps bodies when LOG_REDACT=off", () => {
    process.env.LOG_REDACT = "off";
    const out = capture();
    createLogger("adapter", { destination: out.stream }).info({ body: "visible" }, "debug");
    expect(out.lines()[0].body).to.equal("visible");
  });

  it("keeps credentials out whatever LOG_REDACT says: it is for bodies and user ids", () => {
    process.env.LOG_REDACT = "off";
    const out = capture();
    createLogger("adapter", { destination: out.stream }).info(
      {
        body: "visible",
        headers: { authorization: "Bearer tok-123", accept: "application/json" },
        req: { headers: { authorization: "Basic dXNlcjpwdw==", "x-api-key": "key-456" } },
        answer: { headers: { "set-cookie": "session=ck-789" } },
        secret: "whsec_bG9nZ2VyLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzLWxvbmc=",
      },
      "debug",
    );
    const text = JSON.stringify(out.lines()[0]);
    expect(out.lines()[0].body).to.equal("visible");
    expect(text).to.include("application/json");
    expect(text).not.to.include("tok-123");
    expect(text).not.to.include("dXNlcjpwdw==");
    expect(text).not.to.include("key-456");
    expect(text).not.to.include("ck-789");
    expect(text).not.to.include("whsec_bG9nZ2VyLXRlc3Qtc2VjcmV0LTMyLWJ5dGVzLWxvbmc=");
  });

  it("keeps out the secrets of a rotation and the admin token, as the configuration names them", () => {
    process.env.LOG_REDACT = "off";
    const out = capture();
    createLogger("adapter", { destination: out.stream }).info(
      {
        secrets: ["whsec_cm90YXRpb24tbmV3LXNlY3JldC0yNC1ieXRlcw=="],
        callbacks: { secrets: ["whsec_cm90YXRpb24tb2xkLXNlY3JldC0yNC1ieXRlcw=="] },
        token: "admin-token-top-level-0001",
        admin: { port: 9090, token: "admin-token-one-level-0002" },
      },
      "debug",
    );
    const text = JSON.stringify(out.lines()[0]);
    expect(out.lines()[0].admin).to.include({ port: 9090 });
    expect(text).not.to.include("cm90YXRpb24tbmV3");
    expect(text).not.to.include("cm90YXRpb24tb2xk");
    expect(text).not.to.include("admin-token-top-level-0001");
    expect(text).not.to.include("admin-token-one-level-0002");
  });

  it("honours LOG_LEVEL, including silent", () => {
    process.env.LOG_LEVEL = "silent";
    const out = capture();
    const log = createLogger("worker", { destination: out.stream });
    log.error("not shown");
    expect(out.lines()).to.have.length(0);
    process.env.LOG_LEVEL = "warn";
    const warn = capture();
    const log2 = createLogger("worker", { destination: warn.stream });
    log2.info("hidden");
    log2.warn("shown");
    expect(warn.lines().map((l) => l.msg)).to.deep.equal(["shown"]);
  });

  it("falls back to info on an unknown LOG_LEVEL and says so", () => {
    process.env.LOG_LEVEL = "verbose";
    const out = capture();
    const log = createLogger("worker", { destination: out.stream });
    log.info("after");
    const lines = out.lines();
    expect(lines[0]).to.include({ level: "warn", requested: "verbose" });
    expect(lines[1]).to.include({ msg: "after" });
  });

  it("prints one readable line per event for a terminal, redacted like JSON", () => {
    const out = new PassThrough();
    const log = createLogger("all", { destination: out, isTty: true, format: undefined });
    log.child({ component: "worker" }).info({ backend: "legacy", body: "secret" }, "consuming");
    log.warn({ port: 8080 }, "careful");
    const text = out.read().toString("utf8") as string;
    const lines = text.trimEnd().split("\n");
    expect(lines).to.have.length(2);
    expect(lines[0]).to.match(/^\[\d\d:\d\d:\d\d\.\d{3}Z\] INFO: worker: consuming /);
    expect(lines[0]).to.include('"backend":"legacy"').and.include("[redacted]");
    expect(lines[0]).not.to.include("secret").and.not.to.include('"pid"');
    expect(lines[1]).to.match(/WARN: careful \{"port":8080\}$/);
  });

  // What callers and backends wrote: a CSI (U+009B), a next-line (U+0085), a right-to-left
  // override, a line separator, and in a fault's text C0 controls (ESC, CR, backspace).
  const HOSTILE = "a\u009b2J\u009b31mRED\u0085b\u202eevil\u2028c\u007f";
  const FAULT = "fault \u001b]0;title\u0007 \r\b over\nnext\tcell \\u001b as text";

  it("writes no character raw that a terminal acts on or a reader splits a line at; the values parse as they were", () => {
    const out = capture();
    const log = createLogger("adapter", { destination: out.stream, format: "json" });
    log.info({ xroadId: HOSTILE, err: { message: FAULT } }, `refused ${HOSTILE}`);
    log.child({ client: HOSTILE }).warn("child");
    const [line, child] = out.lines();
    expect(line.xroadId).to.equal(HOSTILE);
    expect(line.msg).to.equal(`refused ${HOSTILE}`);
    expect((line.err as { message: string }).message).to.equal(FAULT);
    expect(child.client).to.equal(HOSTILE);
    const raw = out.raw();
    // eslint-disable-next-line no-control-regex
    expect(raw).not.to.match(/[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202e\u2028]/);
    expect(raw.split("\n").filter(Boolean)).to.have.length(2);
  });

  it("shows those characters as \\uXXXX text on a terminal, line feeds and tabs kept", () => {
    const out = new PassThrough();
    const log = createLogger("adapter", { destination: out, isTty: true, format: undefined });
    log.info({ xroadId: HOSTILE, err: FAULT }, `refused ${HOSTILE}`);
    const text = out.read().toString("utf8") as string;
    // eslint-disable-next-line no-control-regex
    expect(text).not.to.match(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e\u2028]/);
    expect(text).to.include("refused a\\u009b2J\\u009b31mRED\\u0085b\\u202eevil\\u2028c\\u007f");
    expect(text).to.include("u001b]0;title");
  });

  it("prints a terminal line's time in UTC, whatever the process's time zone", () => {
    const zone = process.env.TZ;
    const now = Date.now;
    // A zone 14 hours ahead, at an instant that is already the next day (and year) there.
    process.env.TZ = "Pacific/Kiritimati";
    Date.now = () => Date.parse("2027-12-31T23:59:58.123Z");
    try {
      const out = new PassThrough();
      createLogger("all", { destination: out, isTty: true }).info("tick");
      expect(out.read().toString("utf8")).to.match(/^\[23:59:58\.123Z\] INFO: tick/);
    } finally {
      Date.now = now;
      if (zone === undefined) delete process.env.TZ;
      else process.env.TZ = zone;
    }
  });

  it("writes JSON when not on a terminal, or when LOG_FORMAT=json asks for it on one", () => {
    expect(resolveFormat(undefined, false)).to.deep.equal({ format: "json" });
    expect(resolveFormat(undefined, true)).to.deep.equal({ format: "pretty" });
    expect(resolveFormat("json", true)).to.deep.equal({ format: "json" });
    expect(resolveFormat(" Pretty ", false)).to.deep.equal({ format: "pretty" });
    process.env.LOG_FORMAT = "json";
    const out = capture();
    createLogger("worker", { destination: out.stream, isTty: true }).info("plain");
    expect(out.lines()[0]).to.include({ msg: "plain", level: "info" });
  });

  it("falls back to JSON on an unknown LOG_FORMAT and says so", () => {
    process.env.LOG_FORMAT = "fancy";
    const out = capture();
    createLogger("worker", { destination: out.stream, isTty: true }).info("after");
    const lines = out.lines();
    expect(lines[0]).to.include({ level: "warn", requested: "fancy" });
    expect(lines[1]).to.include({ msg: "after" });
  });

  it("puts the message ids on every line of a message logger", () => {
    const out = capture();
    const log = createLogger("response-worker", { destination: out.stream, level: "debug" });
    const mlog = messageLogger(log, { id: "0b9e", xroadId: "xr-1", client: "EE/GOV/1/sub" });
    mlog.debug("stored");
    mlog.info({ seq: 1 }, "delivered");
    const lines = out.lines();
    expect(lines).to.have.length(2);
    for (const line of lines) {
      expect(line).to.include({ id: "0b9e", xroadId: "xr-1", client: "EE/GOV/1/sub" });
    }
  });
});
