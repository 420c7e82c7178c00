// A state change that comes without a response (a worker claiming a message, a client
// cancelling one), told to the response worker on `responses` so hub listeners hear of it.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { MessageProperties } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../broker/amqp";
import type { TopologyNames } from "../broker/topology";

/** AMQP `type` of a notice; responses carry none, so older consumers still read them. */
export const STATE_NOTICE_TYPE = "sluice.state";

export type NoticeState = "processing" | "cancelled";

export interface StateNotice {
  kind: "state";
  id: string;
  state: NoticeState;
  /** Epoch milliseconds, taken after the store recorded the change (same clock as its entry). */
  at: number;
}

const NOTICE_STATES: readonly string[] = ["processing", "cancelled"];

export function isStateNotice(properties: Pick<MessageProperties, "type">): boolean {
  return properties.type === STATE_NOTICE_TYPE;
}

/** The notice in a message body, or null when it is not a well-formed one. */
export function decodeStateNotice(content: Buffer): StateNotice | null {
  let value: unknown;
  try {
    value = JSON.parse(content.toString("utf8"));
  } catch {
    return null;
  }
  const notice = value as Partial<StateNotice> | null;
  if (
    typeof notice !== "object" ||
    notice === null ||
    notice.kind !== "state" ||
    typeof notice.id !== "string" ||
    typeof notice.state !== "string" ||
    !NOTICE_STATES.includes(notice.state) ||
    typeof notice.at !== "number"
  )
    return null;
  return { kind: "state", id: notice.id, state: notice.state, at: notice.at };
}

/** Publishes notices on the responses exchange; a failed publish is logged, never thrown. */
export class StateNotices {
  constructor(
    private readonly broker: Broker,
    private readonly publisher: ChannelWrapper,
    private readonly names: TopologyNames,
    private readonly log: Logger,
  ) {}

  async publish(id: string, state: NoticeState): Promise<void> {
    const notice: StateNotice = { kind: "state", id, state, at: Date.now() };
    try {
      await this.broker.publish(
        this.publisher,
        this.names.responsesExchange,
        "responses",
        Buffer.from(JSON.stringify(notice)),
        {
          messageId: `${id}.${state}.${notice.at}`,
          type: STATE_NOTICE_TYPE,
          contentType: "application/json",
        },
      );
    } catch (error) {
      // The state itself is in Redis; only the event about it is lost.
      this.log.warn({ err: (error as Error).message, id, state }, "state notice not published");
    }
  }
}
