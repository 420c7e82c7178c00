// Callbacks and hub events in the response worker: every stored response (and a cancel) of a
// callback-mode message becomes a signed callback, every change a client's hub listeners asked
// for becomes an event, and the final callback's fate becomes the message's delivery state.

import type { Logger } from "pino";
import {
  OwnedElsewhereRefusal,
  receiverOf,
  shownCallbackTarget,
} from "../shared/delivery/callback-target";
import type { ResponseMessage } from "../shared/protocol/envelope";
import { HubListeners } from "../shared/store/hub-listeners";
import { DeadCallbacks } from "../shared/operator/dead-callbacks";
import { EventPayloads } from "../shared/store/event-payloads";
import { ParkedAttempts } from "../shared/store/parked-attempts";
import { messageLogger } from "../shared/observability/logger";
import { metrics } from "../shared/observability/metrics";
import type { Role, Runtime } from "../shared/runtime/runtime";
import { clientCiphers, ReloadableTls } from "../shared/config/tls-files";
import { isConsumerDirection } from "../shared/config/config";
import { SafeHttp, type Lookup } from "../shared/delivery/safe-http";
import { statusDocument } from "../shared/store/status-document";
import { headersOf, ROOT_CONTEXT, type Context } from "../shared/observability/tracing";
import { isTerminal, type Transaction } from "../shared/store/transaction-store";
import { CallbackDeliverer, type Settlement } from "./callback-deliverer";
import { jobLogRefs, jobRefs, type CallbackJob } from "../shared/protocol/callback-job";
import { deliveryLimitKeptMessage } from "../shared/broker/delivery-limit";
import {
  CALLBACK_DELIVERY_LIMIT,
  callbacksPolicy,
  callbackQueues,
  callbackTopology,
  deadQueuePolicyCommand,
  declareCallbackTopology,
  type DeadQueueBound,
} from "./callback-schedule";
import {
  CONFIGURATION_REFUSAL,
  CallbackSender,
  type AttemptResult,
  type CallbackSend,
} from "./callback-sender";
import { listenersFor, messageStateChangeEvent } from "./hub-events";
import { deliveryPolicy, listenerRefusal } from "../shared/delivery/listener-admission";

/** Why a final callback was not sent by a response worker without a signing secret. */
const UNSIGNED =
  "this response worker has no callbacks.secret and sends nothing unsigned; give it the " +
  "adapters' secret, then redeliver";

/** Why a hub event is not sent: its client removed the listener (DELETE /hub/<id>). */
const LISTENER_REMOVED = "the hub listener was removed";

export interface CallbackDeliveryOptions {
  /** Extra trusted CA certificates (PEM) for receivers and the security server. */
  ca?: string | Buffer | Array<string | Buffer>;
  /** Name resolution for delivery; the system resolver unless a test sets one. */
  lookup?: Lookup;
}

export interface CallbackDelivery extends Role {
  /**
   * A ResponseListener for startResponseWorker: callbacks and hub events for one response,
   * their deliveries traced below `trace` (the response's handling).
   */
  onResponse(tx: Transaction, response: ResponseMessage, trace?: Context): Promise<void>;
  /**
   * A StateChangeListener: hub events for a state change that came without a response
   * (accepted, processing, cancelled), and the final callback when that change is terminal
   * (a cancel). `eventKey` names the change; the same key always yields the same webhook ids.
   */
  onStateChange(tx: Transaction, eventKey: string): Promise<void>;
}

/**
 * A hub event at least this long (its JSON, in characters) that goes to more than one listener
 * is kept once in Redis, its jobs carrying its key: a client's 100 listeners would otherwise
 * put 100 copies of a large answer on the broker. Smaller ones travel in their jobs.
 */
const SHARED_PAYLOAD_LENGTH = 64 * 1024;

/** Listeners one process remembers having warned about; past it, it forgets them all. */
const WARNED_LISTENERS_MAX = 10_000;

/**
 * Whether an attempt is a hub event its listener's receiver is refused by the configuration
 * for (not another client's receiver: that listener is removed instead).
 */
function refusedByConfiguration(job: CallbackJob, result: AttemptResult | undefined): boolean {
  return job.listenerId !== undefined && result?.failure?.kind === CONFIGURATION_REFUSAL;
}

/** Deliveries one response worker makes at once (its prefetch of callback jobs). */
const DELIVERY_SLOTS = 16;

/** Starts consuming the callback queue and returns the hooks the response worker calls. */
export async function startCallbackDelivery(
  runtime: Runtime,
  options: CallbackDeliveryOptions = {},
): Promise<CallbackDelivery> {
  const { config, broker, store, redis } = runtime;
  const log: Logger = runtime.log.child({ component: "callbacks" });
  const topology = callbackTopology(config.prefix, config.callbacks.backoffMs);
  // A broker where an earlier release declared the callback queues as classic queues keeps
  // them (with jobs in flight) instead of refusing the response worker: one warning says how to
  // move them to quorum queues (docs/operations.md, Queue type).
  let warned = false;
  // Likewise a callbacks.dead declared without the bound (an earlier release's): used as it is,
  // with one warning giving the policy that bounds it (docs/operations.md, Changing queue
  // settings); refusing it would stop callback delivery over an audit copy.
  const deadBound: DeadQueueBound = {
    maxLength: config.callbacks.deadMaxLength,
    ttlMs: config.retentionMs,
  };
  let warnedUnbounded = false;
  // And a quorum callbacks declared without its delivery limit: used as it is, with one warning
  // giving the policy that gives it the limit (docs/reliability.md, "The callbacks queue").
  let warnedLimit = false;
  const channel = broker.channel("callbacks", (ch) =>
    declareCallbackTopology(ch, topology, {
      probe: () => broker.probeChannel(),
      deadBound,
      onUnboundedDead: (queue) => {
        if (warnedUnbounded) return;
        warnedUnbounded = true;
        log.warn(
          { queue, maxLength: deadBound.maxLength, ttlMs: deadBound.ttlMs },
          `${queue} exists without the bound this configuration gives it (an earlier release ` +
            "declared it, or deadMaxLength or retention changed since); using it as it is, and " +
            "nothing removes its records. Bound it with a policy: " +
            `${deadQueuePolicyCommand(queue, deadBound)}; see docs/operations.md ` +
            "'Changing queue settings'",
        );
      },
      onDeliveryLimitKept: (queue) => {
        if (warnedLimit) return;
        warnedLimit = true;
        log.warn(
          { queue, deliveryLimit: CALLBACK_DELIVERY_LIMIT },
          deliveryLimitKeptMessage(
            "the callbacks queue",
            queue,
            callbacksPolicy(queue),
            CALLBACK_DELIVERY_LIMIT,
          ),
        );
      },
      onClassic: (queues) => {
        if (warned) return;
        warned = true;
        log.warn(
          { queues },
          "callback queues left by an earlier release are classic queues; using them as they are. " +
            "To make them quorum queues: stop the response workers, move each queue's messages " +
            "to a holding queue (shovel), delete the queue, start a response worker (it declares " +
            "the quorum queue), move the messages back to the callbacks queue; see " +
            "docs/operations.md 'Queue type'",
        );
      },
    }),
  );
  const http = new SafeHttp({
    allowPrivate: config.callbacks.allowPrivate,
    timeoutMs: config.callbacks.timeoutMs,
    ca: options.ca,
    lookup: options.lookup,
    userAgent: "Sluice-Webhooks",
  });
  // `securityServer.tls`: its CA, and Sluice's certificate for an "HTTPS" connection type;
  // read again on SIGHUP (a bad file stops the start here, naming it).
  const ssTls = config.securityServer?.tls
    ? new ReloadableTls(config.securityServer.tls, "securityServer.tls")
    : null;
  // The security server is the operator's own, usually on a private address.
  const xroadHttpNow = (): SafeHttp =>
    new SafeHttp({
      allowPrivate: true,
      timeoutMs: config.callbacks.timeoutMs,
      ca: ssTls?.current.ca ?? options.ca,
      crl: ssTls?.current.crl,
      cert: ssTls?.current.cert,
      key: ssTls?.current.key,
      ciphers: clientCiphers(ssTls?.current),
      userAgent: "Sluice-Webhooks",
    });
  const xroad = config.securityServer
    ? {
        securityServerUrl: config.securityServer.url,
        client: config.securityServer.client,
        http: xroadHttpNow(),
      }
    : undefined;
  ssTls?.onChange(() => {
    if (!xroad) return;
    const old = xroad.http;
    xroad.http = xroadHttpNow();
    void old.close().catch(() => undefined);
  });
  const policy = deliveryPolicy(runtime.config);
  const sender = new CallbackSender({
    secrets: config.callbacks.secrets,
    policy,
    http,
    xroad,
  });
  const listeners = new HubListeners(redis, config.prefix);
  const deadCallbacks = new DeadCallbacks(redis, config.prefix, config.retentionMs);
  const eventPayloads = new EventPayloads(redis, config.prefix, config.retentionMs);

  const settle = async (job: CallbackJob, settlement: Settlement) => {
    const jobLog = messageLogger(log, jobLogRefs(job));
    if (job.settlesDelivery && settlement.outcome === "delivered") {
      // A delivered copy of the same delivery settles it even after another copy gave up:
      // the broker hands a job out again after a reconnect, and a response handed over again
      // enqueues its callback again, so two copies of one webhook-id can run side by side.
      // What the receiver took is the truth.
      // Out of the status page's count of dead callbacks in the same step, should it have been
      // one (a copy gave up before this one got through).
      await deadCallbacks.delivered(job.messageId);
      jobLog.info(
        { delivery: "delivered", attempts: settlement.attempts },
        "callback delivery settled",
      );
    } else if (job.settlesDelivery) {
      // delivery_failed together with the operator's record of it, which lets them send it
      // again once the receiver is mended (docs/operator.md, Dead callbacks).
      await deadCallbacks.record({
        id: job.messageId,
        webhookId: job.webhookId,
        target: job.target,
        receiver: receiverOf(job.target) ?? "",
        reason: settlement.outcome,
        attempts: settlement.attempts,
        failure: settlement.last?.failure?.message ?? null,
        status: settlement.last?.status ?? null,
        at: Date.now(),
      });
      jobLog.info(
        { delivery: "delivery_failed", attempts: settlement.attempts },
        "callback delivery settled",
      );
    }
    if (job.sharedPayload && job.listenerId) {
      await eventPayloads.settled(job.sharedPayload, job.listenerId);
    }
    if (job.listenerId && settlement.outcome === "gone") {
      const listener = await listeners.get(job.listenerId);
      if (listener) await listeners.discard(listener);
      jobLog.info({ listener: job.listenerId }, "hub listener answered 410 Gone; removed");
    }
    if (job.listenerId && refusedByConfiguration(job, settlement.last)) {
      warnRefusedOnce(job.listenerId, job.target, settlement.last?.failure?.message ?? "");
    }
    if (job.listenerId && settlement.last?.failure?.kind === "owned") {
      // Redis failing here leaves the listener for the next refused event to remove.
      await removeOwnedElsewhere(job.listenerId, jobLog).catch((error: unknown) =>
        jobLog.warn(
          { listener: job.listenerId, err: (error as Error)?.message ?? String(error) },
          "hub listener at another client's receiver not removed; the next event tries again",
        ),
      );
    }
  };

  // A listener whose receiver the configuration no longer admits is kept (docs/callbacks.md,
  // "Listeners the configuration refuses"): during a rollout another response worker may still
  // admit it, the operator may put the entry back, and its client would not be told of a
  // removal. Its refused events are counted, not dead-lettered: one warning per listener here.
  const warnedRefused = new Set<string>();
  const warnRefusedOnce = (listenerId: string, target: string, reason: string) => {
    if (warnedRefused.has(listenerId)) return;
    if (warnedRefused.size >= WARNED_LISTENERS_MAX) warnedRefused.clear();
    warnedRefused.add(listenerId);
    log.warn(
      { listener: listenerId, receiver: shownCallbackTarget(target), reason },
      "hub listener's receiver refused by the configuration; its events are not sent (counted " +
        'as outcome="refused") until the configuration admits it again or the listener is removed',
    );
  };

  // A listener registered before the configuration gave its receiver to another client
  // (callbacks.clients) would have every event of its client refused, each one a dead
  // callback, for as long as it stays. Checked against the listener's own client, not the
  // job's (an earlier release's job may name none): only a listener its client may no longer
  // hold is removed, as one whose receiver answered 410 is, its client not told.
  const removeOwnedElsewhere = async (listenerId: string, jobLog: Logger) => {
    const listener = await listeners.get(listenerId);
    if (listener === null) return;
    if (!(listenerRefusal(listener, policy) instanceof OwnedElsewhereRefusal)) return;
    if (!(await listeners.discard(listener))) return;
    jobLog.warn(
      {
        listener: listener.id,
        listenerClient: listener.client,
        receiver: shownCallbackTarget(listener.callback),
      },
      "hub listener removed: callbacks.clients gives its receiver to another client",
    );
  };

  const hasOwnReceivers = Object.keys(config.callbacks.clients).length > 0;
  // An event's job outlives its listener's removal (retries run for hours): one whose client
  // removed it (DELETE /hub/<id>) is no longer sent, as the client asked. When the look-up
  // fails the event is sent: a listener is only dropped when Redis says it is gone.
  const unlessRemoved = {
    async send(request: CallbackSend): Promise<AttemptResult> {
      if (request.listenerId !== undefined) {
        const listener = await listeners.get(request.listenerId).catch(() => undefined);
        if (listener === null) {
          return {
            outcome: "refused",
            failure: { kind: "refused", message: LISTENER_REMOVED },
          };
        }
      }
      // A job of a release before jobs named their client: its message's record names it,
      // so a receiver one client owns still gets that client's messages alone. Read without
      // its responses (the record's client is all this needs); Redis failing is tried again.
      if (request.client === undefined && hasOwnReceivers) {
        let client: string | null = null;
        try {
          await store.get(request.messageId, (tx) => ((client = tx.client), false));
        } catch (error) {
          return {
            outcome: "retry",
            failure: { kind: "store", message: (error as Error).message },
          };
        }
        request.client = client;
      }
      return sender.send(request);
    },
  };

  const deliverer = new CallbackDeliverer({
    broker,
    channel,
    topology,
    sender: unlessRemoved,
    prefetch: DELIVERY_SLOTS,
    onInHand: (count) => metrics.callbackJobsInHand.set(count),
    maxPerTarget: config.callbacks.maxPerTarget,
    // Receivers that hang would otherwise hold every one of the 16 deliveries for `timeout`.
    parking: {
      marks: new ParkedAttempts(redis, config.prefix, config.retentionMs),
      attemptTimeoutMs: config.callbacks.timeoutMs,
      onCount: (count) => metrics.callbackAttemptsSetApart.set(count),
    },
    maxJobBytes: config.amqpMaxMessageBytes,
    // Gone (every listener settled it, Redis lost it): the job ends `lost`.
    loadPayload: (job) =>
      job.sharedPayload === undefined
        ? Promise.resolve(null)
        : eventPayloads.load(job.sharedPayload),
    logger: log,
    onAttempt: (job, result, next) => {
      // An event whose client removed its listener is no receiver's failure: counted with
      // the 410s as gone, or every unsubscribe would raise the failing-deliveries alert.
      const gone = result.outcome === "gone" || result.failure?.message === LISTENER_REMOVED;
      // Nor is an event the configuration refuses its listener's receiver: counted apart,
      // or every event of its client would raise the alert for what no retry mends.
      const outcome =
        result.outcome === "delivered"
          ? "delivered"
          : gone
            ? "gone"
            : refusedByConfiguration(job, result)
              ? "refused"
              : next === "retry"
                ? "retry"
                : "failed";
      metrics.callbackDeliveries.inc({ outcome });
    },
    recordsDead: (job, settlement) => !refusedByConfiguration(job, settlement.last),
    onSettled: settle,
  });
  await channel.waitForConnect();
  // Declared by the channel's setup now: their depths go on /metrics with the others'.
  runtime.monitor.watch(callbackQueues(topology));
  await deliverer.start();

  const signing = config.callbacks.secrets.length > 0;
  let warnedUnsigned = false;
  const publish = async (
    tx: Transaction,
    eventKey: string,
    final: boolean,
    callback: boolean,
    trace: Context = ROOT_CONTEXT,
  ) => {
    if (!signing) {
      if (!warnedUnsigned)
        log.warn("no callbacks.secret configured: callbacks and hub events are off");
      warnedUnsigned = true;
      // An unsigned callback is never sent, so its delivery must not stay pending forever. It
      // is a dead callback like any other (an adapter with the secret took it: the roles'
      // configurations differ), which the operator redelivers once this one has the secret.
      if (tx.replyMode === "callback" && final && tx.callback) {
        await deadCallbacks.record({
          id: tx.id,
          webhookId: `msg_${eventKey}`,
          target: tx.callback,
          receiver: receiverOf(tx.callback) ?? "",
          reason: "refused",
          attempts: 0,
          failure: UNSIGNED,
          status: null,
          at: Date.now(),
        });
      } else if (tx.replyMode === "callback" && final) {
        await store.setDelivery(tx.id, "delivery_failed", ["pending"]);
      }
      return;
    }
    const document = statusDocument(tx);
    // Named on the delivery's log lines, as on every line about a message.
    const refs = jobRefs(tx);
    const traceHeaders = headersOf(trace);
    const withTrace = Object.keys(traceHeaders).length > 0 ? { trace: traceHeaders } : {};
    if (callback && tx.replyMode === "callback" && tx.callback) {
      await deliverer.enqueue({
        webhookId: `msg_${eventKey}`,
        messageId: tx.id,
        ...refs,
        target: tx.callback,
        payload: JSON.stringify(document),
        settlesDelivery: final,
        ...withTrace,
      });
    }
    const clientListeners = await listeners.forClient(tx.client);
    if (clientListeners.length === 0) return;
    const event = messageStateChangeEvent(eventKey, document);
    const to = listenersFor(clientListeners, tx.client, event, isConsumerDirection(config, tx));
    if (to.length === 0) return;
    // Serialised once for every listener it goes to: a status document may be megabytes.
    const payload = JSON.stringify(event);
    const shared = to.length > 1 && payload.length >= SHARED_PAYLOAD_LENGTH;
    if (shared)
      await eventPayloads.put(
        eventKey,
        payload,
        to.map((listener) => listener.id),
      );
    for (const listener of to) {
      await deliverer.enqueue({
        webhookId: `evt_${eventKey}.${listener.id}`,
        messageId: tx.id,
        ...refs,
        target: listener.callback,
        ...(shared ? { sharedPayload: eventKey } : { payload }),
        listenerId: listener.id,
        ...withTrace,
      });
    }
  };

  return {
    name: "callbacks",
    // Deterministic ids: a response handled twice (redelivery after a crash) yields the same
    // webhook-id, which receivers use to drop the duplicate.
    onResponse: (tx, response, trace) =>
      publish(tx, `${tx.id}.${response.seq}`, response.final, true, trace),
    // A callback target hears of outcomes only: accepted and processing are hub events.
    onStateChange: (tx, eventKey) => {
      const terminal = isTerminal(tx.state);
      return publish(tx, `${tx.id}.${eventKey}`, terminal, terminal);
    },
    async drain(deadline) {
      // An attempt still under way at the deadline is dropped unsettled: its job (or, for one
      // set apart, its copy) stays on the queues and is sent again (same webhook-id) by the
      // next response worker.
      await deadline.within(deliverer.stop());
    },
    async close() {
      await channel.close().catch(() => undefined);
      // After the drain: an attempt still under way has run out of grace time and is aborted.
      await http.destroy();
      ssTls?.dispose();
      await xroad?.http.destroy();
    },
  };
}
