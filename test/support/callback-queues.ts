// The callback queues of one test at a time on the real broker and Redis: a fresh prefix and
// topology per test (retries after 200 ms, copies set apart waiting in a step-aside queue of
// 300 ms, again and again until due), and everything the test made deleted after it.

import amqplib from "amqplib";
import Redis from "ioredis";
import {
  callbackQueues,
  callbackTopology,
  type CallbackTopology,
} from "../../response-worker/callback-schedule";
import { AMQP_URL, REDIS_URL } from "./harness";
import { randomUUID } from "node:crypto";

export interface CallbackQueues {
  readonly adminChannel: amqplib.Channel;
  readonly redis: Redis;
  readonly prefix: string;
  readonly topology: CallbackTopology;
  /** Run after each test, first to last, before its queues and keys are deleted. */
  readonly cleanups: Array<() => Promise<void>>;
  /** Messages waiting on the test's callback queues, `callbacks.dead` left out. */
  depths(): Promise<number>;
}

/** Registers the hooks of the enclosing `describe`; the fields are set once they have run. */
export function callbackQueuesPerTest(): CallbackQueues {
  let admin: amqplib.ChannelModel;
  const scope = {
    cleanups: [] as Array<() => Promise<void>>,
  } as { -readonly [K in keyof CallbackQueues]: CallbackQueues[K] };
  scope.depths = async () => {
    let total = 0;
    for (const queue of callbackQueues(scope.topology)) {
      if (queue !== scope.topology.dead) {
        total += (await scope.adminChannel.checkQueue(queue)).messageCount;
      }
    }
    return total;
  };

  before(async () => {
    admin = await amqplib.connect(AMQP_URL);
    scope.adminChannel = await admin.createChannel();
    scope.redis = new Redis(REDIS_URL);
  });
  beforeEach(() => {
    scope.prefix = `t-${randomUUID().slice(0, 8)}.`;
    scope.topology = callbackTopology(scope.prefix, [200], [300]);
  });
  afterEach(async () => {
    // The tests' own first (receivers, whose hanging requests end; deliverers), then the queues.
    for (const cleanup of scope.cleanups.splice(0)) await cleanup();
    for (const queue of callbackQueues(scope.topology)) {
      await scope.adminChannel.deleteQueue(queue);
    }
    const keys = await scope.redis.keys(`${scope.prefix}sluice:*`);
    if (keys.length > 0) await scope.redis.del(...keys);
  });
  after(async () => {
    await admin.close();
    scope.redis.disconnect();
  });
  return scope;
}
