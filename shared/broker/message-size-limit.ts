// The largest message Sluice may publish: the operator's `amqpMaxMessageSize`, or the broker's
// own `max_message_size` once it refused a larger message (amqp.ts learns it), whichever is less.

/** The bound in bytes: a number per message, no object made on the hot path. */
export function messageSizeLimit(configured: number, learned: number | null | undefined): number {
  return learned != null && learned < configured ? learned : configured;
}

/** The bound `messageSizeLimit` gave, named for an operator (only made when it was crossed). */
export function messageSizeLimitName(
  configured: number,
  learned: number | null | undefined,
): string {
  return learned != null && learned < configured
    ? `the broker's max_message_size of ${learned} bytes (amqpMaxMessageSize is ${configured})`
    : `amqpMaxMessageSize of ${configured} bytes`;
}
