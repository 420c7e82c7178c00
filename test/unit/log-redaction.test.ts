// Redaction in log lines below the first two levels: a library's error, a configuration block, an
// array of them, and objects built to make logging slow or throw.

import { expect } from "chai";
import { Writable } from "node:stream";
import { createLogger } from "../../shared/observability/logger";
import { MAX_LOG_DEPTH, MAX_LOG_WIDTH } from "../../shared/observability/log-redaction";

function logged(write: (log: ReturnType<typeof createLogger>) => void): {
  line: Record<string, unknown>;
  text: string;
} {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      chunks.push(chunk.toString("utf8"));
      done();
    },
  });
  write(createLogger("adapter", { destination: stream, format: "json" }));
  const lines = chunks.join("").split("\n").filter(Boolean);
  expect(lines).to.have.length(1);
  return { line: JSON.parse(lines[0]) as Record<string, unknown>, text: lines[0] };
}

describe("log redaction at any depth", () => {
  const saved = process.env.LOG_REDACT;
  beforeEach(() => delete process.env.LOG_REDACT);
  afterEach(() => {
    if (saved === undefined) delete process.env.LOG_REDACT;
    else process.env.LOG_REDACT = saved;
  });

  it("redacts credentials two and three levels down, whatever the header's case", () => {
    const { line, text } = logged((log) =>
      log.warn(
        {
          failure: {
            options: { headers: { Authorization: "Bearer depth-two-tok", accept: "a/b" } },
          },
          config: {
            backends: { legacy: { options: { headers: { "x-api-key": "depth-four-key" } } } },
            callbacks: { delivery: { secret: "whsec_depth-three-secret" } },
            admin: { auth: { token: "depth-three-admin-token" } },
          },
        },
        "call failed",
      ),
    );
    for (const value of [
      "depth-two-tok",
      "depth-four-key",
      "depth-three-secret",
      "depth-three-admin-token",
    ]) {
      expect(text).not.to.include(value);
    }
    const failure = line.failure as { options: { headers: Record<string, string> } };
    expect(failure.options.headers).to.deep.equal({ Authorization: "[redacted]", accept: "a/b" });
  });

  it("redacts password, key and token fields by name, whatever their case or separators", () => {
    const names = [
      "password",
      "Passwd",
      "passphrase",
      "sentinelPassword",
      "secret",
      "clientSecret",
      "client_secret",
      "apiKey",
      "api_key",
      "privateKey",
      "private-key",
      "accessToken",
      "access_token",
      "refreshToken",
      "REFRESH_TOKEN",
      "id_token",
      "authToken",
    ];
    const body = Object.fromEntries(names.map((name) => [name, `value-of-${name}`]));
    const { line, text } = logged((log) =>
      log.warn({ failure: { response: { data: { error: body } } } }, "backend refused"),
    );
    for (const name of names) expect(text).not.to.include(`value-of-${name}`);
    const shown = (line.failure as { response: { data: { error: Record<string, string> } } })
      .response.data.error;
    expect(shown).to.deep.equal(Object.fromEntries(names.map((name) => [name, "[redacted]"])));
  });

  it("leaves fields whose names merely contain a credential's name, and key, auth, credential", () => {
    const fields = {
      tokenAt: "2026-01-01T00:00:00.000Z",
      secretsFile: "/etc/sluice/secrets",
      passwordSet: true,
      key: "/etc/sluice/tls/key.pem",
      auth: "bearer",
      credential: "bearer",
      keyspace: "sluice:",
    };
    const { line } = logged((log) => log.info({ admin: fields }, "started"));
    expect(line.admin).to.deep.equal(fields);
  });

  it("redacts credentials inside arrays", () => {
    const { line, text } = logged((log) =>
      log.info(
        {
          calls: [
            { request: { headers: { cookie: "sid=array-cookie-1" } } },
            [{ secrets: ["whsec_array-secret-2"] }],
          ],
        },
        "calls",
      ),
    );
    expect(text).not.to.include("array-cookie-1").and.not.to.include("array-secret-2");
    expect(line.calls).to.deep.equal([
      { request: { headers: { cookie: "[redacted]" } } },
      [{ secrets: "[redacted]" }],
    ]);
  });

  it("redacts inside an error's own properties and keeps its message, type and stack", () => {
    const err = Object.assign(new Error("connect refused"), {
      code: "ECONNREFUSED",
      options: { url: "/x", headers: { authorization: "Basic ZXJyLWRlcHRoLXRocmVl" } },
      response: { request: { headers: { "set-cookie": ["s=err-cookie"] } } },
    });
    const { line, text } = logged((log) => log.error({ err }, "backend call failed"));
    expect(text).not.to.include("ZXJyLWRlcHRoLXRocmVl").and.not.to.include("err-cookie");
    const shown = line.err as Record<string, unknown>;
    expect(shown).to.include({ type: "Error", message: "connect refused", code: "ECONNREFUSED" });
    expect(shown.stack).to.be.a("string").and.include("connect refused");
    expect(shown.options).to.deep.equal({ url: "/x", headers: { authorization: "[redacted]" } });
    expect(err.options.headers.authorization, "the error itself is left as it was").to.equal(
      "Basic ZXJyLWRlcHRoLXRocmVl",
    );
  });

  it("redacts an error logged as the first argument, and one nested in a field", () => {
    const inner = Object.assign(new Error("inner"), {
      config: { headers: { "x-auth-token": "nested-err-tok" } },
    });
    const { text } = logged((log) =>
      log.error(Object.assign(new Error("outer"), { inner }), "failed"),
    );
    expect(text).not.to.include("nested-err-tok");
    const other = logged((log) => log.warn({ context: { cause: inner } }, "failed"));
    expect(other.text).not.to.include("nested-err-tok");
  });

  it("writes a cycle as [Circular] and still redacts beside it", () => {
    const config: Record<string, unknown> = { name: "legacy", auth: { token: "cyclic-token" } };
    config.self = config;
    (config.auth as Record<string, unknown>).owner = config;
    const { line, text } = logged((log) => log.info({ config }, "loaded"));
    expect(text).not.to.include("cyclic-token");
    expect(line.config).to.deep.equal({
      name: "legacy",
      auth: { token: "[redacted]", owner: "[Circular]" },
      self: "[Circular]",
    });
  });

  it("redacts the fields of what a toJSON returns, whatever toJSON that returned value has", () => {
    // JSON calls toJSON once: the returned object's fields are written, its own toJSON is not called.
    const inner = { token: "inner-token", toJSON: () => ({ note: "decoy" }) };
    const { line, text } = logged((log) => log.info({ client: { toJSON: () => inner } }, "call"));
    expect(text).not.to.include("inner-token");
    expect(text).not.to.include("decoy");
    expect(line.client).to.deep.equal({ token: "[redacted]" });
  });

  it("writes a throwing getter as [unreadable] and the rest of the line as usual", () => {
    const hostile = {
      visible: 1,
      get broken(): string {
        throw new Error("getter");
      },
      nested: { headers: { authorization: "getter-line-tok" } },
    };
    const { line, text } = logged((log) => log.info({ hostile }, "odd"));
    expect(line.hostile).to.deep.equal({
      visible: 1,
      broken: "[unreadable]",
      nested: { headers: { authorization: "[redacted]" } },
    });
    expect(text).not.to.include("getter-line-tok");
  });

  it(`replaces objects deeper than ${MAX_LOG_DEPTH} levels and cuts wide ones`, () => {
    let deep: Record<string, unknown> = { token: "too-deep-token" };
    for (let level = 0; level < MAX_LOG_DEPTH + 3; level += 1) deep = { next: deep };
    const wide: Record<string, unknown> = {};
    for (let key = 0; key < MAX_LOG_WIDTH * 50; key += 1)
      wide[`k${key}`] = { token: `wide-${key}` };
    const items = Array.from({ length: MAX_LOG_WIDTH * 50 }, (_, i) => ({ secret: `item-${i}` }));
    const { line, text } = logged((log) => log.info({ deep, wide, items }, "big"));
    expect(text)
      .not.to.include("too-deep-token")
      .and.not.to.match(/wide-\d|item-\d/);
    let shown = line.deep as Record<string, unknown>;
    for (let level = 1; level < MAX_LOG_DEPTH; level += 1)
      shown = shown.next as Record<string, unknown>;
    expect(shown.next).to.equal("[Object]");
    expect(Object.keys(line.wide as object).length).to.be.at.most(MAX_LOG_WIDTH + 1);
    expect((line.items as unknown[]).length).to.be.at.most(MAX_LOG_WIDTH + 1);
  });

  it("redacts bodies and user ids at depth with LOG_REDACT on, shows them with it off", () => {
    const fields = () => ({
      outcome: { message: { request: { body: "deep-body-text", userId: "EE38001010000" } } },
      stored: { soap: { headers: { userId: "EE2" }, bodyXml: "<deep/>" } },
      parts: { list: { attachments: [{ id: "a1", data: "ZGF0YQ==" }] } },
      access: { req: { headers: { authorization: "Bearer still-hidden" } } },
    });
    const on = logged((log) => log.info(fields(), "x"));
    for (const value of [
      "deep-body-text",
      "EE38001010000",
      "<deep/>",
      "ZGF0YQ==",
      "still-hidden",
    ]) {
      expect(on.text).not.to.include(value);
    }
    process.env.LOG_REDACT = "off";
    const off = logged((log) => log.info(fields(), "x"));
    for (const value of ["deep-body-text", "EE38001010000", "<deep/>", "ZGF0YQ=="]) {
      expect(off.text).to.include(value);
    }
    expect(off.text).not.to.include("still-hidden");
  });

  it("redacts a child logger's bindings at depth", () => {
    const { text } = logged((log) =>
      log
        .child({ backend: { options: { headers: { "proxy-authorization": "child-tok" } } } })
        .info("x"),
    );
    expect(text).not.to.include("child-tok");
    const flat = logged((log) =>
      log.child({ userId: "EE-child-user", body: "child-body" }).info("x"),
    );
    expect(flat.line).to.include({ userId: "[redacted]", body: "[redacted]" });
  });

  it("redacts a grandchild's bindings and what setBindings adds, on the root and on children", () => {
    const { text } = logged((log) =>
      log
        .child({ component: "a" })
        .child({ backend: { options: { password: "grandchild-password" } } })
        .info("x"),
    );
    expect(text).not.to.include("grandchild-password");
    const root = logged((log) => {
      log.setBindings({ config: { callbacks: { secret: "whsec_root-bound" } } });
      log.info("x");
    });
    expect(root.text).not.to.include("root-bound");
    const nested = logged((log) => {
      const grandchild = log.child({ component: "a" }).child({ component: "b" });
      grandchild.setBindings({ auth: { apiKey: "set-on-grandchild" }, userId: "EE-bound-user" });
      grandchild.info("x");
    });
    expect(nested.text).not.to.include("set-on-grandchild").and.not.to.include("EE-bound-user");
    expect(nested.line).to.include({ component: "b", userId: "[redacted]" });
  });

  it("redacts what a child's own serializers and formatters return", () => {
    const { line, text } = logged((log) =>
      log
        .child(
          { req: { headers: { authorization: "Bearer bound-by-serializer" } } },
          {
            serializers: { req: (req: { headers: object }) => req.headers },
            formatters: { log: (object: object) => ({ ...object, extra: { token: "from-fmt" } }) },
          },
        )
        .info({ req: { headers: { cookie: "logged-by-serializer" } } }, "x"),
    );
    for (const value of ["bound-by-serializer", "logged-by-serializer", "from-fmt"]) {
      expect(text).not.to.include(value);
    }
    expect(line.extra).to.deep.equal({ token: "[redacted]" });
    expect(line.req).to.deep.equal({ cookie: "[redacted]" });
  });

  it("redacts objects interpolated into the message with %o, %O, %j and %s", () => {
    const failure = { status: 401, body: { error: { client_secret: "fmt-client-secret" } } };
    const { line, text } = logged((log) =>
      log.child({ component: "backend" }).warn(
        "refused %o %O %j %s",
        failure,
        { options: { password: "fmt-password" } },
        [{ apiKey: "fmt-api-key" }],
        ["fmt-token-in-array"].map((token) => ({ token })),
      ),
    );
    for (const value of [
      "fmt-client-secret",
      "fmt-password",
      "fmt-api-key",
      "fmt-token-in-array",
    ]) {
      expect(text).not.to.include(value);
    }
    expect(line.msg).to.include('{"password":"[redacted]"}');
    expect(failure.body.error.client_secret, "the argument itself is left as it was").to.equal(
      "fmt-client-secret",
    );
  });

  it("redacts a message that is an object, and the objects after it", () => {
    const { text } = logged((log) =>
      log.error({ component: "x" }, { accessToken: "msg-object-token" } as unknown as string, {
        refresh_token: "after-msg-object",
      }),
    );
    expect(text).not.to.include("msg-object-token").and.not.to.include("after-msg-object");
    const only = logged((log) =>
      log.info(null, { userId: "EE-null-fields", privateKey: "k" } as unknown as string),
    );
    expect(only.text).not.to.include("EE-null-fields").and.not.to.include('"k"');
  });

  it("reads no argument of a line its level does not write", () => {
    let reads = 0;
    const watched = {
      get password(): string {
        reads += 1;
        return "never-read";
      },
    };
    const chunks: string[] = [];
    const stream = new Writable({
      write(chunk: Buffer, _encoding, done) {
        chunks.push(chunk.toString("utf8"));
        done();
      },
    });
    const log = createLogger("adapter", { destination: stream, format: "json", level: "warn" });
    log.info("x %o", watched);
    log.child({ component: "a" }).debug({ fields: watched }, "y %j", watched);
    expect(reads).to.equal(0);
    expect(chunks).to.deep.equal([]);
  });

  it("leaves the logged object itself as it was", () => {
    const fields = { a: 1, nested: { deeper: { token: "kept-in-caller" } } };
    logged((log) => log.info(fields, "x"));
    expect(fields.nested.deeper.token).to.equal("kept-in-caller");
  });
});
