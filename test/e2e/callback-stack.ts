// Sluice for delivery tests, in this process: a front runtime (adapter with the hub routes,
// worker) and a back runtime (response worker with callback delivery) that a test can stop
// and start again, as a restarted response-worker process would.

import * as amqplib from "amqplib";
import pino from "pino";
import { startAdapter, type AdapterRole } from "../../adapter/adapter-role";
import { startCallbackDelivery } from "../../response-worker/callback-delivery";
import { callbackQueues, callbackTopology } from "../../response-worker/callback-schedule";
import { startResponseWorker } from "../../response-worker/response-worker-role";
import { loadConfig, type SluiceConfig } from "../../shared/config/config";
import { startRuntime, type Role, type Runtime } from "../../shared/runtime/runtime";
import { startWorker } from "../../worker/worker-role";
import { AMQP_URL, Harness } from "../support/harness";
import { drainRoles } from "../../shared/runtime/shutdown-deadline";
import { CallbackReceiver, testCertificate } from "../integration/callback-receiver";

interface Stage {
  runtime: Runtime;
  roles: Role[];
}

/** A stack and the HTTPS receiver its callbacks go to, for one describe block. */
export interface CallbackSuite {
  stack: CallbackStack;
  /** Started by the block's `before` hook. */
  receiver: CallbackReceiver;
}

export class CallbackStack {
  /**
   * A stack and an HTTPS callback receiver for the enclosing describe block: its `before` hook
   * starts the receiver, then the stack with `config(receiver)`; its `after` hook stops both.
   */
  static suite(config: (receiver: CallbackReceiver) => Record<string, unknown>): CallbackSuite {
    const suite = { stack: new CallbackStack(testCertificate().cert) } as CallbackSuite;
    before(async () => {
      suite.receiver = await CallbackReceiver.start({ tls: true });
      await suite.stack.start(config(suite.receiver));
    });
    after(async () => {
      suite.receiver?.release();
      await suite.stack.cleanup();
      await suite.receiver?.close();
    });
    return suite;
  }

  readonly harness = new Harness();
  config!: SluiceConfig;
  adapterUrl = "";
  private front: Stage | null = null;
  private back: Stage | null = null;
  /** The roles' logger; a test that reads their warnings sets one before startBack. */
  log: pino.Logger = pino({ level: "silent" });

  constructor(private readonly ca: string) {}

  /** Writes the configuration (backends default to the legacy-sim) and starts both stages. */
  async start(config: Record<string, unknown>): Promise<void> {
    await this.harness.startSim({ latencyMs: 20 });
    this.config = loadConfig(this.harness.writeConfig(config));
    await this.startBack();
    const runtime = await startRuntime(this.config, this.log, 0);
    const roles: Role[] = [await startWorker(runtime)];
    const adapter: AdapterRole = await startAdapter(runtime, { port: 0 });
    roles.push(adapter);
    this.adapterUrl = `http://127.0.0.1:${adapter.port}`;
    this.front = { runtime, roles };
  }

  /** Starts the response worker with callback delivery, as a fresh process would. */
  async startBack(): Promise<void> {
    const runtime = await startRuntime(this.config, this.log, 0);
    const callbacks = await startCallbackDelivery(runtime, { ca: this.ca });
    const responses = await startResponseWorker(runtime, [
      (tx, response) => callbacks.onResponse(tx, response),
    ]);
    this.back = { runtime, roles: [callbacks, responses] };
  }

  /** The response worker's runtime (its broker, its Redis), while it runs. */
  get backRuntime(): Runtime {
    if (!this.back) throw new Error("the response worker is not running");
    return this.back.runtime;
  }

  /** Drains and closes the response worker, the way SIGTERM does. */
  async stopBack(): Promise<void> {
    if (this.back) await stop(this.back);
    this.back = null;
  }

  async cleanup(): Promise<void> {
    if (this.front) await stop(this.front);
    await this.stopBack();
    this.front = null;
    await this.harness.cleanup();
    if (!this.config) return;
    const topology = callbackTopology(this.config.prefix, this.config.callbacks.backoffMs);
    const connection = await amqplib.connect(AMQP_URL);
    try {
      const channel = await connection.createChannel();
      for (const queue of callbackQueues(topology)) {
        await channel.deleteQueue(queue).catch(() => undefined);
      }
    } finally {
      await connection.close();
    }
  }
}

async function stop(stage: Stage): Promise<void> {
  await drainRoles(stage.roles, 5_000);
  await stage.runtime.close();
}
