// Sends a request the worker gives up on to its backend's dead-letter queue, recorded first for
// the operator (listing, replay); counted for the operator's alerts.

import { requestCodec } from "../../shared/protocol/codec";
import { deadLetterHeaders, deadLetterIdentity } from "../../shared/protocol/names";
import { metrics } from "../../shared/observability/metrics";
import type { Clock } from "../../shared/runtime/clock";
import type { ProcessorDeps } from "./processor-deps";

export class DeadLetterPublisher {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly clock: Clock,
  ) {}

  /**
   * Sends the request to the dead-letter queue, recorded first for the operator (reason, error,
   * the request itself for a replay); an unreadable one only goes to the queue.
   */
  async publish(
    content: Buffer,
    reason: string,
    id: string | null,
    detail?: { error: string; attempts: number },
  ): Promise<void> {
    const { broker, publisher, names, backend, deadLetters } = this.deps;
    const decoded = id && deadLetters ? requestCodec.decode(content) : null;
    const request = decoded?.ok ? decoded.message : null;
    if (request && deadLetters) {
      await deadLetters.record(
        {
          id: request.id,
          reason,
          backend: backend.name,
          service: request.service,
          client: request.client,
          xroadId: request.xroadId,
          at: this.clock.now(),
          error: detail?.error ?? null,
          attempts: detail?.attempts ?? 1,
        },
        content,
      );
    }
    await broker.publish(publisher, names.deadLetterExchange, backend.name, content, {
      // A dead letter no queue takes is a failed publish: the delivery is not acked.
      mandatory: true,
      ...deadLetterIdentity(
        id,
        deadLetterHeaders(reason, backend.name, id === null ? detail?.error : undefined),
      ),
    });
    metrics.deadLetters.inc({ backend: backend.name, reason });
  }
}
