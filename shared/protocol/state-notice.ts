// A state change that comes without a response (a worker claiming a message, a client
// cancelling one), told to the response worker on `responses` so hub listeners hear of it.

import type { ChannelWrapper } from "amqp-connection-manager";
import type { MessageProperties } from "amqplib";
import type { Logger } from "pino";
import type { Broker } from "../broker/amqp";
import type { NoticeState, StateNotice } from "./envelope";
import { stateNoticeCodec } from "./codec";
import { RESPONSES_ROUTING_KEY, STATE_NOTICE_TYPE, type TopologyNames } from "./names";

export type { NoticeState, StateNotice } from "./envelope";

export function isStateNotice(properties: Pick<MessageProperties, "type">): boolean {
  return properties.type === STATE_NOTICE_TYPE;
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
        RESPONSES_ROUTING_KEY,
        stateNoticeCodec.encode(notice),
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
