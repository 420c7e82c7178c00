// Consumes the callback delivery queue: sends each job, parks failed ones in the delay tier of
// their next attempt, and settles each delivery exactly once (delivered, or dead-lettered).

import { randomUUID } from "node:crypto";
import type { ConfirmChannel, ConsumeMessage } from "amqplib";
import type { ChannelWrapper } from "amqp-connection-manager";
import { type Broker, safeAck, safeNack } from "../shared/broker/amqp";
import type { AttemptResult, CallbackSend } from "./callback-sender";
import {
  contextFrom,
  contextWith,
  endSpan,
  headersOf,
  messageAttributes,
  SpanKind,
  startSpan,
} from "../shared/observability/tracing";
import {
  asideTier,
  type DelayTier,
  nextTier,
  waitTier,
  STEPPED_ASIDE_HEADER,
  type CallbackTopology,
} from "./callback-schedule";
import { jobLogRefs, type CallbackJob } from "../shared/protocol/callback-job";
import { callbackJobCodec } from "../shared/protocol/codec";
import { messageSizeLimit, messageSizeLimitName } from "../shared/broker/message-size-limit";
import { TargetSlots } from "./target-slots";
import { Deadline } from "../shared/runtime/stall-aware-deadline";
import { receiverOf, shownCallbackTarget } from "../shared/delivery/callback-target";
import {
  DEFAULT_AMQP_MAX_MESSAGE_BYTES,
  DEFAULT_CALLBACK_MAX_PER_TARGET,
} from "../shared/config/config";

export type SettledOutcome =
  | "delivered"
  | "gone" // the receiver answered 410: stop
  | "exhausted" // the backoff is used up
  | "refused" // the target no longer passes the callback policy
  | "rejected" // the security server refused it for good (access denied, unknown service, ...)
  | "lost" // the payload could not be loaded any more (e.g. the record expired)
  | "too_large" // the job is larger than the broker takes (maxJobBytes, max_message_size)
  | "malformed"; // not a job at all

export interface Settlement {
  outcome: SettledOutcome;
  /** Attempts made, this one included. */
  attempts: number;
  last?: AttemptResult;
}

export interface DeliveryLogger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

export interface CallbackDelivererOptions {
  /**
   * Publishes on `channel` and fails a publish the broker returned as unroutable; knows the
   * broker's message size limit once the broker refused a larger message.
   */
  broker: Pick<Broker, "publish"> & Partial<Pick<Broker, "maxMessageBytes">>;
  /** A confirm channel of that broker (`Broker.channel`, so returns are heard). */
  channel: ChannelWrapper;
  topology: CallbackTopology;
  sender: { send(request: CallbackSend): Promise<AttemptResult> };
  /** Reads the body of a job that carries none; null when it is gone. */
  loadPayload?: (job: CallbackJob) => Promise<string | null>;
  /**
   * After every attempt, with what happens next: "retry" when the job was parked for another
   * attempt, "settled" when this attempt ended the delivery (metrics count both).
   */
  onAttempt?: (job: CallbackJob, result: AttemptResult, next: "retry" | "settled") => void;
  /**
   * Whether a delivery not delivered leaves a record in the dead queue (and a warning); every
   * one does unless this says no.
   */
  recordsDead?: (job: CallbackJob, settlement: Settlement) => boolean;
  /** Once per delivery; when it throws, the job is handed back and settled again later. */
  onSettled?: (job: CallbackJob, settlement: Settlement) => Promise<void> | void;
  /** Deliveries sent at once by this instance. */
  prefetch?: number;
  /**
   * Told how many jobs of the delivery queue this instance holds whenever that changes (a
   * gauge): at the prefetch while the queue grows, it delivers as fast as it can.
   */
  onInHand?: (count: number) => void;
  /**
   * Attempts to one receiver (a URL origin, or an X-Road service) at once. A job whose
   * receiver's slots are taken steps aside into a step-aside queue instead (not counted as an
   * attempt), so a hanging receiver holds neither every slot nor the prefetch. Default 4.
   */
  maxPerTarget?: number;
  logger?: DeliveryLogger;
  /**
   * Sets slow attempts apart from the prefetch: see `Parking`. Without it an attempt holds its
   * broker delivery until it ends.
   */
  parking?: Parking;
  /**
   * The largest job (encoded, bytes) published. A larger one ends at once as `too_large`, as
   * does one the broker refuses for its size: published, it would close the channel (and hand
   * back every job on it) and fail again on every try (`amqpMaxMessageSize`).
   */
  maxJobBytes?: number;
}

/**
 * An attempt still under way after `afterMs` stops holding its broker delivery, so receivers
 * that hang cannot hold every one of the worker's deliveries (its prefetch) for their whole
 * `timeout`: a copy of its job (`parkedCopy`) goes on the queues to come back after the attempt
 * can have ended, and then the delivery is acknowledged. The attempt goes on and its outcome is
 * handled as any other's (a retry queued, or settled), then marked done; the copy, back, is
 * dropped when the mark is there, and made as the same attempt when not (the worker stopped).
 */
export interface Parking {
  /** Marks by the copy's token (`parkedCopy`), unique to one setting apart. */
  marks: {
    finished(token: string): Promise<void>;
    takeFinished(token: string): Promise<boolean>;
  };
  /** The longest an attempt runs (`callbacks.timeout`). */
  attemptTimeoutMs: number;
  /** How long an attempt runs before it is set apart. Default 1 s. */
  afterMs?: number;
  /**
   * Attempts set apart at once; past it, a slow attempt holds its delivery as without parking.
   * It bounds the sockets and memory hanging receivers can hold. Default 256.
   */
  max?: number;
  /**
   * Bytes of the jobs set apart at once (each is held with its body until its attempt ends);
   * past it, as past `max`. Default 32 MiB.
   */
  maxBytes?: number;
  /** Told how many attempts are set apart whenever that changes (a gauge). */
  onCount?: (count: number) => void;
}

/** One broker delivery being handled, and whether it was acknowledged early (parked). */
interface Delivery {
  message: ConsumeMessage;
  generation: number;
  parked: boolean;
}

/** A job the broker does not take for its size; carries the reason the dead record gives. */
class JobTooLarge extends Error {}

const SETTLE_RETRY_PAUSE_MS = 1_000;
/**
 * How long a job may wait here for a slot of a receiver that is answering, before stepping
 * aside: a healthy receiver at its limit frees a slot within that and keeps its pace.
 */
const SLOT_WAIT_MS = 250;
/**
 * How long an attempt holds its delivery before it is set apart: a receiver that answers
 * within it costs no copy, and hanging ones give their deliveries back after that long.
 */
const PARK_AFTER_MS = 1_000;
/** Attempts set apart at once: 64 hanging receivers' worth at the default `maxPerTarget`. */
const MAX_PARKED = 256;
/**
 * Their jobs' bytes: a job held while its receiver hangs keeps its body in memory two or three
 * times over (the job, the request's buffer), so large status documents reach this first.
 */
const MAX_PARKED_BYTES = 32 * 1024 * 1024;
/**
 * How long a receiver that had an attempt set apart is taken as slow: its next attempts are set
 * apart at once, so receivers that hang do not each hold a delivery for `PARK_AFTER_MS`.
 */
const SLOW_RECEIVER_MS = 60_000;
/** Beyond the attempt's `timeout`, how long its copy stays away at least. */
const PARKED_COPY_MARGIN_MS = 5_000;

export class CallbackDeliverer {
  private readonly inFlight = new Set<Promise<void>>();
  /**
   * Counts the channels the wrapper opened: a delivery is settled only on the channel it came
   * on, the one of its generation. Counted in the channel's setup, which runs before its
   * consumer is set up again: the wrapper's `connect` event comes after the new channel's
   * first deliveries, which then belonged to the closed channel's generation and were never
   * acknowledged (delivery stopped once they filled the prefetch, until the broker's
   * consumer_timeout closed the channel).
   */
  private generation = 0;
  /** The channel of the current generation. */
  private current: ConfirmChannel | null = null;
  private stopping = false;
  private consumerTag: string | null = null;
  private readonly onChannel = async (channel: ConfirmChannel) => {
    this.generation += 1;
    this.current = channel;
  };

  private readonly slots: TargetSlots;
  /** The attempts set apart and still under way here, by `parkKey`, with their jobs' bytes. */
  private readonly parked = new Map<string, number>();
  private parkedBytes = 0;
  /** Receivers that had an attempt set apart, and when it was last. */
  private readonly slowReceivers = new Map<string, number>();

  /** How long an attempt runs before it is set apart (`parking.afterMs`). */
  private get parkAfterMs(): number {
    return this.options.parking?.afterMs ?? PARK_AFTER_MS;
  }

  constructor(private readonly options: CallbackDelivererOptions) {
    this.slots = new TargetSlots({
      perTarget: options.maxPerTarget ?? DEFAULT_CALLBACK_MAX_PER_TARGET,
      waitMs: SLOT_WAIT_MS,
    });
  }

  /** Declares nothing: the topology is declared by the channel's setup (declareCallbackTopology). */
  async start(): Promise<void> {
    const { channel, topology } = this.options;
    this.stopping = false;
    await channel.addSetup(this.onChannel);
    const { consumerTag } = await channel.consume(
      topology.delivery,
      (message) => this.track(this.handle(message, this.generation)),
      { prefetch: this.options.prefetch ?? 8 },
    );
    this.consumerTag = consumerTag;
  }

  /** Stops taking jobs and waits for the attempts under way; unsent jobs stay on the queue. */
  async stop(): Promise<void> {
    const { channel } = this.options;
    this.stopping = true;
    if (this.consumerTag !== null) {
      await channel.cancel(this.consumerTag).catch(() => undefined);
      this.consumerTag = null;
    }
    await Promise.allSettled([...this.inFlight]);
    await channel.removeSetup(this.onChannel);
  }

  /** Queues the first attempt of a delivery; resolves when a queue took it and it is confirmed. */
  async enqueue(job: Omit<CallbackJob, "attempt" | "enqueuedAt">): Promise<void> {
    const first = firstAttempt(job, Date.now());
    try {
      await this.publishJob(this.options.topology.delivery, first);
    } catch (error) {
      if (!(error instanceof JobTooLarge)) throw error;
      // Ended here, once: handed back, the response would enqueue it again for ever, and the
      // delivery would stay pending. Nothing was attempted.
      await this.tooLarge(first, 0, error, { generation: this.generation, parked: false });
    }
  }

  private track(work: Promise<void>) {
    this.inFlight.add(work);
    this.options.onInHand?.(this.inFlight.size);
    void work.finally(() => {
      this.inFlight.delete(work);
      this.options.onInHand?.(this.inFlight.size);
    });
  }

  private async handle(message: ConsumeMessage, generation: number): Promise<void> {
    const job = decodeJob(message.content);
    const delivery: Delivery = { message, generation, parked: false };
    try {
      if (job === null) {
        await this.deadLetter(null, message.content.toString("utf8"), {
          outcome: "malformed",
          attempts: 0,
        });
      } else {
        await this.attempt(job, delivery, steppedAside(message)).catch(async (error) => {
          // Taken once, refused now (the broker's limit was lowered since): ended, not spun on.
          if (!(error instanceof JobTooLarge)) throw error;
          await this.tooLarge(job, job.attempt - 1, error, delivery);
        });
      }
      if (!delivery.parked) this.settleMessage(message, generation, "ack");
    } catch (error) {
      if (delivery.parked) {
        // Acknowledged already: its copy on the queues makes the attempt again.
        this.options.logger?.error(
          { id: job?.messageId ?? null, err: (error as Error).message },
          "slow callback attempt not settled; its copy will make it again",
        );
        return;
      }
      this.options.logger?.error(
        { id: job?.messageId ?? null, err: (error as Error).message },
        "callback job not settled; handing it back",
      );
      await pause(SETTLE_RETRY_PAUSE_MS);
      this.settleMessage(message, generation, "requeue");
    }
  }

  /** `aside`: how often this job stepped aside from its busy receiver so far. */
  private async attempt(taken: CallbackJob, delivery: Delivery, aside: number): Promise<void> {
    const { sender, topology, loadPayload } = this.options;
    const { generation } = delivery;
    // Back from the longest delay queue before the receiver's Retry-After is over: it waits
    // again, the same job, not an attempt.
    const early = taken.notBefore === undefined ? 0 : taken.notBefore - Date.now();
    if (early > 0) {
      const tier = taken.parkedCopy ? copyTier(topology, early) : waitTier(topology, early);
      await this.publishJob(tier.queue, taken);
      return;
    }
    if (this.parked.has(parkKey(taken))) {
      // The same attempt is under way here, set apart: its copy waits again for it to end, and
      // another run of it (the job handed out or enqueued again) is dropped, the attempt under
      // way and its copy standing for it.
      if (taken.parkedCopy) await this.copyWaitsAgain(taken);
      return;
    }
    const job = taken.parkedCopy ? await this.unlessParkedEnded(taken) : taken;
    if (job === null) return;
    const body = job.payload ?? (loadPayload ? await loadPayload(job) : null);
    if (body === null && taken.parkedCopy) {
      // A shared hub event's body goes once every listener settled it: this copy's attempt
      // did too, before its worker stopped.
      this.options.logger?.warn(
        { ...jobLogRefs(job), attempt: job.attempt },
        "copy of a slow callback attempt found its event gone; its attempt had settled",
      );
      return;
    }
    if (body === null) {
      await this.settle(job, { outcome: "lost", attempts: job.attempt - 1 }, delivery);
      return;
    }
    const receiver = receiverOf(job.target);
    const release = receiver === null ? () => undefined : await this.slots.take(receiver);
    if (generation !== this.generation) {
      // The channel went away while the job waited for a slot: the broker hands it out again,
      // so neither an attempt nor a rescheduled copy of it is made here.
      release?.();
      return;
    }
    if (release === null) {
      // The receiver holds all its slots and none comes free soon: not an attempt. The same
      // job (same attempt number and webhook-id) waits its turn in a step-aside queue, longer
      // each time it comes back to a receiver still busy, and leaves the prefetch to other
      // receivers' jobs meanwhile; acknowledged only once that queue has it.
      await this.publishJob(asideTier(topology, aside).queue, job, {
        [STEPPED_ASIDE_HEADER]: aside + 1,
      });
      return;
    }
    let result: AttemptResult;
    const parent = contextFrom(job.trace);
    // Fields added to the fresh attributes, not after a spread of them: V8 builds a spread
    // followed by fields it did not bring on a slow path, microseconds per attempt.
    const attributes = messageAttributes(jobLogRefs(job));
    attributes["sluice.delivery.kind"] = job.listenerId ? "hub_event" : "callback";
    attributes["sluice.webhook.id"] = job.webhookId;
    attributes["sluice.attempt"] = job.attempt;
    // The receiver's origin only: a callback URL's path or query may carry the caller's tokens.
    attributes["server.address"] =
      receiver === null || receiver.startsWith("xroad:") ? "xroad" : receiver;
    const span = startSpan("sluice.delivery", SpanKind.CLIENT, parent, attributes);
    const send: CallbackSend = {
      webhookId: job.webhookId,
      messageId: job.messageId,
      target: job.target,
      body,
      traceHeaders: headersOf(contextWith(parent, span)),
    };
    if (job.listenerId) send.listenerId = job.listenerId;
    if (job.client !== undefined) send.client = job.client;
    const sending = Promise.resolve()
      .then(() => sender.send(send))
      .catch((error: unknown): AttemptResult => ({
        outcome: "retry",
        failure: { kind: "network", message: (error as Error).message },
      }));
    // Whether it outlasts the wait to be set apart, timed as that wait is (a worker that stood
    // still reads the answer first): a receiver slow lately that answered within it is not slow
    // any more, even if this attempt was set apart at once. Only parking makes receivers slow.
    const outlasted =
      receiver !== null && this.options.parking ? outlasts(sending, this.parkAfterMs) : null;
    const parking = this.parkWhenSlow(job, receiver, sending, delivery, outlasted);
    try {
      result = await sending;
    } finally {
      release();
    }
    const token = await parking;
    if (receiver !== null && outlasted && !(await outlasted) && result.outcome === "delivered") {
      this.slowReceivers.delete(receiver);
    }
    try {
      await this.afterAttempt(job, result, span, delivery);
      if (token !== null) await this.markParkedEnded(job, token);
    } finally {
      if (token !== null) this.setApart(parkKey(job), null);
    }
  }

  /** What follows an attempt: the next one queued, or the delivery settled. */
  private async afterAttempt(
    job: CallbackJob,
    result: AttemptResult,
    span: ReturnType<typeof startSpan>,
    delivery: Pick<Delivery, "generation" | "parked">,
  ): Promise<void> {
    const { topology } = this.options;
    const delivered = result.outcome === "delivered";
    endSpan(span, delivered ? undefined : { code: result.failure?.kind ?? result.outcome }, {
      "sluice.outcome": result.outcome,
      ...(result.status ? { "http.response.status_code": result.status } : {}),
    });
    if (result.outcome === "retry") {
      const next = nextTier(topology, job.attempt, result.retryAfterMs);
      if (next !== null) {
        this.options.onAttempt?.(job, result, "retry");
        this.options.logger?.warn(
          {
            ...jobLogRefs(job),
            attempt: job.attempt,
            failure: result.failure,
            retryInMs: next.delayMs,
          },
          "callback attempt failed; will retry",
        );
        // A spread: the decoded job has its `attempt` already, and V8 copies an object whose
        // later fields are all its own on its fast path. It carries fields of a later release on.
        const retry: CallbackJob = { ...job, attempt: job.attempt + 1 };
        if (next.delayMs > next.tier.delayMs) retry.notBefore = Date.now() + next.delayMs;
        else delete retry.notBefore;
        await this.publishJob(next.tier.queue, retry);
        return;
      }
    }
    this.options.onAttempt?.(job, result, "settled");
    // Every outcome but a retry with backoff left ends the delivery as itself.
    const outcome: SettledOutcome = result.outcome === "retry" ? "exhausted" : result.outcome;
    await this.settle(job, { outcome, attempts: job.attempt, last: result }, delivery);
  }

  /**
   * The job of a copy kept while an attempt was set apart, to be made as that attempt, or null
   * when the attempt ended (its copy is dropped).
   */
  private async unlessParkedEnded(copy: CallbackJob): Promise<CallbackJob | null> {
    const marks = this.options.parking?.marks;
    if (marks && copy.parkedCopy && (await marks.takeFinished(copy.parkedCopy))) return null;
    // The worker that made the attempt stopped before it ended: made again, the same attempt.
    const job: CallbackJob = { ...copy };
    delete job.parkedCopy;
    delete job.notBefore;
    return job;
  }

  /** A copy back while its attempt is still under way here (it outlasted the copy's wait). */
  private async copyWaitsAgain(copy: CallbackJob): Promise<void> {
    const again: CallbackJob = { ...copy, notBefore: Date.now() + PARKED_COPY_MARGIN_MS };
    await this.publishJob(copyTier(this.options.topology, PARKED_COPY_MARGIN_MS).queue, again);
  }

  /**
   * The copy's token once the attempt `sending` outlasted `parking.afterMs` (`outlasted`, when
   * given, says whether it did; at once for a receiver that was slow lately) and was set apart:
   * its copy is on the queues and its delivery acknowledged (see `Parking`). Null when it ended
   * first, or cannot be set apart (no parking, too many or too many bytes set apart, the channel
   * gone, the copy not published: it then holds its delivery as an attempt without parking
   * does).
   */
  private async parkWhenSlow(
    job: CallbackJob,
    receiver: string | null,
    sending: Promise<AttemptResult>,
    delivery: Delivery,
    outlasted: Promise<boolean> | null,
  ): Promise<string | null> {
    const { parking, topology } = this.options;
    if (!parking) return null;
    const slowLately = receiver !== null && this.slowLately(receiver);
    const afterMs = slowLately ? 0 : this.parkAfterMs;
    // The attempt's own wait of `afterMs` when it has one, so it runs one timer, not two.
    const slow = await (!slowLately && outlasted ? outlasted : outlasts(sending, afterMs));
    const key = parkKey(job);
    const bytes = delivery.message.content.length;
    if (
      !slow ||
      this.stopping ||
      delivery.generation !== this.generation ||
      this.parked.size >= (parking.max ?? MAX_PARKED) ||
      this.parkedBytes + bytes > (parking.maxBytes ?? MAX_PARKED_BYTES) ||
      this.parked.has(key)
    ) {
      return null;
    }
    // Away until the attempt has surely ended, when its mark tells whether it did; in the
    // step-aside queues (seconds), not the backoff's (minutes to hours), so a worker that
    // stopped meanwhile has the attempt made again soon.
    const awayMs = Math.max(0, parking.attemptTimeoutMs - afterMs) + PARKED_COPY_MARGIN_MS;
    const token = randomUUID();
    const copy: CallbackJob = { ...job, parkedCopy: token, notBefore: Date.now() + awayMs };
    this.setApart(key, bytes);
    try {
      await this.publishJob(copyTier(topology, awayMs).queue, copy);
    } catch (error) {
      this.setApart(key, null);
      this.options.logger?.warn(
        { ...jobLogRefs(job), err: (error as Error).message },
        "slow callback attempt not set apart: its copy was not queued; it holds its delivery",
      );
      return null;
    }
    if (receiver !== null) this.noteSlow(receiver);
    delivery.parked = true;
    this.settleMessage(delivery.message, delivery.generation, "ack");
    // Acknowledged: the attempt needs the decoded job only, not the message's bytes.
    delivery.message.content = EMPTY;
    return token;
  }

  private slowLately(receiver: string): boolean {
    const at = this.slowReceivers.get(receiver);
    if (at === undefined) return false;
    if (Date.now() - at < SLOW_RECEIVER_MS) return true;
    this.slowReceivers.delete(receiver);
    return false;
  }

  private noteSlow(receiver: string) {
    const now = Date.now();
    // Bounded by the receivers seen slow within the window: older ones are forgotten.
    if (this.slowReceivers.size >= 1_024) {
      for (const [known, at] of this.slowReceivers) {
        if (now - at >= SLOW_RECEIVER_MS) this.slowReceivers.delete(known);
      }
    }
    this.slowReceivers.delete(receiver);
    this.slowReceivers.set(receiver, now);
  }

  /** `bytes`: the job's, while it is set apart; null once it is not. */
  private setApart(key: string, bytes: number | null) {
    this.parkedBytes -= this.parked.get(key) ?? 0;
    if (bytes === null) this.parked.delete(key);
    else {
      this.parked.set(key, bytes);
      this.parkedBytes += bytes;
    }
    this.options.parking?.onCount?.(this.parked.size);
  }

  /**
   * Marks a set-apart attempt done once what follows it is queued or recorded, trying again
   * while Redis cannot take it; a worker that stops first leaves its copy to make it again.
   */
  private async markParkedEnded(job: CallbackJob, token: string): Promise<void> {
    const marks = this.options.parking?.marks;
    if (!marks) return;
    await this.untilRecorded(
      () => marks.finished(token),
      () => this.stopping,
      job,
      "slow callback attempt ended but not marked; trying again every second",
    );
  }

  /**
   * Runs `record` until it succeeds, pausing between tries, unless `giveUp` says to stop (the
   * last error is thrown then). Logs the first failure only: with Redis away, every attempt
   * under way would otherwise log a line a second.
   */
  private async untilRecorded(
    record: () => Promise<void> | void,
    giveUp: () => boolean,
    job: CallbackJob,
    failure: string,
  ): Promise<void> {
    for (let tries = 1; ; tries++) {
      try {
        await record();
        return;
      } catch (error) {
        if (giveUp()) throw error;
        if (tries === 1) {
          this.options.logger?.error(
            { ...jobLogRefs(job), err: (error as Error).message },
            failure,
          );
        }
        await pause(SETTLE_RETRY_PAUSE_MS);
      }
    }
  }

  private async tooLarge(
    job: CallbackJob,
    attempts: number,
    error: JobTooLarge,
    delivery: Pick<Delivery, "generation" | "parked">,
  ): Promise<void> {
    const last: AttemptResult = {
      outcome: "refused",
      failure: { kind: "refused", message: error.message },
    };
    this.options.onAttempt?.(job, last, "settled");
    // The dead record without the payload: it is what did not fit.
    await this.settle(
      { ...job, payload: undefined },
      { outcome: "too_large", attempts, last },
      delivery,
    );
  }

  private async settle(
    job: CallbackJob,
    settlement: Settlement,
    delivery: Pick<Delivery, "generation" | "parked">,
  ): Promise<void> {
    if (
      settlement.outcome !== "delivered" &&
      this.options.recordsDead?.(job, settlement) !== false
    ) {
      await this.deadLetter(job, job.payload, settlement);
      this.options.logger?.warn(
        {
          ...jobLogRefs(job),
          outcome: settlement.outcome,
          failure: settlement.last?.failure,
        },
        "callback delivery failed for good",
      );
    }
    // The attempt is made and its outcome final: only recording it (Redis) is left. That is
    // tried again here, not by handing the job back, which made the attempt again: a delivered
    // callback was POSTed anew every second for as long as Redis could not record it. Once the
    // channel is gone (the broker hands the job out again) or the deliverer stops, it is
    // handed back as before; a job set apart was acknowledged, and its copy makes it again.
    await this.untilRecorded(
      () => this.options.onSettled?.(job, settlement),
      () => this.stopping || (!delivery.parked && delivery.generation !== this.generation),
      job,
      "callback delivery settled but not recorded; trying again every second",
    );
  }

  private async deadLetter(
    job: CallbackJob | null,
    payload: string | undefined,
    settlement: Settlement,
  ) {
    await this.publishRecord(this.options.topology.dead, {
      // An audit copy operators read (nothing redelivers from it): the target as they see it,
      // as the caller's token in its query is not theirs to read (shownCallbackTarget).
      job:
        job === null
          ? null
          : { ...job, payload: undefined, target: shownCallbackTarget(job.target) },
      payload,
      outcome: settlement.outcome,
      attempts: settlement.attempts,
      failure: settlement.last?.failure ?? null,
      status: settlement.last?.status ?? null,
      deadAt: Date.now(),
    });
  }

  private async publishJob(
    queue: string,
    job: CallbackJob,
    headers?: Record<string, number>,
  ): Promise<void> {
    const content = callbackJobCodec.encode(job);
    const configured = this.options.maxJobBytes ?? DEFAULT_AMQP_MAX_MESSAGE_BYTES;
    const learned = this.options.broker.maxMessageBytes ?? null;
    if (content.length > messageSizeLimit(configured, learned)) {
      throw tooLarge(content.length, configured, learned);
    }
    try {
      await this.publish(queue, content, headers);
    } catch (error) {
      // The broker closed the channel over this job (it is above the limit it just taught the
      // broker client), not only over another one on the same channel.
      const now = this.options.broker.maxMessageBytes ?? null;
      if (now !== null && content.length > now) throw tooLarge(content.length, configured, now);
      throw error;
    }
  }

  /** The operator's record of a delivery given up on (callbacks.dead), not a job. */
  private async publishRecord(queue: string, record: object): Promise<void> {
    await this.publish(queue, Buffer.from(JSON.stringify(record)));
  }

  private async publish(
    queue: string,
    content: Buffer,
    headers?: Record<string, number>,
  ): Promise<void> {
    // Mandatory: a job or record no queue takes (its queue deleted by hand, a policy) comes
    // back and fails the publish; taken as confirmed, the job would be acked and lost. The id,
    // new for each publish, tells which publish came back.
    await this.options.broker.publish(this.options.channel, "", queue, content, {
      mandatory: true,
      messageId: randomUUID(),
      contentType: "application/json",
      ...(headers ? { headers } : {}),
    });
  }

  // A delivery tag belongs to the channel that delivered it: after a reconnect the broker has
  // already handed the message back, and acknowledging it on the new channel would close that,
  // or acknowledge another job that the new channel delivered under the same tag.
  private settleMessage(message: ConsumeMessage, generation: number, how: "ack" | "requeue") {
    const channel = this.current;
    if (generation !== this.generation || channel === null) return;
    if (how === "ack") safeAck(channel, message);
    else safeNack(channel, message, true);
  }
}

/**
 * The first attempt's job of a delivery. Written field by field: V8 builds a spread followed
 * by fields it did not bring (the attempt, the enqueue time) on a slow path, microseconds each.
 */
function firstAttempt(
  job: Omit<CallbackJob, "attempt" | "enqueuedAt">,
  enqueuedAt: number,
): CallbackJob {
  const first: CallbackJob = {
    webhookId: job.webhookId,
    messageId: job.messageId,
    target: job.target,
    attempt: 1,
    enqueuedAt,
  };
  if (job.client !== undefined) first.client = job.client;
  if (job.xroadId !== undefined) first.xroadId = job.xroadId;
  if (job.payload !== undefined) first.payload = job.payload;
  if (job.sharedPayload !== undefined) first.sharedPayload = job.sharedPayload;
  if (job.listenerId !== undefined) first.listenerId = job.listenerId;
  if (job.settlesDelivery !== undefined) first.settlesDelivery = job.settlesDelivery;
  if (job.trace !== undefined) first.trace = job.trace;
  return first;
}

function tooLarge(bytes: number, configured: number, broker: number | null): JobTooLarge {
  const limit = messageSizeLimitName(configured, broker);
  return new JobTooLarge(
    `the job is ${bytes} bytes, larger than ${limit}: the status document does not fit in a ` +
      "message; GET /messages/<id> still has it",
  );
}

/** One attempt of one delivery: at most one of them is set apart here at a time. */
function parkKey(job: CallbackJob): string {
  return `${job.attempt}:${job.webhookId}`;
}

/**
 * Where a copy of an attempt set apart waits `ms`: the shortest step-aside queue at least that
 * long, or the longest (30 s), and again after it, until then.
 */
function copyTier(topology: CallbackTopology, ms: number): DelayTier {
  const { aside } = topology;
  return aside.find((tier) => tier.delayMs >= ms) ?? aside[aside.length - 1];
}

const EMPTY = Buffer.alloc(0);

/**
 * Whether `attempt` is still under way after `ms`, timed as the attempt's own post is: a worker
 * that stood still past `ms` first reads what arrived meanwhile. A plain timer fired on waking,
 * before the receiver's answer given in time was read: the attempt was set apart for nothing
 * (a copy, a mark) and its receiver taken as slow for a minute.
 */
function outlasts(attempt: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    void attempt.then(() => resolve(false));
    // No wait (a receiver slow lately, set apart at once) has no answer in time to read first.
    if (ms <= 0) {
      setTimeout(() => resolve(true), 0);
      return;
    }
    const wait = new Deadline(null, ms);
    wait.signal.addEventListener("abort", () => resolve(true), { once: true });
    void attempt.then(() => wait.dispose());
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}

/** How often the job stepped aside so far: its header, kept by the step-aside queue's expiry. */
function steppedAside(message: ConsumeMessage): number {
  const value: unknown = message.properties.headers?.[STEPPED_ASIDE_HEADER];
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;
}

function decodeJob(content: Buffer): CallbackJob | null {
  const decoded = callbackJobCodec.decode(content);
  return decoded.ok ? decoded.message : null;
}
