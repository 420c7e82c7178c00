// What passes between an X-Road REST caller and the backend, against a recording legacy-sim
// under a base path: paths that could leave the base path are refused before any backend call,
// and headers pass both ways per PR-REST §4.3 with the excluded list asserted.

import http from "node:http";
import { expect } from "chai";
import { call, Harness } from "../support/harness";

/** JSON text with characters of two, three and four UTF-8 bytes and escapes. */
const UTF8_JSON = '{"name":"Jüri Õun","note":"\\u00e4 \\" 𝄞"}';

interface RawAnswer {
  status: number;
  headers: http.IncomingHttpHeaders;
  json: any; // eslint-disable-line @typescript-eslint/no-explicit-any
}

/** An HTTP call whose path and headers go out exactly as given (fetch would resolve `..`). */
function raw(
  port: number,
  method: string,
  path: string,
  headers: Record<string, string | string[]> = {},
  body: string | Buffer = "",
): Promise<RawAnswer> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port,
        method,
        path,
        headers: {
          "X-Road-Client": "EE/GOV/70000001/case-app",
          ...(body ? { "Content-Type": "application/json" } : {}),
          ...headers,
        },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk) => (text += chunk));
        res.on("end", () => {
          let json: unknown = null;
          try {
            json = JSON.parse(text);
          } catch {
            json = text;
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, json });
        });
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

describe("REST pass-through: paths and headers (recording backend under a base path)", function () {
  this.timeout(30_000);
  const harness = Harness.suite({
    sim: { latencyMs: 0, recordDetails: true },
    config: (harness) => ({
      services: {
        records: {
          protocols: ["rest"],
          reply: { mode: "sync", wait: "5s" },
          backend: "api",
          contentTypes: ["text/plain"],
        },
        proxied: { protocols: ["rest"], reply: { mode: "sync", wait: "5s" }, backend: "proxied" },
      },
      backends: {
        api: { translator: "rest-json", url: `${harness.sim.url}/api/v1` },
        // A backend whose operator wants the caller's X-Forwarded-For, and no other override.
        proxied: {
          translator: "rest-json",
          url: `${harness.sim.url}/api/v2`,
          options: { forwardHeaders: ["X-Forwarded-For"] },
        },
      },
    }),
    roles: [{ role: "all", as: "sluice" }],
  });
  const { roles } = harness;

  it("paths that could leave the backend's base path get 400 InvalidPath and never reach the backend", async () => {
    const forms = [
      "/../../../admin/secret",
      "/people/../../../admin/secret",
      "/%2e%2e/%2e%2e/admin/secret",
      "/%2E%2E/admin/secret",
      "/.%2e/admin/secret",
      "/%2e./admin/secret",
      "/..%2fadmin%2fsecret",
      "/..%2Fadmin/secret",
      "/..%5cadmin%5csecret",
      "/..\\admin\\secret",
      "/..;/admin/secret",
      "/%252e%252e/admin/secret",
      "/%c0%ae%c0%ae/admin/secret",
      "/%ef%bc%8e%ef%bc%8e/admin/secret",
      "/./admin/secret",
      "//admin/secret",
      "/people/%00/admin",
    ];
    const before = harness.sim.stats().total;
    for (const form of forms) {
      for (const method of ["GET", "POST"]) {
        const answer = await raw(
          roles.sluice.port,
          method,
          `/rest/records${form}`,
          {},
          method === "POST" ? "{}" : "",
        );
        expect(answer.status, `${method} ${form}`).to.equal(400);
        expect(answer.json.type, `${method} ${form}`).to.equal("InvalidPath");
        expect(answer.headers["x-sluice-id"], form).to.equal(undefined);
      }
    }
    expect(harness.sim.stats().total, "backend calls").to.equal(before);
    expect(harness.sim.calls().some((c) => /admin/.test(c.path))).to.equal(false);
  });

  it("TRACE, and methods X-Road REST does not carry, are refused with 405 MethodNotAllowed and never reach the backend", async () => {
    // A backend that loops a TRACE back (its purpose) would show the caller every header Sluice
    // sent it, the operator's own credentials in the translator's options.headers among them.
    // A security server refuses the others: in the consumer direction they failed after a 202.
    const before = harness.sim.stats().total;
    for (const method of ["TRACE", "PROPFIND", "MKCOL", "LOCK", "PURGE", "SEARCH"]) {
      for (const path of ["/rest/records", "/rest/records/people"]) {
        const answer = await raw(roles.sluice.port, method, path, { "X-Road-Id": "m-1" });
        expect(answer.status, `${method} ${path}`).to.equal(405);
        expect(answer.json.type, `${method} ${path}`).to.equal("MethodNotAllowed");
        expect(answer.json.message, method).to.include(method);
        expect(answer.headers.allow, method).to.equal(
          "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT",
        );
        expect(answer.headers["x-sluice-id"], path).to.equal(undefined);
      }
    }
    expect(harness.sim.stats().total, "backend calls").to.equal(before);
    // The methods X-Road carries reach the backend.
    for (const method of ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "PUT"]) {
      const answer = await raw(roles.sluice.port, method, "/rest/records/people", {}, "");
      expect(answer.status, method).to.not.equal(405);
    }
    expect(harness.sim.stats().total - before, "backend calls").to.equal(6);
  });

  it("a sound path reaches the backend below its base path, exactly as sent", async () => {
    const answer = await raw(
      roles.sluice.port,
      "GET",
      "/rest/records/people/J%C3%BCri/cases/?open=1",
    );
    expect(answer.status).to.equal(200);
    const [recorded] = harness.sim.calls({ id: answer.headers["x-sluice-id"] as string });
    expect(recorded.path).to.equal("/api/v1/people/J%C3%BCri/cases/");
    expect(answer.json.query).to.deep.equal({ open: "1" });
  });

  it("request headers: Accept and the caller's own reach the backend; hop-by-hop, Host and Sluice's controls do not", async () => {
    const answer = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      {
        Accept: "application/xml;q=0.9, application/json",
        "Accept-Language": "et, en;q=0.5",
        "X-Custom-Trace": "abc-123",
        "Cache-Control": "no-cache",
        Authorization: "Bearer end-user-token",
        Cookie: "session=1",
        "Idempotency-Key": "forged-by-caller",
        "X-Sluice-Id": "forged-by-caller",
        Prefer: "wait=5",
        Connection: "keep-alive, X-Hop-Secret",
        "X-Hop-Secret": "for-the-next-hop-only",
        "Keep-Alive": "timeout=5",
        "Proxy-Authorization": "Basic cHJveHk6c2VjcmV0",
        TE: "trailers",
        Upgrade: "websocket",
        "Accept-Encoding": "gzip",
        "X-Road-UserId": "EE12345678901",
      },
      JSON.stringify({ name: "Mari" }),
    );
    expect(answer.status).to.equal(200);
    const id = answer.headers["x-sluice-id"] as string;
    const [recorded] = harness.sim.calls({ id });
    const got = recorded.headers ?? {};
    expect(got).to.include({
      accept: "application/xml;q=0.9, application/json",
      "accept-language": "et, en;q=0.5",
      "x-custom-trace": "abc-123",
      "cache-control": "no-cache",
      authorization: "Bearer end-user-token",
      cookie: "session=1",
      "content-type": "application/json",
      "x-road-client": "EE/GOV/70000001/case-app",
      "x-road-userid": "EE12345678901",
      "idempotency-key": id,
      "x-sluice-id": id,
      // Sluice's own, not the caller's: the answer is stored as it comes.
      "accept-encoding": "identity",
    });
    for (const name of [
      "x-hop-secret",
      "keep-alive",
      "proxy-authorization",
      "te",
      "upgrade",
      "prefer",
    ]) {
      expect(got, name).to.not.have.property(name);
    }
    // Host names the backend, not the adapter the caller reached.
    expect(got.host).to.equal(new URL(harness.sim.url).host);
  });

  it("request headers: a caller's proxy overrides (URL, method, host, scheme, client address) never reach the backend, but those its options.forwardHeaders name", async () => {
    const overrides = {
      "X-Original-URL": "/admin/secret",
      "X-Rewrite-URL": "/admin/secret",
      "X-HTTP-Method-Override": "DELETE",
      "X-HTTP-Method": "DELETE",
      "X-Method-Override": "DELETE",
      "X-Forwarded-Host": "intranet.example",
      "X-Forwarded-For": "10.1.2.3",
      "X-Forwarded-Proto": "https",
      "X-Forwarded-Prefix": "/admin",
      Forwarded: "for=10.1.2.3;host=intranet.example;proto=https",
      "X-Real-IP": "10.1.2.3",
    };
    const names = Object.keys(overrides).map((name) => name.toLowerCase());
    const plain = await raw(roles.sluice.port, "GET", "/rest/records/people/1", {
      ...overrides,
      "X-Custom-Trace": "abc-123",
    });
    expect(plain.status).to.equal(200);
    const [recorded] = harness.sim.calls({ id: plain.headers["x-sluice-id"] as string });
    expect(recorded.path).to.equal("/api/v1/people/1");
    expect(recorded.method).to.equal("GET");
    const got = recorded.headers ?? {};
    expect(got["x-custom-trace"]).to.equal("abc-123");
    for (const name of names) expect(got, name).to.not.have.property(name);

    const opted = await raw(roles.sluice.port, "GET", "/rest/proxied/people/1", overrides);
    expect(opted.status).to.equal(200);
    const [kept] = harness.sim.calls({ id: opted.headers["x-sluice-id"] as string });
    const keptHeaders = kept.headers ?? {};
    expect(keptHeaders["x-forwarded-for"]).to.equal("10.1.2.3");
    for (const name of names.filter((name) => name !== "x-forwarded-for")) {
      expect(keptHeaders, name).to.not.have.property(name);
    }
  });

  it("response headers: a sync answer carries the backend's own; hop-by-hop, Server, Date and X-Road-* do not pass", async () => {
    const backendHeaders = {
      etag: '"v7"',
      location: "/api/v1/people/7",
      "cache-control": "no-cache, no-store, must-revalidate",
      "content-language": "et",
      "x-powered-by": "legacy/2.1",
      "set-cookie": ["a=1; Path=/", "b=2; Path=/"],
      connection: "X-Hop-Back",
      "x-hop-back": "1",
      "keep-alive": "timeout=9",
      "proxy-authenticate": "Basic",
      server: "legacy-httpd/1.0",
      "x-road-error": "Server.ServerProxy.Fake",
      "x-road-request-hash": "forged",
      "x-road-id": "forged",
      "x-sluice-id": "forged",
      "preference-applied": "forged",
    };
    const answer = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      {
        "X-Road-Id": "hdr-1",
        Prefer: "wait=5",
        "X-Sim-Headers": JSON.stringify(backendHeaders),
      },
      "{}",
    );
    expect(answer.status).to.equal(200);
    const id = answer.headers["x-sluice-id"];
    expect(id).to.match(/^[0-9a-f-]{36}$/);
    expect(answer.headers).to.include({
      etag: '"v7"',
      location: "/api/v1/people/7",
      "cache-control": "no-cache, no-store, must-revalidate",
      "content-language": "et",
      "x-powered-by": "legacy/2.1",
      "x-road-id": "hdr-1",
      "preference-applied": "wait=5",
    });
    expect(answer.headers["set-cookie"]).to.deep.equal(["a=1; Path=/", "b=2; Path=/"]);
    for (const name of [
      "x-hop-back",
      "proxy-authenticate",
      "x-road-error",
      "x-road-request-hash",
    ]) {
      expect(answer.headers, name).to.not.have.property(name);
    }
    expect(answer.headers.server).to.not.equal("legacy-httpd/1.0");
    expect(answer.headers["keep-alive"]).to.not.equal("timeout=9");
    expect(String(answer.headers.connection)).to.not.match(/x-hop-back/i);

    // The status document keeps them for callers that read the answer later.
    const status = await call(`${roles.sluice.url}/messages/${id}`);
    expect(status.json.responses[0].headers).to.include({
      etag: '"v7"',
      location: "/api/v1/people/7",
    });
    expect(status.json.responses[0].headers).to.not.have.property("x-road-error");
  });

  it("a sync answer's Content-Type is the backend's as sent: no charset added to one that names none", async () => {
    for (const type of ["text/plain", "application/json", "text/csv; header=present"]) {
      const answer = await raw(
        roles.sluice.port,
        "POST",
        "/rest/records/people",
        { Prefer: "wait=5", "X-Sim-Headers": JSON.stringify({ "content-type": type }) },
        "{}",
      );
      expect(answer.status, type).to.equal(200);
      expect(answer.headers["content-type"], type).to.equal(type);
    }
  });

  it("encodings: JSON in another declared charset is transcoded to UTF-8; bytes invalid in their charset are refused, never turned into U+FFFD", async () => {
    const json = (body: Buffer, contentType: string) =>
      raw(roles.sluice.port, "POST", "/rest/records/people", { "Content-Type": contentType }, body);

    const latin1 = await json(
      Buffer.from('{"name":"Jüri Õun"}', "latin1"),
      "application/json; charset=ISO-8859-1",
    );
    expect(latin1.status).to.equal(200);
    expect(latin1.json.received).to.deep.equal({ name: "Jüri Õun" });
    const [transcoded] = harness.sim.calls({ id: latin1.headers["x-sluice-id"] as string });
    expect(transcoded.body?.toString("utf8")).to.equal('{"name":"Jüri Õun"}');
    expect(transcoded.headers?.["content-type"]).to.equal("application/json; charset=utf-8");

    const utf16 = Buffer.concat([
      Buffer.from([0xff, 0xfe]),
      Buffer.from('{"name":"Ärni"}', "utf16le"),
    ]);
    const sixteen = await json(utf16, "application/json; charset=utf-16le");
    expect(sixteen.status).to.equal(200);
    expect(sixteen.json.received).to.deep.equal({ name: "Ärni" });

    const before = harness.sim.stats().total;
    const broken = await json(
      Buffer.from([0x7b, 0x22, 0x6e, 0x22, 0x3a, 0x22, 0xff, 0xfe, 0x22, 0x7d]),
      "application/json",
    );
    expect(broken.status).to.equal(400);
    expect(broken.json.type).to.equal("InvalidJson");
    expect(broken.json.message).to.match(/UTF-8/);
    const lying = await json(
      Buffer.from('{"name":"Jüri"}', "latin1"),
      "application/json; charset=utf-8",
    );
    expect(lying.status).to.equal(400);
    expect(lying.json.type).to.equal("InvalidJson");
    const ascii = await json(
      Buffer.from('{"name":"Jüri"}', "utf8"),
      "application/json; charset=us-ascii",
    );
    expect(ascii.status).to.equal(400);
    const unknown = await json(Buffer.from("{}"), "application/json; charset=x-klingon");
    expect(unknown.status).to.equal(415);
    expect(unknown.json.type).to.equal("InvalidContentType");
    expect(harness.sim.stats().total, "refused bodies never reach the backend").to.equal(before);

    // Other text passes through as bytes, in its own charset, exactly as sent.
    const baltic = Buffer.from([0x4c, 0xe4, 0x62, 0x69, 0x20, 0xf0, 0x61, 0x75]); // windows-1257
    const text = await json(baltic, "text/plain; charset=windows-1257");
    expect(text.status).to.equal(200);
    const [passed] = harness.sim.calls({ id: text.headers["x-sluice-id"] as string });
    expect(passed.body?.equals(baltic)).to.equal(true);
    expect(passed.headers?.["content-type"]).to.equal("text/plain; charset=windows-1257");
    const notUtf8 = Buffer.from([0x61, 0xff, 0x62]);
    const bare = await json(notUtf8, "text/plain");
    expect(bare.status).to.equal(200);
    const [kept] = harness.sim.calls({ id: bare.headers["x-sluice-id"] as string });
    expect(kept.body?.equals(notUtf8)).to.equal(true);
  });

  it("encodings: UTF-8 JSON reaches the backend byte for byte", async () => {
    const json = (body: Buffer, contentType: string) =>
      raw(roles.sluice.port, "POST", "/rest/records/people", { "Content-Type": contentType }, body);
    for (const contentType of [
      "application/json",
      "application/json; charset=UTF-8",
      // A charset inside another parameter's quoted value is no charset: read as UTF-8 and
      // passed on as sent, never read (and transcoded) as ISO-8859-1.
      'application/json; profile="urn:x; charset=iso-8859-1"',
    ]) {
      const body = Buffer.from(UTF8_JSON, "utf8");
      const answer = await json(body, contentType);
      expect(answer.status).to.equal(200);
      const [passed] = harness.sim.calls({ id: answer.headers["x-sluice-id"] as string });
      expect(passed.body?.equals(body), `${contentType}, ${body.length} bytes`).to.equal(true);
      expect(passed.headers?.["content-type"]).to.equal(contentType);
    }
  });

  it("encodings: a Content-Type naming its charset twice is 415, never read one way and passed on to be read another", async () => {
    const before = harness.sim.stats().total;
    for (const contentType of [
      "application/json; charset=utf-8; charset=iso-8859-1",
      'application/json; CHARSET="utf-8"; charset=windows-1252',
      "text/plain; charset=utf-8; charset=utf-8",
    ]) {
      const answer = await raw(
        roles.sluice.port,
        "POST",
        "/rest/records/people",
        { "Content-Type": contentType },
        Buffer.from(UTF8_JSON, "utf8"),
      );
      expect(answer.status, contentType).to.equal(415);
      expect(answer.json.type).to.equal("InvalidContentType");
      expect(answer.json.message).to.equal(
        "the Content-Type names its charset parameter more than once",
      );
    }
    // Any other parameter named twice too, as on /soap (RFC 6838 §4.3).
    const profiles = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      { "Content-Type": "application/json; profile=a; Profile=b" },
      Buffer.from(UTF8_JSON, "utf8"),
    );
    expect(profiles.status).to.equal(415);
    expect(profiles.json.message).to.equal(
      "the Content-Type names its profile parameter more than once",
    );
    expect(harness.sim.stats().total, "refused bodies never reach the backend").to.equal(before);

    // A charset inside another parameter's quoted value is no second charset.
    const quoted = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      { "Content-Type": 'application/json; charset=utf-8; note="a; charset=latin1"' },
      Buffer.from(UTF8_JSON, "utf8"),
    );
    expect(quoted.status).to.equal(200);
  });

  it("encodings: a leading UTF-8 byte order mark is read past and not passed on, so a backend that refuses one still gets the body", async () => {
    const body = Buffer.concat([Buffer.from([0xef, 0xbb, 0xbf]), Buffer.from(UTF8_JSON, "utf8")]);
    const answer = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      { "Content-Type": "application/json" },
      body,
    );
    // The sim's parser, as JSON.parse, refuses a byte order mark: the answer is its 200.
    expect(answer.status).to.equal(200);
    expect(answer.json.received).to.deep.equal(JSON.parse(UTF8_JSON));
    const [passed] = harness.sim.calls({ id: answer.headers["x-sluice-id"] as string });
    expect(passed.body?.toString("utf8")).to.equal(UTF8_JSON);
    expect(passed.headers?.["content-type"]).to.equal("application/json");

    // A body of a byte order mark alone is no JSON text, and never reaches the backend.
    const before = harness.sim.stats().total;
    const bare = await raw(
      roles.sluice.port,
      "POST",
      "/rest/records/people",
      { "Content-Type": "application/json" },
      Buffer.from([0xef, 0xbb, 0xbf]),
    );
    expect(bare.status).to.equal(400);
    expect(bare.json.type).to.equal("InvalidJson");
    expect(harness.sim.stats().total).to.equal(before);
  });
});
