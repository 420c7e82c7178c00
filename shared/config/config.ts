// The one configuration object of every role: YAML (or JSON) as the operator writes it,
// validated with every problem listed at once, then compiled into typed form with defaults.

import { readFileSync } from "node:fs";
import { createSecureContext } from "node:tls";
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import path from "node:path";
import { CST, Lexer, parse as parseYaml } from "yaml";
import {
  amqpUrls,
  DEFAULT_AMQP_URL,
  DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  DEFAULT_REDIS_URL,
  publishedPasswordProblems,
  redisTarget,
} from "./connection-urls";
import { parseDuration } from "./durations";
import { MAX_CONFIG_FILE_BYTES, readBoundedFile, UnreadableFile } from "./bounded-file";
import type { ReplyMode } from "../protocol/envelope";
import { problemPath, schemaProblems } from "./config-schema";
import { RESPONSES_DEAD_LETTER_SOURCE } from "../protocol/names";
import { suggestion } from "./did-you-mean";
import { compileServiceWindows } from "./service-windows";
import { XROAD_ID_PART, XROAD_ID_PART_PROBLEM } from "../protocol/xroad-id";
import { tlsFilesOrNull, type TlsFiles } from "./tls-files";
import { hideUrlPassword } from "../observability/url-passwords";
import { allowlistProblems } from "../delivery/callback-target";
import {
  DEFAULT_AMQP_CONSUMER_TIMEOUT_MS,
  unacknowledgedHoldProblems,
} from "./unacknowledged-hold";
import { withoutTrailingSlashes } from "../protocol/trailing-slashes";
import { clipText } from "../protocol/clip-text";
import { envSecretSource, readEnvSecret } from "./secret-env";
import { servedName } from "../runtime/served-hosts";

/** The shortest in-flight slot lease (a backend's leaseTime, SLUICE_LEASE_TIME). */
const MIN_LEASE_MS = 1_000;
/**
 * The longest: a crashed worker's slot stays taken that long, and a live one renews it every
 * third on a timer, which Node fires at once past 24.8 days.
 */
const MAX_LEASE_MS = 86_400_000;
/**
 * The longest duration anything in the configuration may be. Longer ones were taken, then
 * refused by the broker as a queue's TTL (a retry backoff of 100 000 days: the role retried its
 * declaration for ever, never ready) or by Redis as a key's expiry.
 */
const MAX_DURATION = "3650d";
const MAX_DURATION_MS = 3650 * 86_400_000;
/**
 * The longest wait a Node.js timer takes (2^31 - 1 ms, about 24.8 days): a longer one fires
 * after 1 ms instead, so a timeout or grace time past it would end every wait at once.
 */
const MAX_TIMER_MS = 24 * 86_400_000;
const TIMER_TOO_LONG =
  "must be at most 24d (a longer wait is more than a timer holds, and would end at once)";

/**
 * The shortest `shutdown.grace`: a shorter one (`0` above all) cuts off at once every call in
 * flight at a SIGTERM, and the next worker makes each again; a rolling restart would then call
 * every busy backend twice by design, not by chance.
 */
const MIN_SHUTDOWN_GRACE_MS = 1_000;
const GRACE_TOO_SHORT =
  "must be at least 1s (a shorter grace cuts off every call in flight at once at a SIGTERM, and the next worker makes each again)";

/** Connections `adapter.maxConnections` allows beyond `maxSyncWaiters` unless it is set. */
export const SPARE_CONNECTIONS = 1_000;

/** The status service's name (`xroad.statusService`) when none is configured. */
export const DEFAULT_STATUS_SERVICE = "messages";

export type Ordering = "none" | "strict" | { key: string; partitions: number };

export interface ServiceConfig {
  code: string;
  protocols: Array<"soap" | "rest">;
  /** Compiled by the adapter with ajv; null = any body. */
  schema: object | null;
  reply: { mode: ReplyMode; waitMs: number; maxWaitMs: number };
  /** Default callback target for `callback` mode when the caller names none. */
  callback: string | null;
  backend: string;
  allowedClients: string[] | null;
  expireAfterMs: number | null;
  maxBodyBytes: number;
  /** Media types passed through as bytes besides JSON (REST) or XML (SOAP). */
  contentTypes: string[];
  /** SOAP: whether SwA/MTOM attachments are accepted. */
  attachments: boolean;
  /** SOAP: target namespace used in the WSDL. */
  namespace: string | null;
  /**
   * Consumer direction (docs/consumer.md): the X-Road client a local caller without `X-Road-Client`
   * is taken for, and the one named towards a remote service; null: securityServer.client.
   */
  client: string | null;
}

export interface BackendConfig {
  name: string;
  translator: string;
  url: string;
  /** xroad-rest / xroad-soap: the remote service `INSTANCE/CLASS/MEMBER/SUBSYSTEM/CODE[/VERSION]`. */
  service?: string | null;
  /** `guardMs`: how late after its grant a call may reach the backend (default 25 ms). */
  rate: { limit: number; perMs: number; burst: number; guardMs?: number } | null;
  maxInFlight: number;
  /** How long a crashed worker's in-flight slot stays taken (null: SLUICE_LEASE_TIME or 30 s). */
  leaseMs?: number | null;
  timeoutMs: number;
  retry: { attempts: number; backoffMs: number[] };
  ordering: Ordering;
  /**
   * `clientShare`: past this fraction of highWater, a client with more than this fraction of
   * the backend's recent intake is refused while others call (adapter/client-shares.ts).
   */
  queue: { highWater: number; maxLength: number; clientShare: number };
  windows: unknown[];
  options: Record<string, unknown>;
  /** Outbound TLS towards the backend: CA to verify it, Sluice's client certificate. */
  tls?: TlsFiles | null;
}

export interface CallbackConfig {
  allow: string[];
  /**
   * Each X-Road client's own receivers (member or subsystem id → entries as in `allow`): a
   * target one of them admits is for that client's messages only. Empty: every target of
   * `allow` serves every client.
   */
  clients: Record<string, string[]>;
  allowPrivate: boolean;
  allowHttp: boolean;
  /** Signing secrets (`whsec_...`); the first signs, all are sent during rotation. */
  secrets: string[];
  backoffMs: number[];
  timeoutMs: number;
  /** Delivery attempts one response worker makes at once to one receiver. */
  maxPerTarget: number;
  /** Records `callbacks.dead` keeps, the newest (its records also expire with `retention`). */
  deadMaxLength: number;
}

export interface SluiceConfig {
  /** File the configuration came from; relative paths resolve against its directory. */
  baseDir: string;
  /**
   * The variables of the file's `${NAME}`s that the file NAME_FILE names gave (referenceEnv):
   * the start warns of one every user may read. Absent for a configuration given inline.
   */
  referenceFiles?: string[];
  /**
   * The instance's name in logs and traces: SLUICE_INSTANCE (Kubernetes sets the pod name),
   * else the configuration's `instance`, else the host name.
   */
  instance: string;
  /** Unique to this process (reply queue, in-flight leases): the name plus a random suffix. */
  instanceId: string;
  /** Namespace for every exchange, queue and Redis key; "" in production, unique in tests. */
  prefix: string;
  /** The broker's nodes: the connection fails over between them. */
  amqpUrls: string[];
  /** `amqpTls`: the CA to verify the broker with, and Sluice's client certificate (amqps://). */
  amqpTls: TlsFiles | null;
  /**
   * The broker's `consumer_timeout`: no backend's configuration may let a worker hold a message
   * unacknowledged that long (shared/config/unacknowledged-hold.ts).
   */
  amqpConsumerTimeoutMs: number;
  /**
   * The broker's `max_message_size`: a backend's answer whose response message would be larger
   * fails its call without retry, and a larger callback or hub event job ends as a `too_large`
   * dead callback, instead of having the broker close the channel over it.
   */
  amqpMaxMessageBytes: number;
  /** `redis://…`, or `redis-sentinel://…` naming the sentinels and the master. */
  redisUrl: string;
  /**
   * `redisTls`: the CA to verify Redis with, and Sluice's client certificate (rediss://; with
   * a Sentinel URL, it turns TLS on to the sentinels and the master).
   */
  redisTls: TlsFiles | null;
  /**
   * How long a Redis command may wait for its answer (subscriptions excepted): a silent Redis
   * (a partition, a frozen server) fails requests with 503 instead of holding them.
   */
  redisCommandTimeoutMs: number;
  adapter: {
    host: string;
    port: number;
    maxSyncWaiters: number;
    publishTimeoutMs: number;
    /** A turn of the event loop longer than this refuses the bodies it would read (0: off). */
    maxLoopStallMs: number;
    /** Depth of JSON nesting accepted in request bodies. */
    maxJsonDepth: number;
    /** Limits of SOAP (XML) request bodies and of the XML answers SOAP callers get, checked as read. */
    xml: {
      maxDepth: number;
      /** Attributes (namespace declarations included) on one element. */
      maxAttributesPerElement: number;
      /** Attributes in the whole document. */
      maxAttributes: number;
      /** Namespace declarations in the whole document. */
      maxNamespaceDeclarations: number;
      /** Elements in the whole document. */
      maxElements: number;
    };
    /** Request header lines accepted; more is 431 (Node would silently drop them). */
    maxHeaders: number;
    /** How long a client may take to send its request headers. */
    headersTimeoutMs: number;
    /** How long a client may take to send its whole request (headers and body); then 408. */
    requestTimeoutMs: number;
    /** Open connections on the service port; more are closed at once. */
    maxConnections: number;
    /**
     * HTTPS on the service port; with `clientCa` or `clientCerts` a client certificate is
     * required, with `clientCerts` one of those exactly.
     */
    tls: TlsFiles | null;
    /** Plain HTTP beyond loopback is intended: not warned of (config-warnings.ts). */
    plainHttp: boolean;
    /**
     * Where the security server reaches the service port (`https://sluice.internal:8443`, no
     * trailing slash): the base of the service URLs in the OpenAPI and WSDL documents. null:
     * the documents name relative URLs (docs/xroad-deployment.md §2).
     */
    publicUrl: string | null;
    /**
     * Names the service port answers to (lower case, no trailing dot), besides IP literals and
     * publicUrl's host; null: any (on loopback, loopback names and publicUrl's host).
     */
    hosts: string[] | null;
    /**
     * HTTP status of the SOAP faults Server.Busy and Server.Unavailable: 503 (with Retry-After),
     * or 500, which a security server passes on (it reads a SOAP answer only with 200 or 500).
     */
    soapBusyStatus: 503 | 500;
  };
  admin: {
    host: string;
    /** Names the port answers to besides IP literals (loopback names on loopback); null: any. */
    hosts: string[] | null;
    port: number;
    /** Bearer token of the operator endpoints; null = they are not served. */
    token: string | null;
  };
  retentionMs: number;
  shutdownGraceMs: number;
  /**
   * How long an adapter keeps serving after SIGTERM, not ready, before its drain: load
   * balancers take it out of rotation on /readyz, which they poll.
   */
  shutdownDelayMs: number;
  services: Record<string, ServiceConfig>;
  backends: Record<string, BackendConfig>;
  /**
   * The backends a worker process consumes (`sluice worker --backends a,b`), so each backend
   * can have its own pool of workers, scaled on its own queue; null: all of them.
   */
  workerBackends: string[] | null;
  callbacks: CallbackConfig;
  securityServer: { url: string; client: string; tls: TlsFiles | null } | null;
  /** How Sluice is registered in its security server (docs/xroad-deployment.md). */
  xroad: {
    statusService: string;
    /** The provider subsystem (or member) the REST services are registered under, or null. */
    provider: string | null;
  };
  legacySim: {
    host: string;
    port: number;
    latencyMs: number;
    jitterMs: number;
    maxConcurrency: number;
    errorRate: number;
  };
}

export class ConfigError extends Error {
  readonly problems: string[];
  /** What could be compiled despite the problems, so a check can look further (translators, schemas). */
  readonly partial: SluiceConfig | null;
  constructor(source: string, problems: string[], partial: SluiceConfig | null = null) {
    super(`invalid configuration ${source}:\n  - ${problems.join("\n  - ")}`);
    this.name = "ConfigError";
    this.problems = problems;
    this.partial = partial;
  }
}

const SIZE = /^(\d+)\s*(b|kb|mb|gb)?$/i;
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };

function parseSize(value: unknown): number | undefined {
  if (typeof value === "number") return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== "string") return undefined;
  const match = SIZE.exec(value.trim());
  if (!match) return undefined;
  return Number(match[1]) * SIZE_UNITS[(match[2] ?? "b").toLowerCase()];
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * Reads one raw object into typed values with defaults. The JSON Schema has already judged the
 * shape (shared/config-schema.ts), so a value of the wrong kind falls back to its default
 * silently; only cross-field rules push problems here.
 */
class Reader {
  constructor(
    readonly problems: string[],
    readonly where: string,
    readonly raw: Raw,
  ) {}

  at(key: string): Reader {
    const value = this.raw[key];
    return new Reader(this.problems, `${this.where}.${key}`, isObject(value) ? value : {});
  }

  has(key: string): boolean {
    return this.raw[key] !== undefined && this.raw[key] !== null;
  }

  string(key: string, fallback = ""): string {
    const value = this.raw[key];
    return typeof value === "string" && value !== "" ? value : fallback;
  }

  int(key: string, fallback: number): number {
    const value = this.raw[key];
    return typeof value === "number" && Number.isInteger(value) ? value : fallback;
  }

  number(key: string, fallback: number): number {
    const value = this.raw[key];
    return typeof value === "number" && Number.isFinite(value) ? value : fallback;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    return typeof value === "boolean" ? value : fallback;
  }

  duration(key: string, fallback: number): number {
    const ms = parseDuration(this.raw[key]);
    return ms !== undefined && this.withinLongest(key, ms) ? ms : fallback;
  }

  /** A duration `acceptable` takes; else `why` is its problem, and `fallback` stands for it. */
  checkedDuration(
    key: string,
    fallback: number,
    acceptable: (ms: number) => boolean,
    why: string | ((ms: number) => string),
  ): number {
    const ms = this.duration(key, fallback);
    if (acceptable(ms)) return ms;
    this.problems.push(`${this.where}.${key}: ${typeof why === "string" ? why : why(ms)}`);
    return fallback;
  }

  /**
   * A duration that bounds a wait: `0` would not mean "no limit" but give up at once, failing
   * every call, publish or delivery it bounds, so it is refused; so is one past a timer's reach.
   */
  positiveDuration(key: string, fallback: number): number {
    return this.checkedDuration(
      key,
      fallback,
      (ms) => ms > 0 && ms <= MAX_TIMER_MS,
      (ms) =>
        ms <= 0
          ? "must be longer than 0 (it bounds a wait, and 0 would end every one at once)"
          : TIMER_TOO_LONG,
    );
  }

  /** Null when absent, or too long (its problem noted once, not made a second one). */
  optionalDuration(key: string): number | null {
    if (!this.has(key)) return null;
    const ms = parseDuration(this.raw[key]) ?? 0;
    return this.withinLongest(key, ms) ? ms : null;
  }

  private withinLongest(key: string, ms: number): boolean {
    if (ms <= MAX_DURATION_MS) return true;
    this.problems.push(`${this.where}.${key}: must be at most ${MAX_DURATION}`);
    return false;
  }

  size(key: string, fallback: number): number {
    const bytes = parseSize(this.raw[key]);
    // `0kb` passes the schema's pattern, as `0` does not its minimum: both are no size.
    if (bytes === 0) this.problems.push(`${this.where}.${key}: must be at least 1 byte`);
    return bytes || fallback;
  }

  /**
   * A `tls: { cert, key, ca, clientCa, clientCerts, crl }` block (or one of another name, `block`):
   * paths resolved against `baseDir`.
   */
  tls(baseDir: string, withClientCa: boolean, block = "tls"): TlsFiles | null {
    if (!this.has(block)) return null;
    const t = this.at(block);
    const file = (key: string): string | null =>
      t.has(key) ? path.resolve(baseDir, t.string(key)) : null;
    const files = (key: string): string[] => {
      const value = t.raw[key];
      const list = typeof value === "string" ? [value] : (t.stringList(key) ?? []);
      return list.map((f) => path.resolve(baseDir, f));
    };
    const result: TlsFiles = { cert: file("cert"), key: file("key"), ca: files("ca") };
    if (withClientCa) {
      result.clientCa = files("clientCa");
      result.clientCerts = files("clientCerts");
    }
    const crl = files("crl");
    if (crl.length > 0) {
      result.crl = crl;
      // Checking a chain against lists means every CA of it needs its list: against Node's
      // public CAs, whose lists nobody names, every certificate would be refused.
      const anchors = withClientCa ? "clientCa" : "ca";
      if ((withClientCa ? result.clientCa : result.ca)?.length === 0) {
        t.problems.push(
          `${t.where}.crl: needs ${anchors}, the CA(s) whose revocation lists these are`,
        );
      }
    }
    if ((result.cert === null) !== (result.key === null)) {
      t.problems.push(`${t.where}: cert and key go together`);
    }
    if (!withClientCa && t.has("ciphers")) {
      result.ciphers = t.string("ciphers");
      // OpenSSL refuses a list naming no suite it knows only when a connection is made.
      try {
        createSecureContext({ ciphers: result.ciphers });
      } catch {
        t.problems.push(`${t.where}.ciphers: names no cipher suite OpenSSL knows`);
      }
    }
    return tlsFilesOrNull(result);
  }

  stringList(key: string): string[] | null {
    const value = this.raw[key];
    if (!Array.isArray(value)) return null;
    return value.filter((item): item is string => typeof item === "string" && item !== "");
  }

  durationList(key: string, fallback: number[]): number[] {
    const value = this.raw[key];
    if (!Array.isArray(value) || value.length === 0) return fallback;
    const parsed = value.map(parseDuration);
    if (parsed.some((ms) => ms === undefined)) return fallback;
    if (parsed.some((ms) => (ms as number) > MAX_DURATION_MS)) {
      this.problems.push(`${this.where}.${key}: each step must be at most ${MAX_DURATION}`);
      return fallback;
    }
    return parsed as number[];
  }
}

const REPLY_MODES: ReplyMode[] = ["sync", "ack", "callback"];
export const DEFAULT_CALLBACK_BACKOFF_MS = [
  5_000, 300_000, 1_800_000, 7_200_000, 18_000_000, 36_000_000,
];
/**
 * Delivery attempts at once to one receiver, of a response worker's 16: a hanging receiver
 * holds a quarter of them, a healthy one still gets several in parallel.
 */
export const DEFAULT_CALLBACK_MAX_PER_TARGET = 4;
/** A backend's `queue.clientShare`: one client may fill half its backlog while others call. */
export const DEFAULT_CLIENT_SHARE = 0.5;
/** The built-in translators, whose `options.headers` are sent as they stand on every call. */
const HEADER_SENDING_TRANSLATORS = ["rest-json", "soap", "xroad-rest", "xroad-soap"];
/** An HTTP header name (RFC 9110 token). */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** What no header value may hold, as undici (the HTTP client) refuses it: controls other than tab. */
const HEADER_VALUE_REFUSED = /[^\t\x20-\x7e\x80-\xff]/;

/**
 * A backend's `options`, its `headers` checked: a name with a space or a value with a line
 * break passed the check, every role started, and undici refused each call ("invalid header"),
 * dead-lettering every message. The value is never repeated: it is usually a credential.
 */
function compileOptions(r: Reader, translator: string): Record<string, unknown> {
  const options = isObject(r.raw.options) ? r.raw.options : {};
  const headers = options.headers;
  if (!HEADER_SENDING_TRANSLATORS.includes(translator) || !isObject(headers)) return options;
  for (const [name, value] of Object.entries(headers)) {
    const where = `${r.where}.options.headers.${name}`;
    if (!HEADER_NAME.test(name)) {
      r.problems.push(
        `${where}: not an HTTP header name (letters, digits and !#$%&'*+-.^_\`|~, no space or colon)`,
      );
    } else if (typeof value === "string" && HEADER_VALUE_REFUSED.test(value)) {
      r.problems.push(
        `${where}: its value holds a line break, another control character or a character beyond Latin-1, which no HTTP header can carry`,
      );
    }
  }
  return options;
}

/** `hosts` of a port, as a Host header is compared (the schema has judged each name). */
function hostNames(section: Reader): string[] | null {
  return section.stringList("hosts")?.map(servedName) ?? null;
}

/** `callbacks.allow`, each entry one a target can match (the schema has judged the list's shape). */
function compileAllowlist(callbacks: Reader): string[] {
  const allow = callbacks.stringList("allow") ?? [];
  if (Array.isArray(callbacks.raw.allow)) {
    callbacks.problems.push(...allowlistProblems(callbacks.raw.allow, `${callbacks.where}.allow`));
  }
  return allow;
}

/**
 * `callbacks.clients`, each client's own entries (the schema has judged the ids and the lists'
 * shape), with the same check of each entry as `callbacks.allow`'s.
 */
function compileClientAllowlists(callbacks: Reader): Record<string, string[]> {
  const clients = callbacks.at("clients");
  const compiled: Record<string, string[]> = {};
  for (const [client, allow] of Object.entries(clients.raw)) {
    const where = `${clients.where}.${client}`;
    callbacks.problems.push(...allowlistProblems(allow, where));
    if (Array.isArray(allow)) {
      compiled[client] = allow.filter((entry): entry is string => typeof entry === "string");
    }
  }
  return compiled;
}

/**
 * The shortest `retention`: a message's record (its state, its answer, what its worker and its
 * callbacks read) expires after it, so `retention: 0` deleted each record as it was written and
 * a caller polled 404 for a message just accepted; anything under an hour loses messages that
 * are still queued, retried or being called back.
 */
export const MIN_RETENTION_MS = 3_600_000;

function compileRetention(root: Reader): number {
  return root.checkedDuration(
    "retention",
    DEFAULT_RETENTION_MS,
    (ms) => ms >= MIN_RETENTION_MS,
    "must be at least 1h: a message's record (its state and answer) is deleted once retention has passed, even while the message is still queued, retried or called back",
  );
}

/** RabbitMQ 4's default `max_message_size` (3.x allows 128 MiB): what any supported broker takes. */
export const DEFAULT_AMQP_MAX_MESSAGE_BYTES = 16 * 1024 * 1024;
/** The least `amqpMaxMessageSize` taken: a response message's envelope has room, and an answer. */
export const MIN_AMQP_MAX_MESSAGE_BYTES = 64 * 1024;
/** Records `callbacks.dead` keeps: the newest, enough for a long outage's failures. */
export const DEFAULT_CALLBACK_DEAD_MAX_LENGTH = 100_000;
/** How long transaction records (and dead-callback records) are kept. */
export const DEFAULT_RETENTION_MS = 7 * 86_400_000;

function readSchema(r: Reader, baseDir: string): object | null {
  const value = r.raw.schema;
  if (isObject(value)) return value;
  if (typeof value !== "string" || value === "") return null;
  const file = path.resolve(baseDir, value);
  try {
    const text = readBoundedFile(file, MAX_CONFIG_FILE_BYTES).toString("utf8");
    const parsed: unknown = file.endsWith(".json") ? JSON.parse(text) : parseYaml(text);
    if (!isObject(parsed)) throw new Error("not a JSON Schema object");
    return parsed;
  } catch (error) {
    r.problems.push(`${r.where}.schema: cannot read ${file}: ${(error as Error).message}`);
    return null;
  }
}

function compileService(r: Reader, code: string, baseDir: string): ServiceConfig {
  const protocols = (r.stringList("protocols") ?? ["rest"]).filter(
    (p): p is "soap" | "rest" => p === "soap" || p === "rest",
  );
  const reply = r.at("reply");
  const rawMode = reply.string("mode", "ack") as ReplyMode;
  const mode = REPLY_MODES.includes(rawMode) ? rawMode : "ack";
  const waitMs = reply.duration("wait", 10_000);
  // Under a security server's default 30 s timeout, so a wait that ends still reaches the caller.
  const maxWaitMs = reply.duration("maxWait", Math.max(waitMs, 25_000));
  if (maxWaitMs < waitMs) r.problems.push(`${reply.where}.maxWait: must not be shorter than wait`);
  if (maxWaitMs > 300_000) r.problems.push(`${reply.where}.maxWait: at most 5m`);
  return {
    code,
    protocols: protocols.length ? protocols : ["rest"],
    schema: readSchema(r, baseDir),
    reply: { mode, waitMs, maxWaitMs },
    callback: r.has("callback") ? r.string("callback") : null,
    backend: r.string("backend"),
    allowedClients: r.stringList("allowedClients"),
    expireAfterMs: r.optionalDuration("expireAfter"),
    maxBodyBytes: r.size("maxBodySize", 1024 * 1024),
    contentTypes: (r.stringList("contentTypes") ?? []).map((type) => type.toLowerCase()),
    attachments: r.bool("attachments", false),
    namespace: r.has("namespace") ? r.string("namespace") : null,
    client: r.has("client") ? r.string("client") : null,
  };
}

function compileOrdering(r: Reader): Ordering {
  const value = r.raw.ordering;
  if (value === "strict") return "strict";
  if (isObject(value)) {
    const o = r.at("ordering");
    return { key: o.string("key", "client"), partitions: Math.max(1, o.int("partitions", 1)) };
  }
  return "none";
}

function compileBackend(r: Reader, name: string, baseDir: string): BackendConfig {
  let rate: BackendConfig["rate"] = null;
  if (r.has("rate")) {
    const rr = r.at("rate");
    rate = {
      limit: rr.number("limit", 1),
      perMs: rr.duration("per", 1000),
      burst: rr.int("burst", 0),
      ...(rr.has("guard") ? { guardMs: rr.duration("guard", 25) } : {}),
    };
    if (rate.perMs <= 0) rr.problems.push(`${rr.where}.per: must be longer than 0`);
    if (rate.guardMs !== undefined && rate.guardMs > rate.perMs / 2) {
      rr.problems.push(`${rr.where}.guard: at most half of per`);
    }
  }
  const retry = r.at("retry");
  const attempts = retry.int("attempts", 5);
  const backoffMs = retry.durationList("backoff", [1_000, 5_000, 30_000, 120_000, 600_000]);
  const queue = r.at("queue");
  const highWater = queue.int("highWater", 10_000);
  const maxLength = queue.int("maxLength", 100_000);
  const clientShare = queue.number("clientShare", DEFAULT_CLIENT_SHARE);
  if (maxLength < highWater)
    queue.problems.push(`${queue.where}.maxLength: must be at least highWater`);
  const windows = r.raw.windows;
  r.problems.push(...compileServiceWindows(windows, `${r.where}.windows`).problems);
  const leaseMs = r.optionalDuration("leaseTime");
  // Renewed every third of the lease (at most every 50 ms): a shorter one lapses between
  // renewals, and another worker takes the slot past maxInFlight.
  if (leaseMs !== null && (leaseMs < MIN_LEASE_MS || leaseMs > MAX_LEASE_MS)) {
    r.problems.push(
      `${r.where}.leaseTime: must be between 1s and 1d (a live worker renews its slot every third of it)`,
    );
  }
  const translator = r.string("translator", "rest-json");
  return {
    name,
    translator,
    url: r.string("url"),
    service: r.has("service") ? r.string("service") : null,
    rate,
    maxInFlight: r.int("maxInFlight", 8),
    leaseMs,
    timeoutMs: r.positiveDuration(
      "timeout",
      XROAD_TRANSLATORS.includes(translator) ? XROAD_BACKEND_TIMEOUT_MS : 30_000,
    ),
    retry: { attempts, backoffMs },
    ordering: compileOrdering(r),
    queue: { highWater, maxLength, clientShare },
    windows: Array.isArray(windows) ? windows : [],
    options: compileOptions(r, translator),
    tls: r.tls(baseDir, false),
  };
}

/**
 * Certificates given for a destination reached over plain HTTP would never be used: the
 * operator meant TLS (a client certificate, a private CA), and the calls went out in clear.
 */
function unusedTlsProblems(
  backends: Record<string, BackendConfig>,
  securityServer: SluiceConfig["securityServer"],
): string[] {
  const unused = (where: string, url: string, tls: TlsFiles | null | undefined): string[] =>
    tls && /^http:\/\//i.test(url)
      ? [
          `${where}.tls: the url is http://, so these certificates would never be used; use https://`,
        ]
      : [];
  return [
    ...Object.values(backends).flatMap((b) => unused(`config.backends.${b.name}`, b.url, b.tls)),
    ...(securityServer === null
      ? []
      : unused("config.securityServer", securityServer.url, securityServer.tls)),
  ];
}

/**
 * Certificates for RabbitMQ or Redis reached without TLS would never be used, as for a backend:
 * the operator meant TLS (a client certificate the broker requires), and the connection would
 * go out in clear. A Sentinel URL has no TLS scheme: `redisTls` is what turns TLS on there.
 */
function plainConnectionTlsProblems(
  amqpUrls: string[],
  redisUrl: string,
  amqpTls: TlsFiles | null,
  redisTls: TlsFiles | null,
): string[] {
  const problems: string[] = [];
  const plain = amqpUrls.filter((url) => /^amqp:\/\//i.test(url));
  if (amqpTls && plain.length > 0) {
    problems.push(
      `config.amqpTls: ${plain.map((url) => `"${hideUrlPassword(url)}"`).join(", ")} is amqp://, so these certificates would never be used; use amqps://`,
    );
  }
  if (redisTls && /^redis:\/\//i.test(redisUrl)) {
    problems.push(
      `config.redisTls: "${hideUrlPassword(redisUrl)}" is redis://, so these certificates would never be used; use rediss://`,
    );
  }
  return problems;
}

/** Translators that call a remote X-Road service through the local security server (§9). */
export const XROAD_TRANSLATORS = ["xroad-rest", "xroad-soap"];

/** Translators that send a REST caller's XML body as the element of a SOAP Body. */
export const SOAP_BODY_TRANSLATORS = ["soap", "xroad-soap"];

/**
 * A remote service's default timeout: longer than the X-Road chain waits with its defaults, so
 * that Sluice never gives up, and calls the other organisation's service again, while the
 * security servers may still bring the first call's answer. The local security server gives
 * the remote one 30 s to connect (proxy `client-timeout`) and then waits for the answer without
 * limit (`client-httpclient-timeout` 0, X-Road's SystemProperties and ClientProxy); the remote
 * one waits on its provider the service's Timeout (s), 60 s on every service it adds
 * (ServiceDescriptionService.DEFAULT_SERVICE_TIMEOUT; ServerMessageProcessor and
 * ServerRestMessageProcessor). 30 s + 60 s, and 5 s for signing, verifying and the network.
 * At 35 s (the local security server's 30 s taken for its wait on the answer) Sluice gave up
 * on a provider that answered after 35 to 60 s and called it again.
 */
const XROAD_BACKEND_TIMEOUT_MS = 95_000;

/**
 * The services offered to X-Road callers, the provider direction: all but those whose backend
 * calls a remote service (the consumer direction's, which only the local system calls).
 */
export function providedServices(config: SluiceConfig): ServiceConfig[] {
  return Object.values(config.services).filter((service) => !callsRemoteService(config, service));
}

/**
 * Every `tls` block of a configuration by its path: the service port's, each backend's and the
 * security server's (null where a block is not given).
 */
export function tlsBlocks(config: SluiceConfig): Array<[where: string, files: TlsFiles | null]> {
  return [
    ["config.adapter.tls", config.adapter.tls],
    ...Object.values(config.backends).map((backend): [string, TlsFiles | null] => [
      `config.backends.${backend.name}.tls`,
      backend.tls ?? null,
    ]),
    ["config.securityServer.tls", config.securityServer?.tls ?? null],
    ["config.amqpTls", config.amqpTls],
    ["config.redisTls", config.redisTls],
  ];
}

/**
 * The service codes a security server refuses to register (X-Road admin service,
 * `proxy-ui-api.reserved-service-codes`: its metaservices and monitoring services). A REST
 * service of such a code cannot be added, and a WSDL holding one is refused whole.
 */
export const XROAD_RESERVED_SERVICE_CODES = [
  "listClients",
  "listMethods",
  "allowedMethods",
  "getWsdl",
  "getOpenAPI",
  "getSecurityServerMetrics",
  "getSecurityServerOperationalData",
  "getSecurityServerHealthData",
];

/** Whether a service's backend calls a remote X-Road service: the consumer direction (§9). */
export function callsRemoteService(
  config: Pick<SluiceConfig, "backends">,
  service: ServiceConfig,
): boolean {
  const backend = config.backends[service.backend];
  return backend !== undefined && XROAD_TRANSLATORS.includes(backend.translator);
}

/**
 * The service codes X-Road reserves, used where a security server would have to register them:
 * a provider-direction service and the status service. A consumer-direction service never is
 * registered, so its code is the local system's alone.
 */
function reservedCodeProblems(
  services: Record<string, ServiceConfig>,
  backends: Record<string, BackendConfig>,
  statusService: string,
): string[] {
  const problems: string[] = [];
  for (const service of Object.values(services)) {
    if (callsRemoteService({ backends }, service)) continue;
    if (XROAD_RESERVED_SERVICE_CODES.includes(service.code)) {
      problems.push(
        `config.services.${service.code}: "${service.code}" is a service code X-Road reserves for its metaservices; a security server refuses to register it (and a WSDL that holds it): choose another`,
      );
    }
  }
  if (XROAD_RESERVED_SERVICE_CODES.includes(statusService)) {
    problems.push(
      `config.xroad.statusService: "${statusService}" is a service code X-Road reserves for its metaservices; a security server refuses to register it: choose another`,
    );
  }
  return problems;
}

/**
 * Whether a message is of the consumer direction: by the backend it was queued for, or, that
 * backend gone from the configuration, by its service's.
 */
export function isConsumerDirection(
  config: SluiceConfig,
  message: { service: string; backend: string },
): boolean {
  const backend = config.backends[message.backend];
  if (backend !== undefined) return XROAD_TRANSLATORS.includes(backend.translator);
  const service = config.services[message.service];
  return service !== undefined && callsRemoteService(config, service);
}

/** Cross-field rules of the consumer direction: a remote service needs the security server. */
function consumerDirectionProblems(
  services: Record<string, ServiceConfig>,
  backends: Record<string, BackendConfig>,
  securityServer: SluiceConfig["securityServer"],
): string[] {
  const problems: string[] = [];
  // What the worker's xroad translators refuse at start (the schema checks the shape only).
  const checkParts = (where: string, id: string | null | undefined) => {
    if (id && !id.split("/").every((part) => XROAD_ID_PART.test(part))) {
      problems.push(`${where}: "${id}" ${XROAD_ID_PART_PROBLEM}`);
    }
  };
  // X-Road paths are appended to it, by the consumer direction and by xroad: callbacks alike.
  if (securityServer && /[?#]/.test(securityServer.url)) {
    problems.push("config.securityServer.url: must not hold a query or fragment");
  }
  const anyXroad = Object.values(backends).some((b) => XROAD_TRANSLATORS.includes(b.translator));
  if (anyXroad) checkParts("config.securityServer.client", securityServer?.client);
  for (const backend of Object.values(backends)) {
    const xroad = XROAD_TRANSLATORS.includes(backend.translator);
    if (xroad) checkParts(`config.backends.${backend.name}.service`, backend.service);
    if (xroad && securityServer === null) {
      problems.push(
        `config.backends.${backend.name}.translator: ${backend.translator} calls a remote service through the local security server; set config.securityServer (url, client)`,
      );
    }
    // These translators append the call's path (X-Road's /r1/<service>/… or the SOAP root, a
    // REST caller's path and query) to the URL's path: its own query or fragment would be
    // dropped without a word. (A SOAP backend's URL is its WSDL's base, where a query can mean
    // something.)
    if ((xroad || backend.translator === "rest-json") && /[?#]/.test(backend.url)) {
      problems.push(`config.backends.${backend.name}.url: must not hold a query or fragment`);
    }
    // PR-REST §4.1: a REST service id ends with its code. Sent as /r1/<id>/<version>/…, a
    // security server takes the version for the start of the path and answers for another id.
    if (backend.translator === "xroad-rest" && backend.service?.split("/").length === 6) {
      problems.push(
        `config.backends.${backend.name}.service: an X-Road REST service id has no version (INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE); put a version into the path of the calls instead`,
      );
    }
    if (!xroad && backend.service) {
      problems.push(
        `config.backends.${backend.name}.service: only the xroad-rest and xroad-soap translators call a remote X-Road service`,
      );
    }
  }
  for (const service of Object.values(services)) {
    const backend = backends[service.backend];
    if (!backend || service.client === null) continue;
    if (!XROAD_TRANSLATORS.includes(backend.translator)) {
      problems.push(
        `config.services.${service.code}.client: only services of an xroad-rest or xroad-soap backend name a client`,
      );
    } else {
      checkParts(`config.services.${service.code}.client`, service.client);
    }
  }
  return problems;
}

function envInt(name: string, fallback: number, problems: string[]): number {
  const value = process.env[name];
  if (value === undefined || value === "") return fallback;
  // Digits only: Number() read " " as 0 (a random port), "0x1f90" as 8080 and "8e3" as 8000.
  const parsed = /^\d{1,5}$/.test(value) ? Number(value) : NaN;
  if (!Number.isInteger(parsed) || parsed < 0 || parsed > 65535) {
    problems.push(`environment ${name}: must be a port number`);
    return fallback;
  }
  return parsed;
}

/**
 * `adapter.publicUrl`, checked and without its trailing slash (the documents append
 * `/rest/<serviceCode>` or `/soap`): an absolute http(s) URL, no credentials, query or fragment,
 * which would end up inside every service URL a security server registers.
 */
function compilePublicUrl(value: string, problems: string[]): string | null {
  const where = "config.adapter.publicUrl";
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    problems.push(`${where}: must be an absolute http(s) URL such as https://sluice.internal:8443`);
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    problems.push(`${where}: must be an http(s) URL`);
  } else if (url.username || url.password) {
    problems.push(`${where}: must not hold a user name or password`);
  } else if (/[?#]/.test(value)) {
    problems.push(`${where}: must not hold a query or fragment`);
  } else {
    return withoutTrailingSlashes(url.href);
  }
  return null;
}

/**
 * Where the environment gives the admin token (SLUICE_ADMIN_TOKEN, or the file
 * SLUICE_ADMIN_TOKEN_FILE names), when it does: then that is the admin token, whatever
 * `admin.token` says, and only it is judged.
 */
function envAdminTokenSource(): string | undefined {
  return envSecretSource("SLUICE_ADMIN_TOKEN") ?? undefined;
}

/**
 * The admin token SLUICE_ADMIN_TOKEN, or the file SLUICE_ADMIN_TOKEN_FILE names, gives, judged
 * as at start (at least 16 characters, not the published example, printable ASCII): read at
 * start and again on SIGHUP (admin-token-reload.ts). Undefined when neither is set, null for a
 * file refused; each problem names the variable (and the file), never the value.
 */
export function envAdminToken(
  problems: string[],
  env: NodeJS.ProcessEnv = process.env,
): string | null | undefined {
  const fromEnv = readEnvSecret("SLUICE_ADMIN_TOKEN", problems, env);
  if (fromEnv === undefined) return undefined;
  if (fromEnv.value === null) return null;
  const token = fromEnv.value.trim();
  if (token.length < 16) {
    problems.push(
      `${fromEnv.where}: must be at least 16 characters (surrounding white space does not count)`,
    );
  }
  publishedTokenProblem(token, fromEnv.where, problems);
  unsendableTokenProblem(token, fromEnv.where, problems);
  return token;
}

/**
 * The admin token, without surrounding white space: the admin port trims the token a request
 * presents, and a token kept with the newline of the file it came from (a Kubernetes Secret made
 * with --from-file, `echo` into a file) could never be matched, locking the operator out.
 */
function adminToken(admin: Reader, problems: string[]): string | null {
  const fromEnv = envAdminToken(problems);
  if (fromEnv !== undefined) return fromEnv;
  const raw = admin.has("token") ? admin.string("token") : "";
  const token = raw.trim();
  // Shorter than 16 as written is the schema's problem already; this one only white space padded.
  if (raw.length >= 16 && token.length < 16) {
    problems.push(
      "config.admin.token: must be at least 16 characters (surrounding white space does not count)",
    );
  }
  publishedTokenProblem(token, "config.admin.token", problems);
  unsendableTokenProblem(token, "config.admin.token", problems);
  return token || null;
}

/**
 * A control character inside the token (a line break between two pasted halves): no request's
 * Authorization header can carry it, so the operator could never sign in.
 */
function unsendableTokenProblem(token: string, where: string, problems: string[]): void {
  // eslint-disable-next-line no-control-regex -- finding control characters is the point
  if (/[\u0000-\u001f\u007f]/.test(token)) {
    problems.push(`${where}: holds a control character, which no Authorization header can carry`);
  } else if (/[^\u0020-\u007e]/.test(token)) {
    // curl sends such a token as UTF-8 bytes and Node reads header bytes as Latin-1, so the
    // token a request presents is never the one configured: the operator would be locked out.
    problems.push(
      `${where}: holds a character outside printable ASCII, which an Authorization header does not carry as written; use a random ASCII one (openssl rand -hex 32)`,
    );
  }
}

/**
 * Node reads NODE_TLS_REJECT_UNAUTHORIZED=0 as "accept any certificate" for every TLS client
 * that does not say otherwise: Sluice's calls to backends, the security server, receivers,
 * RabbitMQ and Redis would all take a man in the middle's, with one process warning on stderr.
 * A variable left from debugging must stop the start, not turn the checks off quietly.
 */
function tlsVerificationProblem(problems: string[]): void {
  if (process.env.NODE_TLS_REJECT_UNAUTHORIZED !== "0") return;
  problems.push(
    "environment NODE_TLS_REJECT_UNAUTHORIZED=0: switches off the check of every certificate Sluice is shown (backends, the security server, callback receivers, RabbitMQ, Redis); unset it, and give a private CA as the block's ca or in NODE_EXTRA_CA_CERTS",
  );
}

/** Whether `name` is one every JavaScript object has (`constructor`, `__proto__`, …); noted. */
function inheritedName(name: string, where: string, problems: string[]): boolean {
  if (!(name in Object.prototype)) return false;
  problems.push(`${where}: "${name}" is a name every JavaScript object has; choose another`);
  return true;
}

export interface CompileOptions {
  /** The bundled demo's own file, whose published secret is accepted. */
  demo?: boolean;
  /**
   * False for a caller that serves no admin port (the operator's commands, which go to Redis
   * and the broker): neither token is read or judged, and `admin.token` is null. A short
   * SLUICE_ADMIN_TOKEN left in the shell must not refuse `sluice backends list`.
   */
  readAdminToken?: boolean;
}

/**
 * Validates and compiles a parsed configuration; throws ConfigError listing every problem: the
 * schema's (shape, unknown keys) and the cross-field rules below, one line per path.
 */
export function compileConfig(
  raw: unknown,
  baseDir: string,
  source = "(inline)",
  options: CompileOptions = {},
): SluiceConfig {
  if (!isObject(raw)) throw new ConfigError(source, ["the configuration must be a mapping"]);
  const readToken = options.readAdminToken ?? true;
  // A file's admin.token that the environment overrides, or that nothing reads, is not the
  // token used: a short one there must not keep every role from starting with a good
  // SLUICE_ADMIN_TOKEN, nor an operator command from running.
  const fileTokenUnused = !readToken || envAdminTokenSource() !== undefined;
  const shape = schemaProblems(raw).filter(
    (line) => !(fileTokenUnused && problemPath(line) === "config.admin.token"),
  );
  const problems: string[] = [];
  const root = new Reader(problems, "config", raw);
  tlsVerificationProblem(problems);

  // Maps without a prototype, their names checked: a service or backend named `__proto__` was
  // assigned as the map's prototype and vanished, and `backend: toString` found Object's own
  // method, passed the check, and failed every request at run time.
  const services: Record<string, ServiceConfig> = Object.create(null);
  const rawServices = root.at("services");
  for (const code of Object.keys(rawServices.raw)) {
    if (inheritedName(code, `config.services.${code}`, problems)) continue;
    services[code] = compileService(rawServices.at(code), code, baseDir);
  }
  const backends: Record<string, BackendConfig> = Object.create(null);
  const rawBackends = root.at("backends");
  for (const name of Object.keys(rawBackends.raw)) {
    if (inheritedName(name, `config.backends.${name}`, problems)) continue;
    if (name === RESPONSES_DEAD_LETTER_SOURCE) {
      // The dead-letter metric's label for answers the response worker could not store: the
      // backend's own dead letters, which can be replayed, would be counted as those.
      // Compiled all the same: a service naming it is not told the backend does not exist.
      problems.push(
        `config.backends.${name}: "${name}" names the response worker's dead letters in sluice_dead_letters_total{backend}; choose another`,
      );
    }
    backends[name] = compileBackend(rawBackends.at(name), name, baseDir);
  }
  for (const service of Object.values(services)) {
    if (service.backend && !Object.hasOwn(backends, service.backend)) {
      problems.push(
        `config.services.${service.code}.backend: no backend named "${service.backend}"${suggestion(service.backend, Object.keys(backends))}`,
      );
    }
  }
  for (const service of Object.values(services)) {
    const backend = backends[service.backend];
    const xml = service.contentTypes.some((type) => /[/+]xml$/.test(type));
    const soapBackend = backend !== undefined && SOAP_BODY_TRANSLATORS.includes(backend.translator);
    if (soapBackend && service.protocols.includes("rest") && !xml) {
      // Every JSON body would reach the soap translator and fail as untranslatable.
      problems.push(
        `config.services.${service.code}: REST callers send JSON, which the ${backend.translator} translator of backend "${backend.name}" cannot send; use protocols [soap], or allow an XML media type in contentTypes`,
      );
    }
  }

  const adapter = root.at("adapter");
  const admin = root.at("admin");
  const callbacks = root.at("callbacks");
  const secrets =
    callbacks.stringList("secrets") ??
    (callbacks.has("secret") ? [callbacks.string("secret")] : []);
  secrets.forEach((secret, i) => {
    const where = `config.callbacks.${callbacks.has("secrets") ? `secrets[${i}]` : "secret"}`;
    // The schema checks the form; the strength is checked here. A short key can be found from
    // one signed callback by trying them all, and then anyone signs as Sluice.
    const bytes = Buffer.from(secret.slice("whsec_".length), "base64").length;
    if (bytes < 24 || bytes > 64) {
      problems.push(
        `${where}: must hold 24 to 64 random bytes (base64 after whsec_), not ${bytes}; make one: echo "whsec_$(openssl rand -base64 32)"`,
      );
    }
  });
  if (!options.demo) {
    secrets.forEach((secret, i) => {
      if (!isPublicSecret(secret)) return;
      const where = callbacks.has("secrets") ? `secrets[${i}]` : "secret";
      problems.push(
        `config.callbacks.${where}: this secret is published (the demo's or the docs' example), so anyone could sign callbacks with it; make your own: echo "whsec_$(openssl rand -base64 32)"`,
      );
    });
  }
  for (const service of Object.values(services)) {
    if (service.reply.mode === "callback" && secrets.length === 0) {
      problems.push(
        `config.services.${service.code}.reply.mode: callback needs config.callbacks.secret`,
      );
    }
  }
  let securityServer: SluiceConfig["securityServer"] = null;
  if (root.has("securityServer")) {
    const ss = root.at("securityServer");
    securityServer = {
      url: ss.string("url"),
      client: ss.string("client"),
      tls: ss.tls(baseDir, false),
    };
  }
  problems.push(...consumerDirectionProblems(services, backends, securityServer));
  problems.push(...unusedTlsProblems(backends, securityServer));
  const statusService = root.at("xroad").string("statusService", DEFAULT_STATUS_SERVICE);
  problems.push(...reservedCodeProblems(services, backends, statusService));
  const xroadProvider = root.at("xroad").has("provider")
    ? root.at("xroad").string("provider")
    : null;
  if (Object.hasOwn(services, statusService)) {
    problems.push(
      `config.xroad.statusService: "${statusService}" is also a configured service; its status resource would hide the service`,
    );
  } else {
    // The status routes match their paths without regard to case (as the router does every
    // route): `GET /rest/personSearch/<x>` was a status read when the status service was
    // `personsearch`, and `POST /rest/personSearch/hub` a hub registration, never the backend's.
    const lower = statusService.toLowerCase();
    const twin = Object.keys(services).find((code) => code.toLowerCase() === lower);
    if (twin !== undefined) {
      problems.push(
        `config.xroad.statusService: "${statusService}" differs from the configured service "${twin}" only in case; the status service's paths are matched without regard to case, so its status resource would hide the service`,
      );
    }
  }
  const adapterTls = adapter.tls(baseDir, true);
  const adapterXml = adapter.at("xml");
  const requestTimeout = adapter.duration("requestTimeout", 30_000);
  if (requestTimeout > 0 && adapter.duration("headersTimeout", 10_000) > requestTimeout) {
    problems.push("config.adapter.headersTimeout: must not be longer than adapter.requestTimeout");
  }
  if (adapterTls && !adapterTls.cert) {
    problems.push("config.adapter.tls: cert and key are required for HTTPS on the service port");
  }
  const pins = adapter.at("tls").raw.clientCerts;
  if (Array.isArray(pins) && pins.length === 0) {
    // Read as "pin nothing", it would leave every certificate clientCa issued admitted, or none
    // required at all: what an operator listing pins would not mean.
    problems.push(
      "config.adapter.tls.clientCerts: an empty list pins no certificate; name the security server's certificate file, or leave clientCerts out",
    );
  }
  if (adapterTls && adapterTls.ca.length > 0) {
    problems.push("config.adapter.tls.ca: use clientCa for the certificates a client must present");
  }
  const sim = root.at("legacySim");

  // A secret file that was refused is named once: the URL it stands for is not judged.
  const amqpEnv = readEnvSecret("AMQP_URL", problems);
  const amqpWhere = amqpEnv?.where ?? "config.amqpUrl";
  const brokers =
    amqpEnv === undefined
      ? amqpUrls(root.raw.amqpUrl ?? DEFAULT_AMQP_URL, amqpWhere)
      : amqpEnv.value === null
        ? { urls: [], problems: [] }
        : amqpUrls(amqpEnv.value, amqpWhere);
  problems.push(...brokers.problems);
  problems.push(...publishedPasswordProblems(brokers.urls, amqpWhere, options.demo));
  const amqpConsumerTimeoutMs = root.duration(
    "amqpConsumerTimeout",
    DEFAULT_AMQP_CONSUMER_TIMEOUT_MS,
  );
  problems.push(...unacknowledgedHoldProblems(backends, amqpConsumerTimeoutMs));
  const amqpMaxMessageBytes = root.size("amqpMaxMessageSize", DEFAULT_AMQP_MAX_MESSAGE_BYTES);
  if (amqpMaxMessageBytes < MIN_AMQP_MAX_MESSAGE_BYTES) {
    // A response message's envelope alone takes room: below this, every answer would fail.
    problems.push(
      `config.amqpMaxMessageSize: ${amqpMaxMessageBytes} bytes is less than the ${MIN_AMQP_MAX_MESSAGE_BYTES} a response message needs room for`,
    );
  }
  const redisEnv = readEnvSecret("REDIS_URL", problems);
  const redisWhere = redisEnv?.where ?? "config.redisUrl";
  const redisUrl =
    redisEnv === undefined ? root.string("redisUrl", DEFAULT_REDIS_URL) : (redisEnv.value ?? "");
  if (redisEnv?.value !== null) {
    problems.push(...publishedPasswordProblems([redisUrl], redisWhere, options.demo));
    try {
      redisTarget(redisUrl);
    } catch (error) {
      problems.push(`${redisWhere}: ${(error as Error).message}`);
    }
  }

  const amqpTls = root.tls(baseDir, false, "amqpTls");
  const redisTls = root.tls(baseDir, false, "redisTls");
  problems.push(...plainConnectionTlsProblems(brokers.urls, redisUrl, amqpTls, redisTls));

  const redisCommandTimeoutMs = root.duration(
    "redisCommandTimeout",
    DEFAULT_REDIS_COMMAND_TIMEOUT_MS,
  );
  if (redisCommandTimeoutMs < 100 || redisCommandTimeoutMs > 60_000) {
    problems.push("config.redisCommandTimeout: must be between 100ms and 1m");
  }

  // Read by workers for every backend without a leaseTime: checked here, so a mistyped one is
  // reported by `sluice check` and refuses the start instead of being replaced by 30 s.
  const leaseEnv = process.env.SLUICE_LEASE_TIME?.trim();
  const leaseEnvMs = leaseEnv ? (parseDuration(leaseEnv) ?? 0) : MIN_LEASE_MS;
  if (leaseEnvMs < MIN_LEASE_MS || leaseEnvMs > MAX_LEASE_MS) {
    problems.push(
      `SLUICE_LEASE_TIME: must be a duration between 1s and 1d such as "30s", not "${leaseEnv?.slice(0, 40)}"`,
    );
  }

  const named = process.env.SLUICE_INSTANCE?.trim() || root.string("instance", "");
  const instance = named || hostname();
  if (named && !/^[A-Za-z0-9_.:-]{1,128}$/.test(named)) {
    problems.push(`config.instance (or SLUICE_INSTANCE): up to 128 letters, digits and _ . : -`);
  }
  const maxSyncWaiters = adapter.int("maxSyncWaiters", 10_000);
  const config: SluiceConfig = {
    baseDir,
    instance,
    // Two processes may share a name (a restarted pod, `sluice all` beside a worker on one
    // host), never a reply queue or a lease holder.
    instanceId: `${instance}-${randomUUID().slice(0, 8)}`,
    prefix: root.string("prefix", ""),
    amqpUrls: brokers.urls,
    amqpTls,
    amqpConsumerTimeoutMs,
    amqpMaxMessageBytes,
    redisUrl,
    redisTls,
    redisCommandTimeoutMs,
    adapter: {
      host: adapter.string("host", "0.0.0.0"),
      port: envInt("PORT", adapter.int("port", 8080), problems),
      maxSyncWaiters,
      publishTimeoutMs: adapter.positiveDuration("publishTimeout", 5_000),
      maxLoopStallMs: adapter.duration("maxLoopStall", 2_000),
      maxJsonDepth: adapter.int("maxJsonDepth", 64),
      xml: {
        maxDepth: adapterXml.int("maxDepth", 64),
        maxAttributesPerElement: adapterXml.int("maxAttributesPerElement", 256),
        maxAttributes: adapterXml.int("maxAttributes", 50_000),
        maxNamespaceDeclarations: adapterXml.int("maxNamespaceDeclarations", 256),
        maxElements: adapterXml.int("maxElements", 250_000),
      },
      maxHeaders: adapter.int("maxHeaders", 200),
      headersTimeoutMs: adapter.duration("headersTimeout", 10_000),
      requestTimeoutMs: adapter.duration("requestTimeout", 30_000),
      // Beyond the sync waiters, each holding its connection for its wait: with no more
      // connections than waiters, a caller past the waiter limit was dropped unanswered at
      // maxConnections instead of getting its 503, and nobody could poll a status meanwhile.
      maxConnections: adapter.int("maxConnections", maxSyncWaiters + SPARE_CONNECTIONS),
      tls: adapterTls,
      plainHttp: adapter.bool("plainHttp", false),
      publicUrl: adapter.has("publicUrl")
        ? compilePublicUrl(adapter.string("publicUrl"), problems)
        : null,
      soapBusyStatus: adapter.int("soapBusyStatus", 503) === 500 ? 500 : 503,
      hosts: hostNames(adapter),
    },
    admin: {
      // Loopback unless the operator opens it: the operator endpoints can stop a backend.
      host: process.env.ADMIN_HOST || admin.string("host", "127.0.0.1"),
      hosts: hostNames(admin),
      port: envInt("ADMIN_PORT", admin.int("port", 9090), problems),
      token: readToken ? adminToken(admin, problems) : null,
    },
    retentionMs: compileRetention(root),
    shutdownGraceMs: root.at("shutdown").checkedDuration(
      "grace",
      10_000,
      (ms) => ms >= MIN_SHUTDOWN_GRACE_MS && ms <= MAX_TIMER_MS,
      (ms) => (ms < MIN_SHUTDOWN_GRACE_MS ? GRACE_TOO_SHORT : TIMER_TOO_LONG),
    ),
    // A longer delay than a minute outlasts the stop timeout of any platform that polls.
    shutdownDelayMs: root
      .at("shutdown")
      .checkedDuration("delay", 0, (ms) => ms <= 60_000, "must be at most 60s"),
    services,
    backends,
    workerBackends: null,
    callbacks: {
      allow: compileAllowlist(callbacks),
      clients: compileClientAllowlists(callbacks),
      allowPrivate: callbacks.bool("allowPrivate", false),
      allowHttp: callbacks.bool("allowHttp", false),
      secrets,
      backoffMs: callbacks.durationList("backoff", DEFAULT_CALLBACK_BACKOFF_MS),
      timeoutMs: callbacks.positiveDuration("timeout", 10_000),
      maxPerTarget: callbacks.int("maxPerTarget", DEFAULT_CALLBACK_MAX_PER_TARGET),
      deadMaxLength: callbacks.int("deadMaxLength", DEFAULT_CALLBACK_DEAD_MAX_LENGTH),
    },
    securityServer,
    xroad: { statusService, provider: xroadProvider },
    legacySim: {
      host: sim.string("host", "127.0.0.1"),
      port: sim.int("port", 8090),
      latencyMs: sim.duration("latency", 200),
      jitterMs: sim.duration("jitter", 0),
      maxConcurrency: sim.int("maxConcurrency", 16),
      errorRate: sim.number("errorRate", 0),
    },
  };
  // One line per path: a value the schema refused is not judged again by a rule about it.
  const refused = new Set(shape.map(problemPath));
  const all = [...shape, ...problems.filter((line) => !refused.has(problemPath(line)))];
  if (all.length > 0) throw new ConfigError(source, all, config);
  return config;
}

/** `${NAME}` or `${NAME:-default}` in a configuration file: the name, then the default. */
const ENV_REFERENCE = /\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * The `${NAME}`s of `text` outside comments, the checks' concern: substituted there too, but a
 * comment is not read.
 */
function* envReferencesRead(text: string): Generator<RegExpMatchArray & { index: number }> {
  const comments = commentRanges(text);
  for (const match of text.matchAll(ENV_REFERENCE)) {
    if (!comments.some(([start, end]) => match.index >= start && match.index < end)) yield match;
  }
}

/** The lexer's markers of what comes next, which stand for nothing in the source. */
const LEXER_MARKERS = new Set(["\x02", "\x18", "\x1f"]);

/**
 * Where `text`'s comments stand ([start, end) offsets), as YAML's own lexer reads them: a " #"
 * inside a quoted string or a block scalar begins none.
 */
function commentRanges(text: string): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  let at = 0;
  for (const token of new Lexer().lex(text)) {
    if (LEXER_MARKERS.has(token)) continue;
    if (CST.tokenType(token) === "comment") ranges.push([at, at + token.length]);
    at += token.length;
  }
  return ranges;
}

/** The environment a configuration's `${NAME}`s are filled from, files included. */
export interface ReferenceEnv {
  /** The environment, with each variable a file gave (or "" for a file refused). */
  env: NodeJS.ProcessEnv;
  /** Where each variable a file gave came from, as problems name it. */
  sources: Record<string, string>;
  /** The problems of the files: both NAME and NAME_FILE set, a file refused. */
  problems: string[];
}

/**
 * The environment for `text`'s `${NAME}`s: where NAME is not set (or empty) and NAME_FILE is,
 * the file's content stands for it, as container platforms mount secrets (a webhook secret, a
 * backend's credential header) and as AMQP_URL_FILE gives AMQP_URL: one line, its trailing line
 * break and a byte-order mark dropped, at most 64 KiB (secret-env.ts). Both set, or a file that
 * cannot be read, is empty or holds more than one line, is a problem naming the variable and the
 * file, never the value; the reference is then filled as empty, and not refused as unset too.
 * A `${NAME}` in a comment reads no file.
 */
export function referenceEnv(text: string, env: NodeJS.ProcessEnv = process.env): ReferenceEnv {
  const filled: NodeJS.ProcessEnv = { ...env };
  const sources: Record<string, string> = {};
  const problems: string[] = [];
  const names = new Set([...envReferencesRead(text)].map((match) => match[1]));
  for (const name of names) {
    const file = env[`${name}_FILE`];
    if (file === undefined || file === "") continue;
    const secret = readEnvSecret(name, problems, env);
    // NAME set: it fills the reference (and both set is a problem).
    if (secret === undefined || secret.where === `environment ${name}`) continue;
    filled[name] = secret.value ?? "";
    sources[name] = secret.where;
  }
  return { env: filled, sources, problems };
}

/**
 * Replaces `${NAME}` and `${NAME:-default}` with environment variables before parsing, so one
 * file serves a laptop and a container (e.g. `url: ${LEGACY_URL:-http://127.0.0.1:8090}`); the
 * file NAME_FILE names fills them too, through `referenceEnv`.
 */
export function substituteEnv(text: string, env: NodeJS.ProcessEnv = process.env): string {
  return text.replace(ENV_REFERENCE, (_, name: string, fallback?: string) => {
    const value = env[name];
    return value !== undefined && value !== "" ? value : (fallback ?? "");
  });
}

/**
 * Environment values that YAML did not read back as they were written where `${NAME}` stood: the
 * substitution is textual, so a value with " #" lost its end to a comment, a leading "&" or "!"
 * was read as an anchor or tag, ", key: value" in a flow mapping or a line break added keys. Such
 * a value (a secret, most often) would be used altered, without a word; it is refused instead.
 * A `${NAME}` in a comment is passed over, as is a value filled from a default.
 */
export function misreadEnvValues(
  text: string,
  raw: unknown,
  env: NodeJS.ProcessEnv = process.env,
  sources: Record<string, string> = {},
): string[] {
  const scalars: string[] = [];
  const collect = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(collect);
    else if (isObject(value)) {
      for (const [key, item] of Object.entries(value)) {
        scalars.push(key);
        collect(item);
      }
    } else if (value !== null && value !== undefined) scalars.push(String(value));
  };
  collect(raw);
  /** Each value substituted, with the variables that gave it and how often it stands. */
  const uses = new Map<string, { names: Set<string>; count: number }>();
  for (const match of envReferencesRead(text)) {
    const set = env[match[1]];
    if (set === undefined || set === "") continue;
    // Line breaks ending a value that ends its line are read as that line's end, which they are
    // meant as: a Kubernetes Secret made from a file ends in one, and no quoting would keep it.
    const end = match.index + match[0].length;
    const lineEnd = text.indexOf("\n", end);
    const rest = text.slice(end, lineEnd === -1 ? undefined : lineEnd);
    let cut = set.length;
    if (/^[ \t\r]*(#.*)?$/.test(rest)) while (cut > 0 && "\r\n".includes(set[cut - 1])) cut--;
    const value = set.slice(0, cut);
    if (value === "") continue;
    const use = uses.get(value) ?? { names: new Set<string>(), count: 0 };
    use.names.add(match[1]);
    use.count++;
    uses.set(value, use);
  }
  const problems: string[] = [];
  for (const [value, { names, count }] of uses) {
    // Each use read as written leaves the value whole in some scalar: one use cut short of two
    // leaves it once.
    let found = 0;
    for (const scalar of scalars) found += occurrences(scalar, value);
    // A number or a boolean as YAML spells it otherwise: "0.10" is read as 0.1, as written.
    const alone = scalarAlone(value);
    if (typeof alone !== "string") found += scalars.filter((one) => one === String(alone)).length;
    if (found >= count) continue;
    for (const name of names) {
      problems.push(
        `${sources[name] ?? `environment ${name}`}: its value is not read as written where \${${name}} stands in the file (YAML took part of it as syntax: a " #", ": " or ", ", a leading "&", "*", "!" or quote, a line break); quote the \${${name}} in the file, or choose a value without these`,
      );
    }
  }
  return problems;
}

/** How often `part` stands in `text`, not overlapping. */
function occurrences(text: string, part: string): number {
  let count = 0;
  for (let at = text.indexOf(part); at !== -1; at = text.indexOf(part, at + part.length)) count++;
  return count;
}

/**
 * `${NAME}`s without a default whose variable is not set at all: read as empty, a missing secret
 * or address would surface as a problem of its key, or not at all (an empty token switches the
 * operator endpoints off). `${NAME:-}` asks for empty when unset; a variable set to "" is a
 * choice too. A `${NAME}` in a comment is passed over.
 */
export function unsetEnvNames(text: string, env: NodeJS.ProcessEnv = process.env): string[] {
  const problems = new Set<string>();
  for (const match of envReferencesRead(text)) {
    if (match[2] !== undefined || env[match[1]] !== undefined) continue;
    problems.add(
      `environment ${match[1]} is not set, and \${${match[1]}} has no default in the file: set it (or ${match[1]}_FILE to a file holding it), or write \${${match[1]}:-} where empty is meant`,
    );
  }
  return [...problems];
}

/** What YAML reads `value` as on its own (a string where it is not plain YAML). */
function scalarAlone(value: string): unknown {
  try {
    return parseYaml(value);
  } catch {
    return value;
  }
}

/**
 * Webhook secrets anyone can read: the demo configuration's and the example in docs/callbacks.md
 * (Standard Webhooks' own). Receivers trust a signature only as far as the secret is secret, so
 * these sign nothing outside the demo.
 */
const PUBLIC_SECRETS = [
  "whsec_c2x1aWNlLWRlbW8tc2VjcmV0LWtleTogcHVibGljLCBuZXZlciBkZXBsb3k=",
  // The demo's secret in earlier releases.
  "whsec_c2x1aWNlLWRlbW8tc2VjcmV0LWtleQ==",
  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
];

/**
 * The key a secret signs with, as the signer decodes it (webhook-signature.ts `secretKey`):
 * compared by it, as padding or a `=` dropped spells the same key another way.
 */
const PUBLIC_KEYS = PUBLIC_SECRETS.map(signingKey);

function signingKey(secret: string): Buffer {
  return Buffer.from(
    secret.startsWith("whsec_") ? secret.slice("whsec_".length) : secret,
    "base64",
  );
}

function isPublicSecret(secret: string): boolean {
  const key = signingKey(secret);
  return PUBLIC_KEYS.some((known) => known.equals(key));
}

/**
 * Admin tokens anyone can read: the placeholder of deploy/k8s/secrets.example.yaml, long enough
 * to pass the length check, so a Secret applied as the example has it would open the operator
 * endpoints to everyone who read the repository.
 */
const PUBLIC_ADMIN_TOKENS = ["replace-with-at-least-16-random-characters"];

function publishedTokenProblem(token: string, where: string, problems: string[]): void {
  // In any case: an edited capital letter leaves the example as guessable as it was.
  if (!PUBLIC_ADMIN_TOKENS.includes(token.toLowerCase())) return;
  problems.push(
    `${where}: this token is the published example (deploy/k8s/secrets.example.yaml), so anyone could use the operator endpoints with it; make your own: openssl rand -hex 32`,
  );
}

/** The bundled demo configuration (`sluice demo`), from dist/shared/config. */
const DEMO_CONFIG = path.join(__dirname, "..", "..", "..", "config", "demo.yaml");

/** Whether `text` is the bundled demo configuration, unchanged (a copy of it mounted elsewhere included). */
export function isBundledDemo(text: string): boolean {
  try {
    return readFileSync(DEMO_CONFIG, "utf8") === text;
  } catch {
    return false;
  }
}

/**
 * The first line of a YAML parse error. A duplicate key's names only its line and column (the
 * lines after it, which show the key, are the source's and are not repeated), so the key is
 * read from the source at that place and named.
 */
function yamlProblem(error: Error & { code?: string; pos?: [number, number] }, source: string) {
  const first = error.message.split("\n")[0];
  if (error.code !== "DUPLICATE_KEY" || !error.pos) return first;
  const key = keyAt(source, error.pos[0]);
  if (!key) return first;
  const where = first.replace(/^Map keys must be unique /, "").replace(/:$/, "");
  return `the key ${key} appears twice in one mapping, ${where}`;
}

/**
 * The `${NAME}`s whose value alone makes the file no YAML, as a problem each naming where the
 * value came from (a variable, or the file NAME_FILE names), never the value: the parser's
 * line and column point at the `${NAME}` the operator wrote, valid as it stands, and a value
 * with an unclosed quote or a ": " (a secret, most often) left nothing to say why.
 */
function unparsedEnvValues(
  text: string,
  env: NodeJS.ProcessEnv,
  sources: Record<string, string>,
): string[] {
  const parses = (candidate: string): boolean => {
    try {
      parseYaml(candidate);
      return true;
    } catch {
      return false;
    }
  };
  if (!parses(text)) return [];
  const names = new Set([...envReferencesRead(text)].map((match) => match[1]));
  const problems: string[] = [];
  for (const name of names) {
    const alone = text.replace(ENV_REFERENCE, (whole: string, found: string) =>
      found === name ? substituteEnv(whole, env) : whole,
    );
    if (parses(alone)) continue;
    problems.push(
      `${sources[name] ?? `environment ${name}`}: its value, put where \${${name}} stands in the file, is read as YAML syntax and the file is then none (an unclosed quote or bracket, a ": " or " #", a line break); quote the \${${name}} in the file, or choose a value without these`,
    );
  }
  return problems;
}

/** The key written at `at`: quoted as written, or plain up to its colon; at most 100 characters. */
function keyAt(source: string, at: number): string | null {
  const lineEnd = source.indexOf("\n", at);
  const line = source.slice(at, lineEnd < 0 ? undefined : lineEnd);
  const quote = line[0] === '"' || line[0] === "'" ? line[0] : "";
  const end = quote ? line.indexOf(quote, 1) + 1 : line.indexOf(":");
  const key = (end > 0 ? line.slice(0, end) : "").trim();
  if (!key) return null;
  // A key is named in a message, not copied into it: a long one is cut.
  return clipText(key, 101);
}

/** Reads, validates and compiles a configuration file (YAML or JSON). */
export function loadConfig(
  file: string,
  options: Pick<CompileOptions, "readAdminToken"> = {},
): SluiceConfig {
  const resolved = path.resolve(file);
  let text: string;
  try {
    text = readBoundedFile(resolved, MAX_CONFIG_FILE_BYTES).toString("utf8");
  } catch (error) {
    const why = error instanceof UnreadableFile ? error.message : undefined;
    throw new ConfigError(resolved, [
      `cannot read the file: ${why ?? (error as NodeJS.ErrnoException).code ?? error}`,
    ]);
  }
  let raw: unknown;
  const references = referenceEnv(text);
  const source = substituteEnv(text, references.env);
  try {
    raw = parseYaml(source);
  } catch (error) {
    throw new ConfigError(resolved, [
      ...references.problems,
      `not valid YAML/JSON: ${yamlProblem(error as Error, source)}`,
      ...unparsedEnvValues(text, references.env, references.sources),
    ]);
  }
  const misread = [
    ...references.problems,
    ...unsetEnvNames(text, references.env),
    ...misreadEnvValues(text, raw, references.env, references.sources),
  ];
  // The demo's published secret is accepted in the demo's own file only: an edited copy of it
  // is someone's deployment.
  const compile = () => {
    const config = compileConfig(raw, path.dirname(resolved), resolved, {
      ...options,
      demo: isBundledDemo(text),
    });
    config.referenceFiles = Object.keys(references.sources);
    return config;
  };
  if (misread.length === 0) return compile();
  try {
    compile();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    // `${AMQP_URL}` with both AMQP_URL and AMQP_URL_FILE set is said once, not here and again
    // where the configuration reads AMQP_URL itself.
    const all = [...new Set([...misread, ...error.problems])];
    if (error.partial) error.partial.referenceFiles = Object.keys(references.sources);
    throw new ConfigError(resolved, all, error.partial);
  }
  throw new ConfigError(resolved, misread);
}
