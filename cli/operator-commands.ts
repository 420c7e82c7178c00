// `sluice dead-letters list|show|replay`, `sluice dead-callbacks list|show|redeliver`,
// `sluice messages show|cancel` and `sluice backends list|pause|resume`: the operator
// endpoints of the admin port, from a shell, talking to Redis (and, to replay or cancel, to the
// broker) with the configuration's settings. No admin port is needed.

import pino, { type Logger } from "pino";
import { Broker } from "../shared/broker/amqp";
import type { SluiceConfig } from "../shared/config/config";
import { createLogger } from "../shared/observability/logger";
import {
  DeadLetters,
  deadLetterFilter,
  type DeadLetter,
  type DeadLetterFilter,
} from "../shared/operator/dead-letters";
import { Replayer } from "../shared/operator/replay";
import {
  DeadCallbacks,
  deadCallbackFilter,
  type DeadCallback,
  type DeadCallbackFilter,
} from "../shared/operator/dead-callbacks";
import { CallbackRedeliverer, type RedeliveryResult } from "../shared/operator/callback-redelivery";
import { BULK_LIMIT, LIST_LIMIT, parseLimit } from "../shared/operator/selection-limit";
import { deadCallbackDocument, deadLetterDocument } from "../shared/operator/operator-answers";
import { ambiguity, findByCaller } from "../shared/operator/message-lookup";
import { cancelByOperator, conflictMessage } from "../shared/operator/operator-cancel";
import { consumedQueues } from "../shared/broker/ordering";
import { checkRedis, createRedis, whenReady } from "../shared/store/redis";
import { StateNotices } from "../shared/protocol/state-notice";
import { statusDocument } from "../shared/store/status-document";
import { withCredentialsRedacted } from "../shared/protocol/credential-headers";
import { declareAllBackends, roleTopologyOptions } from "../shared/broker/topology";
import { topologyNames } from "../shared/protocol/names";
import { TransactionStore } from "../shared/store/transaction-store";
import { BackendPauses } from "../shared/operator/backend-pauses";
import { shownCallbackTarget } from "../shared/delivery/callback-target";
import { terminalLine, terminalText } from "./terminal-text";
import { backendRows, unknownBackend, type BackendRow } from "./backend-commands";

export const OPERATOR_USAGE = `usage: sluice dead-letters list [--reason R] [--service S] [--backend B] [--client C] [--replayed no|yes] [--limit N] --config FILE
       sluice dead-letters show ID --config FILE
       sluice dead-letters replay ID | --all | [--reason R] [--service S] [--backend B] [--client C] [--limit N] --config FILE
       sluice dead-callbacks list [--reason R] [--receiver ORIGIN] [--target T] [--limit N] --config FILE
       sluice dead-callbacks show ID --config FILE
       sluice dead-callbacks redeliver ID | --all | [--reason R] [--receiver ORIGIN] [--target T] [--limit N] --config FILE
       sluice messages show ID | --client C --xroad-id X [--service S] --config FILE
       sluice messages cancel ID --config FILE
       sluice backends list | pause NAME | resume NAME --config FILE
options: --json prints JSON instead of a table`;

interface Parsed {
  words: string[];
  flags: Map<string, string>;
  /** --limit, checked: a whole number of 1 or more; null when not given. */
  limit: number | null;
  json: boolean;
  all: boolean;
}

const VALUE_FLAGS = [
  "reason",
  "service",
  "backend",
  "client",
  "limit",
  "xroad-id",
  "receiver",
  "target",
  "replayed",
];

const OPERATOR_COMMANDS = ["dead-letters", "dead-callbacks", "messages", "backends"] as const;
export type OperatorCommand = (typeof OPERATOR_COMMANDS)[number];

export function isOperatorCommand(word: string | undefined): word is OperatorCommand {
  return (OPERATOR_COMMANDS as readonly unknown[]).includes(word);
}

/**
 * The command's words and flags, or the one-line usage problem (exit 2) found before anything
 * is connected: an unknown option, a --limit that is not a count, a replay, redelivery or
 * look-up that names nothing. The caller already took --config out.
 */
export function parseOperatorArgs(command: OperatorCommand, argv: string[]): Parsed | string {
  const parsed: Parsed = { words: [], flags: new Map(), limit: null, json: false, all: false };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === "--json") parsed.json = true;
    else if (arg === "--all") parsed.all = true;
    else if (arg.startsWith("--")) {
      const [name, inline] = arg.slice(2).split("=", 2);
      if (!VALUE_FLAGS.includes(name)) return `unknown option ${arg}`;
      const value = inline ?? argv[++i];
      if (!value) return `${arg} needs a value`;
      parsed.flags.set(name, value);
    } else parsed.words.push(arg);
  }
  const replayed = parsed.flags.get("replayed");
  if (replayed !== undefined && replayed !== "no" && replayed !== "yes") {
    return `--replayed takes no or yes, not "${replayed}"`;
  }
  const limit = parseLimit(parsed.flags.get("limit"), "--limit");
  if ("problem" in limit) return limit.problem;
  parsed.limit = limit.limit;
  return selectionProblem(command, parsed) ?? parsed;
}

/** What each operator command can do; `show` and `cancel` name one ID (but `messages show`). */
const VERBS: Readonly<Record<OperatorCommand, readonly string[]>> = {
  "dead-letters": ["list", "show", "replay"],
  "dead-callbacks": ["list", "show", "redeliver"],
  messages: ["show", "cancel"],
  backends: ["list", "pause", "resume"],
};

/**
 * A command missing, unknown, or acting on a selection it was not given: a usage error, not a
 * failed run, so it is found here rather than after Redis was reached.
 */
function selectionProblem(command: OperatorCommand, parsed: Parsed): string | null {
  const [verb, id] = parsed.words;
  const verbs = VERBS[command];
  if (!verb) return `${command} needs a command: ${verbs.join(", ")}`;
  if (!verbs.includes(verb)) return `unknown ${command} command "${verb}" (${verbs.join(", ")})`;
  const needsId = verb === "cancel" || (verb === "show" && command !== "messages");
  if (needsId && !id) return `${command} ${verb} needs an ID`;
  if (command === "backends" && verb !== "list" && !id)
    return `backends ${verb} needs a backend name`;
  // A replay always takes the dead letters not replayed yet; only a list chooses between them.
  if (parsed.flags.has("replayed") && !(command === "dead-letters" && verb === "list")) {
    return `--replayed applies to dead-letters list only (${command} ${verb} does not take it)`;
  }
  if (id || parsed.all) return null;
  if (command === "dead-letters" && verb === "replay" && isEmpty(filterOf(parsed))) {
    return "dead-letters replay needs an ID, a filter (--reason, --service, --backend, --client) or --all";
  }
  if (command === "dead-callbacks" && verb === "redeliver" && isEmpty(callbackFilterOf(parsed))) {
    return "dead-callbacks redeliver needs an ID, a filter (--reason, --receiver, --target) or --all";
  }
  if (
    command === "messages" &&
    verb === "show" &&
    !(parsed.flags.get("client") && parsed.flags.get("xroad-id"))
  ) {
    return "messages show needs an ID, or --client and --xroad-id (and --service to narrow it)";
  }
  return null;
}

const isEmpty = (filter: object) => Object.keys(filter).length === 0;

function filterOf(parsed: Parsed): DeadLetterFilter {
  return deadLetterFilter((key) => parsed.flags.get(key));
}

function callbackFilterOf(parsed: Parsed): DeadCallbackFilter {
  return deadCallbackFilter((key) => parsed.flags.get(key));
}

function age(at: number): string {
  const s = Math.max(0, Math.round((Date.now() - at) / 1000));
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.round(s / 60)}m` : `${Math.round(s / 3600)}h`;
}

function table(entries: DeadLetter[]): string {
  return columns([
    ["AGE", "REASON", "BACKEND", "SERVICE", "CLIENT", "ID", "REPLAYED AS", "ERROR"],
    ...entries.map((e) => [
      age(e.at),
      e.reason,
      e.backend,
      e.service,
      e.client,
      e.id,
      e.replayedAs ?? "-",
      (e.error ?? "").slice(0, 80),
    ]),
  ]);
}

/** A full page may not be all: the table says so, or the operator takes it for the count. */
function moreLine(shown: number, limit: number): string {
  return shown < limit ? "" : `\n(the newest ${limit} shown; there may be more: --limit N)`;
}

function columns(table: string[][]): string {
  const rows = table.map((row) => row.map(terminalLine));
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
  return rows
    .map((r) =>
      r
        .map((cell, c) => cell.padEnd(widths[c]))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

function backendTable(rows: BackendRow[]): string {
  const count = (n: number | null) => (n === null ? "?" : String(n));
  return columns([
    ["BACKEND", "STATE", "SINCE", "QUEUED", "HIGH WATER", "CONSUMERS", "DEAD LETTERS"],
    ...rows.map((r) => [
      r.backend,
      r.state,
      r.pausedSince ? `${r.pausedSince} (${age(Date.parse(r.pausedSince))} ago)` : "-",
      count(r.queued),
      String(r.highWater),
      count(r.consumers),
      String(r.deadLetters),
    ]),
  ]);
}

function callbackTable(entries: DeadCallback[]): string {
  return columns([
    ["AGE", "REASON", "ATTEMPTS", "DELIVERY", "ID", "TARGET", "FAILURE"],
    ...entries.map((e) => [
      age(e.at),
      e.reason,
      String(e.attempts),
      e.delivery,
      e.id,
      shownCallbackTarget(e.target),
      (e.failure ?? "").slice(0, 80),
    ]),
  ]);
}

function redeliveryLine(r: RedeliveryResult): string {
  return `${r.id}: ${r.result}${r.delivery ? ` (delivery ${r.delivery})` : ""}${r.error ? `: ${terminalLine(r.error)}` : ""}`;
}

/** Runs one operator command; resolves to the exit code. */
export async function runOperatorCommand(
  command: OperatorCommand,
  parsed: Parsed,
  config: SluiceConfig,
  out: (text: string) => void,
): Promise<number> {
  // Warnings only, on stderr: stdout is the command's answer.
  const log: Logger = createLogger("cli", {
    instance: config.instanceId,
    level: process.env.LOG_LEVEL ?? "warn",
    destination: pino.destination(2),
  });
  const [verb, id] = parsed.words;
  // A name the configuration does not know is a usage mistake: refused before connecting.
  const unknown = command === "backends" && verb !== "list" ? unknownBackend(config, id) : null;
  if (unknown) return fail(out, unknown, 2);
  await checkRedis(config.redisUrl);
  const redis = createRedis(
    config.redisUrl,
    log,
    `sluice-cli-${config.instanceId}`,
    config.redisCommandTimeoutMs,
  );
  await whenReady(redis);
  let broker: Broker | null = null;
  const names = topologyNames(config.prefix);
  const store = new TransactionStore(redis, config.prefix, config.retentionMs);
  const deadLetters = new DeadLetters(redis, config.prefix, config.retentionMs);
  const deadCallbacks = new DeadCallbacks(redis, config.prefix, config.retentionMs);
  const print = (value: unknown, text: string) =>
    out(terminalText(parsed.json ? JSON.stringify(value, null, 2) : text));
  const connectBroker = async () => (broker ??= await Broker.connect(config.amqpUrls, log));
  try {
    if (command === "backends") {
      const pauses = new BackendPauses(redis, config.prefix);
      if (verb === "list") {
        const rows = await backendRows({
          config,
          redis,
          pauses,
          deadLetters,
          broker: await connectBroker(),
          names,
        });
        print(rows, backendTable(rows));
        return 0;
      }
      const state = verb === "pause" ? await pauses.pause(id) : await pauses.resume(id);
      const since = state.since === null ? null : new Date(state.since).toISOString();
      print(
        { backend: id, paused: state.paused, since },
        since
          ? `${id}: paused since ${since}; workers stop taking its messages within a second`
          : `${id}: running; workers take its messages again within a second`,
      );
      return 0;
    }
    if (command === "dead-letters" && verb === "list") {
      const limit = parsed.limit ?? LIST_LIMIT.fallback;
      const replayed = parsed.flags.get("replayed");
      const entries = await deadLetters.list(
        replayed ? { ...filterOf(parsed), replayed: replayed === "yes" } : filterOf(parsed),
        limit,
      );
      print(
        entries,
        entries.length ? table(entries) + moreLine(entries.length, limit) : "no dead letters",
      );
      return 0;
    }
    if (command === "dead-letters" && verb === "show" && id) {
      const entry = await deadLetters.get(id);
      if (!entry) return fail(out, `no dead letter ${id}`);
      // As the admin port answers it: the time in words, the age, credentials redacted.
      const doc = deadLetterDocument(entry, Date.now());
      print(doc, JSON.stringify(doc, null, 2));
      return 0;
    }
    if (command === "dead-letters" && verb === "replay") {
      // parseOperatorArgs made sure an ID, a filter or --all is named.
      const filter = filterOf(parsed);
      const b = await connectBroker();
      const publishTimeoutMs = config.adapter.publishTimeoutMs;
      const publisher = b.channel(
        "publisher",
        async (channel) => declareAllBackends(channel, config, names, roleTopologyOptions(b, log)),
        publishTimeoutMs,
      );
      await publisher.waitForConnect();
      const replayer = new Replayer({
        config,
        redis,
        store,
        deadLetters,
        broker: b,
        publisher,
        names,
        publishTimeoutMs,
      });
      if (id) {
        const result = await replayer.replay(id);
        print(
          result,
          `${id}: ${result.result}${result.replayedAs ? ` as ${result.replayedAs}` : ""}${result.warning ? `\nwarning: ${terminalLine(result.warning)}` : ""}${result.error ? `: ${terminalLine(result.error)}` : ""}`,
        );
        return result.result === "refused" ? 1 : 0;
      }
      const depths = new Map<string, number>();
      for (const backend of Object.values(config.backends)) {
        let depth = 0;
        for (const queue of consumedQueues(
          backend.name,
          names.requestsQueue(backend.name),
          backend.ordering,
        )) {
          depth += (await publisher.checkQueue(queue).catch(() => ({ messageCount: 0 })))
            .messageCount;
        }
        depths.set(backend.name, depth);
      }
      // As the admin port's bulk replay: the oldest first, at most --limit (1000) per run.
      const limit = parsed.limit ?? BULK_LIMIT.fallback;
      const entries = await deadLetters.oldestPending(filter, limit);
      // Ctrl-C (or SIGTERM) stops the run at its next dead letter and still prints what was
      // sent; a second one ends the process as usual.
      let interrupted = false;
      const interrupt = () => {
        interrupted = true;
      };
      process.once("SIGINT", interrupt).once("SIGTERM", interrupt);
      const outcome = await replayer
        .replayMany(
          entries,
          (backend) => depths.get(backend),
          () => interrupted,
        )
        .finally(() => process.off("SIGINT", interrupt).off("SIGTERM", interrupt));
      print(
        outcome,
        [
          ...outcome.replayed.map(
            (r) =>
              `${r.id}: ${r.result}${r.replayedAs ? ` as ${r.replayedAs}` : ""}${r.error ? `: ${terminalLine(r.error)}` : ""}`,
          ),
          ...outcome.skipped.map((s) => `${s.id}: skipped: ${s.reason}`),
          `${outcome.replayed.filter((r) => r.result === "replayed").length} replayed, ${outcome.skipped.length} skipped`,
        ].join("\n"),
      );
      return 0;
    }
    if (command === "dead-callbacks" && verb === "list") {
      const limit = parsed.limit ?? LIST_LIMIT.fallback;
      const entries = await deadCallbacks.list(callbackFilterOf(parsed), limit);
      print(
        entries.map((entry) => ({ ...entry, target: shownCallbackTarget(entry.target) })),
        entries.length
          ? callbackTable(entries) + moreLine(entries.length, limit)
          : "no dead callbacks",
      );
      return 0;
    }
    if (command === "dead-callbacks" && verb === "show" && id) {
      const entry = await deadCallbacks.get(id);
      if (!entry) return fail(out, `no dead callback ${id}`);
      const document = deadCallbackDocument(entry, Date.now());
      print(document, JSON.stringify(document, null, 2));
      return 0;
    }
    if (command === "dead-callbacks" && verb === "redeliver") {
      // parseOperatorArgs made sure an ID, a filter or --all is named.
      const filter = callbackFilterOf(parsed);
      const b = await connectBroker();
      const publishTimeoutMs = config.adapter.publishTimeoutMs;
      const publisher = b.channel("publisher", async () => undefined, publishTimeoutMs);
      await publisher.waitForConnect();
      const redeliverer = new CallbackRedeliverer({
        store,
        deadCallbacks,
        broker: b,
        publisher,
        names,
        publishTimeoutMs,
      });
      if (id) {
        const result = await redeliverer.redeliver(id);
        print(result, redeliveryLine(result));
        return result.result === "refused" ? 1 : 0;
      }
      // As the admin port's: the oldest first, at most --limit (1000) per run.
      const limit = parsed.limit ?? BULK_LIMIT.fallback;
      const entries = await deadCallbacks.list(
        { ...filter, delivery: "delivery_failed" },
        limit,
        "oldest",
      );
      const redelivered = await redeliverer.redeliverMany(entries);
      print(
        { redelivered },
        [
          ...redelivered.map(redeliveryLine),
          `${redelivered.filter((r) => r.result === "redelivered").length} redelivered`,
        ].join("\n"),
      );
      return redelivered.some((r) => r.result === "refused") ? 1 : 0;
    }
    if (command === "messages" && verb === "show") {
      const client = parsed.flags.get("client");
      const service = parsed.flags.get("service");
      const xroadId = parsed.flags.get("xroad-id");
      const found = id
        ? [await store.get(id)].filter((tx) => tx !== null)
        : client && xroadId
          ? await findByCaller(store, Object.keys(config.services), { client, xroadId, service })
          : null;
      // Not reached: parseOperatorArgs refuses a show that names neither.
      if (!found) return fail(out, OPERATOR_USAGE, 2);
      if (found.length > 1) {
        const { message, matches } = ambiguity(found);
        print(
          ambiguity(found),
          [message, ...matches.map((m) => `${m.id}  ${m.service}  ${m.state}`)].join("\n"),
        );
        return 1;
      }
      const [tx] = found;
      if (!tx) return fail(out, "no such message");
      const doc = {
        ...withCredentialsRedacted(statusDocument(tx)),
        client: tx.client,
        backend: tx.backend,
        replyMode: tx.replyMode,
      };
      print(doc, JSON.stringify(doc, null, 2));
      return 0;
    }
    if (command === "messages" && verb === "cancel" && id) {
      const cancelled = await cancelByOperator(store, id);
      if (cancelled.result === "missing") return fail(out, "no such message");
      if (cancelled.result === "conflict") return fail(out, conflictMessage(cancelled.state));
      // The cancel is done (it lives in Redis). The notice only hurries callbacks and hub
      // listeners, which a worker meeting the message tells as well: a broker out of reach is
      // a warning, not a failure of a cancel that happened. A repeat sends the notice again
      // (the first run may have stopped before it).
      try {
        const b = await connectBroker();
        const publisher = b.channel("publisher", async (channel) =>
          declareAllBackends(channel, config, names, roleTopologyOptions(b, log)),
        );
        await new StateNotices(b, publisher, names, log).publish(id, "cancelled");
      } catch (error) {
        process.stderr.write(
          `sluice: warning: the message is cancelled, but the broker was not told (${(error as Error).message}); callbacks and hub listeners hear of it once a worker meets the message\n`,
        );
      }
      const repeated = cancelled.result === "repeated";
      print(
        { id, state: "cancelled", ...(repeated ? { already: true } : {}) },
        repeated ? `${id}: cancelled (already, by the operator)` : `${id}: cancelled`,
      );
      return 0;
    }
    return fail(out, OPERATOR_USAGE, 2);
  } finally {
    redis.disconnect();
    await (broker as Broker | null)?.close().catch(() => undefined);
  }
}

function fail(_out: (text: string) => void, message: string, code = 1): number {
  process.stderr.write(`sluice: ${message}\n`);
  return code;
}
