// A broker whose publish waits for the test to settle it: a replay's publisher held between its
// claim and the broker's confirm, as one that stalled or stopped there.

import type { Broker } from "../../shared/broker/amqp";
import { SluiceError } from "../../shared/protocol/errors";

export interface HeldBroker {
  broker: Broker;
  /** Resolves once a publish started (the claim is made). */
  publishing: Promise<void>;
  /** Ends the publish: refused by the broker (true), or confirmed (false). */
  settle(refuse: boolean): void;
  /** What the held publish carried: the copy a broker that took it would deliver. */
  published(): Buffer;
}

export function heldBroker(): HeldBroker {
  let started!: () => void;
  let settle!: (refuse: boolean) => void;
  let content: Buffer | undefined;
  const publishing = new Promise<void>((resolve) => (started = resolve));
  const settled = new Promise<boolean>((resolve) => (settle = resolve));
  const broker = {
    publish: async (_channel: unknown, _exchange: string, _key: string, body: Buffer) => {
      content = body;
      started();
      if (await settled) {
        throw new SluiceError("Unavailable", "message broker unavailable", { retryAfter: 5 });
      }
    },
  } as unknown as Broker;
  return {
    broker,
    publishing,
    settle,
    published: () => {
      if (!content) throw new Error("nothing was published");
      return content;
    },
  };
}
