// A quorum queue's delivery limit, given by the declaration to a new queue and by an operator's
// policy to one an earlier release declared without it (the broker refuses to add arguments to
// an existing queue). RabbitMQ 4 gives a quorum queue without a limit one of 20, and a message
// returned more often than that is dropped (or dead-lettered, where the queue has an exchange
// for it): too few for the queues whose messages Sluice hands back while Redis is away.

/** A regular expression matching `queue`'s name and no other (a policy's pattern). */
export function exactQueuePattern(queue: string): string {
  return `^${queue.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}$`;
}

/**
 * The name of the policy `policy` for `queue`, a queue named `base` under an installation's
 * prefix: that prefix put before it, as before the queue. Installations sharing a broker under
 * different prefixes each keep their own policy, where one name for all would have the second
 * one's `rabbitmqctl set_policy` replace the first one's, whose queue would lose its limit.
 */
export function prefixedPolicy(policy: string, queue: string, base: string): string {
  const prefix = queue.endsWith(base) ? queue.slice(0, queue.length - base.length) : "";
  return `${prefix}${policy}`;
}

/**
 * The policy giving `queue` its delivery limit. Priority 10: of the policies matching a queue
 * only the one with the highest priority applies (their keys do not combine), so this one wins
 * over an operator's catch-all policy of the default priority 0 and replaces it on this queue.
 */
export function deliveryLimitPolicyCommand(policy: string, queue: string, limit: number): string {
  const definition = JSON.stringify({ "delivery-limit": limit });
  return `rabbitmqctl set_policy --apply-to queues --priority 10 ${policy} '${exactQueuePattern(queue)}' '${definition}'`;
}

/** What the operator is told, once, of a queue an earlier release declared without its limit. */
export function deliveryLimitKeptMessage(
  description: string,
  queue: string,
  policy: string,
  limit: number,
): string {
  return (
    `${description} exists without its delivery limit (an earlier release declared it) and is ` +
    "used as it is; on RabbitMQ 4 the broker's default of 20 applies to it. Give it the limit " +
    `with: ${deliveryLimitPolicyCommand(policy, queue, limit)} (only the highest-priority ` +
    "policy matching a queue applies: if a policy of yours matches it, add the delivery-limit " +
    "key to that policy instead)"
  );
}
