// The security-server simulator against a recording provider: path mapping, header filtering,
// X-Road ids, its own REST and SOAP errors, timeouts, and TLS on both of its sides.

import { expect } from "chai";
import http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { Agent, request } from "undici";
import { fixture } from "../fixtures/xroad-soap/outcomes";
import { createTestPki, type TestPki } from "../support/test-pki";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import { loadSimConfig } from "../../xroad-sim/sim-config-file";
import { spawnSync } from "node:child_process";
import { createHash, X509Certificate } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import tls from "node:tls";
import { deflateRawSync, deflateSync, gzipSync } from "node:zlib";
import {
  freshConnectionPerFetch,
  freshConnectionPerNodeRequest,
} from "../support/fresh-connections";
import { spawn } from "../support/spawned-children";

/** A random (version 4) UUID, as Java's UUID.randomUUID writes one. */
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

const BIN = path.resolve(__dirname, "..", "..", "..", "bin", "sluice.js");

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
  clientCert: string | null;
}

interface Provider {
  url: string;
  seen: Seen[];
  /** What the next calls are answered with. */
  answer: (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;
  close(): Promise<void>;
}

async function startProvider(tlsOptions?: https.ServerOptions): Promise<Provider> {
  const provider: Provider = {
    url: "",
    seen: [],
    answer: (_req, res) => {
      res.writeHead(200, {
        "content-type": "application/json",
        etag: '"v1"',
        server: "secret-backend/1.0",
        "x-road-client": "forged/by/provider",
      });
      res.end('{"ok":true}');
    },
    close: () => Promise.resolve(),
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const socket = req.socket as import("node:tls").TLSSocket;
      const peer =
        typeof socket.getPeerCertificate === "function" ? socket.getPeerCertificate() : null;
      const body = Buffer.concat(chunks).toString("utf8");
      provider.seen.push({
        method: req.method ?? "",
        url: req.url ?? "",
        headers: req.headers,
        body,
        clientCert: peer?.subject ? String(peer.subject.CN) : null,
      });
      provider.answer(req, res, body);
    });
  };
  const server = tlsOptions ? https.createServer(tlsOptions, handler) : http.createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  provider.url = `${tlsOptions ? "https" : "http"}://127.0.0.1:${port}`;
  provider.close = () =>
    new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  return provider;
}

const SERVICE = "EE/GOV/1234/prov/svc";
const CLIENT = "EE/GOV/5678/cons";

describe("xroad-sim", function () {
  freshConnectionPerFetch();
  freshConnectionPerNodeRequest();
  this.timeout(20_000);
  let provider: Provider;
  let sim: XroadSim;

  beforeEach(async () => {
    provider = await startProvider();
    sim = await startXroadSim({
      services: {
        [SERVICE]: { url: `${provider.url}/base/` },
        "EE/BUSINESS/producer/testQuery": { url: `${provider.url}/soap`, type: "soap" },
        "EE/GOV/1234/prov/closed": { url: `${provider.url}/x`, allowedClients: ["EE/GOV/9/other"] },
      },
    });
  });
  afterEach(async () => {
    await sim.close();
    await provider.close();
  });

  describe("REST", () => {
    it("maps /r1/<service>/<path> to the service URL and passes the caller's headers", async () => {
      const res = await request(`${sim.url}/r1/${SERVICE}/a/b%20c?x=1&x=2`, {
        headers: [
          "X-Road-Client",
          CLIENT,
          "Accept",
          "application/json",
          "X-Custom",
          "kept",
          "User-Agent",
          "leaky/1.0",
          "X-Road-UserId",
          "EE12345678901",
          "X-Road-Request-Hash",
          "forged",
        ],
      });
      expect(res.statusCode).to.equal(200);
      expect(await res.body.json()).to.deep.equal({ ok: true });
      const [seen] = provider.seen;
      expect(seen.url).to.equal("/base/a/b%20c?x=1&x=2");
      expect(seen.headers["x-road-client"]).to.equal(CLIENT);
      // As X-Road's security server: X-Road-Service is on the answer only (PR-REST §4.3).
      expect(seen.headers["x-road-service"]).to.equal(undefined);
      expect(seen.headers["x-road-request-id"]).to.match(/^[0-9a-f-]{36}$/);
      expect(seen.headers["x-road-id"]).to.match(/^[0-9a-f-]{36}$/);
      expect(seen.headers["x-road-userid"]).to.equal("EE12345678901");
      expect(seen.headers["x-road-request-hash"]).to.equal(undefined);
      expect(seen.headers.accept).to.equal("application/json");
      expect(seen.headers["x-custom"]).to.equal("kept");
      // RestMessage skips the caller's; Apache's RequestUserAgent adds its own.
      expect(seen.headers["user-agent"]).to.match(/^Apache-HttpClient\//);
      // The provider's own headers come back; X-Road's are the security server's.
      expect(res.headers.etag).to.equal('"v1"');
      expect(res.headers.server).to.equal(undefined);
      expect(res.headers["x-road-client"]).to.equal(CLIENT);
      expect(res.headers["x-road-id"]).to.equal(seen.headers["x-road-id"]);
      expect(res.headers["x-road-request-hash"]).to.be.a("string").and.not.equal("");
      expect(res.headers["x-road-error"]).to.equal(undefined);
    });

    it("hashes the request as X-Road's security servers do: method, target, headers passed on, body", async () => {
      // RestRequest.toByteArray: the method, CRLF, the path and query as the client security
      // server got them, CRLF, `name:value` CRLF per header passed on (the caller's as written,
      // then x-road-request-id and, for a caller that sent none, x-road-id); with a body,
      // ServerRestMessageProcessor hashes that digest followed by the body's.
      const sha = (data: string | Buffer) => createHash("sha512").update(data).digest();
      const target = `/r1/${SERVICE}/a%20b?x=1&y`;
      const body = '{"a":1}';
      const res = await request(`${sim.url}${target}`, {
        method: "POST",
        headers: [
          "X-Road-Client",
          CLIENT,
          "Content-Type",
          "application/json",
          "x-custom",
          "Kept",
          "User-Agent",
          "filtered/1.0",
        ],
        body,
      });
      expect(res.statusCode).to.equal(200);
      await res.body.text();
      const { headers } = provider.seen[0];
      const front =
        `POST\r\n${target}\r\nX-Road-Client:${CLIENT}\r\nContent-Type:application/json\r\n` +
        `x-custom:Kept\r\nx-road-request-id:${String(headers["x-road-request-id"])}\r\n` +
        `x-road-id:${String(headers["x-road-id"])}\r\n`;
      const expected = sha(Buffer.concat([sha(front), sha(body)])).toString("base64");
      expect(res.headers["x-road-request-hash"]).to.equal(expected);

      // Without a body the front matter's digest is the hash; a caller's X-Road-Id is kept.
      const get = await request(`${sim.url}/r1/${SERVICE}`, {
        headers: ["X-Road-Client", CLIENT, "X-Road-Id", "q-1"],
      });
      await get.body.text();
      const requestId = String(provider.seen[1].headers["x-road-request-id"]);
      const bare = `GET\r\n/r1/${SERVICE}\r\nX-Road-Client:${CLIENT}\r\nX-Road-Id:q-1\r\nx-road-request-id:${requestId}\r\n`;
      expect(get.headers["x-road-request-hash"]).to.equal(sha(bare).toString("base64"));
    });

    it("writes the answer's X-Road-Client with each part escaped as a path segment, as X-Road does", async () => {
      // `?` is the one character an identifier part may hold that a path segment escapes.
      const res = await request(`${sim.url}/r1/${SERVICE}`, {
        headers: { "X-Road-Client": "EE/GOV/c%3Fd/x" },
      });
      expect(res.statusCode).to.equal(200);
      await res.body.text();
      expect(res.headers["x-road-client"]).to.equal("EE/GOV/c%3Fd/x");
      expect(res.headers["x-road-service"]).to.equal(SERVICE);
    });

    it("filters exactly PR-REST §4.3's headers, as X-Road's RestMessage does: not those a Connection header names", async () => {
      const status = await new Promise<number>((resolve, reject) => {
        const req = http.request(`${sim.url}/r1/${SERVICE}`, {
          headers: {
            "x-road-client": CLIENT,
            connection: "keep-alive, X-Hop",
            "x-hop": "kept",
            "proxy-connection": "keep-alive",
            "proxy-authorization": "Basic eDp5",
            te: "trailers",
            pragma: "no-cache",
          },
        });
        req.on("response", (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end();
      });
      expect(status).to.equal(200);
      const { headers } = provider.seen[0];
      expect(headers["x-hop"]).to.equal("kept");
      expect(headers["proxy-connection"]).to.equal("keep-alive");
      expect(headers.pragma).to.equal("no-cache");
      expect(headers["proxy-authorization"]).to.equal(undefined);
      expect(headers.te).to.equal(undefined);
      expect(headers["x-road-client"]).to.equal(CLIENT);
    });

    it("keeps the caller's X-Road-Id and takes the last of repeated X-Road-Client headers", async () => {
      const res = await request(`${sim.url}/r1/${SERVICE}`, {
        method: "POST",
        headers: [
          "X-Road-Client",
          "EE/GOV/1/first",
          "X-Road-Client",
          CLIENT,
          "X-Road-Id",
          "my-id-1",
          "Content-Type",
          "application/json",
        ],
        body: '{"q":1}',
      });
      await res.body.text();
      const [seen] = provider.seen;
      // The service URL as registered (`/base/`): with no path, X-Road appends nothing to it.
      expect(seen.url).to.equal("/base/");
      expect(seen.method).to.equal("POST");
      expect(seen.body).to.equal('{"q":1}');
      // As X-Road's security server: it authorises the last line, but passes every line on
      // (RestRequest keeps the caller's headers), so a provider must not read the first.
      expect(seen.headers["x-road-client"]).to.equal(`EE/GOV/1/first, ${CLIENT}`);
      expect(sim.calls().at(-1)?.client).to.equal(CLIENT);
      expect(seen.headers["x-road-id"]).to.equal("my-id-1");
      expect(seen.headers["content-type"]).to.equal("application/json");
      expect(res.headers["x-road-id"]).to.equal("my-id-1");
      expect(res.headers["x-road-client"]).to.equal(CLIENT);
    });

    it("answers a request head past Jetty's 8 KiB as X-Road's client proxy (Jetty 11) does: 414 or 431", async () => {
      // HttpConfiguration's requestHeaderSize (8 KiB, X-Road leaves Jetty's default):
      // HttpParser answers a URI past it 414, any other overflow 431, with
      // ErrorHandler.badMessageError's page, before X-Road reads the request.
      const longUri = await request(`${sim.url}/r1/${SERVICE}/${"a".repeat(9000)}`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(longUri.statusCode).to.equal(414);
      expect(longUri.headers["content-type"]).to.equal("text/html;charset=iso-8859-1");
      expect(await longUri.body.text()).to.equal(
        "<h1>Bad Message 414</h1><pre>reason: URI Too Long</pre>",
      );
      const bigHeader = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT, "x-big": "b".repeat(9000) },
      });
      expect(bigHeader.statusCode).to.equal(431);
      expect(await bigHeader.body.text()).to.equal(
        "<h1>Bad Message 431</h1><pre>reason: Request Header Fields Too Large</pre>",
      );
      // Jetty parses the URI with the request line, before the headers: a broken escape is its
      // 400 even with the headers past the limit, an ambiguous path only once they fit.
      const big = { "x-road-client": CLIENT, "x-big": "b".repeat(9000) };
      const early = await request(`${sim.url}/r1/${SERVICE}/a%zz`, { headers: big });
      expect(early.statusCode).to.equal(400);
      expect(await early.body.text()).to.equal(
        "<h1>Bad Message 400</h1><pre>reason: Bad Request</pre>",
      );
      const late = await request(`${sim.url}/r1/${SERVICE}/a//x`, { headers: big });
      expect(late.statusCode).to.equal(431);
      await late.body.text();
      // Well within the limit, the call goes on, a URI past 2000 characters too: X-Road 7.4
      // sets no URI length of its own (PR-REST §4.2 allows one), only Jetty's head limit holds.
      const longPath = `/${"p".repeat(5000)}`;
      const longButFits = await request(`${sim.url}/r1/${SERVICE}${longPath}?q=1`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(longButFits.statusCode, await longButFits.body.text()).to.equal(200);
      expect(provider.seen.at(-1)?.url).to.equal(`/base${longPath}?q=1`);
      provider.seen.length = 0;
      const fits = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT, "x-big": "b".repeat(6000) },
      });
      expect(fits.statusCode, await fits.body.text()).to.equal(200);
      expect(provider.seen).to.have.length(1);
    });

    it("answers its own errors with type, message, detail and X-Road-Error", async () => {
      const unknown = await request(`${sim.url}/r1/EE/GOV/1234/prov/nothing/x`, {
        headers: { "x-road-client": CLIENT, "x-road-id": "id-7" },
      });
      expect(unknown.statusCode).to.equal(500);
      expect(unknown.headers["x-road-error"]).to.equal("Server.ServerProxy.UnknownService");
      expect(unknown.headers["content-type"]).to.match(/^application\/json/);
      const body = (await unknown.body.json()) as Record<string, string>;
      expect(body.type).to.equal("Server.ServerProxy.UnknownService");
      expect(body.message).to.contain("EE/GOV/1234/prov/nothing");
      // X-Road 7.4's CodedException makes a random UUID its faultDetail, the detail its client
      // proxy writes (ClientRestMessageHandler.sendErrorResponse); the X-Road id is not in it.
      expect(body.detail).to.match(UUID).and.not.equal("id-7");
      const again = await request(`${sim.url}/r1/EE/GOV/1234/prov/nothing/x`, {
        headers: { "x-road-client": CLIENT, "x-road-id": "id-7" },
      });
      expect(((await again.body.json()) as { detail: string }).detail)
        .to.match(UUID)
        .and.not.equal(body.detail);
      // The same for a SOAP fault's faultDetail (SoapFault.createFaultXml), here one for a
      // SOAPAction X-Road refuses; simple.query's message id is 1234567890.
      const fault = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8", soapaction: "no quotes" },
        body: fixture("simple.query"),
      });
      const faultText = await fault.body.text();
      expect(faultText).to.include("<faultcode>Client.InvalidSoapAction</faultcode>");
      expect(faultText).to.match(
        /<faultDetail xmlns="">[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}<\/faultDetail>/,
      );

      // X-Road 7.4's client proxy: AbstractClientMessageProcessor.verifyClientStatus for a
      // missing X-Road-Client, RestMessage.decodeClientId's IllegalArgumentException (reported
      // by AbstractClientProxyHandler as InternalError) for a malformed one; both 500.
      const noClient = await request(`${sim.url}/r1/${SERVICE}/x`);
      expect(noClient.statusCode).to.equal(500);
      expect(noClient.headers["x-road-error"]).to.equal(
        "Server.ClientProxy.InvalidClientIdentifier",
      );
      expect(((await noClient.body.json()) as { message: string }).message).to.equal(
        "The client identifier is missing",
      );

      const xml = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": "not a client", accept: "application/xml" },
      });
      expect(xml.statusCode).to.equal(500);
      expect(xml.headers["content-type"]).to.match(/^application\/xml/);
      expect(await xml.body.text()).to.match(
        /<type>Server\.ClientProxy\.InternalError<\/type>\s*<message>Invalid Client Id<\/message>/,
      );

      // X-Road's client proxy (ClientRestMessageHandler.decideErrorResponseContentType) answers
      // in XML when Accept names text/xml, application/xml or text/* anywhere, whatever comes
      // before it and whatever its q; text/* is answered as text/xml.
      const typeFor = async (accept: string) => {
        const res = await request(`${sim.url}/r1/${SERVICE}/x`, {
          headers: { "x-road-client": "not a client", accept },
        });
        const text = await res.body.text();
        const type = String(res.headers["content-type"]);
        expect(res.headers["x-road-error"], accept).to.equal("Server.ClientProxy.InternalError");
        if (type.startsWith("application/json")) {
          expect((JSON.parse(text) as { type: string }).type).to.equal(
            "Server.ClientProxy.InternalError",
          );
        } else {
          expect(text, accept).to.match(/<type>Server\.ClientProxy\.InternalError<\/type>/);
        }
        return type;
      };
      expect(await typeFor("application/json, text/xml")).to.equal("text/xml;charset=utf-8");
      expect(await typeFor("*/*, application/xml;q=0.1")).to.equal("application/xml;charset=utf-8");
      // Jetty 11 writes its own form of a type it knows, and adds no charset to JSON.
      expect(await typeFor("text/*")).to.equal("text/xml;charset=utf-8");
      expect(await typeFor("TEXT/XML;q=0.5")).to.equal("text/xml;charset=utf-8");
      expect(await typeFor("*/*")).to.equal("application/json");
      expect(await typeFor("text/plain, application/problem+xml")).to.equal("application/json");

      const denied = await request(`${sim.url}/r1/EE/GOV/1234/prov/closed`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(denied.statusCode).to.equal(500);
      expect(denied.headers["x-road-error"]).to.equal("Server.ServerProxy.AccessDenied");
      // verifyAccess's words name the service only (`Request is not allowed: %s`), never the
      // client, whether a member or a subsystem.
      expect(((await denied.body.json()) as { message: string }).message).to.equal(
        "Request is not allowed: SERVICE:EE/GOV/1234/prov/closed",
      );

      // Not /r1/: X-Road's SOAP handler takes it, and it wants POST (ClientMessageHandler).
      const elsewhere = await request(`${sim.url}/messages/1`);
      expect(elsewhere.statusCode).to.equal(200);
      expect(elsewhere.headers["content-type"]).to.equal("text/xml;charset=utf-8");
      const notPost = await elsewhere.body.text();
      expect(notPost).to.contain("<faultcode>Client.InvalidHttpMethod</faultcode>");
      // X-Road 7.4's metaservices addon takes GET /listClients before the SOAP handler; the
      // simulator has no global configuration to list, and answers it as a security server
      // without the addon does (docs/xroad-sim.md, Not simulated). `/wsdl` is no request of
      // the addon's client side in 7.4.0: the SOAP handler's.
      for (const target of ["/listClients", "/listClients?xRoadInstance=EE", "/wsdl?x=1"]) {
        const metadata = await request(`${sim.url}${target}`, {
          headers: { accept: "application/json" },
        });
        expect(metadata.statusCode, target).to.equal(200);
        expect(await metadata.body.text(), target).to.contain(
          "<faultcode>Client.InvalidHttpMethod</faultcode>",
        );
      }
      expect(notPost).to.contain(
        "<faultstring>Must use POST request method instead of GET</faultstring>",
      );
      // A POST there is a SOAP request like one to `/`.
      const soapElsewhere = await request(`${sim.url}/messages/1`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: "not xml",
      });
      expect(soapElsewhere.statusCode).to.equal(200);
      expect(await soapElsewhere.body.text()).to.match(/<faultcode>Client\.[A-Za-z]+<\/faultcode>/);
      expect(provider.seen).to.have.length(0);
    });

    it("answers dot segments as X-Road 7.4's Jetty and RestRequest do", async () => {
      // node:http sends the path as written; undici's URL parsing would resolve it first.
      const rawGet = (path: string) => rawRequest(sim.url, path);
      // Jetty 11.0.17 with UriCompliance.DEFAULT refuses these before X-Road reads the path
      // (HttpURI.checkSegment, Request.setMetaData; HttpURI.parse's "Bad URI" above the root).
      for (const [path, reason] of [
        [`/r1/${SERVICE}/%2e%2e/x`, "Ambiguous URI path segment"],
        [`/r1/${SERVICE}/%2E/x`, "Ambiguous URI path segment"],
        [`/r1/${SERVICE}/a/.%2E/..;p/x`, "Ambiguous URI path segment"],
        [`/r1/${SERVICE}/a/..;p/x`, "Ambiguous URI path parameter"],
        [`/r1/${SERVICE}/a//x`, "Ambiguous URI empty segment"],
        [`/r1/${SERVICE}/%u002e/x`, "Ambiguous URI path segment"],
        [`/r1/${SERVICE}/a%u0062`, "UTF16 encoding"],
        ["/r1/../../x", "Bad Request"],
        ["/r1/a%2F..%2F..%2F..%2Fx", "Bad Request"],
        // Not dot segments, but the same parse: what X-Road's RestRequest would have answered
        // 500 (a blank member class, a broken escape) never reaches it.
        ["/r1/EE//1234/prov/svc/x", "Ambiguous URI empty segment"],
        ["/r1/EE/GOV/1234/prov/svc%2", "Bad Request"],
        ["/r1/EE/GOV/12%zz/prov/svc/x", "Bad Request"],
        ["/r1/EE/GOV/12%00/prov/svc/x", "Bad Request"],
      ]) {
        const res = await rawGet(path);
        expect(res, path).to.deep.equal({
          status: 400,
          error: undefined,
          type: "text/html;charset=iso-8859-1",
          body: `<h1>Bad Message 400</h1><pre>reason: ${reason}</pre>`,
        });
      }
      expect(provider.seen).to.have.length(0);

      // Plain ones under the root pass: X-Road reads the raw path (getRequestURI), so in the
      // service path they reach the provider as written (HttpClient 4.5.14 resolves none) ...
      for (const path of [`/r1/${SERVICE}/../x`, `/r1/${SERVICE}/./a/../x?q=1`]) {
        const res = await rawGet(path);
        expect(res.status, path).to.equal(200);
      }
      expect(provider.seen.map((s) => s.url)).to.deep.equal(["/base/../x", "/base/./a/../x?q=1"]);

      // ... and in the service id they are identifier parts like any other.
      const inId = await rawGet("/r1/EE/GOV/1234/prov/./svc");
      expect(inId.status).to.equal(500);
      expect(inId.error).to.equal("Server.ServerProxy.UnknownService");
      const member = await rawGet("/r1/EE/GOV/../1234/prov/svc");
      expect(member.status).to.equal(500);
      expect(member.error).to.equal("Server.ServerProxy.UnknownMember"); // member code ".."
      const few = await rawGet("/r1/EE/../svc");
      expect(few.error).to.equal("Server.ClientProxy.InternalError");
      expect((JSON.parse(few.body) as { message: string }).message).to.equal("Invalid request URI");
      expect(provider.seen).to.have.length(2);
    });

    it("takes an absolute-form target as X-Road 7.4's Jetty does: the same URI checks, its path read by RestRequest", async () => {
      // The authority as Jetty compares it with Host (Request.setMetaData): the target's own.
      const rawGet = (target: string, host?: string) =>
        rawRequest(sim.url, target, host ?? /^http:\/\/([^/]*)/i.exec(target)?.[1] ?? "127.0.0.1");
      // HttpURI.parse reads the path after the authority as it reads an origin-form one.
      for (const [target, reason] of [
        [`http://example.org/r1/${SERVICE}/%2e%2e/x`, "Ambiguous URI path segment"],
        [`http://example.org:8080/r1/${SERVICE}/a//x`, "Ambiguous URI empty segment"],
        [`http://example.org/r1/${SERVICE}/a%zz`, "Bad Request"],
        ["http://example.org/r1/../../x", "Bad Request"],
      ]) {
        expect(await rawGet(target), target).to.deep.equal({
          status: 400,
          error: undefined,
          type: "text/html;charset=iso-8859-1",
          body: `<h1>Bad Message 400</h1><pre>reason: ${reason}</pre>`,
        });
      }
      // Past them, Jetty 11 (HttpCompliance.RFC7230) refuses an authority other than Host's.
      const elsewhere = await rawGet(`http://example.org/r1/${SERVICE}/x`, "127.0.0.1");
      expect(elsewhere).to.deep.include({ status: 400, error: undefined });
      expect(elsewhere.body).to.equal(
        "<h1>Bad Message 400</h1><pre>reason: Mismatched Authority</pre>",
      );
      expect(provider.seen).to.have.length(0);
      // Passing them, it is a call like any other: RestRequest gets the path and query only.
      const ok = await rawGet(`http://example.org/r1/${SERVICE}/a/../x?q=1`);
      expect(ok.status, ok.body).to.equal(200);
      expect(provider.seen.map((s) => s.url)).to.deep.equal(["/base/a/../x?q=1"]);
      expect(sim.calls().at(-1)).to.include({ service: SERVICE, status: 200 });
      // Jetty 11's HttpURI reads a `?` after the host into it: without a `/` after it the path
      // is `/`, the SOAP handler's, whatever the Host header, and a GET is its
      // InvalidHttpMethod; with one, the host is `example.org?`, not Host's.
      const noPath = await rawGet("http://example.org?x=1", "127.0.0.1");
      expect(noPath.status).to.equal(200);
      expect(noPath.body).to.contain("<faultcode>Client.InvalidHttpMethod</faultcode>");
      const intoHost = await rawGet(`http://example.org?/r1/${SERVICE}/x`, "example.org");
      expect(intoHost.body).to.contain("reason: Mismatched Authority");

      // Jetty hands X-Road's handlers the decoded path, its dot segments resolved, to route on;
      // RestRequest then reads the raw path's first part as the protocol version.
      for (const [target, message] of [
        [`/r%31/${SERVICE}/x`, "Invalid protocol version r%31"],
        [`http://example.org/x/../r1/${SERVICE}`, "Invalid protocol version x"],
        [`/r2/../r1/${SERVICE}`, "Unsupported protocol version 2"],
      ]) {
        const res = await rawGet(target);
        expect(res.status, target).to.equal(500);
        expect(res.error, target).to.equal("Server.ClientProxy.InternalError");
        expect((JSON.parse(res.body) as { message: string }).message, target).to.equal(message);
      }
      expect(provider.seen).to.have.length(1);
    });

    it("answers a malformed /r1/ path as X-Road 7.4's RestRequest does, before the client is read", async () => {
      // RestRequest.decodeIdentifiers, UriUtils.uriSegmentPercentDecode and ServiceId.Conf
      // .create throw IllegalArgumentException, which AbstractClientProxyHandler answers as
      // Server.ClientProxy.InternalError with its message; 500 as every Server.* code.
      const rawGet = (path: string, headers: http.OutgoingHttpHeaders) =>
        new Promise<{ status: number; error: unknown; body: string }>((resolve, reject) => {
          const req = http.request(`${sim.url}/`, { path, headers }, (res) => {
            let body = "";
            res.on("data", (c: Buffer) => (body += c.toString()));
            res.on("end", () =>
              resolve({ status: res.statusCode ?? 0, error: res.headers["x-road-error"], body }),
            );
          });
          req.on("error", reject);
          req.end();
        });
      for (const [path, message] of [
        ["/r1/EE/GOV/1234/prov", "Invalid request URI"],
        ["/r1/EE/GOV", "Invalid request URI"],
        ["/r1/EE/GOV/1234/prov/", "'serviceCode' must not be blank"],
        ["/r1/EE/%20/1234/prov/svc/x", "'memberClass' must not be blank"],
        ["/r1/%20/GOV/1234/prov/svc", "'xRoadInstance' must not be blank"],
        ["/r1/EE/GOV/1234/pr[ov/svc/x", "Invalid character in path segment"],
        // Jetty reads `%?f` as one escape (TypeUtil.convertHexDigit takes `?` as 15), so the
        // service code is `svc%?f`, not `svc%` before a query.
        ["/r1/EE/GOV/1234/prov/svc%?f?x=1", "Invalid percent encoding"],
      ]) {
        for (const headers of [{ "x-road-client": CLIENT }, {}]) {
          const res = await rawGet(path, headers);
          expect(res.status, path).to.equal(500);
          expect(res.error, path).to.equal("Server.ClientProxy.InternalError");
          expect((JSON.parse(res.body) as { message: string }).message, path).to.equal(message);
        }
      }
      expect(provider.seen).to.have.length(0);
    });

    it("does not reach a member's own service through /r1/, as X-Road 7.4's RestRequest reads no path without a subsystem", async () => {
      // RestRequest.decodeIdentifiers reads instance, class, member, subsystem and service code
      // always: four parts are "Invalid request URI" (AbstractClientProxyHandler: 500
      // Server.ClientProxy.InternalError), and a fifth is read as the service code of a
      // subsystem named by the fourth.
      sim.register("EE/GOV/1234/own", { url: `${provider.url}/own` });
      const own = await request(`${sim.url}/r1/EE/GOV/1234/own`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(own.statusCode).to.equal(500);
      expect(own.headers["x-road-error"]).to.equal("Server.ClientProxy.InternalError");
      expect(await own.body.json()).to.include({
        type: "Server.ClientProxy.InternalError",
        message: "Invalid request URI",
      });
      const withPath = await request(`${sim.url}/r1/EE/GOV/1234/own/x`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(withPath.statusCode).to.equal(500);
      // Subsystem `own` is no client of the security server: its server proxy says so before
      // it looks for service `x` (ServerRestMessageProcessor.verifyClientStatus).
      expect(await withPath.body.json()).to.include({
        type: "Server.ServerProxy.UnknownMember",
        message: "Client 'SUBSYSTEM:EE/GOV/1234/own' not found",
      });
      expect(provider.seen).to.have.length(0);
    });

    it("takes identifiers outside PR-REST §4.8 as X-Road 7.4 does, which only logs them", async () => {
      // MessageProcessorBase.checkIdentifier logs a warning and the call goes on: such an id
      // names no registered service, and a `/` decoded within a part names no other id.
      const call = (path: string, client: string) =>
        new Promise<{
          status: number;
          error: unknown;
          body: string;
          headers: http.IncomingHttpHeaders;
        }>((resolve, reject) => {
          const req = http.request(
            `${sim.url}/`,
            { path, headers: { "x-road-client": client } },
            (res) => {
              let body = "";
              res.on("data", (c: Buffer) => (body += c.toString()));
              res.on("end", () =>
                resolve({
                  status: res.statusCode ?? 0,
                  error: res.headers["x-road-error"],
                  body,
                  headers: res.headers,
                }),
              );
            },
          );
          req.on("error", reject);
          req.end();
        });
      for (const path of [
        "/r1/EE/GOV/1234/pr%20ov/svc/x",
        "/r1/EE/GOV/1234/pr!ov/svc/x",
        "/r1/EE/GOV/1234%2Fprov/svc/x",
        "/r1/EE/GOV/1234/prov%2Fsvc/x",
      ]) {
        const res = await call(path, CLIENT);
        // The id names no client of the security server either: its server proxy answers that
        // first (ServerRestMessageProcessor.verifyClientStatus).
        expect({ status: res.status, error: res.error }, path).to.deep.equal({
          status: 500,
          error: "Server.ServerProxy.UnknownMember",
        });
      }
      // A blank subsystem: ServiceId.getClientId's ClientId.Conf.create, once the client is read.
      const blank = await call("/r1/EE/GOV/1234/%20/svc", CLIENT);
      expect(blank.error).to.equal("Server.ClientProxy.InternalError");
      expect(JSON.parse(blank.body)).to.include({ message: "'subsystemCode' must not be blank" });

      // X-Road-Client: the characters are taken; its form and escapes are still checked.
      const spaced = await call(`/r1/${SERVICE}/x`, "EE/GOV/56%2078/cons!");
      expect(spaced.status).to.equal(200);
      expect(spaced.headers["x-road-client"]).to.equal("EE/GOV/56%2078/cons!");
      expect(provider.seen.at(-1)?.headers["x-road-client"]).to.equal("EE/GOV/56%2078/cons!");
      // "9/other" as one member code is not the client EE/GOV/9/other that may call `closed`.
      const lookalike = await call("/r1/EE/GOV/1234/prov/closed", "EE/GOV/9%2Fother");
      expect(lookalike.error).to.equal("Server.ServerProxy.AccessDenied");
      for (const [client, message] of [
        ["EE/GOV/5678/", "'subsystemCode' must not be blank"],
        ["EE/GOV/56%zz", "Invalid percent encoding"],
        ["EE/GOV/56 78/cons", "Invalid character in path segment"],
        ["EE/GOV/5678/cons/x", "Invalid Client Id"],
      ]) {
        const res = await call(`/r1/${SERVICE}/x`, client);
        expect(res.error, client).to.equal("Server.ClientProxy.InternalError");
        expect((JSON.parse(res.body) as { message: string }).message, client).to.equal(message);
      }
      expect(provider.seen).to.have.length(1);
    });

    it("refuses a malformed X-Road-Represented-Party as X-Road 7.4's RestRequest does", async () => {
      // RestRequest.decodeRepresentedParty: [CLASS/]CODE, each part percent-decoded; its
      // IllegalArgumentException is InternalError, before a missing client is noticed.
      for (const [party, client, message] of [
        ["COM/12345/x", CLIENT, "Invalid RepresentedParty Id"],
        ["COM/12%zz", CLIENT, "Invalid percent encoding"],
        ["COM 1/12345", CLIENT, "Invalid character in path segment"],
        ["a/b/c", undefined, "Invalid RepresentedParty Id"],
      ]) {
        const headers: Record<string, string> = { "x-road-represented-party": party as string };
        if (client) headers["x-road-client"] = client;
        const res = await request(`${sim.url}/r1/${SERVICE}/x`, { headers });
        expect(res.statusCode, party).to.equal(500);
        expect(res.headers["x-road-error"], party).to.equal("Server.ClientProxy.InternalError");
        expect(((await res.body.json()) as { message: string }).message, party).to.equal(message);
      }
      // Every line is read in order (RestRequest.decodeHeaders), not only the last that counts.
      const repeated = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: [
          "x-road-represented-party",
          "a/b/c",
          "x-road-client",
          CLIENT,
          "x-road-represented-party",
          "COM/12345",
        ],
      });
      expect(repeated.headers["x-road-error"]).to.equal("Server.ClientProxy.InternalError");
      await repeated.body.text();
      expect(provider.seen).to.have.length(0);
      for (const party of ["COM/12345", "12345", "COM/12%2045/"]) {
        const res = await request(`${sim.url}/r1/${SERVICE}/x`, {
          headers: { "x-road-client": CLIENT, "x-road-represented-party": party },
        });
        expect(res.statusCode, party).to.equal(200);
        await res.body.text();
        expect(provider.seen.at(-1)?.headers["x-road-represented-party"]).to.equal(party);
      }
    });

    it("passes a provider's own X-Road headers back but the four its RestResponse replaces", async () => {
      // X-Road's RestResponse drops a provider's X-Road-Id, -Request-Hash, -Client and
      // -Request-Id and adds its own; anything else, X-Road-Service included, comes first.
      provider.answer = (_req, res) => {
        res.writeHead(200, {
          "content-type": "application/json",
          "x-road-service": "EE/COM/99/elsewhere/other",
          "x-road-id": "provider-id",
          "x-road-client": "EE/COM/99/forged",
          "x-road-request-id": "provider-request",
          "x-road-request-hash": "provider-hash",
          "x-road-custom": "kept",
        });
        res.end("{}");
      };
      const res = await request(`${sim.url}/r1/${SERVICE}/p/1`, {
        headers: { "x-road-client": CLIENT, "x-road-id": "caller-id" },
      });
      await res.body.text();
      expect(res.headers["x-road-service"]).to.deep.equal(["EE/COM/99/elsewhere/other", SERVICE]);
      expect(res.headers["x-road-id"]).to.equal("caller-id");
      expect(res.headers["x-road-client"]).to.equal(CLIENT);
      expect(res.headers["x-road-request-id"]).to.not.equal("provider-request");
      // The client proxy's own X-Road-Request-Id, the one the provider was sent
      // (ClientRestMessageProcessor checks the answer carries it).
      expect(res.headers["x-road-request-id"]).to.equal(
        provider.seen[0].headers["x-road-request-id"],
      );
      expect(res.headers["x-road-request-hash"]).to.not.equal("provider-hash");
      expect(res.headers["x-road-custom"]).to.equal("kept");
      // After the provider's, in the order RestResponse adds them (undici keeps the wire order).
      expect(Object.keys(res.headers).filter((name) => name.startsWith("x-road-"))).to.deep.equal([
        "x-road-service",
        "x-road-custom",
        "x-road-id",
        "x-road-client",
        "x-road-request-id",
        "x-road-request-hash",
      ]);
    });

    it("answers with the provider's Date or none, never one of its own, as X-Road's client proxy does", async () => {
      // ClientRestMessageProcessor.sendResponse clears Jetty's Date, then adds the provider's
      // headers, which pass RestMessage.SKIPPED_HEADERS with their Date.
      provider.answer = (_req, res) => {
        res.sendDate = false;
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      };
      const none = await request(`${sim.url}/r1/${SERVICE}/p/1`, {
        headers: { "x-road-client": CLIENT },
      });
      await none.body.text();
      expect(none.headers.date).to.equal(undefined);

      const date = "Tue, 01 Jan 2030 00:00:00 GMT";
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", date });
        res.end("{}");
      };
      const given = await request(`${sim.url}/r1/${SERVICE}/p/1`, {
        headers: { "x-road-client": CLIENT },
      });
      await given.body.text();
      expect(given.headers.date).to.equal(date);

      // A metaservice's answer is X-Road's own RestResponse, without Date too.
      const meta = await request(`${sim.url}/r1/EE/GOV/1234/prov/listMethods`, {
        headers: { "x-road-client": CLIENT },
      });
      await meta.body.text();
      expect(meta.statusCode).to.equal(200);
      expect(meta.headers.date).to.equal(undefined);
    });

    it("sends what X-Road's Apache HttpClient adds and decodes a gzip or deflate answer as it does", async () => {
      // HttpClients.custom() with content compression on: RequestAcceptEncoding and
      // RequestUserAgent add theirs when the request has none, ResponseContentEncoding decodes.
      const json = Buffer.from(JSON.stringify({ ok: "decoded" }));
      for (const [coding, encoded] of [
        ["gzip", gzipSync(json)],
        ["x-gzip", gzipSync(json)],
        ["deflate", deflateSync(json)],
        ["deflate", deflateRawSync(json)],
        ["br, gzip", gzipSync(json)],
      ] as const) {
        provider.answer = (_req, res) => {
          res.writeHead(200, {
            "content-type": "application/json",
            "content-encoding": coding,
            "content-length": String(encoded.length),
            "content-md5": "from-provider",
          });
          res.end(encoded);
        };
        const res = await request(`${sim.url}/r1/${SERVICE}/z`, {
          headers: { "x-road-client": CLIENT },
        });
        expect(Buffer.from(await res.body.arrayBuffer()).equals(json), coding).to.equal(true);
        expect(res.headers["content-encoding"], coding).to.equal(undefined);
        expect(res.headers["content-md5"], coding).to.equal(undefined);
        expect(res.headers["content-length"], coding).to.equal(String(json.length));
      }
      const seen = provider.seen[0];
      expect(seen.headers["accept-encoding"]).to.equal("gzip,deflate");
      expect(seen.headers["user-agent"]).to.match(/^Apache-HttpClient\/4\.5\.14 \(Java\//);
      expect(seen.headers.connection).to.match(/^keep-alive$/i);

      // A caller's own Accept-Encoding passes (RestMessage does not skip it) and stands.
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/plain", "content-encoding": "identity, br" });
        res.end("as sent");
      };
      const own = await request(`${sim.url}/r1/${SERVICE}/z`, {
        headers: { "x-road-client": CLIENT, "accept-encoding": "identity" },
      });
      // A coding Apache does not know is left as it is, its header kept.
      expect(await own.body.text()).to.equal("as sent");
      expect(own.headers["content-encoding"]).to.equal("identity, br");
      expect(provider.seen.at(-1)?.headers["accept-encoding"]).to.equal("identity");
    });

    it("answers IOError for a compressed answer past its body limit once decoded, or one that does not decode", async () => {
      // X-Road 7.4.0 decodes without a limit; the sim stops at its own, so no bomb fills it.
      const small = await startXroadSim({
        maxBodyBytes: 64 * 1024,
        services: { [SERVICE]: { url: `${provider.url}/base/` } },
      });
      try {
        for (const [encoded, message] of [
          [gzipSync(Buffer.alloc(16 * 1024 * 1024)), /larger than 65536 bytes once decoded/],
          [Buffer.from("not gzip at all"), /Decoding failed/],
        ] as const) {
          provider.answer = (_req, res) => {
            res.writeHead(200, { "content-type": "application/json", "content-encoding": "gzip" });
            res.end(encoded);
          };
          const res = await request(`${small.url}/r1/${SERVICE}/bomb`, {
            headers: { "x-road-client": CLIENT },
          });
          const text = await res.body.text();
          expect(res.statusCode).to.equal(500);
          expect(res.headers["x-road-error"]).to.equal("Server.ServerProxy.ServiceFailed.IOError");
          expect(text).to.match(message);
        }
      } finally {
        await small.close();
      }
    });

    it("answers a path java.net.URI refuses as X-Road's provider side does, before calling the provider", async () => {
      // RestRequest(byte[]) reads the request line again with java.net.URI; its
      // URISyntaxException comes back as Server.ServerProxy.InternalError.
      const cases: Array<[string, string]> = [
        [`/r1/${SERVICE}/a{b}`, "Illegal character in path at index 26"],
        [`/r1/${SERVICE}/a|b`, "Illegal character in path at index 26"],
        [`/r1/${SERVICE}/a%?f`, "Malformed escape pair at index 26"],
        [`/r1/${SERVICE}/a?q=1|2`, "Illegal character in query at index 30"],
      ];
      for (const [target, message] of cases) {
        const res = await rawRequest(sim.url, target);
        expect(res.status, target).to.equal(500);
        expect(res.error, target).to.equal("Server.ServerProxy.InternalError");
        expect((JSON.parse(res.body) as { message: string }).message).to.equal(
          `${message}: ${target}`,
        );
      }
      expect(provider.seen).to.have.length(0);
      // What java.net.URI takes passes: a good escape, `[` and `]` in the query.
      const ok = await rawRequest(sim.url, `/r1/${SERVICE}/a%20b?q=[1]`);
      expect(ok.status).to.equal(200);
      expect(provider.seen[0].url).to.equal("/base/a%20b?q=[1]");
    });

    it("passes the provider's own errors as they are, without X-Road-Error", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"no such person"}');
      };
      const res = await request(`${sim.url}/r1/${SERVICE}/p/1`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(res.statusCode).to.equal(404);
      expect(res.headers["x-road-error"]).to.equal(undefined);
      expect(await res.body.json()).to.deep.equal({ error: "no such person" });
    });

    it("gives up on a service at its timeout and reports a refused connection", async () => {
      provider.answer = () => undefined; // never answers
      sim.register(SERVICE, { url: `${provider.url}/base`, timeout: "200ms" });
      const slow = await request(`${sim.url}/r1/${SERVICE}`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(slow.statusCode).to.equal(500);
      expect(slow.headers["x-road-error"]).to.equal("Server.ServerProxy.ServiceFailed.IOError");
      await slow.body.text();

      const closed = await startProvider();
      const deadUrl = closed.url;
      await closed.close();
      sim.register(SERVICE, { url: deadUrl });
      const refused = await request(`${sim.url}/r1/${SERVICE}`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(refused.statusCode).to.equal(500);
      expect(refused.headers["x-road-error"]).to.equal(
        "Server.ServerProxy.ServiceFailed.NetworkError",
      );
      await refused.body.text();
      const calls = sim.calls();
      expect(calls.map((c) => c.error)).to.deep.equal([
        "Server.ServerProxy.ServiceFailed.IOError",
        "Server.ServerProxy.ServiceFailed.NetworkError",
      ]);
    });
  });

  describe("SOAP", () => {
    it("forwards a request to the service named in its header, with Content-Type and SOAPAction only", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8", "x-secret": "no" });
        res.end(fixture("simple.answer"));
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: {
          "content-type": "text/xml; charset=utf-8",
          soapaction: '""',
          "x-custom": "dropped",
        },
        body: fixture("simple.query"),
      });
      const text = await res.body.text();
      expect(res.statusCode).to.equal(200);
      expect(res.headers["x-secret"]).to.equal(undefined);
      expect(text).to.match(
        /<xrd:requestHash[^>]*algorithmId="http:\/\/www.w3.org\/2001\/04\/xmlenc#sha512">[A-Za-z0-9+/=]+</,
      );
      const [seen] = provider.seen;
      expect(seen.url).to.equal("/soap");
      expect(seen.body).to.equal(fixture("simple.query").toString("utf8"));
      expect(seen.headers.soapaction).to.equal('""');
      expect(seen.headers["x-custom"]).to.equal(undefined);
      expect(sim.calls()[0]).to.include({
        protocol: "soap",
        client: "EE/BUSINESS/consumer",
        xroadId: "1234567890",
      });
    });

    it("sends a SOAP call an empty Accept-Encoding and Apache's User-Agent, and decodes a gzip answer", async () => {
      // ServerMessageProcessor sets `accept-encoding` empty, so RequestAcceptEncoding adds
      // nothing; the answer still passes ResponseContentEncoding.
      provider.answer = (_req, res) => {
        res.writeHead(200, {
          "content-type": "text/xml; charset=utf-8",
          "content-encoding": "gzip",
        });
        res.end(gzipSync(fixture("simple.answer")));
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8", "accept-encoding": "gzip" },
        body: fixture("simple.query"),
      });
      const text = await res.body.text();
      expect(res.statusCode, text).to.equal(200);
      expect(res.headers["content-encoding"]).to.equal(undefined);
      expect(text).to.include("<xrd:requestHash");
      const [seen] = provider.seen;
      expect(seen.headers["accept-encoding"]).to.equal("");
      expect(seen.headers["user-agent"]).to.match(/^Apache-HttpClient\/4\.5\.14 /);
    });

    it("refuses a malformed SOAPAction as X-Road's client proxy does, before the provider sees it", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(fixture("simple.answer"));
      };
      const send = async (soapaction: string) => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "text/xml; charset=utf-8", soapaction },
          body: fixture("simple.query"),
        });
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      };
      // The cases of X-Road's own ValidateSoapActionTest.
      for (const bad of ["http://quotes/missing", '"http://extra/quote""', '"spaces "', '"100%"']) {
        const refused = await send(bad);
        expect(refused.text, bad).to.include("<faultcode>Client.InvalidSoapAction</faultcode>");
        // HandlerBase.sendErrorResponse sends every fault with an empty SOAPAction.
        expect(refused.headers.soapaction, bad).to.equal("");
        expect(refused.text).to.include("Malformed SOAPAction header");
      }
      expect(provider.seen).to.deep.equal([]);
      for (const good of ["", '""', '"http://example.org/test"', '"urn:foo"']) {
        expect((await send(good)).status, good).to.equal(200);
      }
      expect(provider.seen).to.have.length(4);
    });

    it("passes on a protocolVersion 4.1, as X-Road's security server takes any 4.x", async () => {
      const body = fixture("simple.query")
        .toString("utf8")
        .replace(">4.0</xroad:protocolVersion>", ">4.1</xroad:protocolVersion>");
      expect(body).to.include(">4.1</xroad:protocolVersion>");
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(fixture("simple.answer"));
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body,
      });
      const text = await res.body.text();
      expect(text).to.not.contain("<faultcode>");
      expect(provider.seen).to.have.length(1);
    });

    // SoapUtils.validateServiceName: the Body element need only begin with the service code.
    it("passes on a request whose Body element begins with its service code, as X-Road does", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(fixture("simple.answer"));
      };
      const body = fixture("simple.query")
        .toString("utf8")
        .replace(/ns1:testQuery\b/g, "ns1:testQueryRequest");
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body,
      });
      const text = await res.body.text();
      expect(text).to.not.contain("<faultcode>");
      expect(provider.seen).to.have.length(1);
      expect(provider.seen[0].body).to.contain("<ns1:testQueryRequest");
    });

    for (const [file, code] of [
      ["missing-protocolVersion.query", "Client.MissingHeaderField"],
      ["wrong-protocolVersion.query", "Client.InvalidProtocolVersion"],
      ["no-header.query", "Client.MissingHeader"],
      ["missing-body.query", "Client.MissingBody"],
      ["malformed-body1.query", "Client.InvalidBody"],
      ["inconsistent-headers.query", "Client.InconsistentHeaders"],
      ["empty.query", "Client.InvalidSoap"],
    ]) {
      it(`refuses ${file} with ${code}`, async () => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "text/xml" },
          body: fixture(file),
        });
        // As X-Road's security server: its own faults come with 200 OK.
        expect(res.statusCode).to.equal(200);
        const text = await res.body.text();
        expect(text).to.contain(`<faultcode>${code}</faultcode>`);
        expect(provider.seen).to.have.length(0);
      });
    }

    // X-Road's consumer side compares the header fields marked @CheckConsistency (client,
    // service, userId, representedParty, issue, id); protocolVersion and requestHash are not.
    const answer = fixture("simple.answer").toString("utf8");
    const header = "<xroad:protocolVersion>4.0</xroad:protocolVersion>";
    for (const [what, changed] of [
      ["another client", answer.replace("<id:memberCode>consumer<", "<id:memberCode>other<")],
      // (Another service code would fail the Body's name first, below.)
      ["another service", answer.replace(">producer<", ">other-producer<")],
      [
        "a service version the request did not name",
        answer.replace(
          "<id:serviceCode>testQuery</id:serviceCode>",
          "<id:serviceCode>testQuery</id:serviceCode><id:serviceVersion>v2</id:serviceVersion>",
        ),
      ],
      ["another userId", answer.replace("EE37702211234", "EE00000000000")],
      ["no userId", answer.replace("<xroad:userId>EE37702211234</xroad:userId>", "")],
      [
        "an issue the request had not",
        answer.replace(header, `<xroad:issue>T-1</xroad:issue>${header}`),
      ],
      [
        "a representedParty the request had not",
        answer.replace(
          header,
          `<repr:representedParty xmlns:repr="http://x-road.eu/xsd/representation.xsd"><repr:partyCode>EE1</repr:partyCode></repr:representedParty>${header}`,
        ),
      ],
      ["another id", answer.replace(">1234567890<", ">1234567891<")],
    ] as const) {
      it(`answers Server.ClientProxy.ServiceFailed.InconsistentResponse for an answer with ${what}`, async () => {
        provider.answer = (_req, res) => {
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(changed);
        };
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "text/xml" },
          body: fixture("simple.query"),
        });
        expect(res.statusCode).to.equal(200);
        const text = await res.body.text();
        expect(text).to.contain(
          "<faultcode>Server.ClientProxy.ServiceFailed.InconsistentResponse</faultcode>",
        );
        expect(text).to.contain("Response from server proxy is not consistent with request");
        expect(text).not.to.contain("<answer>42</answer>");
      });
    }

    it("takes an answer that echoes the consistency fields, whatever its 4.x protocolVersion", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer.replace(">4.0<", ">4.x<"));
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: fixture("simple.query"),
      });
      expect(await res.body.text()).to.contain("<answer>42</answer>");
    });

    // X-Road's server proxy parses a provider's answer as it parses a request
    // (ServerMessageProcessor.parseResponse, SaxSoapParserImpl): the Header and its required
    // fields, a 4.x protocolVersion, and a Body element named for the answer's service code
    // (SoapUtils.validateServiceName; PR-MESS §2.3 names it `<serviceCode>Response`), each
    // refused under ServiceFailed before the consumer side compares the answer with the request.
    const body = /<SOAP-ENV:Body>[\s\S]*<\/SOAP-ENV:Body>/.exec(answer)![0];
    const wholeHeader = /<SOAP-ENV:Header>[\s\S]*<\/SOAP-ENV:Header>/;
    for (const [what, changed, code] of [
      ["no SOAP Header", answer.replace(wholeHeader, ""), "MissingHeader"],
      ["no protocolVersion", answer.replace(header, ""), "MissingHeaderField"],
      ["protocolVersion 3.1", answer.replace(">4.0<", ">3.1<"), "InvalidProtocolVersion"],
      [
        "a Body element not named for its service code",
        answer.replace(/testQueryResponse/g, "otherQueryResponse"),
        "InconsistentHeaders",
      ],
      [
        "a Fault whose Header has protocolVersion 3.1",
        answer
          .replace(">4.0<", ">3.1<")
          .replace(
            body,
            "<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.Own</faultcode>" +
              "<faultstring>own</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body>",
          ),
        "InvalidProtocolVersion",
      ],
    ] as const) {
      it(`answers Server.ServerProxy.ServiceFailed.${code} for an answer with ${what}`, async () => {
        provider.answer = (_req, res) => {
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(changed);
        };
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "text/xml" },
          body: fixture("simple.query"),
        });
        expect(res.statusCode).to.equal(200);
        const text = await res.body.text();
        expect(text).to.contain(`<faultcode>Server.ServerProxy.ServiceFailed.${code}</faultcode>`);
        expect(text).not.to.contain("<answer>42</answer>");
      });
    }

    it("takes a provider's Fault without a SOAP Header as it came", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
        res.end(
          '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">' +
            "<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.Own</faultcode>" +
            "<faultstring>own</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>",
        );
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: fixture("simple.query"),
      });
      expect(await res.body.text()).to.contain("<faultcode>Server.Own</faultcode>");
    });

    // PR-MESS §2.2 and Annex B: the header fields are the elements of X-Road's namespaces; a
    // Header may hold other elements too, whatever their local names.
    it("routes and checks by the X-Road header fields, not by elements of other namespaces", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(fixture("simple.answer"));
      };
      const own =
        '<app:service xmlns:app="urn:example:app"><app:serviceCode>other</app:serviceCode></app:service>' +
        '<app:id xmlns:app="urn:example:app">app-1</app:id>' +
        '<client xmlns="urn:example:app"><memberCode>someone</memberCode></client>';
      const query = fixture("simple.query")
        .toString("utf8")
        .replace("</SOAP-ENV:Header>", `${own}</SOAP-ENV:Header>`);
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: query,
      });
      expect(await res.body.text()).to.contain("<answer>42</answer>");
      expect(provider.seen).to.have.length(1);
      expect(sim.calls()[0]).to.include({ client: "EE/BUSINESS/consumer", xroadId: "1234567890" });
    });

    // X-Road's security server takes a SOAP service's answer with HTTP 200 or 500 only (WS-I
    // BP R1126, AbstractHttpSender.checkResponseStatus); any other status is its HttpError,
    // the answer's body unread.
    it("answers Server.ServerProxy.ServiceFailed.HttpError for a SOAP answer not 200 or 500", async () => {
      const fault =
        '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">' +
        "<SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>Server.Busy</faultcode>" +
        "<faultstring>busy</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>";
      let status = 503;
      provider.answer = (_req, res) => {
        res.writeHead(status, { "content-type": "text/xml; charset=utf-8", "retry-after": "5" });
        res.end(fault);
      };
      const call = async () => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "text/xml; charset=utf-8" },
          body: fixture("simple.query"),
        });
        return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
      };
      const busy = await call();
      expect(busy.text).to.contain(
        "<faultcode>Server.ServerProxy.ServiceFailed.HttpError</faultcode>",
      );
      expect(busy.text).not.to.contain("Server.Busy");
      expect(busy.headers.soapaction).to.equal("");
      status = 500;
      // The provider's fault reaches the client as it came, with 200 OK as X-Road's own faults
      // (the server proxy reads it as an error, the client proxy answers its XML), and no
      // requestHash is added to it.
      const passed = await call();
      expect(passed.status).to.equal(200);
      expect(passed.text).to.equal(fault);
      expect(passed.headers.soapaction).to.equal("");
      expect(passed.headers["content-type"]).to.equal("text/xml;charset=utf-8");
    });

    it("answers Client.MissingHeader for an Envelope without a SOAP Header, whatever its Body holds", async () => {
      const query = fixture("no-header.query")
        .toString("utf8")
        .replace(/<ns1:test ([^>]*) \/>/, "<ns1:test $1><Header/></ns1:test>");
      expect(query).to.contain("<Header/>");
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: query,
      });
      expect(await res.body.text()).to.contain("<faultcode>Client.MissingHeader</faultcode>");
    });

    it("refuses an X-Road header field given twice, whatever its prefix", async () => {
      const query = fixture("simple.query")
        .toString("utf8")
        .replace(
          "</SOAP-ENV:Header>",
          '<x:id xmlns:x="http://x-road.eu/xsd/xroad.xsd">other</x:id></SOAP-ENV:Header>',
        );
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: query,
      });
      expect(await res.body.text()).to.contain(
        "<faultcode>Client.DuplicateHeaderField</faultcode>",
      );
      expect(provider.seen).to.have.length(0);
    });

    it("answers a service's SOAP answer with 200 OK, as X-Road's client proxy does, its status 500 too", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(500, { "content-type": "text/xml" });
        res.end(fixture("simple.answer"));
      };
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body: fixture("simple.query"),
      });
      const text = await res.body.text();
      // ClientMessageProcessor.sendResponse: SC_OK, ProxyMessage.getSoapContentType.
      expect(res.statusCode).to.equal(200);
      expect(res.headers["content-type"]).to.equal("text/xml;charset=utf-8");
      expect(text).to.contain("</xrd:requestHash>");
      expect(sim.calls().at(-1)).to.include({ status: 200 });
    });

    // X-Road's SaxSoapParserImpl hands the bytes to Xerces, which reads them in the encoding of
    // the XML declaration (UTF-8 without one); the Content-Type charset does not decode them.
    // The requestHash covers the request's own bytes.
    it("reads a request and an answer in the encoding their XML declaration names", async () => {
      const latin1 = (text: string): Buffer => Buffer.from(text, "latin1");
      const declared = (xml: string): string =>
        xml.replace('encoding="utf-8"', 'encoding="ISO-8859-1"');
      const query = declared(fixture("simple.query").toString("utf8")).replace(
        "EE37702211234",
        "Jõgi",
      );
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(latin1(declared(answer).replace("EE37702211234", "Jõgi")));
      };
      const body = latin1(query);
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body,
      });
      const bytes = Buffer.from(await res.body.arrayBuffer());
      // X-Road's client proxy labels a plain answer UTF-8 whatever encoding it came in, and
      // passes its bytes as they are (ClientMessageProcessor.sendResponse,
      // ProxyMessage.getSoapContentType); Jetty writes `text/xml;charset=utf-8`.
      expect(res.headers["content-type"]).to.equal("text/xml;charset=utf-8");
      const text = bytes.toString("latin1");
      expect(text).to.contain("<answer>42</answer>");
      expect(text).to.contain("<xroad:userId>Jõgi</xroad:userId>");
      const hash = createHash("sha512").update(body).digest("base64");
      expect(text).to.contain(`>${hash}</xrd:requestHash>`);
    });

    it("refuses bytes that are not of the encoding Xerces reads, whatever the charset", async () => {
      const undeclared = fixture("simple.query")
        .toString("utf8")
        .replace('<?xml version="1.0" encoding="utf-8"?>', "")
        .replace("EE37702211234", "Jõgi");
      const seen = provider.seen.length;
      const fault = async (contentType: string, body: Buffer): Promise<string> => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": contentType },
          body,
        });
        return await res.body.text();
      };
      // Labelled ISO-8859-1 without a declaration: Xerces reads UTF-8 and meets an invalid byte.
      const labelled = await fault(
        'text/xml; charset="ISO-8859-1"',
        Buffer.from(undeclared, "latin1"),
      );
      expect(labelled).to.contain("<faultcode>Client.InvalidSoap</faultcode>");
      // The same message in UTF-8 passes under the same label.
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer.replace("EE37702211234", "Jõgi"));
      };
      const passed = await fault('text/xml; charset="ISO-8859-1"', Buffer.from(undeclared, "utf8"));
      expect(passed).to.contain("<answer>42</answer>");
      // A charset Java has no writer for: OutputStreamWriter's UnsupportedEncodingException.
      const unknown = await fault("text/xml; charset=no-such-charset", Buffer.from(undeclared));
      expect(unknown).to.contain("<faultcode>Client.IOError</faultcode>");
      expect(unknown).to.contain("no-such-charset");
      // Only the message that passed reached the provider.
      expect(provider.seen.length).to.equal(seen + 1);
    });

    it("takes every charset Java writes, refuses others as X-Road does, and reads windows-1252 and UTF-16", async () => {
      const post = async (contentType: string, body: Buffer) => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": contentType },
          body,
        });
        return {
          type: res.headers["content-type"],
          bytes: Buffer.from(await res.body.arrayBuffer()),
        };
      };
      const declared = (encoding: string, xml: string): string =>
        xml.replace('encoding="utf-8"', `encoding="${encoding}"`).replace("EE37702211234", "Jõgi€");
      let answered = "";
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answered);
      };
      // Charsets the JDK names (aliases, any case, quoted, spaced): the message passes.
      const plain = fixture("simple.query").toString("utf8");
      for (const type of [
        "text/xml; charset=KOI8-R",
        'text/xml; charset="Shift_JIS"',
        "text/xml;CHARSET = ibm00858 ",
        "text/xml; charset=x-windows-949",
      ]) {
        answered = answer;
        const { bytes } = await post(type, Buffer.from(plain));
        expect(bytes.toString("utf8"), type).to.contain("<answer>42</answer>");
      }
      // A multipart message's charset is its SOAP part's.
      for (const [charset, passes] of [
        ["Big5-HKSCS", true],
        ["no-such", false],
      ] as const) {
        const multipart = Buffer.concat([
          Buffer.from(`--b1\r\nContent-Type: text/xml; charset=${charset}\r\n\r\n`),
          Buffer.from(plain),
          Buffer.from("\r\n--b1--\r\n"),
        ]);
        const type = 'multipart/related; type="text/xml"; charset=no-such; boundary=b1';
        const { bytes } = await post(type, multipart);
        expect(bytes.toString("utf8"), charset).to.contain(
          passes ? "<answer>42</answer>" : "<faultcode>Client.IOError</faultcode>",
        );
      }
      // A charset the JDK only decodes: newEncoder() throws UnsupportedOperationException.
      const decodeOnly = (await post("text/xml; charset=ISO-2022-CN", Buffer.from(plain))).bytes;
      expect(decodeOnly.toString()).to.contain("<faultcode>Client.InternalError</faultcode>");
      expect(decodeOnly.toString()).to.contain("<faultstring>null</faultstring>");
      const unknown = (await post('text/xml; charset="utf-9"', Buffer.from(plain))).bytes;
      expect(unknown.toString()).to.contain("<faultcode>Client.IOError</faultcode>");
      expect(unknown.toString()).to.contain("<faultstring>utf-9</faultstring>");
      // windows-1252 named by the declaration, as Xerces' EncodingMap maps it: read and written
      // back in it.
      const cp1252 = (text: string): Buffer =>
        Buffer.from(Array.from(text, (c) => (c === "€" ? 0x80 : c.charCodeAt(0))));
      answered = cp1252(declared("windows-1252", answer)).toString("latin1");
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=windows-1252" });
        res.end(Buffer.from(answered, "latin1"));
      };
      const query1252 = cp1252(declared("windows-1252", plain));
      const read1252 = await post("text/xml; charset=windows-1252", query1252);
      expect(read1252.type).to.equal("text/xml;charset=utf-8");
      expect(read1252.bytes.toString("latin1")).to.contain("<answer>42</answer>");
      expect(read1252.bytes.includes(cp1252("<xroad:userId>Jõgi€</xroad:userId>"))).to.equal(true);
      const hash1252 = createHash("sha512").update(query1252).digest("base64");
      expect(read1252.bytes.toString("latin1")).to.contain(`>${hash1252}</xrd:requestHash>`);
      // UTF-16 in either byte order, with a byte order mark or without: read, and answered in
      // the encoding the answer came in, its mark kept.
      const utf16 = (text: string, bigEndian: boolean, bom: boolean): Buffer => {
        const le = Buffer.from((bom ? "\ufeff" : "") + text, "utf16le");
        return bigEndian ? le.swap16() : le;
      };
      for (const bigEndian of [false, true]) {
        for (const bom of [true, false]) {
          const label = `${bigEndian ? "BE" : "LE"}${bom ? " with BOM" : ""}`;
          const answer16 = utf16(declared("UTF-16", answer), bigEndian, bom);
          provider.answer = (_req, res) => {
            res.writeHead(200, { "content-type": "text/xml; charset=UTF-16" });
            res.end(answer16);
          };
          const query16 = utf16(declared("UTF-16", plain), bigEndian, bom);
          const read16 = await post("text/xml; charset=UTF-16", query16);
          const body = bom ? read16.bytes.subarray(2) : read16.bytes;
          const text = (bigEndian ? Buffer.from(body).swap16() : body).toString("utf16le");
          expect(text, label).to.contain("<answer>42</answer>");
          expect(text, label).to.contain("<xroad:userId>Jõgi€</xroad:userId>");
          const hash = createHash("sha512").update(query16).digest("base64");
          expect(text, label).to.contain(`>${hash}</xrd:requestHash>`);
          expect(read16.bytes.subarray(0, 2).equals(answer16.subarray(0, 2)), label).to.equal(true);
        }
      }
    });

    it("hashes the first part of a multipart request as sent, in its own charset", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer.replace("EE37702211234", "Jõgi"));
      };
      const soap = Buffer.from(
        fixture("simple.query")
          .toString("utf8")
          .replace('encoding="utf-8"', 'encoding="ISO-8859-1"')
          .replace("EE37702211234", "Jõgi"),
        "latin1",
      );
      const body = Buffer.concat([
        Buffer.from('--b1\r\nContent-Type: text/xml; charset="ISO-8859-1"\r\n\r\n'),
        soap,
        Buffer.from("\r\n--b1\r\nContent-Type: text/plain\r\n\r\nä\r\n--b1--\r\n", "latin1"),
      ]);
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": 'multipart/related; type="text/xml"; boundary=b1' },
        body,
      });
      const text = await res.body.text();
      expect(text).to.contain("<answer>42</answer>");
      const hash = createHash("sha512").update(soap).digest("base64");
      expect(text).to.contain(`>${hash}</xrd:requestHash>`);
    });

    it("reads a multipart request's boundary as X-Road's mime4j does, not by a pattern", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer);
      };
      const body = Buffer.concat([
        Buffer.from("--b1\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n"),
        fixture("simple.query"),
        Buffer.from("\r\n--b1--\r\n"),
      ]);
      const call = async (contentType: string): Promise<string> => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": contentType },
          body,
        });
        return res.body.text();
      };
      // Whitespace around "=", a comment, a parameter whose name ends in "boundary", a name
      // given twice (the last counts), any case: mime4j's RawFieldParser and
      // FallbackBodyDescriptorBuilder take b1 from each.
      for (const contentType of [
        'multipart/related; type="text/xml"; boundary = b1',
        "multipart/related; boundary=b1 (the SOAP part first)",
        "multipart/related; x-boundary=zz; boundary=b1",
        "multipart/related; boundary=zz; BOUNDARY=b1",
        'Multipart/Related;boundary="b1"',
      ]) {
        expect(await call(contentType), contentType).to.contain("<answer>42</answer>");
      }
      // "boundary=b1" inside a quoted value is no boundary parameter.
      expect(await call('multipart/related; start="<boundary=b1>"')).to.contain(
        "<faultcode>Client.InvalidContentType</faultcode>",
      );
    });

    // SaxSoapParserImpl.validateMimeType checks the SOAP part's own type as a plain message's.
    it("refuses a SOAP part of a type other than text/xml or application/xop+xml, as X-Road does", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer);
      };
      const call = async (partType: string): Promise<string> => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "multipart/related; boundary=b1" },
          body: Buffer.concat([
            Buffer.from(`--b1\r\nContent-Type:${partType}\r\n\r\n`),
            fixture("simple.query"),
            Buffer.from("\r\n--b1--\r\n"),
          ]),
        });
        return res.body.text();
      };
      for (const [partType, base] of [
        [" application/json; charset=utf-8", "application/json"],
        [" application/soap+xml", "application/soap+xml"],
        ["", ""],
      ]) {
        const text = await call(partType);
        expect(text, partType).to.contain("<faultcode>Client.InvalidContentType</faultcode>");
        expect(text, partType).to.contain(
          `<faultstring>Invalid content type: ${base}</faultstring>`,
        );
      }
      expect(provider.seen).to.have.length(0);
      for (const partType of [' Application/XOP+XML; type="text/xml"', " TEXT/XML"]) {
        expect(await call(partType), partType).to.contain("<answer>42</answer>");
      }
    });

    // Without a boundary mime4j 0.8.7 reads the body as one text/plain entity and hands it to
    // SoapMessageDecoder's part handler with the request's Content-Type, which
    // SaxSoapParserImpl.validateMimeType refuses with the base type in its message.
    it("answers a multipart request without a boundary as X-Road does, naming its base type", async () => {
      const body = Buffer.concat([
        Buffer.from("--b1\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n"),
        fixture("simple.query"),
        Buffer.from("\r\n--b1--\r\n"),
      ]);
      for (const [contentType, base] of [
        ['Multipart/Related; type="text/xml"', "Multipart/Related"],
        ["multipart/related", "multipart/related"],
        ["multipart/mixed; charset=utf-8", "multipart/mixed"],
      ]) {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": contentType },
          body,
        });
        const text = await res.body.text();
        expect(text, contentType).to.contain("<faultcode>Client.InvalidContentType</faultcode>");
        expect(text, contentType).to.contain(
          `<faultstring>Invalid content type: ${base}</faultstring>`,
        );
      }
      expect(provider.seen).to.have.length(0);
    });

    it("reads a SOAP part's last Content-Type line, as X-Road's SoapMessageDecoder keeps the last", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer);
      };
      const body = Buffer.concat([
        Buffer.from("--b1\r\nContent-Type: text/xml; charset=x-none\r\n"),
        Buffer.from("Content-Type: text/xml; charset=utf-8\r\n\r\n"),
        fixture("simple.query"),
        Buffer.from("\r\n--b1--\r\n"),
      ]);
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "multipart/related; boundary=b1" },
        body,
      });
      expect(await res.body.text()).to.contain("<answer>42</answer>");
    });

    // SoapMessageDecoder.MultipartHandler.body refuses any part without a Content-Type line,
    // the SOAP part or an attachment, request or provider's answer; an attachment only once
    // the SOAP part before it has been read.
    it("refuses a multipart part without a Content-Type as X-Road does, not taking it as text/xml", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(answer);
      };
      const soapPart = (headers: string): Buffer =>
        Buffer.concat([Buffer.from(`--b1\r\n${headers}\r\n`), fixture("simple.query")]);
      const attachment = (headers: string): Buffer =>
        Buffer.from(`\r\n--b1\r\n${headers}\r\nattached\r\n`);
      const call = async (...parts: Buffer[]): Promise<string> => {
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: { "content-type": "multipart/related; boundary=b1" },
          body: Buffer.concat([...parts, Buffer.from("\r\n--b1--\r\n")]),
        });
        return res.body.text();
      };
      const refused = "<faultcode>Client.InvalidContentType</faultcode>";
      const reason = "Could not get content type for part";
      const typed = "Content-Type: text/xml; charset=utf-8\r\n";
      // A SOAP part without one, with other header lines or none at all.
      for (const headers of ["Content-Id: <soap>\r\n", ""]) {
        const text = await call(soapPart(headers));
        expect(text, headers).to.contain(refused);
        expect(text).to.contain(reason);
      }
      const untyped = await call(soapPart(typed), attachment("Content-Id: <a1>\r\n"));
      expect(untyped).to.contain(refused);
      expect(untyped).to.contain(reason);
      // mime4j holds an attachment's header to the same limits as the SOAP part's.
      const crowded = Array.from({ length: 1001 }, (_, i) => `X-${i}: v\r\n`).join("");
      const limited = await call(
        soapPart(typed),
        attachment(`${crowded}Content-Type: text/plain\r\n`),
      );
      expect(limited).to.contain("<faultcode>Client.MimeParsingFailed</faultcode>");
      expect(limited).to.contain("Maximum header limit (1000) exceeded");
      // The SOAP part is read first: its own fault comes before the attachment's.
      const broken = Buffer.concat([
        Buffer.from(`--b1\r\n${typed}\r\n`),
        Buffer.from(fixture("simple.query").toString("utf8").replace("4.0", "3.0")),
      ]);
      expect(await call(broken, attachment(""))).to.contain(
        "<faultcode>Client.InvalidProtocolVersion</faultcode>",
      );
      expect(await call(soapPart(typed), attachment("Content-Type: text/plain\r\n"))).to.contain(
        "<answer>42</answer>",
      );
      expect(provider.seen).to.have.length(1);
      // A provider's answer is decoded by the same SoapMessageDecoder.
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "multipart/related; boundary=a1" });
        res.end(`--a1\r\n${typed}\r\n${answer}\r\n--a1\r\n\r\nattached\r\n--a1--\r\n`);
      };
      expect(await call(soapPart(typed))).to.contain(
        "<faultcode>Server.ServerProxy.ServiceFailed.InvalidContentType</faultcode>",
      );
    });

    // SoapMessageDecoder.parse reads application/xop+xml as it reads text/xml, for a request
    // and for a provider's answer (the server proxy decodes the answer with it too).
    it("takes application/xop+xml as a plain SOAP message, as X-Road's SoapMessageDecoder does", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, {
          "content-type": 'application/xop+xml; charset=UTF-8; type="text/xml"',
        });
        res.end(answer);
      };
      const body = fixture("simple.query");
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": 'application/xop+xml; charset=UTF-8; type="text/xml"' },
        body,
      });
      const text = await res.body.text();
      expect(text).to.not.contain("<faultcode>");
      expect(text).to.contain("<answer>42</answer>");
      const hash = createHash("sha512").update(body).digest("base64");
      expect(text).to.contain(`>${hash}</xrd:requestHash>`);
      // A plain answer reaches the client labelled text/xml (ProxyMessage.getSoapContentType);
      // the provider gets the caller's own Content-Type (HEADER_ORIGINAL_CONTENT_TYPE).
      expect(res.headers["content-type"]).to.equal("text/xml;charset=utf-8");
      expect(provider.seen[0].headers["content-type"]).to.equal(
        'application/xop+xml; charset=UTF-8; type="text/xml"',
      );
    });

    for (const file of ["attachm.query", "attachm-mtom.query"]) {
      it(`takes ${file}, a multipart request whose lines end in LF alone, as X-Road's MIME parser does`, async () => {
        sim.register("EE/BUSINESS/producer/test", { url: `${provider.url}/soap`, type: "soap" });
        const body = fixture(file);
        // The SOAP part's bytes: after its blank line, up to the LF before the next delimiter.
        const source = body.toString("latin1");
        const from = source.indexOf("\n\n") + 2;
        const to = source.indexOf("\n--jetty771207119h3h10dty", from);
        const soap = body.subarray(from, to);
        provider.answer = (_req, res) => {
          // An answer echoing the request's header (a Body other than a Fault is enough here).
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(soap.toString("utf8").replace("</ns1:test>", "<answer>42</answer></ns1:test>"));
        };
        const res = await request(`${sim.url}/`, {
          method: "POST",
          headers: {
            "content-type": 'multipart/related; type="text/xml"; boundary=jetty771207119h3h10dty',
          },
          body,
        });
        const text = await res.body.text();
        expect(text).to.not.contain("<faultcode>");
        expect(text).to.contain("<answer>42</answer>");
        const hash = createHash("sha512").update(soap).digest("base64");
        expect(text).to.contain(`>${hash}</xrd:requestHash>`);
        expect(Buffer.from(provider.seen[0].body, "utf8").equals(body)).to.equal(true);
      });
    }

    it("adds requestHash to the SOAP part of a multipart answer, its attachments unchanged", async () => {
      const attachment =
        "--a1\r\nContent-Type: application/octet-stream\r\nContent-ID: <att1>\r\n\r\n\u00e4\u00f6\r\n--a1--\r\n";
      provider.answer = (_req, res) => {
        const multipart = Buffer.concat([
          Buffer.from("--a1\r\nContent-Type: text/xml; charset=utf-8\r\n\r\n"),
          Buffer.from(answer, "utf8"),
          Buffer.from(`\r\n${attachment}`, "latin1"),
        ]);
        res.writeHead(200, {
          "content-type": 'multipart/related; type="text/xml"; boundary=a1',
        });
        res.end(multipart);
      };
      const body = fixture("simple.query");
      const res = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8" },
        body,
      });
      // The service's type, to which Jetty adds the UTF-8 X-Road sets (no charset given).
      expect(res.headers["content-type"]).to.equal(
        'multipart/related; type="text/xml"; boundary=a1;charset=utf-8',
      );
      const bytes = Buffer.from(await res.body.arrayBuffer());
      const text = bytes.toString("latin1");
      const hash = createHash("sha512").update(body).digest("base64");
      const soapEnd = text.indexOf("\r\n--a1\r\n");
      expect(text.slice(0, soapEnd)).to.contain(`>${hash}</xrd:requestHash>`);
      expect(text.slice(0, soapEnd)).to.contain("<answer>42</answer>");
      expect(text.slice(soapEnd + 2)).to.equal(attachment);
    });

    it("answers Server.ServerProxy faults for the provider side", async () => {
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end("{}");
      };
      const bad = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: fixture("simple.query"),
      });
      expect(await bad.body.text()).to.contain(
        "<faultcode>Server.ServerProxy.ServiceFailed.InvalidContentType</faultcode>",
      );
      sim.unregister("EE/BUSINESS/producer/testQuery");
      const unknown = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: fixture("simple.query"),
      });
      // Its only service gone, the provider is no client of the security server any more:
      // ServerMessageProcessor.verifyClientStatus answers before verifyAccess would.
      expect(await unknown.body.text()).to.contain(
        "<faultcode>Server.ServerProxy.UnknownMember</faultcode>",
      );
    });

    it("answers Server.ServerProxy.ServiceType to a service called through the other protocol", async () => {
      // ServerRestMessageProcessor / ServerMessageProcessor.verifyAccess: the service exists,
      // but is of the other type. Through REST a subsystem's: X-Road reads no member's own
      // service from a path.
      sim.register("EE/BUSINESS/producer/sub/testQuery", {
        url: `${provider.url}/soap`,
        type: "soap",
      });
      const rest = await request(`${sim.url}/r1/EE/BUSINESS/producer/sub/testQuery`, {
        headers: { "x-road-client": CLIENT },
      });
      const error = (await rest.body.json()) as { type: string; message: string };
      expect(rest.statusCode).to.equal(500);
      expect(rest.headers["x-road-error"]).to.equal("Server.ServerProxy.ServiceType");
      expect(error.message).to.equal(
        "Service is a SOAP service and cannot be called using REST interface",
      );
      sim.register("EE/BUSINESS/producer/testQuery", { url: `${provider.url}/rest` });
      const soap = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml" },
        body: fixture("simple.query"),
      });
      const fault = await soap.body.text();
      expect(fault).to.contain("<faultcode>Server.ServerProxy.ServiceType</faultcode>");
      expect(fault).to.contain(
        "Service is a REST service and cannot be called using SOAP interface",
      );
      expect(provider.seen).to.have.length(0);
    });
  });

  describe("clients", () => {
    const UNKNOWN = "EE/GOV/9999/stranger";
    const soapCall = () =>
      request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8", soapaction: '""' },
        body: fixture("simple.query"), // client: the member EE/BUSINESS/consumer
      });

    it("answers Server.ClientProxy.UnknownMember to a client not in its clients, REST and SOAP, before any provider call", async () => {
      // As X-Road's client proxy (AbstractClientMessageProcessor.verifyClientStatus): the
      // client must be one of the security server's own, whatever the connection.
      sim.setClients({ [CLIENT]: { connectionType: "HTTP" } });
      const known = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(known.statusCode, await known.body.text()).to.equal(200);

      for (const accept of [undefined, "application/xml"]) {
        const refused = await request(`${sim.url}/r1/${SERVICE}/x`, {
          headers: { "x-road-client": UNKNOWN, ...(accept ? { accept } : {}) },
        });
        const text = await refused.body.text();
        expect(refused.statusCode, text).to.equal(500);
        expect(refused.headers["x-road-error"]).to.equal("Server.ClientProxy.UnknownMember");
        expect(text).to.include(accept ? "<type>Server.ClientProxy.UnknownMember</type>" : "");
        if (!accept) {
          expect(JSON.parse(text).message).to.equal(`Client 'SUBSYSTEM:${UNKNOWN}' not found`);
        }
      }
      // The metaservices are asked through the client proxy too.
      const meta = await request(`${sim.url}/r1/EE/GOV/1234/prov/listMethods`, {
        headers: { "x-road-client": UNKNOWN },
      });
      expect(meta.headers["x-road-error"], await meta.body.text()).to.equal(
        "Server.ClientProxy.UnknownMember",
      );

      const soap = await soapCall();
      const fault = await soap.body.text();
      expect(soap.statusCode).to.equal(200);
      expect(fault).to.include("<faultcode>Server.ClientProxy.UnknownMember</faultcode>");
      // The apostrophes escaped or not, as an XML writer may put them.
      expect(fault).to.match(/Client (&#39;|')MEMBER:EE\/BUSINESS\/consumer(&#39;|') not found/);
      expect(provider.seen).to.have.length(1);
      expect(sim.calls().map((c) => c.error)).to.deep.equal([
        null,
        "Server.ClientProxy.UnknownMember",
        "Server.ClientProxy.UnknownMember",
        "Server.ClientProxy.UnknownMember",
        "Server.ClientProxy.UnknownMember",
      ]);
    });

    it("answers Server.ServerProxy.UnknownMember to a provider listed in a status other than REGISTERED, its services registered", async () => {
      // The provider's server proxy checks the provider is a REGISTERED client of its own
      // (ServerRestMessageProcessor / ServerMessageProcessor.verifyClientStatus) before any
      // metaservice or service is looked up; a provider added but not registered, or disabled,
      // is answered as one the security server does not have.
      sim.setClients({
        [CLIENT]: { connectionType: "HTTP" },
        "EE/BUSINESS/consumer": { connectionType: "HTTP" },
        "EE/GOV/1234/prov": { status: "DISABLED" },
        "EE/BUSINESS/producer": { status: "SAVED" },
      });
      for (const path of [`/r1/${SERVICE}/x`, "/r1/EE/GOV/1234/prov/listMethods"]) {
        const rest = await request(`${sim.url}${path}`, { headers: { "x-road-client": CLIENT } });
        const text = await rest.body.text();
        expect(rest.statusCode, text).to.equal(500);
        expect(rest.headers["x-road-error"], path).to.equal("Server.ServerProxy.UnknownMember");
        expect(JSON.parse(text).message).to.equal("Client 'SUBSYSTEM:EE/GOV/1234/prov' not found");
      }
      const fault = await (await soapCall()).body.text();
      expect(fault).to.include("<faultcode>Server.ServerProxy.UnknownMember</faultcode>");
      expect(fault).to.match(/Client (&#39;|')MEMBER:EE\/BUSINESS\/producer(&#39;|') not found/);
      expect(provider.seen).to.have.length(0);

      // Listed REGISTERED, or not listed, a provider with services is served.
      sim.setClients({
        [CLIENT]: { connectionType: "HTTP" },
        "EE/BUSINESS/consumer": { connectionType: "HTTP" },
        "EE/GOV/1234/prov": { status: "REGISTERED" },
      });
      const rest = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(rest.statusCode, await rest.body.text()).to.equal(200);
      await (await soapCall()).body.text();
      expect(provider.seen.map((c) => c.url)).to.deep.equal(["/base/x", "/soap"]);
      // A REGISTERED provider with no service of that code: X-Road's UnknownService.
      const unknown = await request(`${sim.url}/r1/EE/GOV/1234/prov/nothing`, {
        headers: { "x-road-client": CLIENT },
      });
      await unknown.body.text();
      expect(unknown.headers["x-road-error"]).to.equal("Server.ServerProxy.UnknownService");
    });

    it("answers Server.ClientProxy.UnknownMember to a client listed in a status other than REGISTERED", async () => {
      // X-Road's verifyClientStatus wants the status `registered`; a client added but not yet
      // registered, or disabled, gets the same answer as one the server does not have.
      sim.setClients({
        [CLIENT]: { connectionType: "HTTP", status: "SAVED" },
        "EE/BUSINESS/consumer": { connectionType: "HTTP", status: "DISABLED" },
      });
      const rest = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
      });
      const text = await rest.body.text();
      expect(rest.statusCode, text).to.equal(500);
      expect(rest.headers["x-road-error"]).to.equal("Server.ClientProxy.UnknownMember");
      expect(JSON.parse(text).message).to.equal(`Client 'SUBSYSTEM:${CLIENT}' not found`);
      const fault = await (await soapCall()).body.text();
      expect(fault).to.include("<faultcode>Server.ClientProxy.UnknownMember</faultcode>");
      expect(provider.seen).to.have.length(0);

      sim.setClients({ [CLIENT]: { connectionType: "HTTP", status: "REGISTERED" } });
      const registered = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(registered.statusCode, await registered.body.text()).to.equal(200);
      expect(() =>
        sim.setClients({ [CLIENT]: { status: "ACTIVE" as unknown as "REGISTERED" } }),
      ).to.throw(/status must be one of REGISTERED, SAVED/);
      // An id no request could name is refused, not kept to refuse its client without a word.
      for (const id of [`SUBSYSTEM:${CLIENT}`, `${CLIENT} `, "EE/GOV", `${CLIENT}/extra`]) {
        expect(() => sim.setClients({ [id]: { connectionType: "HTTP" } }), id).to.throw(
          /not INSTANCE\/CLASS\/MEMBER\[\/SUBSYSTEM\]/,
        );
      }
    });

    it("checks the client before the service, as X-Road's client proxy does", async () => {
      // ClientRestMessageProcessor.process: verifyClientStatus and verifyClientAuthentication
      // come before the service is looked up, so an unknown client learns nothing of the
      // services, and neither does an information system that may not speak as the client.
      sim.setClients({ [CLIENT]: { connectionType: "HTTPS" } });
      const errorOf = async (client: string | undefined, service: string): Promise<string> => {
        const res = await request(`${sim.url}/r1/${service}/x`, {
          headers: client === undefined ? {} : { "x-road-client": client },
        });
        await res.body.text();
        return String(res.headers["x-road-error"]);
      };
      const unknownService = "EE/GOV/1234/prov/nothing";
      expect(await errorOf(UNKNOWN, unknownService)).to.equal("Server.ClientProxy.UnknownMember");
      expect(await errorOf(UNKNOWN, "EE/BUSINESS/producer/testQuery")).to.equal(
        "Server.ClientProxy.UnknownMember",
      );
      // This port speaks plain HTTP: the HTTPS client's connection is refused first.
      expect(await errorOf(CLIENT, unknownService)).to.equal(
        "Server.ClientProxy.SslAuthenticationFailed",
      );
      expect(await errorOf(undefined, unknownService)).to.equal(
        "Server.ClientProxy.InvalidClientIdentifier",
      );
      sim.setClients({ [CLIENT]: { connectionType: "HTTP" } });
      expect(await errorOf(CLIENT, unknownService)).to.equal("Server.ServerProxy.UnknownService");
      expect(provider.seen).to.have.length(0);
    });

    it("refuses every client with an empty clients list, and takes any again without one", async () => {
      sim.setClients({});
      const refused = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
      });
      expect(refused.headers["x-road-error"], await refused.body.text()).to.equal(
        "Server.ClientProxy.UnknownMember",
      );
      // A configuration without `clients` (the demo's) knows none and takes every caller.
      sim.setClients(undefined);
      const taken = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": UNKNOWN },
      });
      expect(taken.statusCode, await taken.body.text()).to.equal(200);
      expect(await (await soapCall()).body.text()).to.not.include("UnknownMember");
    });
  });
});

describe("xroad-sim global configuration and service settings", function () {
  freshConnectionPerFetch();
  this.timeout(20_000);
  let provider: Provider;
  let sim: XroadSim | null = null;
  const SOAP_SERVICE = "EE/BUSINESS/producer/testQuery";
  const start = async (options: Parameters<typeof startXroadSim>[0]): Promise<XroadSim> => {
    sim = await startXroadSim(options);
    return sim;
  };
  const restError = async (
    s: XroadSim,
    service: string,
    headers: Record<string, string> = {},
  ): Promise<{ status: number; type: string; message: string }> => {
    const res = await request(`${s.url}/r1/${service}/x`, {
      headers: { "x-road-client": CLIENT, ...headers },
    });
    const text = await res.body.text();
    const type = res.headers["x-road-error"];
    return {
      status: res.statusCode,
      type: type === undefined ? "none" : String(type),
      message: type === undefined ? text : (JSON.parse(text) as { message: string }).message,
    };
  };
  const soapFault = async (
    s: XroadSim,
    query: Buffer | string = fixture("simple.query"),
  ): Promise<{ code: string; message: string }> => {
    const res = await request(`${s.url}/`, {
      method: "POST",
      headers: { "content-type": "text/xml; charset=utf-8", soapaction: '""' },
      body: query,
    });
    const text = await res.body.text();
    expect(res.statusCode).to.equal(200);
    const code = /<faultcode>([^<]*)<\/faultcode>/.exec(text)?.[1] ?? "none";
    const message = (/<faultstring>([^<]*)<\/faultstring>/.exec(text)?.[1] ?? "")
      .replaceAll("&#34;", '"')
      .replaceAll("&#39;", "'");
    return { code, message };
  };

  beforeEach(async () => {
    provider = await startProvider();
  });
  afterEach(async () => {
    await sim?.close();
    sim = null;
    await provider.close();
  });

  describe("members (global configuration)", () => {
    it("answers Server.ClientProxy.UnknownMember to a provider global configuration does not have, REST and SOAP", async () => {
      // As X-Road's client proxy (AbstractClientMessageProcessor.hostNamesByProvider): no
      // security server address is known for the provider, so nothing is sent on.
      const s = await start({
        members: ["EE/GOV/1234/prov"],
        services: {
          [SERVICE]: { url: `${provider.url}/base/` },
          "EE/GOV/4321/gone/svc": { url: `${provider.url}/gone` },
          [SOAP_SERVICE]: { url: `${provider.url}/soap`, type: "soap" },
        },
      });
      expect(await restError(s, "EE/GOV/4321/gone/svc")).to.deep.equal({
        status: 500,
        type: "Server.ClientProxy.UnknownMember",
        message: 'Could not find addresses for service provider "SERVICE:EE/GOV/4321/gone/svc"',
      });
      expect(await restError(s, "EE/GOV/4321/gone/listMethods")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      expect(await soapFault(s)).to.deep.equal({
        code: "Server.ClientProxy.UnknownMember",
        message:
          'Could not find addresses for service provider "SERVICE:EE/BUSINESS/producer/testQuery"',
      });
      // A provider it has, but not the service: the provider's security server answers.
      expect(await restError(s, "EE/GOV/1234/prov/nothing")).to.include({
        type: "Server.ServerProxy.UnknownService",
      });
      expect(await restError(s, SERVICE)).to.include({ status: 200, type: "none" });
      expect(provider.seen.map((c) => c.url)).to.deep.equal(["/base/x"]);
    });

    it("checks the client before global configuration, and global configuration before the service", async () => {
      const s = await start({
        members: ["EE/GOV/1234/prov", "EE/BUSINESS/producer"],
        clients: { [CLIENT]: { connectionType: "HTTP" } },
        services: { [SERVICE]: { url: `${provider.url}/base/` } },
      });
      expect(
        await restError(s, "EE/GOV/4321/gone/svc", { "x-road-client": "EE/GOV/9/stranger" }),
      ).to.include({
        type: "Server.ClientProxy.UnknownMember",
        message: "Client 'SUBSYSTEM:EE/GOV/9/stranger' not found",
      });
      expect(await restError(s, "EE/GOV/4321/gone/svc")).to.include({
        message: 'Could not find addresses for service provider "SERVICE:EE/GOV/4321/gone/svc"',
      });
      // A member's service it does not have: the path names a subsystem (X-Road's RestRequest
      // reads /r1/EE/BUSINESS/producer/other/x so), which global configuration lacks.
      expect(await restError(s, "EE/BUSINESS/producer/other")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      // The member itself is listed, but its metaservices are not reached through REST: X-Road
      // 7.4's RestRequest reads /r1/EE/BUSINESS/producer/listMethods/x as subsystem
      // listMethods's service x, a provider global configuration lacks.
      expect(await restError(s, "EE/BUSINESS/producer/listMethods")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
    });

    it("does not serve a subsystem because its member is listed, REST and SOAP", async () => {
      // GlobalConfImpl.getProviderAddress looks the provider (ServiceId.getClientId) up as it
      // is: a member in global configuration gives no address for its subsystems.
      const s = await start({
        members: ["EE/GOV/1234", "EE/BUSINESS/producer"],
        services: {
          [SERVICE]: { url: `${provider.url}/base/` },
          "EE/GOV/1234/own": { url: `${provider.url}/own` },
          "EE/BUSINESS/producer/sub/testQuery": { url: `${provider.url}/soap`, type: "soap" },
        },
      });
      expect(await restError(s, SERVICE)).to.deep.equal({
        status: 500,
        type: "Server.ClientProxy.UnknownMember",
        message: `Could not find addresses for service provider "SERVICE:${SERVICE}"`,
      });
      expect(await restError(s, "EE/GOV/1234/prov/listMethods")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      expect(await restError(s, "EE/GOV/1234/prov/nothing")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      const subsystemQuery = fixture("simple.query")
        .toString("utf8")
        .replace(
          "<id:memberCode>producer</id:memberCode>\n            <id:serviceCode>",
          "<id:memberCode>producer</id:memberCode><id:subsystemCode>sub</id:subsystemCode><id:serviceCode>",
        );
      expect(subsystemQuery).to.include("<id:subsystemCode>sub</id:subsystemCode><id:serviceCode>");
      expect(await soapFault(s, subsystemQuery)).to.deep.equal({
        code: "Server.ClientProxy.UnknownMember",
        message:
          'Could not find addresses for service provider "SERVICE:EE/BUSINESS/producer/sub/testQuery"',
      });
      // Neither the member's own service nor its metaservices are reached through REST: X-Road's
      // RestRequest reads /r1/EE/GOV/1234/own/x as subsystem own's service x, and
      // /r1/EE/GOV/1234/listMethods/x as subsystem listMethods's service x.
      for (const path of ["EE/GOV/1234/own", "EE/GOV/1234/listMethods"]) {
        expect(await restError(s, path), path).to.include({
          type: "Server.ClientProxy.UnknownMember",
        });
      }
      expect(provider.seen).to.deep.equal([]);
    });

    it("answers Server.ServerProxy.UnknownMember to a provider that is no client of the security server, before the service, REST and SOAP", async () => {
      // X-Road 7.4's server proxy reads the request and checks the service's provider first
      // (ServerRestMessageProcessor / ServerMessageProcessor.verifyClientStatus:
      // ServerConf.getMemberStatus must be REGISTERED, "Client '%s' not found"), and only then
      // looks the service up (verifyAccess: UnknownService).
      const s = await start({
        members: ["EE/GOV/1234/prov", "EE/GOV/1234/listed", "EE/BUSINESS/producer"],
        services: {
          [SERVICE]: { url: `${provider.url}/base/` },
          "EE/GOV/1234/prov/soapOnly": { url: `${provider.url}/soap`, type: "soap" },
        },
      });
      // Served here by global configuration, but no client of this security server.
      expect(await restError(s, "EE/GOV/1234/listed/svc")).to.deep.equal({
        status: 500,
        type: "Server.ServerProxy.UnknownMember",
        message: "Client 'SUBSYSTEM:EE/GOV/1234/listed' not found",
      });
      expect(await soapFault(s)).to.deep.equal({
        code: "Server.ServerProxy.UnknownMember",
        message: "Client 'MEMBER:EE/BUSINESS/producer' not found",
      });
      // A provider it has, but not the service.
      expect(await restError(s, "EE/GOV/1234/prov/nothing")).to.deep.equal({
        status: 500,
        type: "Server.ServerProxy.UnknownService",
        message: "Unknown service: SERVICE:EE/GOV/1234/prov/nothing",
      });
      // The client proxy's checks still come first.
      expect(await restError(s, "EE/GOV/4321/gone/svc")).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      s.setClients({ [CLIENT]: { connectionType: "HTTP" } });
      expect(
        await restError(s, "EE/GOV/1234/listed/svc", { "x-road-client": "EE/GOV/9/other" }),
      ).to.include({ type: "Server.ClientProxy.UnknownMember" });
      s.setClients(undefined);
      // Registered under it, the provider becomes a client: then the service is looked up.
      s.register("EE/BUSINESS/producer/other", { url: `${provider.url}/soap`, type: "soap" });
      expect(await soapFault(s)).to.deep.equal({
        code: "Server.ServerProxy.UnknownService",
        message: "Unknown service: SERVICE:EE/BUSINESS/producer/testQuery",
      });
      expect(provider.seen).to.have.length(0);
    });

    it("takes every provider without members, and refuses a members entry no call could name", async () => {
      const s = await start({ services: { [SERVICE]: { url: `${provider.url}/base/` } } });
      // Taken as served here, the provider is then unknown to this security server itself.
      expect(await restError(s, "EE/GOV/4321/gone/svc")).to.include({
        type: "Server.ServerProxy.UnknownMember",
      });
      for (const members of [["EE/GOV"], ["SUBSYSTEM:EE/GOV/1/a"], ["EE/GOV/1/a/b"]]) {
        await startXroadSim({ members }).then(
          () => expect.fail(`${members[0]} taken`),
          (error: Error) => expect(error.message).to.match(/members: .* is not INSTANCE/),
        );
      }
    });
  });

  describe("disabled services", () => {
    it("answers Server.ServerProxy.ServiceDisabled with the administrator's notice, REST and SOAP", async () => {
      // ServerRestMessageProcessor / ServerMessageProcessor.verifyAccess: "Service %s is
      // disabled: %s" with serverconf's notice, the provider never called.
      const s = await start({
        services: {
          [SERVICE]: { url: `${provider.url}/base/`, disabled: { notice: "Maintenance" } },
          "EE/GOV/1234/prov/plain": { url: `${provider.url}/plain`, disabled: {} },
          [SOAP_SERVICE]: {
            url: `${provider.url}/soap`,
            type: "soap",
            disabled: { notice: "Back on Monday" },
          },
        },
      });
      expect(await restError(s, SERVICE)).to.deep.equal({
        status: 500,
        type: "Server.ServerProxy.ServiceDisabled",
        message: `Service SERVICE:${SERVICE} is disabled: Maintenance`,
      });
      // Disabled without a notice, serverconf gives a sentence of its own.
      expect(await restError(s, "EE/GOV/1234/prov/plain")).to.include({
        message:
          "Service SERVICE:EE/GOV/1234/prov/plain is disabled: Service 'SERVICE:EE/GOV/1234/prov/plain' is disabled",
      });
      expect(await soapFault(s)).to.deep.equal({
        code: "Server.ServerProxy.ServiceDisabled",
        message: `Service SERVICE:${SOAP_SERVICE} is disabled: Back on Monday`,
      });
      expect(provider.seen).to.have.length(0);
      // Enabled again by registering it without `disabled`.
      s.register(SERVICE, { url: `${provider.url}/base/` });
      expect(await restError(s, SERVICE)).to.include({ status: 200, type: "none" });
    });

    it("checks the service's type and access rights before it is disabled", async () => {
      const s = await start({
        services: {
          [SERVICE]: {
            url: `${provider.url}/base/`,
            allowedClients: ["EE/GOV/9/other"],
            disabled: { notice: "Maintenance" },
          },
          [SOAP_SERVICE]: { url: `${provider.url}/soap`, disabled: { notice: "Maintenance" } },
        },
      });
      expect(await restError(s, SERVICE)).to.include({ type: "Server.ServerProxy.AccessDenied" });
      expect(await restError(s, SERVICE, { "x-road-client": "EE/GOV/9/other" })).to.include({
        type: "Server.ServerProxy.ServiceDisabled",
      });
      // A REST service called through SOAP: its type is wrong before it is disabled.
      expect((await soapFault(s)).code).to.equal("Server.ServerProxy.ServiceType");
      expect(provider.seen).to.have.length(0);
    });
  });

  describe("security server identity", () => {
    const OWN = "EE/GOV/1234/ss1";
    const withServer = (server: string): string =>
      fixture("simple.query")
        .toString("utf8")
        .replace(
          "</xroad:service>",
          '</xroad:service><xroad:securityServer id:objectType="SERVER">' +
            server
              .split("/")
              .map(
                (v, i) =>
                  `<id:${["xRoadInstance", "memberClass", "memberCode", "serverCode"][i]}>${v}</id:${["xRoadInstance", "memberClass", "memberCode", "serverCode"][i]}>`,
              )
              .join("") +
            "</xroad:securityServer>",
        );

    it("answers Server.ClientProxy.InvalidSecurityServer to a call naming another security server, REST and SOAP", async () => {
      // AbstractClientMessageProcessor.getServiceAddresses: global configuration knows this
      // security server only, so another is one it cannot find; nothing is sent on.
      const s = await start({
        securityServer: OWN,
        services: {
          [SERVICE]: { url: `${provider.url}/base/` },
          [SOAP_SERVICE]: { url: `${provider.url}/soap`, type: "soap" },
        },
      });
      expect(
        await restError(s, SERVICE, { "x-road-security-server": "EE/GOV/1234/ss2" }),
      ).to.deep.equal({
        status: 500,
        type: "Server.ClientProxy.InvalidSecurityServer",
        message: 'Could not find security server "SERVER:EE/GOV/1234/ss2"',
      });
      expect(
        await restError(s, "EE/GOV/1234/prov/listMethods", {
          "x-road-security-server": "EE/GOV/1234/ss2",
        }),
      ).to.include({ type: "Server.ClientProxy.InvalidSecurityServer" });
      expect(await soapFault(s, withServer("EE/GOV/1234/ss2"))).to.deep.equal({
        code: "Server.ClientProxy.InvalidSecurityServer",
        message: 'Could not find security server "SERVER:EE/GOV/1234/ss2"',
      });
      expect(provider.seen).to.have.length(0);
      // Its own id, or none, is served.
      expect(await restError(s, SERVICE, { "x-road-security-server": OWN })).to.include({
        status: 200,
        type: "none",
      });
      expect(await restError(s, SERVICE)).to.include({ status: 200, type: "none" });
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(fixture("simple.answer"));
      };
      expect((await soapFault(s, withServer(OWN))).code).to.equal("none");
      expect(provider.seen).to.have.length(3);
      // A malformed header: RestRequest.decodeServerId's IllegalArgumentException, which
      // X-Road 7.4's client proxy answers as InternalError (AbstractClientProxyHandler.handle).
      expect(
        await restError(s, SERVICE, { "x-road-security-server": "EE/GOV/1234" }),
      ).to.deep.equal({
        status: 500,
        type: "Server.ClientProxy.InternalError",
        message: "Invalid SecurityServer Id",
      });
      // Read with the other ids, before a missing X-Road-Client is found missing.
      const noClient = await request(`${s.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-security-server": "EE/GOV" },
      });
      expect(noClient.headers["x-road-error"]).to.equal("Server.ClientProxy.InternalError");
      await noClient.body.text();
    });

    it("checks the client, then the provider, then the security server, then the service", async () => {
      const s = await start({
        securityServer: OWN,
        members: ["EE/GOV/1234/prov"],
        clients: { [CLIENT]: { connectionType: "HTTP" } },
        services: { [SERVICE]: { url: `${provider.url}/base/`, disabled: {} } },
      });
      const other = { "x-road-security-server": "EE/GOV/1234/ss2" };
      expect(
        await restError(s, "EE/GOV/4321/gone/svc", {
          ...other,
          "x-road-client": "EE/GOV/9/stranger",
        }),
      ).to.include({ message: "Client 'SUBSYSTEM:EE/GOV/9/stranger' not found" });
      expect(await restError(s, "EE/GOV/4321/gone/svc", other)).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      expect(await restError(s, "EE/GOV/1234/prov/nothing", other)).to.include({
        type: "Server.ClientProxy.InvalidSecurityServer",
      });
      expect(await restError(s, SERVICE, other)).to.include({
        type: "Server.ClientProxy.InvalidSecurityServer",
      });
      expect(await restError(s, "EE/GOV/1234/prov/nothing")).to.include({
        type: "Server.ServerProxy.UnknownService",
      });
      expect(await restError(s, SERVICE)).to.include({
        type: "Server.ServerProxy.ServiceDisabled",
      });
    });

    it("does not read the header without an identity, and refuses a malformed identity", async () => {
      const s = await start({ services: { [SERVICE]: { url: `${provider.url}/base/` } } });
      expect(
        await restError(s, SERVICE, { "x-road-security-server": "EE/GOV/1234/ss2" }),
      ).to.include({ status: 200, type: "none" });
      expect(provider.seen[0].headers["x-road-security-server"]).to.equal("EE/GOV/1234/ss2");
      // Its form is read all the same, as X-Road's RestRequest reads it with the other ids.
      expect(
        await restError(s, SERVICE, { "x-road-security-server": "EE/GOV/1234/ss/2" }),
      ).to.include({ status: 500, type: "Server.ClientProxy.InternalError" });
      expect(provider.seen).to.have.length(1);
      await startXroadSim({ securityServer: "SERVER:EE/GOV/1234/ss1" }).then(
        () => expect.fail("taken"),
        (error: Error) => expect(error.message).to.match(/securityServer .* is not INSTANCE/),
      );
    });
  });

  it("reads members and securityServer again on SIGHUP, as it reads its clients and services", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xroad-sim-reload-"));
    const file = path.join(dir, "sim.yaml");
    const write = (members: string, securityServer: string): void =>
      fs.writeFileSync(
        file,
        `port: 0\nmembers: ${members}\nsecurityServer: ${securityServer}\nservices:\n` +
          `  ${SERVICE}: { url: '${provider.url}/base/' }\n`,
      );
    write("[EE/GOV/4321/other]", "EE/GOV/1234/ss1");
    const { child, url, reloads, exited } = await simProcess(file);
    try {
      const s = { url } as XroadSim;
      const ss2 = { "x-road-security-server": "EE/GOV/1234/ss2" };
      expect(await restError(s, SERVICE)).to.include({
        type: "Server.ClientProxy.UnknownMember",
      });
      write("[EE/GOV/1234/prov]", "EE/GOV/1234/ss2");
      child.kill("SIGHUP");
      await waitFor(() => (reloads("reloaded its configuration") === 1 ? true : undefined));
      expect(await restError(s, SERVICE, ss2)).to.include({ status: 200, type: "none" });
      expect(
        await restError(s, SERVICE, { "x-road-security-server": "EE/GOV/1234/ss1" }),
      ).to.include({ type: "Server.ClientProxy.InvalidSecurityServer" });
      // A file it refuses leaves the running global configuration as it was.
      write("[EE/GOV]", "EE/GOV/1234/ss1");
      child.kill("SIGHUP");
      await waitFor(() => (reloads("reload failed") === 1 ? true : undefined));
      expect(await restError(s, SERVICE, ss2)).to.include({ status: 200, type: "none" });
      child.kill("SIGTERM");
      expect(await exited).to.equal(0);
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("takes a file on SIGHUP whole or not at all, and drops the services it no longer lists", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xroad-sim-reload-"));
    const file = path.join(dir, "sim.yaml");
    const OTHER = "EE/GOV/1234/prov/other";
    const write = (clients: string[], services: Record<string, string>): void =>
      fs.writeFileSync(
        file,
        `port: 0\nclients:\n${clients.map((c) => `  ${c}: { connectionType: HTTP }\n`).join("")}` +
          `services:\n${Object.entries(services)
            .map(([id, url]) => `  ${id}: { url: '${url}' }\n`)
            .join("")}`,
      );
    write([CLIENT], { [SERVICE]: `${provider.url}/base/`, [OTHER]: `${provider.url}/other/` });
    const { child, url, reloads, exited } = await simProcess(file);
    try {
      const s = { url } as XroadSim;
      expect(await restError(s, OTHER)).to.include({ status: 200, type: "none" });
      // OTHER deleted from the file: gone after the reload.
      write([CLIENT], { [SERVICE]: `${provider.url}/base/` });
      child.kill("SIGHUP");
      await waitFor(() => (reloads("reloaded its configuration") === 1 ? true : undefined));
      expect(await restError(s, OTHER)).to.include({
        type: "Server.ServerProxy.UnknownService",
      });
      expect(await restError(s, SERVICE)).to.include({ status: 200, type: "none" });
      // A file that drops CLIENT and adds OTHER back, but with one service it refuses: nothing
      // of it is taken, neither the clients nor the services before or after the bad one.
      write(["EE/GOV/9/other"], {
        [OTHER]: `${provider.url}/other/`,
        "EE/GOV/1234/prov/bad": "not a url",
      });
      child.kill("SIGHUP");
      await waitFor(() => (reloads("reload failed") === 1 ? true : undefined));
      expect(await restError(s, SERVICE)).to.include({ status: 200, type: "none" });
      expect(await restError(s, OTHER)).to.include({
        type: "Server.ServerProxy.UnknownService",
      });
      child.kill("SIGTERM");
      expect(await exited).to.equal(0);
    } finally {
      child.kill("SIGKILL");
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("reads members, the security server's id and each service's disabled notice from a file", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "xroad-sim-conf-"));
    try {
      const file = path.join(dir, "sim.yaml");
      fs.writeFileSync(
        file,
        "members: [EE/GOV/1234/prov]\nsecurityServer: EE/GOV/1234/ss1\nservices:\n" +
          "  EE/GOV/1234/prov/a: { url: http://127.0.0.1:1/a, disabled: { notice: Maintenance } }\n" +
          "  EE/GOV/1234/prov/b: { url: http://127.0.0.1:1/b, disabled: true }\n" +
          "  EE/GOV/1234/prov/c: { url: http://127.0.0.1:1/c, disabled: false }\n",
      );
      const options = loadSimConfig(file);
      expect(options.members).to.deep.equal(["EE/GOV/1234/prov"]);
      expect(options.securityServer).to.equal("EE/GOV/1234/ss1");
      expect(options.services?.["EE/GOV/1234/prov/a"].disabled).to.deep.equal({
        notice: "Maintenance",
      });
      expect(options.services?.["EE/GOV/1234/prov/b"].disabled).to.deep.equal({});
      expect(options.services?.["EE/GOV/1234/prov/c"].disabled).to.equal(undefined);
      // Dropped quietly, either would leave the simulator serving what the file meant to refuse.
      fs.writeFileSync(file, "members: EE/GOV/1234/prov\n");
      expect(() => loadSimConfig(file)).to.throw(/members must be a list/);
      fs.writeFileSync(
        file,
        "services:\n  EE/GOV/1/p/s: { url: http://x/, disabled: Maintenance }\n",
      );
      expect(() => loadSimConfig(file)).to.throw(/disabled must be true or a mapping/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("xroad-sim TLS", function () {
  this.timeout(30_000);
  let pki: TestPki;
  before(() => {
    pki = createTestPki();
  });
  after(() => pki.cleanup());

  it("takes a client's listed certificate on its HTTPS port and presents its internal one to providers", async () => {
    const providerCert = pki.ca.issue("provider", { cn: "localhost" });
    const internal = pki.ca.issue("internal", { cn: "security-server-internal" });
    const serverCert = pki.ca.issue("ss", { cn: "localhost" });
    const client = pki.ca.issue("is-client", { cn: "information-system" });
    const expired = pki.ca.issue("expired-client", { cn: "old-system", expired: true });
    const stranger = pki.otherCa.issue("stranger", { cn: "attacker" });
    const provider = await startProvider({
      cert: providerCert.cert,
      key: providerCert.key,
      ca: pki.ca.cert,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const sim = await startXroadSim({
      tls: { cert: serverCert.cert, key: serverCert.key },
      // The client's "Information System TLS certificates": its own certificate, the expired
      // one beside it (X-Road only logs an expired one), not a CA.
      clients: { [CLIENT]: { connectionType: "HTTPS", certificates: [client.cert, expired.cert] } },
      internalTls: { cert: internal.cert, key: internal.key },
      // The provider's own certificate in the "Information System TLS certificate" list.
      services: { [SERVICE]: { url: provider.url, tls: { ca: providerCert.cert } } },
    });
    const as = (pair?: { cert: string; key: string }): Agent =>
      new Agent({
        connect: { ca: pki.ca.cert, ...(pair ? { cert: pair.cert, key: pair.key } : {}) },
      });
    try {
      const ok = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
        dispatcher: as(client),
      });
      expect(ok.statusCode).to.equal(200);
      await ok.body.text();
      expect(provider.seen[0].clientCert).to.equal("security-server-internal");
      expect(sim.calls()[0].clientCertificate).to.equal("information-system");

      const expiredCall = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
        dispatcher: as(expired),
      });
      expect(expiredCall.statusCode, await expiredCall.body.text()).to.equal(200);
      expect(provider.seen).to.have.length(2);

      // As X-Road's client proxy (MessageProcessorBase.verifyClientAuthentication): the handshake
      // takes any certificate, the client the request names then refuses one not its own, a
      // certificate of its CA's included, with Server.ClientProxy.SslAuthenticationFailed.
      const sibling = pki.ca.issue("sibling", { cn: "sibling-system" });
      const refusals: Array<[{ cert: string; key: string } | undefined, string]> = [
        [undefined, "specifies HTTPS but did not supply TLS certificate"],
        [stranger, "TLS certificate does not match any IS certificates"],
        [sibling, "TLS certificate does not match any IS certificates"],
      ];
      for (const [pair, message] of refusals) {
        const refused = await request(`${sim.url}/r1/${SERVICE}/x`, {
          headers: { "x-road-client": CLIENT },
          dispatcher: as(pair),
        });
        const text = await refused.body.text();
        expect(refused.statusCode, text).to.equal(500);
        expect(refused.headers["x-road-error"]).to.equal(
          "Server.ClientProxy.SslAuthenticationFailed",
        );
        expect(JSON.parse(text).message).to.equal(`Client (SUBSYSTEM:${CLIENT}) ${message}`);
      }
      expect(provider.seen).to.have.length(2);

      // A provider certificate nobody vouches for is refused as X-Road does.
      sim.register(SERVICE, { url: provider.url });
      const untrusted = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
        dispatcher: as(client),
      });
      expect(untrusted.headers["x-road-error"]).to.equal(
        "Server.ServerProxy.ServiceFailed.SslAuthenticationFailed",
      );
      await untrusted.body.text();

      // X-Road compares the provider's certificate with the list as it is
      // (CustomSSLSocketFactory): the CA that issued it admits nothing.
      sim.register(SERVICE, { url: provider.url, tls: { ca: pki.ca.cert } });
      const caListed = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
        dispatcher: as(client),
      });
      const caText = await caListed.body.text();
      expect(caListed.headers["x-road-error"], caText).to.equal(
        "Server.ServerProxy.ServiceFailed.SslAuthenticationFailed",
      );
      expect(caText).to.include("IS certificate is not trusted");
      expect(provider.seen).to.have.length(2);

      // A list of several (the old certificate beside the new one while rotating) admits each.
      sim.register(SERVICE, {
        url: provider.url,
        tls: { ca: [client.cert, pki.ca.cert + providerCert.cert] },
      });
      const rotating = await request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": CLIENT },
        dispatcher: as(client),
      });
      expect(rotating.statusCode, await rotating.body.text()).to.equal(200);

      // Every connection to the provider is checked, not only the first: one the provider
      // closed after its answer is made anew, where a resumed TLS session shows no certificate.
      sim.register(SERVICE, { url: provider.url, tls: { ca: providerCert.cert } });
      provider.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", connection: "close" });
        res.end('{"ok":true}');
      };
      for (let call = 0; call < 3; call += 1) {
        const again = await request(`${sim.url}/r1/${SERVICE}/x`, {
          headers: { "x-road-client": CLIENT },
          dispatcher: as(client),
        });
        expect(again.statusCode, `call ${call}: ${await again.body.text()}`).to.equal(200);
      }
    } finally {
      await sim.close();
      await provider.close();
    }
  });

  it("answers SslAuthenticationFailed to a certificate calling as a client it is not listed for, REST and SOAP", async () => {
    const serverCert = pki.ca.issue("ss-2", { cn: "localhost" });
    const mine = pki.ca.issue("is-mine", { cn: "my-system" });
    const theirs = pki.ca.issue("is-theirs", { cn: "their-system" });
    const provider = await startProvider();
    const OTHER = "EE/GOV/5678/other";
    const OPEN = "EE/GOV/5678/open";
    const SOAP_CLIENT = "EE/BUSINESS/consumer"; // the member the SOAP fixture names
    const sim = await startXroadSim({
      tls: { cert: serverCert.cert, key: serverCert.key },
      clients: {
        [CLIENT]: { certificates: mine.cert }, // HTTPS, X-Road's default
        [OTHER]: { certificates: theirs.cert },
        [OPEN]: { connectionType: "HTTP" },
        [SOAP_CLIENT]: { certificates: theirs.cert },
      },
      services: { [SERVICE]: { url: provider.url } },
    });
    const mineAgent = new Agent({ connect: { ca: pki.ca.cert, cert: mine.cert, key: mine.key } });
    const rest = (client: string) =>
      request(`${sim.url}/r1/${SERVICE}/x`, {
        headers: { "x-road-client": client },
        dispatcher: mineAgent,
      });
    try {
      expect((await rest(CLIENT)).statusCode).to.equal(200);
      // Naming a subsystem whose certificates are another's: refused before any provider call.
      const other = await rest(OTHER);
      const text = await other.body.text();
      expect(other.statusCode).to.equal(500);
      expect(other.headers["x-road-error"]).to.equal("Server.ClientProxy.SslAuthenticationFailed");
      expect(JSON.parse(text).message).to.equal(
        `Client (SUBSYSTEM:${OTHER}) TLS certificate does not match any IS certificates`,
      );
      // A client of connection type HTTP takes any caller: X-Road checks nothing for it.
      expect((await rest(OPEN)).statusCode).to.equal(200);
      expect(provider.seen).to.have.length(2);
      // Listing the certificate for that subsystem too (what SIGHUP applies) admits it.
      sim.setClients({ [OTHER]: { certificates: [theirs.cert, mine.cert] } });
      expect((await rest(OTHER)).statusCode).to.equal(200);
      sim.setClients({
        [OTHER]: { certificates: theirs.cert },
        [SOAP_CLIENT]: { certificates: theirs.cert },
      });
      expect((await rest(OTHER)).statusCode).to.equal(500);

      const soap = await request(`${sim.url}/`, {
        method: "POST",
        headers: { "content-type": "text/xml; charset=utf-8", soapaction: '""' },
        body: fixture("simple.query"),
        dispatcher: mineAgent,
      });
      const fault = await soap.body.text();
      expect(soap.statusCode).to.equal(200);
      expect(fault).to.include("<faultcode>Server.ClientProxy.SslAuthenticationFailed</faultcode>");
      expect(fault).to.include(
        `Client (MEMBER:${SOAP_CLIENT}) TLS certificate does not match any IS certificates`,
      );
      expect(provider.seen).to.have.length(3);
    } finally {
      await sim.close();
      await provider.close();
    }
  });

  it("names a file that holds no certificate or key in one line", () => {
    const fs = require("node:fs") as typeof import("node:fs");
    const path = require("node:path") as typeof import("node:path");
    const file = path.join(pki.dir, "sim.yaml");
    fs.writeFileSync(path.join(pki.dir, "bad.pem"), "not a certificate\n");
    fs.writeFileSync(file, `tls: { cert: bad.pem, key: ca/ca.key }\nservices: {}\n`);
    expect(() => loadSimConfig(file)).to.throw(
      /certificate file .*bad\.pem does not hold a PEM certificate/,
    );
    fs.writeFileSync(file, `tls: { cert: ca/ca.crt, key: ca/ca.crt }\n`);
    expect(() => loadSimConfig(file)).to.throw(
      /key file .*ca\.crt does not hold a PEM private key/,
    );
  });

  it("reads each client's connection type and certificates from a file, and refuses the former tls.clientCa", () => {
    const file = path.join(pki.dir, "clients.yaml");
    fs.writeFileSync(
      file,
      "tls: { cert: ca/ca.crt, key: ca/ca.key }\nclients:\n" +
        "  EE/GOV/1/a: { connectionType: HTTPS, certificates: [ca/ca.crt] }\n" +
        "  EE/GOV/1/b: { connectionType: HTTP }\n" +
        "  EE/GOV/1/c: { status: SAVED }\n",
    );
    const options = loadSimConfig(file);
    expect(options.clients?.["EE/GOV/1/a"].connectionType).to.equal("HTTPS");
    expect(options.clients?.["EE/GOV/1/a"].certificates).to.have.length(1);
    expect(options.clients?.["EE/GOV/1/b"]).to.deep.equal({ connectionType: "HTTP" });
    expect(options.clients?.["EE/GOV/1/c"]).to.deep.equal({ status: "SAVED" });
    // Dropped quietly, an older file's clientCa would let every caller in.
    fs.writeFileSync(file, "tls: { cert: ca/ca.crt, key: ca/ca.key, clientCa: ca/ca.crt }\n");
    expect(() => loadSimConfig(file)).to.throw(/tls\.clientCa is gone/);
  });

  it("runs as `sluice xroad-sim --config FILE` and takes a new certificate on SIGHUP", async () => {
    const first = pki.ca.issue("proc-1", { cn: "localhost" });
    const second = pki.ca.issue("proc-2", { cn: "localhost" });
    const dir = fs.mkdtempSync(path.join(pki.dir, "proc-"));
    fs.copyFileSync(first.certFile, path.join(dir, "ss.crt"));
    fs.copyFileSync(first.keyFile, path.join(dir, "ss.key"));
    const file = path.join(dir, "sim.yaml");
    fs.writeFileSync(
      file,
      "port: 0\ntls: { cert: ss.crt, key: ss.key }\nservices:\n  EE/GOV/1/p/s: { url: 'http://127.0.0.1:9/x' }\n",
    );
    const { child, url, reloads, exited } = await simProcess(file);
    try {
      expect(await fingerprint(url)).to.equal(new X509Certificate(first.cert).fingerprint256);
      fs.copyFileSync(second.certFile, path.join(dir, "ss.crt"));
      fs.copyFileSync(second.keyFile, path.join(dir, "ss.key"));
      child.kill("SIGHUP");
      await waitFor(() => (reloads("reloaded its configuration") > 0 ? true : undefined));
      expect(await fingerprint(url)).to.equal(new X509Certificate(second.cert).fingerprint256);
      child.kill("SIGTERM");
      expect(await exited).to.equal(0);
    } finally {
      child.kill("SIGKILL");
    }

    fs.writeFileSync(path.join(dir, "ss.key"), "garbage\n");
    const bad = spawnSync(process.execPath, [BIN, "xroad-sim", "--config", file], {
      encoding: "utf8",
    });
    expect(bad.status).to.equal(2);
    expect(bad.stderr.trim().split("\n")).to.deep.equal([
      `sluice: key file ${path.join(dir, "ss.key")} does not hold a PEM private key`,
    ]);
  });
});

/**
 * `sluice xroad-sim --config file` as a process of its own, once it listens: its URL, how many
 * lines it logged holding `text` so far, and its exit code to come. Killed if it never listens.
 */
async function simProcess(file: string) {
  const child = spawn(process.execPath, [BIN, "xroad-sim", "--config", file], {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, LOG_LEVEL: "info" },
  });
  const lines: string[] = [];
  // Whole lines only: a line split across two reads was two entries, neither of them JSON.
  let partial = "";
  child.stdout.on("data", (chunk: Buffer) => {
    const read = (partial + chunk.toString()).split("\n");
    partial = read.pop() ?? "";
    lines.push(...read);
  });
  let gone = false;
  const exited = new Promise<number | null>((resolve) => child.once("exit", resolve));
  void exited.then(() => (gone = true));
  const reloads = (text: string): number => lines.filter((l) => l.includes(text)).length;
  try {
    const url = await waitFor(() => {
      const line = lines.find((l) => l.includes("xroad-sim listening on"));
      if (line === undefined && gone) throw new Error("exited before it listened");
      return line ? (JSON.parse(line) as { url: string }).url : undefined;
    });
    return { child, url, reloads, exited };
  } catch (error) {
    child.kill("SIGKILL");
    throw error;
  }
}

/**
 * Polls `check` until it holds. No count of its own: a process started or reloading on a loaded
 * machine took longer than the 10 s it gave, so the test's timeout bounds the wait.
 */
async function waitFor<T>(check: () => T | undefined): Promise<T> {
  for (;;) {
    const value = check();
    if (value !== undefined) return value;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * A GET of `target` (a path or an absolute-form target) as written, with the test client's id
 * (and `host` as the Host header when given):
 * node:http sends it unchanged, where undici's URL parsing would resolve dot segments first.
 */
function rawRequest(
  base: string,
  target: string,
  host?: string,
): Promise<{ status: number; error: unknown; type: unknown; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      `${base}/`,
      {
        path: target,
        headers: { "x-road-client": CLIENT, ...(host === undefined ? {} : { host }) },
      },
      (res) => {
        let body = "";
        res.on("data", (c: Buffer) => (body += c.toString("latin1")));
        res.on("end", () =>
          resolve({
            status: res.statusCode ?? 0,
            error: res.headers["x-road-error"],
            type: res.headers["content-type"],
            body,
          }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

function fingerprint(url: string): Promise<string> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = tls.connect(
      { host: hostname, port: Number(port), rejectUnauthorized: false },
      () => {
        resolve(socket.getPeerCertificate().fingerprint256);
        socket.end();
      },
    );
    socket.on("error", reject);
  });
}
