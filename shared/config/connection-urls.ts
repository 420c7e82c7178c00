// Where the broker and Redis are: several AMQP URLs (the nodes of one RabbitMQ cluster, tried in
// turn), and Redis either direct (`redis://`) or through Sentinel (`redis-sentinel://`).

import type { RedisOptions } from "ioredis";
import { hideUrlPassword } from "../observability/url-passwords";

export const DEFAULT_AMQP_URL = "amqp://guest:guest@127.0.0.1:5672";
export const DEFAULT_REDIS_URL = "redis://127.0.0.1:6379";
/**
 * How long a Redis command may go unanswered (`redisCommandTimeout`): Redis answers in well
 * under a millisecond, and even a fork or an fsync stall rarely holds it for a second.
 */
export const DEFAULT_REDIS_COMMAND_TIMEOUT_MS = 2_000;

/**
 * The broker URLs from `AMQP_URL` or `amqpUrl`: one URL, several separated by commas or
 * whitespace, or (in the file) a list. Returns the URLs and any problems found.
 */
export function amqpUrls(value: unknown, where: string): { urls: string[]; problems: string[] } {
  const items =
    typeof value === "string"
      ? // Split only where the next URL begins: a password may hold a comma. The operator's
        // own setting, not a caller's input: a run of separators costs what it costs.
        value
          // eslint-disable-next-line regexp/no-super-linear-move -- the operator's setting
          .replace(/^[\s,]+|[\s,]+$/g, "")
          // eslint-disable-next-line regexp/no-super-linear-move -- the operator's setting
          .split(/[\s,]+(?=amqps?:\/\/)/i)
          .filter((item) => item !== "")
      : Array.isArray(value)
        ? value
        : null;
  if (!items || items.length === 0 || items.some((item) => typeof item !== "string")) {
    return { urls: [], problems: [`${where}: must be an AMQP URL or a list of them`] };
  }
  const problems: string[] = [];
  for (const url of items as string[]) {
    if (!/^amqps?:\/\/[^\s]+$/.test(url) || addressProblem(url)) {
      problems.push(
        `${where}: ${shownUrl(url)} is not an amqp:// or amqps:// URL${addressNote(url)}`,
      );
    }
  }
  return { urls: items as string[], problems };
}

/**
 * Passwords anyone can read: the placeholder of deploy/k8s/secrets.example.yaml. A broker or Redis
 * set up from that example would take it, and so would anyone who read the repository.
 */
const PUBLISHED_PASSWORDS = ["change-me"];

/**
 * The Compose demo's RabbitMQ password (deploy/docker-compose.yml), as public as the placeholder:
 * a broker set up from that file takes it. Accepted with the bundled demo configuration alone,
 * which is what Compose runs.
 */
const DEMO_PASSWORDS = ["sluice"];

/**
 * A problem for each URL that carries a published password: in its authority (`user:pw@`, any
 * scheme; `pw@` of a Sentinel URL, which reads it so) or in a query parameter a client takes a
 * password from (`sentinelPassword` of a Sentinel URL; `password`, which ioredis reads from a
 * redis:// query). `demo`: the bundled demo configuration, whose Compose broker password is not
 * refused.
 */
export function publishedPasswordProblems(urls: string[], where: string, demo = false): string[] {
  const problems: string[] = [];
  for (const url of urls) {
    const passwords = passwordsOf(url);
    if (passwords.some((password) => PUBLISHED_PASSWORDS.includes(password))) {
      problems.push(
        `${where}: "${hideUrlPassword(url)}" has the published example password (deploy/k8s/secrets.example.yaml), which anyone could use; set your own: openssl rand -hex 32`,
      );
    } else if (!demo && passwords.some((password) => DEMO_PASSWORDS.includes(password))) {
      problems.push(
        `${where}: "${hideUrlPassword(url)}" has the demo's published password (deploy/docker-compose.yml), which anyone could use; set your own: openssl rand -hex 32`,
      );
    }
  }
  return problems;
}

/** Every password a URL holds, decoded as its client decodes it. */
function passwordsOf(url: string): string[] {
  const passwords: string[] = [];
  const [, scheme, auth] = /^([A-Za-z][A-Za-z0-9+.-]*):\/\/([^@/]*)@/.exec(url) ?? [];
  if (auth !== undefined) {
    const colon = auth.indexOf(":");
    // `name@` alone is a password to redisTarget's Sentinel URLs only: amqplib and ioredis take
    // it as the user name, and `amqp://sluice@broker` (the user docs/kubernetes.md names) holds
    // no password to compare.
    if (colon >= 0) passwords.push(decoded(auth.slice(colon + 1)));
    else if (scheme.toLowerCase() === "redis-sentinel") passwords.push(decoded(auth));
  }
  const query = /\?([^#]*)/.exec(url)?.[1];
  if (query !== undefined) {
    // URLSearchParams decodes as ioredis and redisTarget do (`+` is a space, %XX a byte).
    for (const [name, value] of new URLSearchParams(query)) {
      if (PASSWORD_PARAMETERS.includes(name)) passwords.push(value);
    }
  }
  return passwords;
}

/** Query parameters a Redis client reads a password from. */
const PASSWORD_PARAMETERS = ["password", "sentinelPassword"];

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    // Not percent-encoded as it should be: compare it as written.
    return text;
  }
}

/**
 * How to reach Redis. `redis://` and `rediss://` URLs go to ioredis as they are; a Sentinel URL
 * `redis-sentinel://[[user]:password@]host:port[,host:port...]/<master name>[/<db>]` names the
 * sentinels and the master (query: `sentinelPassword`, `sentinelUsername`), and the client
 * follows the master through failovers.
 */
export type RedisTarget =
  | { kind: "direct"; url: string }
  | { kind: "sentinel"; options: RedisOptions; sentinels: string[]; master: string };

export function redisTarget(url: string): RedisTarget {
  if (/^rediss?:\/\//.test(url)) {
    // Checked here, not by the client: it would take `h:notaport` as port NaN, the default.
    const problem = addressProblem(url) ?? dbProblem(url);
    if (problem) throw new Error(`${shownUrl(url)} is not a redis:// or rediss:// URL: ${problem}`);
    return { kind: "direct", url };
  }
  const match =
    /^redis-sentinel:\/\/(?:([^@/]*)@)?([^/?]+)\/([^/?]+)(?:\/(\d+))?\/?(?:\?(.*))?$/.exec(url);
  if (!match) {
    throw new Error(
      `${shownUrl(url)} is not a redis://, rediss:// or redis-sentinel://host:port[,host:port]/master URL`,
    );
  }
  const [, auth, hostList, master, db, query] = match;
  const sentinels = hostList.split(",").map((entry) => {
    const hostPort = /^\[?([^\]]+?)\]?(?::(\d+))?$/.exec(entry);
    if (!hostPort || hostPort[1] === "") throw new Error(`bad sentinel address "${entry}"`);
    const port = hostPort[2] ? Number(hostPort[2]) : 26379;
    // As for the other URLs: the client would try port 0 or 99999 and never reach a sentinel.
    if (port < 1 || port > 65535) {
      throw new Error(`bad sentinel address "${entry}": the port must be a number from 1 to 65535`);
    }
    return { host: hostPort[1], port };
  });
  const options: RedisOptions = {
    sentinels,
    name: decodeURIComponent(master),
    db: db ? Number(db) : 0,
    // Not ioredis's `failoverDetector`: it ended clients for good when the switch came while
    // they were reconnecting. A lost master is noticed by its closed connection, and a
    // demoted one by its READONLY answers (see shared/redis.ts).
  };
  if (auth) {
    const colon = auth.indexOf(":");
    const user = colon < 0 ? "" : decodeURIComponent(auth.slice(0, colon));
    const password = decodeURIComponent(colon < 0 ? auth : auth.slice(colon + 1));
    if (user) options.username = user;
    if (password) options.password = password;
  }
  const params = new URLSearchParams(query ?? "");
  if (params.get("sentinelPassword")) options.sentinelPassword = params.get("sentinelPassword")!;
  if (params.get("sentinelUsername")) options.sentinelUsername = params.get("sentinelUsername")!;
  return {
    kind: "sentinel",
    options,
    sentinels: sentinels.map((s) => `${s.host}:${s.port}`),
    master: options.name!,
  };
}

/**
 * Why a URL names no host to connect to (no host, a port that is not 1-65535), or null. The
 * WHATWG parser refuses a port that is not a number up to 65535 for any scheme.
 */
function addressProblem(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return "its host or port cannot be read (host[:port], the port a number from 1 to 65535)";
  }
  if (parsed.hostname === "") return "it names no host";
  if (parsed.port === "0") return "port 0 is no port to connect to";
  return null;
}

/**
 * A URL as a problem quotes it, its password hidden. A value that does not begin with a scheme
 * has no password to hide: it may itself be one, or a token, given in the wrong place (the admin
 * token's file named by AMQP_URL_FILE, /proc/self/environ with every variable of the process),
 * and is not shown.
 */
function shownUrl(url: string): string {
  return /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url)
    ? `"${hideUrlPassword(url)}"`
    : "a value that does not begin with a scheme:// (not shown, as it may be a password or token)";
}

function addressNote(url: string): string {
  const problem = /^amqps?:\/\/[^\s]+$/.test(url) ? addressProblem(url) : null;
  return problem ? `: ${problem}` : "";
}

/** A redis:// path is the database number, or nothing. */
function dbProblem(url: string): string | null {
  const path = new URL(url).pathname;
  return path === "" || path === "/" || /^\/\d+$/.test(path)
    ? null
    : `the path "${path}" is not a database number`;
}
