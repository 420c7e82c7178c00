// The consumer direction's translators against the security-server simulator and a recording
// provider behind it: what Sluice sends as an X-Road client (REST and SOAP), what comes back,
// and how each error of the security server itself maps onto an outcome.

import { expect } from "chai";
import http from "node:http";
import { createServer as createTcpServer, type AddressInfo } from "node:net";
import { startXroadSim, type XroadSim } from "../../xroad-sim/xroad-sim";
import {
  createTranslator as createRest,
  LOGGED_WITHHELD_NAMES,
} from "../../worker/translators/xroad-rest";
import { createTranslator as createSoap } from "../../worker/translators/xroad-soap";
import {
  BackendAnswerError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
  type RequestMessage,
  type Translator,
  type TranslatorBackend,
  type TranslatorCall,
} from "../../worker/translators/translator";
import { SluiceError } from "../../shared/protocol/errors";
import { requestMessage } from "../support/messages";
import { endingDeadline } from "../support/ending-deadline";
import { rejectionOf } from "../support/rejection";

const CLIENT = "EE/GOV/70000001/sluice-consumer";
const OWN_CLIENT = "EE/GOV/70000001/case-app";
const REST_SERVICE = "EE/GOV/70000002/registry/personLookup";
const SOAP_SERVICE = "EE/GOV/70000002/registry/getState";
const XRD = "http://x-road.eu/xsd/xroad.xsd";
const IDS = "http://x-road.eu/xsd/identifiers";

interface Seen {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
  body: string;
}

type Answer = (req: http.IncomingMessage, res: http.ServerResponse, body: string) => void;

/** A provider information system behind the security server, recording what reaches it. */
async function startProvider() {
  const seen: Seen[] = [];
  const state: { answer: Answer } = {
    answer: (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"found":true}');
    },
  };
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      seen.push({ method: req.method ?? "", url: req.url ?? "", headers: req.headers, body });
      state.answer(req, res, body);
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url,
    seen,
    state,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

function request(overrides: Partial<RequestMessage> = {}): RequestMessage {
  return requestMessage({
    id: "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d",
    xroadId: "local-1",
    service: "personLookup",
    backend: "registry",
    client: OWN_CLIENT,
    replyMode: "sync",
    path: "/persons/42",
    query: "full=true",
    xroadHeaders: {
      "x-road-client": OWN_CLIENT,
      "x-road-id": "local-1",
      "x-road-userid": "EE12345678901",
      "x-road-issue": "CASE-7",
      "x-road-represented-party": "COM/12345",
    },
    headers: { accept: "application/json" },
    body: '{"name":"Mari"}',
    ...overrides,
  });
}

/** A SOAP caller's request as the adapter keeps it. */
function soapRequest(overrides: Partial<RequestMessage> = {}): RequestMessage {
  return request({
    service: "getState",
    protocol: "soap",
    path: "",
    query: "",
    headers: undefined,
    contentType: "application/json",
    body: "{}",
    soap: {
      headers: [],
      bodyNamespace: "http://example.org/state",
      bodyXml:
        '<st:getState xmlns:st="http://example.org/state"><st:case>42</st:case></st:getState>',
      envelopePrefix: "SOAP-ENV",
    },
    ...overrides,
  });
}

const call = (): TranslatorCall => ({
  signal: new AbortController().signal,
  idempotencyKey: "0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d",
  attempt: 1,
});

function backend(url: string, service: string, serviceClients = {}): TranslatorBackend {
  return {
    name: "registry",
    url,
    timeoutMs: 10_000,
    options: {},
    xroad: { service, client: CLIENT, serviceClients },
  };
}

/** The security server's SOAP answer for the provider: the request's header echoed. */
function echoAnswer(body: string, tweak: (header: string) => string = (h) => h): string {
  const header = /<SOAP-ENV:Header>([\s\S]*)<\/SOAP-ENV:Header>/.exec(body)?.[1] ?? "";
  return (
    `<?xml version="1.0" encoding="UTF-8"?><SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xrd="${XRD}" xmlns:id="${IDS}">` +
    `<SOAP-ENV:Header>${tweak(header)}</SOAP-ENV:Header><SOAP-ENV:Body>` +
    '<st:getStateResponse xmlns:st="http://example.org/state"><st:state>open</st:state></st:getStateResponse>' +
    "</SOAP-ENV:Body></SOAP-ENV:Envelope>"
  );
}

const failure = (translator: Translator, message: RequestMessage): Promise<unknown> =>
  rejectionOf(translator.call(message, call()));

describe("xroad-rest and xroad-soap translators (consumer direction, through xroad-sim)", function () {
  this.timeout(30_000);
  let provider: Awaited<ReturnType<typeof startProvider>>;
  let sim: XroadSim;
  let rest: Translator;
  let soap: Translator;
  /** A port nothing listens on: the provider is down. */
  let deadUrl = "";

  before(async () => {
    provider = await startProvider();
    const spare = http.createServer();
    await new Promise<void>((resolve) => spare.listen(0, "127.0.0.1", resolve));
    deadUrl = `http://127.0.0.1:${(spare.address() as AddressInfo).port}`;
    await new Promise<void>((resolve) => spare.close(() => resolve()));
    sim = await startXroadSim({
      services: {
        [REST_SERVICE]: { url: `${provider.url}/api` },
        [SOAP_SERVICE]: { url: `${provider.url}/soap`, type: "soap" },
      },
    });
    rest = createRest(backend(sim.url, REST_SERVICE, { ownClient: OWN_CLIENT }));
    soap = createSoap(backend(sim.url, SOAP_SERVICE));
  });

  after(async () => {
    await rest?.close?.();
    await soap?.close?.();
    await sim?.close();
    await provider?.close();
  });

  beforeEach(() => {
    provider.seen.length = 0;
    sim.reset();
    provider.state.answer = (_req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      res.end('{"found":true}');
    };
    sim.register(REST_SERVICE, { url: `${provider.url}/api` });
    sim.register(SOAP_SERVICE, { url: `${provider.url}/soap`, type: "soap" });
  });

  describe("xroad-rest", () => {
    it("calls /r1/<service>/<path> as Sluice's client, keeping method, path, query, body and type", async () => {
      const [answer] = await rest.call(request(), call());
      expect(answer.status).to.equal(200);
      expect(answer.body).to.equal('{"found":true}');
      const [seen] = provider.seen;
      expect(seen.method).to.equal("POST");
      expect(seen.url).to.equal("/api/persons/42?full=true");
      expect(seen.body).to.equal('{"name":"Mari"}');
      expect(seen.headers["content-type"]).to.equal("application/json");
      expect(seen.headers.accept).to.equal("application/json");
      // The security server names the client Sluice is registered as and the gateway id.
      expect(seen.headers["x-road-client"]).to.equal(CLIENT);
      expect(sim.calls()[0].service).to.equal(REST_SERVICE);
      expect(seen.headers["x-road-id"]).to.equal("0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d");
      expect(seen.headers["x-road-userid"]).to.equal("EE12345678901");
      expect(seen.headers["x-road-issue"]).to.equal("CASE-7");
      expect(seen.headers["x-road-represented-party"]).to.equal("COM/12345");
      expect(sim.calls()[0].client).to.equal(CLIENT);
    });

    it("sends X-Road-Represented-Party with each part percent-encoded once (PR-REST §4.3)", async () => {
      // From a SOAP caller's header the parts come as written; from a REST caller, encoded.
      for (const party of ["COM/12?45", "COM/12%3F45"]) {
        provider.seen.length = 0;
        const message = request();
        message.xroadHeaders = { ...message.xroadHeaders, "x-road-represented-party": party };
        await rest.call(message, call());
        expect(provider.seen[0].headers["x-road-represented-party"], party).to.equal("COM/12%3F45");
      }
    });

    it("sends a SOAP caller's represented party as its class and code, a / or % in the code encoded", async () => {
      // A SOAP caller's fields are text, not encoded parts: "12/34%41" is one code.
      const message = soapRequest();
      message.xroadHeaders = {
        ...message.xroadHeaders,
        "x-road-represented-party": "COM/12/34%41",
      };
      await rest.call(message, call());
      expect(provider.seen[0].headers["x-road-represented-party"]).to.equal("COM/12%2F34%2541");
    });

    it("cuts an X-Road error's text body to 200 characters, never between a surrogate pair's halves", async () => {
      // Text, neither JSON nor XML: the message carries the body's start, whose unit 200 is an
      // emoji's second half when one character leads them.
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("x-road-error", "Server.ServerProxy.AccessDenied");
        res.writeHead(500, { "content-type": "text/plain" });
        res.end(`x${"\u{1F600}".repeat(150)}`);
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        const { message } = (await failure(direct, request())) as Error;
        expect(message).to.include("\u{1F600}");
        expect(message).to.not.match(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/);
      } finally {
        await direct.close?.();
        await new Promise<void>((resolve) => stub.close(() => resolve()));
      }
    });

    it("keeps an X-Road error's JSON message whole: no lone half of a pair, sent or left by the cut at 500", async () => {
      // A JSON "\ud800" reads as a lone half; emojis past unit 500 are cut, one of the two
      // bodies between a pair's halves whatever the length of the words before them.
      let body = "";
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("x-road-error", "Server.ServerProxy.AccessDenied");
        res.writeHead(500, { "content-type": "application/json" });
        res.end(body);
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        for (const lead of ["", "x"]) {
          body = `{"type":"Server.ServerProxy.AccessDenied","message":"\\ud800 ${lead}${"\u{1F600}".repeat(300)}"}`;
          const { message } = (await failure(direct, request())) as Error;
          expect(message, lead).to.include(`\uFFFD ${lead}\u{1F600}`);
          expect(message.length, lead).to.be.within(499, 500);
          expect(message, lead).to.not.match(/\p{Cs}/u);
        }
      } finally {
        await direct.close?.();
        await new Promise<void>((resolve) => stub.close(() => resolve()));
      }
    });

    it("does not take an answer naming two different X-Road-Error codes, none, or a value that is no code; one code given twice is that code", async () => {
      // A security server writes X-Road-Error once: two codes cannot say whether to retry.
      let codes: string[] = [];
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("x-road-error", codes);
        res.writeHead(500, { "content-type": "application/json" });
        res.end('{"type":"Server.ServerProxy.AccessDenied","message":"denied"}');
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        codes = [
          "Server.ServerProxy.AccessDenied",
          "Server.ServerProxy.ServiceFailed.NetworkError",
        ];
        const twoCodes = await failure(direct, request());
        expect(twoCodes).to.be.instanceOf(BackendAnswerError);
        expect((twoCodes as Error).message).to.match(/names 2 different X-Road-Error codes/);
        // One line with both, comma-separated, is the same two lines (RFC 9110 §5.3).
        codes = ["Server.ServerProxy.AccessDenied, Server.ServerProxy.ServiceFailed.NetworkError"];
        const joined = await failure(direct, request());
        expect(joined).to.be.instanceOf(BackendAnswerError);
        expect((joined as Error).message).to.match(/names 2 different X-Road-Error codes/);
        // Present with no code: the security server's own error, naming none.
        for (const empty of [[""], [" , "]]) {
          codes = empty;
          const none = await failure(direct, request());
          expect(none, JSON.stringify(empty)).to.be.instanceOf(BackendAnswerError);
          expect((none as Error).message).to.match(/carries an X-Road-Error without a code/);
        }
        // A value that is no X-Road code (no `Server.`/`Client.` origin): no security server
        // writes one, so neither a retry nor a rejection can be read from it.
        for (const notACode of ["banana", "AccessDenied", "Server", "Signer.KeyNotFound"]) {
          codes = [notACode];
          const strange = await failure(direct, request());
          expect(strange, notACode).to.be.instanceOf(BackendAnswerError);
          expect((strange as Error).message).to.contain(
            `carries an X-Road-Error that is no X-Road error code ("${notACode}")`,
          );
        }
        // X-Road 8 writes its codes lower-case and snake_case.
        codes = ["server.serverproxy.access_denied"];
        expect(await failure(direct, request())).to.be.instanceOf(BackendRejectedError);
        codes = ["Server.ServerProxy.AccessDenied", "Server.ServerProxy.AccessDenied"];
        const repeated = await failure(direct, request());
        expect(repeated).to.be.instanceOf(BackendRejectedError);
        expect((repeated as Error).message).to.match(/^Server\.ServerProxy\.AccessDenied: /);
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("judges an X-Road error whose body is over maxResponseBytes by its code, not by its status", async () => {
      let code = "";
      const stub = http.createServer((req, res) => {
        req.resume();
        res.writeHead(500, { "content-type": "application/json", "x-road-error": code });
        res.end(JSON.stringify({ type: code, message: "x".repeat(5000) }));
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest({
        ...backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
        options: { maxResponseBytes: 1000 },
      });
      try {
        // A 500 alone would be retried: the code says the call is refused.
        code = "Server.ServerProxy.AccessDenied";
        const denied = await failure(direct, request());
        expect(denied).to.be.instanceOf(BackendRejectedError);
        expect((denied as Error).message).to.match(
          /^Server\.ServerProxy\.AccessDenied: .*over maxResponseBytes and was not read/,
        );
        expect((denied as BackendRejectedError).response.headers?.["x-road-error"]).to.equal(code);
        code = "Server.ServerProxy.ServiceFailed.InvalidSoap";
        expect(await failure(direct, request())).to.be.instanceOf(BackendAnswerError);
        code = "Server.ServerProxy.ServiceFailed.NetworkError";
        const network = await failure(direct, request());
        expect(network).to.be.instanceOf(BackendUnavailableError);
        expect((network as Error).message).to.match(
          /^Server\.ServerProxy\.ServiceFailed\.NetworkError: /,
        );
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("does not take an answer with two Content-Type lines, as the intake refuses such a request", async () => {
      // RFC 9110 §8.3: one type; which of two the body is would be a guess.
      let types: string[] = [];
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("content-type", types);
        res.writeHead(200).end('{"found":true}');
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        types = ["application/json", "text/html"];
        const two = await failure(direct, request());
        expect(two).to.be.instanceOf(BackendAnswerError);
        expect((two as Error).message).to.contain("it has 2 Content-Type headers");
        types = ["application/json"];
        const [one] = await direct.call(request(), call());
        expect(one.contentType).to.equal("application/json");
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("judges a transient answer with two Content-Type lines by its head: its body's type decides nothing", async () => {
      // A proxy's 503 in an outage is retried; a dead letter would end what the next call serves.
      let status = 503;
      let code = "";
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("content-type", ["application/json", "text/html"]);
        if (code) res.setHeader("x-road-error", code);
        res.writeHead(status).end('{"type":"x","message":"m"}');
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        for (status of [500, 503, 429]) {
          const retried = await failure(direct, request());
          expect(retried, String(status)).to.be.instanceOf(BackendUnavailableError);
          expect((retried as BackendUnavailableError).response).to.equal(undefined);
          expect((retried as Error).message).to.contain(
            "its body not read: it has 2 Content-Type headers",
          );
        }
        // The security server's code still decides, as for an error body too large to read; the
        // rejection passes on the status and the code, without the body or a guessed type.
        status = 500;
        code = "Server.ServerProxy.AccessDenied";
        const rejected = await failure(direct, request());
        expect(rejected).to.be.instanceOf(BackendRejectedError);
        expect((rejected as BackendRejectedError).response).to.deep.include({
          status: 500,
          contentType: "",
          body: "",
        });
        expect((rejected as Error).message).to.contain(
          "its body was not read: it has 2 Content-Type headers",
        );
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("compares an echoed X-Road-Service part by part: an encoded / is a part's, not a separator", async () => {
      let service = "";
      const stub = http.createServer((req, res) => {
        req.resume();
        res.writeHead(200, { "content-type": "application/json", "x-road-service": service });
        res.end('{"found":true}');
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        // The same parts, one of them percent-encoded: the echo.
        service = REST_SERVICE.replace("registry", "regi%73try");
        const [answer] = await direct.call(request(), call());
        expect(answer.status).to.equal(200);
        // Joined, `registry%2FpersonLookup` read as `registry/personLookup`: one part, not two.
        service = REST_SERVICE.replace("registry/personLookup", "registry%2FpersonLookup");
        const other = await failure(direct, request());
        expect(other).to.be.instanceOf(BackendAnswerError);
        expect((other as Error).message).to.contain("does not echo the request's X-Road headers");
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("reads a repeated X-Road-Service by its last line: a provider's own comes before the security server's", async () => {
      // X-Road's RestResponse keeps a provider's X-Road-Service and adds its own after it.
      provider.state.answer = (_req, res) => {
        res.writeHead(200, {
          "content-type": "application/json",
          "x-road-service": "EE/COM/99999999/elsewhere/something",
        });
        res.end('{"found":true}');
      };
      const [answer] = await rest.call(request(), call());
      expect(answer.status).to.equal(200);
      expect(answer.body).to.equal('{"found":true}');

      // The last line naming another service is another call's answer.
      const stub = http.createServer((req, res) => {
        req.resume();
        res.setHeader("x-road-service", [REST_SERVICE, "EE/COM/99999999/elsewhere/something"]);
        res.writeHead(200, { "content-type": "application/json" });
        res.end('{"found":true}');
      });
      await new Promise<void>((resolve) => stub.listen(0, "127.0.0.1", resolve));
      const direct = createRest(
        backend(`http://127.0.0.1:${(stub.address() as AddressInfo).port}`, REST_SERVICE),
      );
      try {
        const other = await failure(direct, request());
        expect(other).to.be.instanceOf(BackendAnswerError);
        expect((other as Error).message).to.contain("elsewhere/something");
      } finally {
        await direct.close?.();
        await new Promise((resolve) => stub.close(resolve));
      }
    });

    it("calls a service whose code holds a ?, sent percent-encoded (PR-REST §4.8)", async () => {
      const service = "EE/GOV/70000002/registry/who?is";
      sim.register(service, { url: `${provider.url}/who` });
      const questioning = createRest(backend(sim.url, service));
      try {
        const [answer] = await questioning.call(request(), call());
        expect(answer.status).to.equal(200);
        expect(sim.calls().at(-1)?.service).to.equal(service);
        expect(provider.seen[0].url).to.equal("/who/persons/42?full=true");
      } finally {
        await questioning.close?.();
      }
    });

    it("names a service's own client when the service has one", async () => {
      await rest.call(request({ service: "ownClient", path: "" }), call());
      expect(provider.seen[0].headers["x-road-client"]).to.equal(OWN_CLIENT);
      expect(provider.seen[0].url).to.equal("/api?full=true");
    });

    it("passes a provider's answer on as it came, X-Multiple-Responses or not (PR-REST §4.6)", async () => {
      const split = JSON.stringify({
        responses: [
          { status: 200, body: { part: 1 } },
          { status: 404, contentType: "text/html", body: "<script>alert(1)</script>" },
        ],
      });
      provider.state.answer = (_req, res) => {
        res.writeHead(200, { "content-type": "application/json", "x-multiple-responses": "true" });
        res.end(split);
      };
      const answers = await rest.call(request(), call());
      expect(answers).to.have.length(1);
      expect(answers[0].status).to.equal(200);
      expect(answers[0].body).to.equal(split);
    });

    it("passes a provider's redirect back as its answer, never following it (PR-REST §4.4)", async () => {
      for (const status of [301, 302, 303, 304, 307, 308]) {
        provider.seen.length = 0;
        provider.state.answer = (_req, res) => {
          res.writeHead(status, { location: "https://elsewhere.example/persons/42" });
          res.end();
        };
        const answers = await rest.call(request(), call());
        expect(answers, String(status)).to.have.length(1);
        expect(answers[0].status).to.equal(status);
        expect(answers[0].headers?.location).to.equal("https://elsewhere.example/persons/42");
        expect(provider.seen, "called once, not followed").to.have.length(1);
      }
    });

    it("keeps the caller's headers that map the operator's network from the remote provider", async () => {
      const headers = {
        accept: "application/json",
        "accept-language": "et",
        forwarded: "for=10.1.2.3;host=intranet.local;proto=http",
        "x-forwarded-for": "10.1.2.3, 10.0.0.9",
        "x-forwarded-host": "intranet.local",
        "x-forwarded-proto": "http",
        "x-forwarded-port": "8080",
        "x-forwarded-prefix": "/apps/case",
        "x-real-ip": "10.1.2.3",
        "x-client-ip": "10.1.2.3",
        "true-client-ip": "10.1.2.3",
        via: "1.1 proxy.intranet.local",
      };
      await rest.call(request({ headers }), call());
      const seen = provider.seen[0].headers;
      expect(seen.accept).to.equal("application/json");
      expect(seen["accept-language"]).to.equal("et");
      for (const name of Object.keys(headers).slice(2)) {
        expect(seen[name], name).to.equal(undefined);
      }
    });

    it("keeps the caller's URL and method overrides from the remote provider unless options.forwardHeaders names them; naming the network's map is refused", async () => {
      const headers = {
        accept: "application/json",
        "x-original-url": "/r1/EE/GOV/1/other/admin",
        "x-rewrite-url": "/admin",
        "x-http-method-override": "DELETE",
        "x-http-method": "DELETE",
        "x-method-override": "DELETE",
        "x-forwarded-for": "10.1.2.3",
      };
      await rest.call(request({ headers }), call());
      const seen = provider.seen[0].headers;
      expect(seen.accept).to.equal("application/json");
      for (const name of Object.keys(headers).slice(1)) {
        expect(seen[name], name).to.equal(undefined);
      }

      const opted = createRest({
        ...backend(sim.url, REST_SERVICE, { ownClient: OWN_CLIENT }),
        options: { forwardHeaders: ["X-HTTP-Method-Override"] },
      });
      // The network's map may not be named at all: refused as the backend is built.
      expect(() =>
        createRest({
          ...backend(sim.url, REST_SERVICE, { ownClient: OWN_CLIENT }),
          options: { forwardHeaders: ["X-Forwarded-For"] },
        }),
      ).to.throw(/x-forwarded-for is never sent to the remote provider/);
      try {
        provider.seen.length = 0;
        await opted.call(request({ headers }), call());
        const kept = provider.seen[0].headers;
        expect(kept["x-http-method-override"]).to.equal("DELETE");
        expect(kept["x-forwarded-for"], "an origin header, never sent out").to.equal(undefined);
        expect(kept["x-original-url"]).to.equal(undefined);
      } finally {
        await opted.close?.();
      }
    });

    it("logs each withheld header name once, without its value, and at most LOGGED_WITHHELD_NAMES names", async () => {
      const lines: Array<{ details: Record<string, unknown>; message: string }> = [];
      const logged = createRest({
        ...backend(sim.url, REST_SERVICE, { ownClient: OWN_CLIENT }),
        log: { info: (details, message) => lines.push({ details: { ...details }, message }) },
      });
      try {
        const secret = { accept: "application/json", "x-internal-token": "internal-s3cret" };
        await logged.call(request({ headers: secret }), call());
        await logged.call(request({ headers: secret }), call());
        expect(provider.seen[0].headers["x-internal-token"]).to.equal(undefined);
        expect(lines).to.have.length(1);
        expect(lines[0].details).to.include({
          header: "x-internal-token",
          id: request().id,
          client: OWN_CLIENT,
        });
        expect(JSON.stringify(lines)).not.to.include("s3cret");
        expect(lines[0].message).to.include("options.forwardHeaders");
        // An origin header is never passed on: the line does not send the operator to a setting
        // that would change nothing.
        await logged.call(request({ headers: { "x-real-ip": "10.0.0.5" } }), call());
        expect(lines).to.have.length(2);
        expect(lines[1].details).to.include({ header: "x-real-ip" });
        expect(lines[1].message).not.to.include("forwardHeaders");
        expect(lines[1].message).to.include("never passed on");

        // A caller's names are its own choice: the log stops naming them after the bound.
        const many: Record<string, string> = {};
        for (let i = 0; i < LOGGED_WITHHELD_NAMES + 5; i += 1) many[`x-made-up-${i}`] = "v";
        await logged.call(request({ headers: many }), call());
        await logged.call(request({ headers: { "x-one-more": "v" } }), call());
        expect(lines).to.have.length(LOGGED_WITHHELD_NAMES + 1);
        expect(lines[LOGGED_WITHHELD_NAMES].message).to.match(/no more are/);
        expect(lines[LOGGED_WITHHELD_NAMES].details).not.to.have.property("header");
      } finally {
        await logged.close?.();
      }
    });

    it("keeps the local caller's credentials and Sluice's own id from the remote provider; the operator's own credential passes", async () => {
      const headers = {
        accept: "application/json",
        "accept-language": "et",
        authorization: "Bearer local-token-for-sluice",
        cookie: "session=local",
        "x-api-key": "local-key",
        "x-auth-token": "local-token",
        "x-sluice-id": "forged",
      };
      await rest.call(request({ headers }), {
        ...call(),
        traceHeaders: {
          traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
          tracestate: "vendor=internal-data",
        },
      });
      const seen = provider.seen[0].headers;
      expect(seen.accept).to.equal("application/json");
      expect(seen["accept-language"]).to.equal("et");
      for (const name of ["authorization", "cookie", "x-api-key", "x-auth-token", "x-sluice-id"]) {
        expect(seen[name], name).to.equal(undefined);
      }
      // Not credentials: the gateway id the provider recognises a repeat by, and the trace id.
      expect(seen["idempotency-key"]).to.equal(call().idempotencyKey);
      expect(seen.traceparent).to.equal("00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01");
      expect(seen.tracestate, "another vendor's data, not the trace id").to.equal(undefined);

      // A credential the remote provider asks for is the operator's (options.headers).
      const own = createRest({
        ...backend(sim.url, REST_SERVICE, { ownClient: OWN_CLIENT }),
        options: { headers: { authorization: "Bearer the-operators" } },
      });
      try {
        provider.seen.length = 0;
        await own.call(request({ headers }), call());
        expect(provider.seen[0].headers.authorization).to.equal("Bearer the-operators");
      } finally {
        await own.close?.();
      }
    });

    it("judges the provider's own answers as any backend's (no X-Road-Error)", async () => {
      provider.state.answer = (_req, res) => {
        res.writeHead(404, { "content-type": "application/json" });
        res.end('{"error":"no such person"}');
      };
      const rejected = await failure(rest, request());
      expect(rejected).to.be.instanceOf(BackendRejectedError);
      expect((rejected as BackendRejectedError).response.status).to.equal(404);
      provider.state.answer = (_req, res) => {
        res.writeHead(503, { "retry-after": "7" });
        res.end();
      };
      const unavailable = await failure(rest, request());
      expect(unavailable).to.be.instanceOf(BackendUnavailableError);
      expect((unavailable as BackendUnavailableError).retryAfterMs).to.equal(7000);
    });

    it("maps the security server's errors: unknown service and access denied are rejected", async () => {
      sim.unregister(REST_SERVICE);
      const unknown = await failure(rest, request());
      expect(unknown).to.be.instanceOf(BackendRejectedError);
      expect((unknown as Error).message).to.match(/^Server\.ServerProxy\.UnknownService: /);
      sim.register(REST_SERVICE, {
        url: `${provider.url}/api`,
        allowedClients: ["EE/GOV/1/other"],
      });
      const denied = await failure(rest, request());
      expect(denied).to.be.instanceOf(BackendRejectedError);
      expect((denied as Error).message).to.match(/^Server\.ServerProxy\.AccessDenied: /);
      expect(provider.seen).to.have.length(0);
    });

    it("maps the security server's errors: network error and timeout are retried", async () => {
      sim.register(REST_SERVICE, { url: deadUrl });
      const network = await failure(rest, request());
      expect(network).to.be.instanceOf(BackendUnavailableError);
      expect(network).not.to.be.instanceOf(BackendTimeoutError);
      expect((network as Error).message).to.match(
        /^Server\.ServerProxy\.ServiceFailed\.NetworkError: /,
      );

      sim.register(REST_SERVICE, { url: `${provider.url}/api`, timeout: "300ms" });
      provider.state.answer = (_req, res) => {
        setTimeout(() => res.end("late"), 2000);
      };
      const timeout = await failure(rest, request());
      expect(timeout).to.be.instanceOf(BackendTimeoutError);
      expect((timeout as Error).message).to.match(/^Server\.ServerProxy\.ServiceFailed\.IOError: /);
    });
  });

  describe("xroad-soap", () => {
    beforeEach(() => {
      provider.state.answer = (_req, res, body) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(echoAnswer(body));
      };
    });

    it("sends an X-Road 4.0 envelope of its own around the Body and takes the echoed answer", async () => {
      const [answer] = await soap.call(soapRequest(), call());
      expect(answer.status).to.equal(200);
      expect(answer.body).to.contain("<st:state>open</st:state>");
      const sent = provider.seen[0].body;
      expect(sent).to.contain(
        '<xrd:client id:objectType="SUBSYSTEM"><id:xRoadInstance>EE</id:xRoadInstance><id:memberClass>GOV</id:memberClass><id:memberCode>70000001</id:memberCode><id:subsystemCode>sluice-consumer</id:subsystemCode></xrd:client>',
      );
      expect(sent).to.contain("<id:serviceCode>getState</id:serviceCode>");
      expect(sent).to.contain("<xrd:id>0b6a4c1e-8f5d-4b7a-9e1c-3d2f1a0b9c8d</xrd:id>");
      expect(sent).to.contain("<xrd:userId>EE12345678901</xrd:userId>");
      expect(sent).to.contain("<xrd:issue>CASE-7</xrd:issue>");
      expect(sent).to.contain("<xrd:protocolVersion>4.0</xrd:protocolVersion>");
      expect(sent).to.contain("<repr:partyClass>COM</repr:partyClass>");
      expect(sent).to.contain(
        '<st:getState xmlns:st="http://example.org/state"><st:case>42</st:case></st:getState>',
      );
      expect(sim.calls()[0]).to.include({ client: CLIENT, service: SOAP_SERVICE });
    });

    it("sends a REST caller's represented party decoded: its parts come percent-encoded", async () => {
      const message = request({
        soap: undefined,
        contentType: "application/xml",
        body: "<getState/>",
      });
      message.xroadHeaders = {
        ...message.xroadHeaders,
        "x-road-represented-party": "COM/12%2F34%20a",
      };
      const [answer] = await soap.call(message, call());
      expect(answer.status).to.equal(200);
      expect(provider.seen[0].body).to.contain(
        "<repr:partyClass>COM</repr:partyClass><repr:partyCode>12/34 a</repr:partyCode>",
      );
    });

    it("reads a REST caller's XML body in its charset, and fails at once one not valid in it", async () => {
      const latin1 = (xml: string) => Buffer.from(xml, "latin1").toString("base64");
      await soap.call(
        request({
          contentType: "application/xml; charset=ISO-8859-1",
          bodyEncoding: "base64",
          body: latin1(
            '<?xml version="1.0" encoding="ISO-8859-1"?><getState><nimi>Mäger</nimi></getState>',
          ),
        }),
        call(),
      );
      expect(provider.seen[0].body).to.contain("<nimi>Mäger</nimi>");
      // By its declaration alone, as an XML reader takes it.
      await soap.call(
        request({
          contentType: "application/xml",
          bodyEncoding: "base64",
          body: latin1(
            "<?xml version='1.0' encoding='ISO-8859-1'?><getState><nimi>Õie</nimi></getState>",
          ),
        }),
        call(),
      );
      expect(provider.seen[1].body).to.contain("<nimi>Õie</nimi>");
      // Bytes that are not UTF-8 under no charset at all are not guessed at: nothing is sent.
      const broken = await failure(
        soap,
        request({
          contentType: "application/xml",
          bodyEncoding: "base64",
          body: latin1("<getState><nimi>Mäger</nimi></getState>"),
        }),
      );
      expect(broken).to.be.instanceOf(SluiceError);
      expect((broken as SluiceError).retryCall).to.equal(false);
      expect(provider.seen).to.have.length(2);
    });

    it("refuses at once, sending nothing, a REST caller's XML that is not one element (it would write its own envelope parts)", async () => {
      const E = 'xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"';
      for (const body of [
        // Closes the Body Sluice wraps it in, then opens a Header and a Body of its own.
        `<getState><case>1</case></getState></SOAP-ENV:Body><SOAP-ENV:Header ${E}><x/></SOAP-ENV:Header><SOAP-ENV:Body ${E}><getState><case>2</case></getState>`,
        "<getState><case>1</case></getState><getState><case>2</case></getState>",
      ]) {
        const refused = await failure(soap, request({ contentType: "application/xml", body }));
        expect(refused, body).to.be.instanceOf(SluiceError);
        expect((refused as SluiceError).code).to.equal("InvalidRequest");
        expect((refused as SluiceError).retryCall).to.equal(false);
        expect((refused as SluiceError).message).to.match(/is not one XML element/);
      }
      expect(provider.seen, "calls sent").to.have.length(0);
    });

    it("takes an answer that echoes a userId or issue with spaces around it verbatim", async () => {
      // A local SOAP caller's header fields keep their spaces; the provider echoes them as sent.
      const padded = soapRequest();
      padded.xroadHeaders = {
        ...padded.xroadHeaders,
        "x-road-userid": " EE12345678901 ",
        "x-road-issue": "CASE-7\u00a0",
      };
      const [answer] = await soap.call(padded, call());
      expect(answer.status).to.equal(200);
      expect(provider.seen[0].body).to.contain("<xrd:userId> EE12345678901 </xrd:userId>");
    });

    it("names the Body element after the remote service code", async () => {
      await soap.call(
        soapRequest({
          service: "localState",
          soap: {
            headers: [],
            bodyNamespace: "http://example.org/state",
            bodyXml:
              '<st:localState xmlns:st="http://example.org/state"><st:case>42</st:case></st:localState>',
            envelopePrefix: "SOAP-ENV",
          },
        }),
        call(),
      );
      expect(provider.seen[0].body).to.contain(
        '<st:getState xmlns:st="http://example.org/state"><st:case>42</st:case></st:getState>',
      );
    });

    it("sends and takes element names beyond ASCII (XML 1.0 names), renaming such a Body element", async () => {
      // XML names are Unicode: an Estonian field name is as valid as an English one.
      provider.state.answer = (_req, res, body) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(
          echoAnswer(body).replace(
            "<st:state>open</st:state>",
            "<st:sünniaeg>1980-01-01</st:sünniaeg>",
          ),
        );
      };
      const [answer] = await soap.call(
        soapRequest({
          service: "päring",
          soap: {
            headers: [],
            bodyNamespace: "http://example.org/state",
            bodyXml:
              '<st:päring xmlns:st="http://example.org/state"><st:isik>Mäger</st:isik></st:päring>',
            envelopePrefix: "SOAP-ENV",
          },
        }),
        call(),
      );
      expect(answer.status).to.equal(200);
      expect(answer.body).to.contain("<st:sünniaeg>1980-01-01</st:sünniaeg>");
      expect(provider.seen[0].body).to.contain(
        '<st:getState xmlns:st="http://example.org/state"><st:isik>Mäger</st:isik></st:getState>',
      );
    });

    it("renames a REST caller's XML document whole when a comment comes before or after its element", async () => {
      // Comments (and processing instructions) may stand around an XML document's element;
      // the end tag is the element's own, not the last thing in the text.
      await soap.call(
        request({
          contentType: "application/xml",
          body: '<?xml version="1.0"?><!-- asked by case 7 --><lookup xmlns="urn:x"><id>42</id></lookup><!-- end -->\n',
        }),
        call(),
      );
      const sent = provider.seen[0].body;
      expect(sent).to.match(/<getState xmlns="urn:x"><id>42<\/id><\/getState>/);
      expect(sent).not.to.contain("lookup");
    });

    it("fails, never completes, an answer whose header does not echo the request's", async () => {
      // The provider stands in for a security server that does not check the answer's header.
      const securityServer = createSoap(backend(provider.url, SOAP_SERVICE));
      try {
        provider.state.answer = (_req, res, body) => {
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(echoAnswer(body, (h) => h.replace("EE12345678901", "EE99999999999")));
        };
        const mismatch = await failure(securityServer, soapRequest());
        expect(mismatch).to.be.instanceOf(SluiceError);
        expect(mismatch).not.to.be.instanceOf(BackendUnavailableError);
        expect((mismatch as SluiceError).retryCall).to.equal(false);
        expect((mismatch as Error).message).to.contain("does not echo the request's X-Road header");
        expect((mismatch as Error).message).to.contain(
          'userId is "EE99999999999", sent "EE12345678901"',
        );
        provider.state.answer = (_req, res, body) => {
          res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
          res.end(
            echoAnswer(body, (h) =>
              h.replace("<id:serviceCode>getState<", "<id:serviceCode>other<"),
            ),
          );
        };
        const otherService = await failure(securityServer, soapRequest());
        expect((otherService as Error).message).to.contain('service/serviceCode is "other"');
      } finally {
        await securityServer.close?.();
      }
      // Through a security server that checks, as X-Road's does, its fault: failed, not retried.
      provider.state.answer = (_req, res, body) => {
        res.writeHead(200, { "content-type": "text/xml; charset=utf-8" });
        res.end(echoAnswer(body, (h) => h.replace("EE12345678901", "EE99999999999")));
      };
      const checked = await failure(soap, soapRequest());
      expect((checked as SluiceError).retryCall).to.equal(false);
      expect((checked as Error).message).to.match(
        /^Server\.ClientProxy\.ServiceFailed\.InconsistentResponse: /,
      );
    });

    it("maps the security server's faults: unknown service and access denied are rejected", async () => {
      sim.unregister(SOAP_SERVICE);
      const unknown = await failure(soap, soapRequest());
      expect(unknown).to.be.instanceOf(BackendRejectedError);
      expect((unknown as Error).message).to.match(/^Server\.ServerProxy\.UnknownService: /);
      sim.register(SOAP_SERVICE, {
        url: `${provider.url}/soap`,
        type: "soap",
        allowedClients: ["EE/GOV/1/other"],
      });
      const denied = await failure(soap, soapRequest());
      expect(denied).to.be.instanceOf(BackendRejectedError);
      expect((denied as Error).message).to.match(/^Server\.ServerProxy\.AccessDenied: /);
    });

    it("reads a security server's fault with an empty Header as one without: access denied is rejected", async () => {
      // SOAP stacks write an empty <Header/> into the faults they make; it echoes nothing.
      const securityServer = createSoap(backend(provider.url, SOAP_SERVICE));
      try {
        for (const header of [
          "<SOAP-ENV:Header/>",
          "<SOAP-ENV:Header>\n  <!-- none --></SOAP-ENV:Header>",
        ]) {
          provider.state.answer = (_req, res) => {
            res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
            res.end(
              `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/">${header}<SOAP-ENV:Body><SOAP-ENV:Fault>` +
                `<faultcode>Server.ServerProxy.AccessDenied</faultcode><faultstring>Request is not allowed</faultstring>` +
                `</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
            );
          };
          const denied = await failure(securityServer, soapRequest());
          expect(denied, header).to.be.instanceOf(BackendRejectedError);
          expect((denied as Error).message).to.match(/^Server\.ServerProxy\.AccessDenied: /);
        }
      } finally {
        await securityServer.close?.();
      }
    });

    it("reads a security server's fault written in CDATA: access denied is rejected, not retried", async () => {
      // The provider stands in for the security server: its answer is the Fault itself.
      const securityServer = createSoap(backend(provider.url, SOAP_SERVICE));
      try {
        provider.state.answer = (_req, res) => {
          res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
          res.end(
            `<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault>` +
              `<faultcode><![CDATA[Server.ServerProxy.AccessDenied]]></faultcode>` +
              `<faultstring>Request is <![CDATA[not allowed]]></faultstring>` +
              `</SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>`,
          );
        };
        const denied = await failure(securityServer, soapRequest());
        expect(denied).to.be.instanceOf(BackendRejectedError);
        expect((denied as Error).message).to.match(
          /^Server\.ServerProxy\.AccessDenied: .*Request is not allowed/,
        );
      } finally {
        await securityServer.close?.();
      }
    });

    it("reads a security server's faultcode under a prefix of any XML name characters, not only ASCII", async () => {
      const securityServer = createSoap(backend(provider.url, SOAP_SERVICE));
      try {
        provider.state.answer = (_req, res) => {
          res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
          res.end(
            `<ümbrik:Envelope xmlns:ümbrik="http://schemas.xmlsoap.org/soap/envelope/"><ümbrik:Body><ümbrik:Fault>` +
              `<faultcode>ümbrik:Server.ServerProxy.AccessDenied</faultcode><faultstring>Request is not allowed</faultstring>` +
              `</ümbrik:Fault></ümbrik:Body></ümbrik:Envelope>`,
          );
        };
        const denied = await failure(securityServer, soapRequest());
        expect(denied).to.be.instanceOf(BackendRejectedError);
        expect((denied as Error).message).to.match(/^Server\.ServerProxy\.AccessDenied: /);
        // A Client fault is refused, never called again, and named without its prefix.
        provider.state.answer = (_req, res) => {
          res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
          res.end(
            `<é:Envelope xmlns:é="http://schemas.xmlsoap.org/soap/envelope/"><é:Body><é:Fault>` +
              `<faultcode>é:Client.Whatever</faultcode><faultstring>bad request</faultstring>` +
              `</é:Fault></é:Body></é:Envelope>`,
          );
        };
        const refused = await failure(securityServer, soapRequest());
        expect(refused).to.be.instanceOf(BackendRejectedError);
        expect((refused as Error).message).to.match(/^Client\.Whatever: /);
      } finally {
        await securityServer.close?.();
      }
    });

    it("maps the security server's faults: network error and timeout are retried", async () => {
      sim.register(SOAP_SERVICE, { url: deadUrl, type: "soap" });
      const network = await failure(soap, soapRequest());
      expect(network).to.be.instanceOf(BackendUnavailableError);
      expect((network as Error).message).to.match(
        /^Server\.ServerProxy\.ServiceFailed\.NetworkError: /,
      );
      sim.register(SOAP_SERVICE, { url: `${provider.url}/soap`, type: "soap", timeout: "300ms" });
      provider.state.answer = (_req, res) => {
        setTimeout(() => res.end("late"), 2000);
      };
      const timeout = await failure(soap, soapRequest());
      expect(timeout).to.be.instanceOf(BackendTimeoutError);
      expect((timeout as Error).message).to.match(/^Server\.ServerProxy\.ServiceFailed\.IOError: /);
    });

    it("handed the worker's deadline, times the call with it: its time running out is a timeout", async () => {
      provider.state.answer = (_req, res) => {
        const timer = setTimeout(() => res.end("late"), 2000);
        res.on("close", () => clearTimeout(timer));
      };
      const { signal, deadline } = endingDeadline(100);
      const error = await rejectionOf(soap.call(soapRequest(), { ...call(), signal, deadline }));
      expect(error).to.be.instanceOf(BackendTimeoutError);
      expect((error as Error).message).to.contain("did not answer: timed out after 10000 ms");
    });

    it("asks for the answer uncompressed: it is read as XML, never inflated", async () => {
      // Straight to the provider, as to a security server: what Sluice itself sends.
      const direct = createSoap(backend(`${provider.url}/`, SOAP_SERVICE));
      try {
        await direct.call(soapRequest(), call());
        expect(provider.seen[0].headers["accept-encoding"]).to.equal("identity");
      } finally {
        await direct.close?.();
      }
    });

    it("sends the security server none of the local caller's HTTP headers, credentials included, whatever the options name", async () => {
      // Straight to the provider, as to a security server: what Sluice itself sends. PR-MESS
      // carries the message in the envelope; a caller's headers have no place in it.
      const direct = createSoap({
        ...backend(`${provider.url}/`, SOAP_SERVICE),
        options: { forwardHeaders: ["X-Case-Version"], forwardCredentials: ["Authorization"] },
      });
      const callers = {
        authorization: "Bearer end-user",
        cookie: "sid=local",
        "x-api-key": "local-key",
        "x-case-version": "7",
        accept: "application/xml",
        "accept-language": "et",
      };
      try {
        await direct.call(soapRequest({ headers: callers }), call());
        const sent = provider.seen[0].headers;
        expect(Object.keys(sent).sort()).to.deep.equal(
          [
            "accept-encoding",
            "connection",
            "content-length",
            "content-type",
            "host",
            "idempotency-key",
            "soapaction",
          ].sort(),
        );
        expect(JSON.stringify(provider.seen[0])).not.to.include("end-user");
      } finally {
        await direct.close?.();
      }
    });

    it("retries an answer over maxResponseBytes when its status is retried anyway (a proxy's 503 page)", async () => {
      // A proxy in front of the security server: its status says what the page would.
      const direct = createSoap({
        ...backend(`${provider.url}/`, SOAP_SERVICE),
        options: { maxResponseBytes: 1000 },
      });
      try {
        provider.state.answer = (_req, res) => {
          res.writeHead(503, { "content-type": "text/html", "retry-after": "7" });
          res.end("x".repeat(5000));
        };
        const busy = await failure(direct, soapRequest());
        expect(busy).to.be.instanceOf(BackendUnavailableError);
        expect(busy).to.include({ retryAfterMs: 7000 });
        expect((busy as Error).message).to.match(/HTTP 503 with more than 1000 bytes/);
        // A 200 that large is an answer too large to keep: calling again would meet the same.
        provider.state.answer = (_req, res) => {
          res.writeHead(200, { "content-type": "text/xml" });
          res.end("x".repeat(5000));
        };
        const large = await failure(direct, soapRequest());
        expect(large).not.to.be.instanceOf(BackendUnavailableError);
        expect(large).to.include({ retryCall: false });
      } finally {
        await direct.close?.();
      }
    });

    it("fails at once an answer whose framing headers conflict; retries one cut short", async () => {
      // A raw server in the security server's place: what it writes is no HTTP a parser keeps.
      let rawAnswer = "";
      const raw = createTcpServer((socket) => {
        socket.on("error", () => undefined);
        socket.once("data", () => socket.end(rawAnswer));
      });
      await new Promise<void>((resolve) => raw.listen(0, "127.0.0.1", resolve));
      const direct = createSoap(
        backend(`http://127.0.0.1:${(raw.address() as AddressInfo).port}/`, SOAP_SERVICE),
      );
      try {
        rawAnswer =
          "HTTP/1.1 200 OK\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n<a/>\r\n0\r\n\r\n";
        const conflict = await failure(direct, soapRequest());
        expect(conflict).not.to.be.instanceOf(BackendUnavailableError);
        expect(conflict).to.include({ retryCall: false });
        expect((conflict as Error).message).to.match(/framing headers that conflict/);
        rawAnswer =
          "HTTP/1.1 200 OK\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n4\r\n<a";
        expect(await failure(direct, soapRequest())).to.be.instanceOf(BackendUnavailableError);
      } finally {
        await direct.close?.();
        await new Promise((resolve) => raw.close(resolve));
      }
    });

    it("does not take an answer with two Content-Type lines, as the intake refuses such a request", async () => {
      provider.state.answer = (_req, res, body) => {
        res.setHeader("content-type", ["text/xml; charset=utf-8", "text/html"]);
        res.writeHead(200).end(echoAnswer(body));
      };
      // Called directly: the answer reaches Sluice as the security server would write it.
      const direct = createSoap(backend(`${provider.url}/`, SOAP_SERVICE));
      try {
        const two = await failure(direct, soapRequest());
        expect(two).to.be.instanceOf(BackendAnswerError);
        expect((two as Error).message).to.contain("it has 2 Content-Type headers");
      } finally {
        await direct.close?.();
      }
    });

    it("retries a transient answer with two Content-Type lines by its status, its body unread", async () => {
      // A proxy's 503 in an outage: a dead letter would end a message the next call could serve.
      let status = 503;
      provider.state.answer = (_req, res) => {
        res.setHeader("content-type", ["text/html", "text/plain"]);
        res.writeHead(status).end("<h1>down</h1>");
      };
      const direct = createSoap(backend(`${provider.url}/`, SOAP_SERVICE));
      try {
        for (status of [500, 503, 429]) {
          const retried = await failure(direct, soapRequest());
          expect(retried, String(status)).to.be.instanceOf(BackendUnavailableError);
          expect((retried as BackendUnavailableError).response).to.equal(undefined);
          expect((retried as Error).message).to.contain(
            "its body not read: it has 2 Content-Type headers",
          );
        }
      } finally {
        await direct.close?.();
      }
    });

    it("fails at once an answer no security server passes on: a type other than XML or MIME, or two SOAP Headers", async () => {
      let type = "";
      let twoHeaders = false;
      provider.state.answer = (_req, res, body) => {
        const echoed = echoAnswer(body);
        const header = /<SOAP-ENV:Header>[\s\S]*<\/SOAP-ENV:Header>/.exec(echoed)?.[0] ?? "";
        res.writeHead(200, type === "" ? {} : { "content-type": type });
        res.end(twoHeaders ? echoed.replace(header, header + header) : echoed);
      };
      // Called directly: the answer reaches Sluice as the security server would write it.
      const direct = createSoap(backend(`${provider.url}/`, SOAP_SERVICE));
      try {
        for (const wrong of ["application/json", "text/html; charset=utf-8", ""]) {
          type = wrong;
          const refused = await failure(direct, soapRequest());
          expect(refused, wrong).to.be.instanceOf(BackendAnswerError);
          expect((refused as Error).message).to.match(
            /is not usable \((its Content-Type is|it has no Content-Type)/,
          );
        }
        type = "text/xml; charset=utf-8";
        twoHeaders = true;
        const doubled = await failure(direct, soapRequest());
        expect(doubled).to.be.instanceOf(BackendAnswerError);
        expect((doubled as Error).message).to.contain("it has 2 SOAP Header elements");
        // The same answer, one Header: taken.
        twoHeaders = false;
        const [taken] = await direct.call(soapRequest(), call());
        expect(taken.body).to.contain("<st:state>open</st:state>");
      } finally {
        await direct.close?.();
      }
    });

    it("passes the provider's own Fault on as any SOAP backend's", async () => {
      provider.state.answer = (_req, res) => {
        res.writeHead(500, { "content-type": "text/xml; charset=utf-8" });
        res.end(
          '<SOAP-ENV:Envelope xmlns:SOAP-ENV="http://schemas.xmlsoap.org/soap/envelope/"><SOAP-ENV:Body><SOAP-ENV:Fault><faultcode>SOAP-ENV:Server</faultcode><faultstring>database down</faultstring></SOAP-ENV:Fault></SOAP-ENV:Body></SOAP-ENV:Envelope>',
        );
      };
      const fault = await failure(soap, soapRequest());
      expect(fault).to.be.instanceOf(BackendUnavailableError);
      expect((fault as Error).message).to.contain("database down");
    });
  });
});
