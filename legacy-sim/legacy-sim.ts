// A simulated slow legacy information system (REST JSON and SOAP) on a real HTTP port, with
// latency, capacity, error rate and pause settable at runtime, recording every call it gets.

import http from "node:http";
import https from "node:https";
import getRawBody from "raw-body";
import { serverTlsOptions } from "../shared/config/tls-files";
import {
  framingEndsConnection,
  hostLines,
  httpVersionProblem,
} from "../shared/protocol/http-version";
import { listenSimulator } from "../shared/runtime/simulator-server";
import { planCall, type CallPlan } from "./call-plan";
import { CallLog, type CallFilter, type CallStats, type RecordedCall } from "./call-log";
import { HookReceiver, type ReceivedHook } from "./hook-receiver";
import { applySettingsPatch, DEFAULT_SETTINGS, type LegacySimSettings } from "./sim-settings";
import { isMultipart, readMultipart, writeMultipart, type SimMultipart } from "./soap-attachments";
import {
  createSoapService,
  DEFAULT_SOAP_NAMESPACE,
  DEFAULT_SOAP_SERVICES,
  echoSoapHeader,
  soapFault,
  type SoapService,
} from "./soap-service";

export type { LegacySimSettings } from "./sim-settings";
export type { RecordedCall, CallStats, CallFilter } from "./call-log";
export type { ReceivedHook } from "./hook-receiver";
export { DEFAULT_SOAP_NAMESPACE } from "./soap-service";

export interface LegacySimOptions {
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  latencyMs?: number;
  jitterMs?: number;
  /** Calls in flight beyond this get 503 + `Retry-After: 1`; 0 or omitted = unlimited. */
  maxConcurrency?: number;
  /** Fraction (0..1) of calls answered 500. */
  errorRate?: number;
  /** SOAP operations offered at `/soap`; default testQuery and getState. */
  soapServices?: string[];
  /** Target namespace of the WSDL and of SOAP answers; default http://legacy.sluice.example/. */
  soapNamespace?: string;
  /** How many calls `/stats` remembers; default 100000. */
  callCapacity?: number;
  /**
   * Webhook secrets (`whsec_…`) the callback receiver on `/hooks/...` checks signatures with;
   * without any it accepts every callback unchecked.
   */
  hookSecrets?: readonly string[];
  /** Called for every callback received on `/hooks/...`. */
  onHook?: (hook: ReceivedHook) => void;
  /**
   * HTTPS instead of HTTP (for tests of Sluice's outbound TLS); with `ca`, callers must present
   * a client certificate issued by it.
   */
  tls?: { cert: string | Buffer; key: string | Buffer; ca?: string | Buffer };
  /** Keep each call's headers and body bytes in its record (tests; off for benchmarks). */
  recordDetails?: boolean;
  /**
   * Answer SOAP as an X-Road provider does: the request's Header fields echoed in the answer
   * (PR-MESS §2.2), which a security server checks. Off by default: a legacy system behind
   * Sluice answers without them.
   */
  soapEchoHeader?: boolean;
}

export interface LegacySim {
  /** Base URL, e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The current settings (a copy). */
  readonly settings: LegacySimSettings;
  /** Changes settings as `PUT /sim/settings` does; throws RangeError listing every problem. */
  update(patch: Partial<LegacySimSettings>): LegacySimSettings;
  /** Recorded calls, oldest first. */
  calls(filter?: CallFilter): RecordedCall[];
  /** What `GET /stats` answers. */
  stats(filter?: CallFilter): CallStats;
  /** Callbacks received on `/hooks/...`, oldest first (the latest 100). */
  hooks(): ReceivedHook[];
  /** What `DELETE /stats` does (it forgets received callbacks too). */
  reset(): void;
  /** Stops listening and drops open connections; waiting calls are released. */
  close(): Promise<void>;
}

const BODY_LIMIT = 1024 * 1024;
const FAIL_KEYS_LIMIT = 100_000;
const JSON_TYPE = "application/json; charset=utf-8";
const XML_TYPE = "text/xml; charset=utf-8";

type Headers = Record<string, string | number | string[]>;

function header(req: http.IncomingMessage, name: string): string | null {
  const value = req.headers[name];
  if (value === undefined) return null;
  return Array.isArray(value) ? value.join(", ") : value;
}

function sendJson(
  res: http.ServerResponse,
  status: number,
  value: unknown,
  headers: Headers = {},
): void {
  const text = JSON.stringify(value);
  // An X-Sim-Headers content type replaces the JSON one: a backend that labels its answer
  // otherwise (or names no charset) is what a test of the label needs.
  res.writeHead(status, {
    "content-type": JSON_TYPE,
    ...headers,
    "content-length": Buffer.byteLength(text),
  });
  res.end(text);
}

function parseQuery(search: string): Record<string, string | string[]> {
  const query: Record<string, string | string[]> = {};
  if (search === "") return query;
  for (const [key, value] of new URLSearchParams(search)) {
    const seen = query[key];
    if (seen === undefined) query[key] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else query[key] = [seen, value];
  }
  return query;
}

function validateOptions(options: LegacySimOptions): LegacySimSettings {
  const { latencyMs, jitterMs, maxConcurrency, errorRate } = options;
  const result = applySettingsPatch(DEFAULT_SETTINGS, {
    latencyMs,
    jitterMs,
    maxConcurrency,
    errorRate,
  });
  const problems = result.ok ? [] : result.problems;
  if (
    options.port !== undefined &&
    !(Number.isInteger(options.port) && options.port >= 0 && options.port < 65536)
  ) {
    problems.push("port must be an integer from 0 to 65535");
  }
  if (
    options.callCapacity !== undefined &&
    !(Number.isInteger(options.callCapacity) && options.callCapacity > 0)
  ) {
    problems.push("callCapacity must be a positive integer");
  }
  if (!result.ok || problems.length > 0) throw new RangeError(`legacy-sim: ${problems.join("; ")}`);
  return result.settings;
}

/** Starts the simulator and resolves once it listens. */
export async function startLegacySim(options: LegacySimOptions = {}): Promise<LegacySim> {
  let settings = validateOptions(options);
  const soapService: SoapService = await createSoapService(
    options.soapServices ?? DEFAULT_SOAP_SERVICES,
    options.soapNamespace ?? DEFAULT_SOAP_NAMESPACE,
  );
  const log = new CallLog(options.callCapacity);
  const hooks = new HookReceiver(options.hookSecrets ?? [], options.onHook);
  /** Calls seen per fail key, for X-Sim-Fail-Times. */
  const failCounts = new Map<string, number>();
  /** Calls waiting for `paused` to turn false. */
  let pausedWaiters: Array<() => void> = [];
  /** Latency timers in flight, released at close so nothing outlives the server. */
  const sleepers = new Set<() => void>();
  let closed = false;

  const update = (patch: unknown): { ok: true } | { ok: false; problems: string[] } => {
    const result = applySettingsPatch(settings, patch);
    if (!result.ok) return result;
    settings = result.settings;
    if (!settings.paused && pausedWaiters.length > 0) {
      const waiting = pausedWaiters;
      pausedWaiters = [];
      for (const resume of waiting) resume();
    }
    return { ok: true };
  };

  const sleep = (ms: number): Promise<void> =>
    new Promise((resolve) => {
      const wake = (): void => {
        clearTimeout(timer);
        sleepers.delete(wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      sleepers.add(wake);
    });

  const latencyFor = (plan: CallPlan): number => {
    if (plan.latencyMs !== null) return plan.latencyMs;
    const { latencyMs, jitterMs } = settings;
    if (jitterMs === 0) return latencyMs;
    return Math.max(0, latencyMs + (Math.random() * 2 - 1) * jitterMs);
  };

  /** True when this call is one of the first n with its key and must be answered 503. */
  const failsNow = (failTimes: number, key: string): boolean => {
    const seen = (failCounts.get(key) ?? 0) + 1;
    if (!failCounts.has(key) && failCounts.size >= FAIL_KEYS_LIMIT) {
      failCounts.delete(failCounts.keys().next().value as string);
    }
    failCounts.set(key, seen);
    return seen <= failTimes;
  };

  const serveCall = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    search: string,
    isSoap: boolean,
  ): Promise<void> => {
    const method = req.method ?? "GET";
    const call: RecordedCall = {
      id: header(req, "idempotency-key"),
      method,
      path,
      startedAt: Date.now(),
      endedAt: null,
      status: null,
      xroadClient: header(req, "x-road-client"),
    };
    if (options.recordDetails) call.headers = { ...req.headers };
    log.begin(call);
    let status = 500;
    try {
      // An error answer in the shape the caller's protocol expects.
      const fail = (code: number, message: string, headers: Headers = {}): void => {
        status = code;
        if (isSoap) {
          const body = soapFault(code < 500 ? "Client" : "Server", message);
          res.writeHead(code, {
            ...headers,
            "content-type": XML_TYPE,
            "content-length": Buffer.byteLength(body),
          });
          res.end(body);
        } else {
          sendJson(res, code, { error: message, status: code }, headers);
        }
      };

      if (settings.maxConcurrency > 0 && log.concurrency > settings.maxConcurrency) {
        return fail(503, "busy: too many calls in flight", { "retry-after": 1 });
      }
      let raw: Buffer;
      try {
        raw = await getRawBody(req, {
          limit: BODY_LIMIT,
          length: header(req, "content-length") ?? undefined,
        });
      } catch (error) {
        const tooLarge = (error as { type?: string }).type === "entity.too.large";
        return fail(
          tooLarge ? 413 : 400,
          tooLarge ? "body larger than 1 MB" : "could not read the request body",
          {
            connection: "close",
          },
        );
      }

      if (options.recordDetails) call.body = raw;
      let multipart: SimMultipart | null = null;
      if (isSoap && isMultipart(header(req, "content-type"))) {
        const read = await readMultipart(raw, header(req, "content-type") as string);
        if (typeof read === "string") return fail(400, read);
        multipart = read;
        if (options.recordDetails) call.parts = read.attachments;
      }
      const soapXml = multipart ? multipart.envelope : isSoap ? raw.toString("utf8") : null;
      const plan = planCall(req.headers, path, search, soapXml);
      if (typeof plan === "string") return fail(400, plan);

      if (settings.paused && !closed)
        await new Promise<void>((resume) => pausedWaiters.push(resume));
      const delay = latencyFor(plan);
      // A 0 ms backend answers in the same tick: no timer at all.
      if (delay > 0 && !closed) await sleep(delay);

      const extra: Headers = { ...plan.headers };
      if (plan.retryAfter !== null) extra["retry-after"] = plan.retryAfter;
      if (plan.status !== null && plan.status >= 300) {
        return fail(plan.status, `simulated status ${plan.status}`, extra);
      }
      if (plan.failTimes !== null && failsNow(plan.failTimes, call.id ?? `${method} ${path}`)) {
        return fail(503, "simulated transient failure", extra);
      }
      if (settings.errorRate > 0 && Math.random() < settings.errorRate) {
        return fail(500, "simulated failure", extra);
      }

      if (isSoap) {
        const answer = await soapService.process(soapXml ?? "");
        if (options.soapEchoHeader && answer.status < 300)
          answer.body = echoSoapHeader(soapXml ?? "", answer.body);
        if (call.xroadClient === null) call.xroadClient = answer.xroadClient;
        status = plan.status ?? answer.status;
        if (multipart && multipart.attachments.length > 0 && status < 300) {
          // Attachments come back as they came: the answer carries every one, bytes unchanged.
          const packed = writeMultipart(answer.body, multipart.attachments, multipart.mtom);
          res.writeHead(status, {
            ...extra,
            "content-type": packed.contentType,
            "content-length": packed.body.length,
          });
          res.end(packed.body);
          return;
        }
        res.writeHead(status, {
          ...extra,
          "content-type": XML_TYPE,
          "content-length": Buffer.byteLength(answer.body),
        });
        res.end(answer.body);
        return;
      }

      const contentType = header(req, "content-type");
      let received: unknown = null;
      let receivedText: string | undefined;
      if (raw.length > 0) {
        const text = raw.toString("utf8");
        if (contentType === null || /json/i.test(contentType)) {
          try {
            received = JSON.parse(text);
          } catch {
            return fail(400, "body is not valid JSON");
          }
        } else {
          receivedText = text;
        }
      }
      status = plan.status ?? 200;
      if (status === 204 || status === 205) {
        res.writeHead(status, extra);
        res.end();
        return;
      }
      const echo = {
        path,
        method,
        query: parseQuery(search),
        received,
        receivedText,
        answer: 42,
        idempotencyKey: call.id,
      };
      if (plan.responses !== null) {
        // Sluice's rest-json translator splits this into one response per entry, in order.
        const responses = Array.from({ length: plan.responses }, (_, i) => ({
          status,
          body: { ...echo, part: i + 1, parts: plan.responses },
        }));
        sendJson(res, status, { responses }, { ...extra, "x-multiple-responses": "true" });
        return;
      }
      sendJson(res, status, echo, extra);
    } catch {
      // Never let one odd call take the simulator down; answer what can still be answered.
      status = 500;
      if (!res.headersSent) sendJson(res, 500, { error: "internal simulator error", status: 500 });
      else res.destroy();
    } finally {
      log.finish(call, status);
    }
  };

  const serveControl = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
    search: string,
  ): Promise<void> => {
    const method = req.method ?? "GET";
    if (path === "/sim/settings") {
      if (method === "GET") return sendJson(res, 200, settings);
      if (method !== "PUT" && method !== "PATCH")
        return sendJson(res, 405, { error: "use GET or PUT" }, { allow: "GET, PUT" });
      let patch: unknown;
      try {
        patch = JSON.parse(
          (await getRawBody(req, { limit: 64 * 1024, encoding: "utf8" })) || "null",
        );
      } catch {
        return sendJson(res, 400, { error: "settings must be a JSON object" });
      }
      const result = update(patch);
      if (!result.ok)
        return sendJson(res, 400, { error: "invalid settings", problems: result.problems });
      return sendJson(res, 200, settings);
    }
    if (path === "/stats") {
      if (method === "DELETE") {
        log.reset();
        hooks.reset();
        failCounts.clear();
        res.writeHead(204);
        return void res.end();
      }
      if (method !== "GET")
        return sendJson(res, 405, { error: "use GET or DELETE" }, { allow: "GET, DELETE" });
      const query = new URLSearchParams(search);
      const filter: CallFilter = {};
      if (query.has("id")) filter.id = query.get("id") ?? undefined;
      const since = Number(query.get("since") ?? NaN);
      if (Number.isFinite(since)) filter.since = since;
      const limit = Number(query.get("limit") ?? NaN);
      if (Number.isInteger(limit) && limit >= 0) filter.limit = limit;
      // Recorded bytes stay in process (LegacySim.calls()); the JSON keeps the headers only.
      const stats = log.stats(filter);
      const calls = stats.calls.map(({ body: _body, parts: _parts, ...call }) => call);
      return sendJson(res, 200, { ...stats, calls });
    }
    return sendJson(res, 404, { error: `no control endpoint ${path}` });
  };

  /** A callback from Sluice: not a call of the legacy system, so never delayed or counted. */
  const serveHook = async (
    req: http.IncomingMessage,
    res: http.ServerResponse,
    path: string,
  ): Promise<void> => {
    if (req.method === "GET" && (path === "/hooks" || path === "/hooks/")) {
      return sendJson(res, 200, { received: hooks.list() });
    }
    if (req.method !== "POST") {
      return sendJson(
        res,
        405,
        { error: "POST a callback to /hooks/<anything>, or GET /hooks" },
        { allow: "GET, POST" },
      );
    }
    let body: Buffer;
    try {
      body = await getRawBody(req, {
        limit: BODY_LIMIT,
        length: header(req, "content-length") ?? undefined,
      });
    } catch {
      return sendJson(res, 413, { error: "body larger than 1 MB" }, { connection: "close" });
    }
    const { status, hook } = hooks.receive(path, req.headers, body, Date.now());
    sendJson(res, status, { received: status === 200, signature: hook.signature });
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse): void => {
    // Node's parser reads a request line of HTTP/2.0 or HTTP/0.9 (or none) as HTTP/1.x and
    // served it, a POST taken on a kept connection; an HTTP/1.1 server answers 505 and closes.
    const version = httpVersionProblem(req);
    if (version !== null) {
      req.resume();
      sendJson(res, 505, { error: version }, { connection: "close" });
      return;
    }
    // RFC 9112 §6.1: an HTTP/1.0 request with a Transfer-Encoding has faulty framing, and the
    // connection ends with its answer. Node read it chunked and, with keep-alive, read the
    // bytes after it as the next request.
    if (framingEndsConnection(req)) res.setHeader("connection", "close");
    // RFC 9112 §3.2: more than one Host line is 400. Node kept the first and served it.
    if (hostLines(req) > 1) {
      req.resume();
      sendJson(res, 400, { error: "more than one Host header" }, { connection: "close" });
      return;
    }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q < 0 ? url : url.slice(0, q);
    const search = q < 0 ? "" : url.slice(q + 1);
    if (path === "/stats" || path === "/sim" || path.startsWith("/sim/")) {
      serveControl(req, res, path, search).catch(() => res.destroy());
      return;
    }
    if (path === "/hooks" || path.startsWith("/hooks/")) {
      serveHook(req, res, path).catch(() => res.destroy());
      return;
    }
    const isSoap = path === "/soap" || path === "/soap/";
    if (isSoap && req.method !== "POST") {
      // Fetching the WSDL is not a call of the legacy system: not recorded, not delayed.
      if (req.method === "GET" && /^wsdl\b/i.test(search)) {
        // A relative address, resolved by the reader against where it read the WSDL: never the
        // request's Host, which is whatever the caller wrote (and the listening host may be
        // 0.0.0.0, an address no client can call).
        const body = soapService.wsdl("/soap");
        res.writeHead(200, { "content-type": XML_TYPE, "content-length": Buffer.byteLength(body) });
        res.end(body);
        return;
      }
      sendJson(
        res,
        405,
        { error: "POST a SOAP request, or GET /soap?wsdl" },
        { allow: "GET, POST" },
      );
      return;
    }
    void serveCall(req, res, path, search, isSoap);
  };
  const { tls } = options;
  const server = tls
    ? https.createServer(
        serverTlsOptions({ cert: tls.cert, key: tls.key, clientCa: tls.ca || undefined }),
        handler,
      )
    : http.createServer(handler);
  // Every header line kept, bounded by the head's size (16 KiB) alone: past Node's default
  // 2 000, lines were dropped unseen, and a second Host after 2 000 others was served.
  server.maxHeadersCount = 0;
  const { url, port } = await listenSimulator(server, options);

  return {
    url,
    port,
    get settings() {
      return { ...settings };
    },
    update(patch) {
      const result = update(patch);
      if (!result.ok) throw new RangeError(`legacy-sim: ${result.problems.join("; ")}`);
      return { ...settings };
    },
    calls: (filter) => log.calls(filter),
    stats: (filter) => log.stats(filter),
    hooks: () => hooks.list(),
    reset() {
      log.reset();
      hooks.reset();
      failCounts.clear();
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      return new Promise<void>((resolve) => {
        server.close(() => resolve());
        // Release waiting calls so their handlers finish; their sockets are gone anyway.
        for (const resume of pausedWaiters) resume();
        pausedWaiters = [];
        for (const wake of [...sleepers]) wake();
        server.closeAllConnections();
      });
    },
  };
}
