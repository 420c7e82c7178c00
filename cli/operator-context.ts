// What every operator command works with: the configuration, its checked arguments, Redis, the
// broker (connected on first use: most commands need Redis alone), the operator journal and how
// it answers.

import type Redis from "ioredis";
import pino, { type Logger } from "pino";
import { Broker } from "../shared/broker/amqp";
import type { SluiceConfig } from "../shared/config/config";
import { createLogger } from "../shared/observability/logger";
import { DeadLetters } from "../shared/operator/dead-letters";
import { cliActor, OperatorJournal, type JournalWrite } from "../shared/operator/operator-journal";
import { topologyNames, type TopologyNames } from "../shared/protocol/names";
import { checkRedis, createRedis, whenReady } from "../shared/store/redis";
import { readConnectionTls } from "../shared/config/connection-tls";
import { TransactionStore } from "../shared/store/transaction-store";
import type { OperatorArgs } from "./operator-args";
import { terminalText } from "./terminal-text";
import { sayOnStderr } from "./output";

export interface OperatorContext {
  config: SluiceConfig;
  parsed: OperatorArgs;
  /** The command's first word (`list`, `show`, …) and the ID or name after it, if any. */
  verb: string;
  id: string;
  log: Logger;
  redis: Redis;
  names: TopologyNames;
  store: TransactionStore;
  deadLetters: DeadLetters;
  /** The operator journal, to read. */
  journal: OperatorJournal;
  /** Journals an action of this command, as this process's OS user on this host. */
  record: JournalWrite;
  /** Prints the answer: `value` as JSON with --json, else `text`. */
  print: (value: unknown, text: string) => void;
  connectBroker: () => Promise<Broker>;
}

/**
 * Connects to Redis (checked first, so an unreachable one is one clear line) and runs `command`
 * with the context; Redis and the broker, if it was opened, are closed after.
 */
export async function withOperatorContext(
  config: SluiceConfig,
  parsed: OperatorArgs,
  out: (text: string) => void,
  command: (context: OperatorContext) => Promise<number>,
): Promise<number> {
  // Warnings only, on stderr: stdout is the command's answer.
  const log: Logger = createLogger("cli", {
    instance: config.instanceId,
    level: process.env.LOG_LEVEL ?? "warn",
    destination: pino.destination(2),
  });
  const [verb, id] = parsed.words;
  const redis = await connectRedis(config, log);
  let broker: Broker | null = null;
  const print = (value: unknown, text: string) =>
    out(terminalText(parsed.json ? JSON.stringify(value, null, 2) : text));
  const journal = new OperatorJournal(redis, config.prefix, log);
  try {
    return await command({
      config,
      parsed,
      verb,
      id,
      log,
      redis,
      names: topologyNames(config.prefix),
      store: new TransactionStore(redis, config.prefix, config.retentionMs),
      deadLetters: new DeadLetters(redis, config.prefix, config.retentionMs),
      journal,
      record: journal.as(cliActor()),
      print,
      connectBroker: async () =>
        (broker ??= await Broker.connect(
          config.amqpUrls,
          log,
          undefined,
          readConnectionTls(config).amqp,
        )),
    });
  } finally {
    redis.disconnect();
    await (broker as Broker | null)?.close().catch(() => undefined);
  }
}

/**
 * The command's Redis client, once it is ready (checked first, so an unreachable Redis is one
 * clear line). One that never gets ready is disconnected before the error is passed on: left
 * alone it would reconnect for ever and keep the command from exiting.
 */
export async function connectRedis(
  config: SluiceConfig,
  log: Logger,
  ready: (redis: Redis) => Promise<void> = whenReady,
): Promise<Redis> {
  const tls = readConnectionTls(config).redis;
  await checkRedis(config.redisUrl, undefined, tls);
  const redis = createRedis(
    config.redisUrl,
    log,
    `sluice-cli-${config.instanceId}`,
    config.redisCommandTimeoutMs,
    tls,
  );
  try {
    await ready(redis);
  } catch (error) {
    redis.disconnect();
    throw error;
  }
  return redis;
}

/** Says what went wrong on stderr (stdout is for answers); resolves to the exit code. */
export function fail(message: string, code = 1): number {
  sayOnStderr(message);
  return code;
}

/**
 * `show`: prints a stored entry as the admin port's document of it (the time in words, the
 * age, credentials redacted), or fails with `missing` when there is none.
 */
export function showEntry<T>(
  print: OperatorContext["print"],
  entry: T | null,
  missing: string,
  document: (entry: T, now: number) => unknown,
): number {
  if (!entry) return fail(missing);
  const shown = document(entry, Date.now());
  print(shown, JSON.stringify(shown, null, 2));
  return 0;
}

/**
 * Runs a bulk replay or redelivery that Ctrl-C (or SIGTERM) stops at its next entry, so it
 * still prints what it sent and skipped; a second one ends the process as usual.
 */
export async function untilInterrupted<T>(
  run: (stopping: () => boolean) => Promise<T>,
): Promise<T> {
  let interrupted = false;
  const interrupt = () => {
    interrupted = true;
  };
  process.once("SIGINT", interrupt).once("SIGTERM", interrupt);
  try {
    return await run(() => interrupted);
  } finally {
    process.off("SIGINT", interrupt).off("SIGTERM", interrupt);
  }
}
