// Hub events (TMF688 style): the `MessageStateChangeEvent` a listener receives, and which of a
// client's listeners receive it. A client's listeners only ever see that client's messages.

import { matchesHubFilter, parseHubQuery, type HubListener } from "../shared/store/hub-listeners";
import type { StatusDocument } from "../shared/store/status-document";

export interface MessageStateChangeEvent {
  eventId: string;
  eventTime: string;
  eventType: "MessageStateChangeEvent";
  /** The gateway message id. */
  correlationId: string;
  event: { message: StatusDocument };
}

export function messageStateChangeEvent(
  eventId: string,
  message: StatusDocument,
  now: number = Date.now(),
): MessageStateChangeEvent {
  return {
    eventId,
    eventTime: new Date(now).toISOString(),
    eventType: "MessageStateChangeEvent",
    correlationId: message.id,
    event: { message },
  };
}

/**
 * The listeners an event goes to: those registered by the message's own client whose query
 * admits it. A listener whose stored query no longer parses receives nothing, and one registered
 * through a security server nothing of a consumer-direction message (`consumerDirection`): that
 * X-Road client may only share its id with the local system that sent it (docs/consumer.md).
 */
export function listenersFor(
  listeners: readonly HubListener[],
  client: string,
  event: MessageStateChangeEvent,
  consumerDirection = false,
): HubListener[] {
  const facts = {
    eventType: event.eventType,
    service: event.event.message.service,
    state: event.event.message.state,
  };
  return listeners.filter((listener) => {
    if (listener.client !== client) return false;
    if (consumerDirection && listener.viaXroad === true) return false;
    try {
      return matchesHubFilter(parseHubQuery(listener.query), facts);
    } catch {
      return false;
    }
  });
}
