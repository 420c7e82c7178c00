// One callback or hub event delivery on the callback queues: written by one response worker,
// sent (and retried) by whichever response worker consumes it, possibly of another release.

/** One delivery on the queues. Everything needed to send it again after a restart. */
export interface CallbackJob {
  /** The `webhook-id`: the same on every attempt of this delivery. */
  webhookId: string;
  /** Gateway message id the delivery is about. */
  messageId: string;
  /**
   * The message's X-Road client and the caller's X-Road message id, for the log lines about
   * the delivery (every line about a message names them). Absent in jobs of earlier releases.
   */
  client?: string;
  xroadId?: string;
  /** Canonical callback target (URL or `xroad:` target). */
  target: string;
  /** 1-based number of the attempt this job is for. */
  attempt: number;
  /** The JSON body; absent when `loadPayload` re-reads it at send time. */
  payload?: string;
  /**
   * Set instead of `payload` on a large hub event going to several listeners: the event key
   * whose JSON the jobs share in Redis (`eventPayload`), read at each attempt.
   */
  sharedPayload?: string;
  /** Set for hub events: the listener this delivery is for. */
  listenerId?: string;
  /** Whether settling this job settles the message's delivery state (its final callback). */
  settlesDelivery?: boolean;
  /** Epoch ms of the first enqueue, for end-to-end delivery figures. */
  enqueuedAt: number;
  /** W3C trace context of what caused the delivery: each attempt's span descends from it. */
  trace?: Record<string, string>;
  /**
   * Epoch ms before which this attempt is not made: a receiver's Retry-After longer than the
   * longest delay queue. The job comes back from that queue and waits again, not an attempt,
   * until then (a release before this field makes the attempt when it comes back).
   */
  notBefore?: number;
  /**
   * Set on the copy a response worker keeps on the queues while it makes a slow attempt of this
   * job set apart from its prefetch: a token new for each setting apart. When the copy comes
   * back, it is dropped if that attempt ended (`parkedAttemptDone(token)` in Redis), and made
   * as this same attempt if not (the worker that made it stopped). A release before this field
   * makes the attempt again.
   */
  parkedCopy?: string;
}

/** The client and X-Road id a delivery's job carries, from its message's record. */
export function jobRefs(tx: {
  client: string;
  xroadId: string | null;
}): Pick<CallbackJob, "client" | "xroadId"> {
  return tx.xroadId === null ? { client: tx.client } : { client: tx.client, xroadId: tx.xroadId };
}

/** What every log line about a delivery names: its message's id, X-Road id and client. */
export function jobLogRefs(job: CallbackJob): {
  id: string;
  xroadId: string | null;
  client: string | null;
} {
  return { id: job.messageId, xroadId: job.xroadId ?? null, client: job.client ?? null };
}
