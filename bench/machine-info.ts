// Describes the machine a benchmark ran on: CPU, memory, Node, and the broker and Redis
// versions as the running servers report them.

import Redis from "ioredis";
import { execFileSync } from "node:child_process";
import { cpus, release, totalmem, type as osType } from "node:os";
import { connect } from "amqplib";
import type { MachineInfo } from "./bench-result";

async function brokerVersions(amqpUrl: string): Promise<{ rabbitmq: string; erlang: string }> {
  try {
    const connection = await connect(amqpUrl);
    const properties = (
      connection as unknown as { connection: { serverProperties?: Record<string, unknown> } }
    ).connection.serverProperties;
    await connection.close();
    return {
      rabbitmq: String(properties?.version ?? "unknown"),
      erlang: String(properties?.platform ?? "unknown"),
    };
  } catch (error) {
    return { rabbitmq: `unreachable (${(error as Error).message})`, erlang: "unknown" };
  }
}

async function redisVersion(redisUrl: string): Promise<string> {
  const redis = new Redis(redisUrl, { lazyConnect: true, maxRetriesPerRequest: 1 });
  redis.on("error", () => undefined);
  try {
    await redis.connect();
    const info = await redis.info("server");
    return /redis_version:(\S+)/.exec(info)?.[1] ?? "unknown";
  } catch (error) {
    return `unreachable (${(error as Error).message})`;
  } finally {
    redis.disconnect();
  }
}

/** The commit measured, e.g. `3382b51`, with `+changes` when the working tree differs. */
export function sluiceRevision(repoRoot: string): string {
  try {
    const git = (args: string[]): string =>
      execFileSync("git", args, {
        cwd: repoRoot,
        encoding: "utf8",
        stdio: ["ignore", "pipe", "ignore"],
      }).trim();
    const head = git(["rev-parse", "--short", "HEAD"]);
    const dirty = git(["status", "--porcelain", "--untracked-files=no"]) !== "";
    return dirty ? `${head}+changes` : head;
  } catch {
    return "unknown";
  }
}

export async function machineInfo(amqpUrl: string, redisUrl: string): Promise<MachineInfo> {
  const cpuList = cpus();
  const { rabbitmq, erlang } = await brokerVersions(amqpUrl);
  return {
    cpuModel: cpuList[0]?.model.trim() ?? "unknown",
    cores: cpuList.length,
    memoryGb: Math.round((totalmem() / 1024 ** 3) * 10) / 10,
    os: `${osType()} ${release()}`,
    node: process.version,
    rabbitmq,
    erlang,
    redis: await redisVersion(redisUrl),
  };
}
