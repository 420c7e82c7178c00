// One look at a delivered request, up to its call: what its record says (processed, answered
// before, refused to its caller, missing), its expiry while nobody claimed it, then the gate,
// an in-flight slot and the claim (one round trip where the guard can), or parking behind the
// claim another worker holds.

import { eitherSignal } from "../../shared/runtime/either-signal";
import { randomUUID } from "node:crypto";
import { performance } from "node:perf_hooks";
import type { ConsumeMessage } from "amqplib";
import type { SlotAsk } from "../../shared/store/inflight-slot";
import type { RequestMessage } from "../../shared/protocol/envelope";
import type { StateNotices } from "../../shared/protocol/state-notice";
import {
  EXPIRY_CLAIM,
  isTerminal,
  metaOfRequest,
  type RequestView,
  type SlotClaim,
  type State,
  type TransactionStore,
} from "../../shared/store/transaction-store";
import type { Clock } from "../../shared/runtime/clock";
import type { Settlement } from "../../shared/broker/settling-consumer";
import { CLAIM_SLACK_MS, ClaimHold, giveBackUnanswered } from "./claim-hold";
import type { AnswerRecorder } from "./answer-recorder";
import type { DeadLetterPublisher } from "./dead-letter-publisher";
import { GateShutError, type CallPermit } from "../backend-guard";
import type { SlotTry } from "../inflight-leases";
import type { MessageLog } from "./message-log";
import type { MessageTraces } from "./message-traces";
import { MessageWaits } from "./message-waits";
import type { CallGuard, ProcessorDeps } from "./processor-deps";
import {
  gateShut,
  type BackendCall,
  type ClaimedMessage,
  type MessageInHand,
} from "./backend-call";
import type { Look, RetryParking } from "./retry-parking";
import type { MessageExpiry } from "./message-expiry";

/**
 * The message in hand with its claim. Written field by field: V8 builds an object spread and
 * then given more fields on a slow path, several microseconds per message.
 */
function claimedOf(
  inHand: MessageInHand,
  listened: boolean,
  permit: CallPermit,
  previous: State,
  hold: ClaimHold,
): ClaimedMessage {
  const { message, request, attempt, log, gone, waits } = inHand;
  return { message, request, attempt, log, gone, waits, listened, permit, previous, hold };
}

export class MessageLook {
  constructor(
    private readonly deps: ProcessorDeps,
    private readonly clock: Clock,
    private readonly traces: MessageTraces,
    private readonly notices: StateNotices,
    private readonly deadLetter: DeadLetterPublisher,
    private readonly answers: AnswerRecorder,
    private readonly expiries: MessageExpiry,
    private readonly parking: RetryParking,
    private readonly backendCall: BackendCall,
  ) {}

  /** One look at a message, up to its settlement, or `CLAIM_HELD` to look again. */
  async look(
    message: ConsumeMessage,
    request: RequestMessage,
    attempt: number,
    log: MessageLog,
    gone: AbortSignal,
  ): Promise<Look> {
    // Waits end at the message's expiry: a message past it gives up its place in line.
    const draining = this.deps.draining ?? this.deps.shutdown;
    const waits = new MessageWaits(draining, gone, request.expiresAt, this.clock);
    const inHand: MessageInHand = { message, request, attempt, log, gone, waits };
    try {
      const { claiming } = this.deps.guard;
      // A message past its expiry, or one not to be called by this worker now, takes the
      // long way: a first look, then the decisions below one by one.
      if (claiming && !this.expiries.expired(request) && !gone.aborted && !draining.aborted) {
        return await this.claimAtOnce(claiming, inHand);
      }
      // Asked together: both go out in one write, one round trip.
      const [peeked, listened] = await Promise.all([
        this.deps.store.peek(request.id),
        this.deps.listened ? this.deps.listened(request.client) : Promise.resolve(true),
      ]);
      return await this.decide(inHand, peeked, listened);
    } finally {
      waits.dispose();
    }
  }

  /**
   * The common case in one round trip: the first look at the record, an in-flight slot and the
   * claim (the guard waits for the gate and, if none is free, for a slot). A message the look
   * finds not to be claimed (processed, terminal, refused, missing) is decided as the long way
   * would; nothing was taken for it.
   */
  private async claimAtOnce(
    claiming: NonNullable<CallGuard["claiming"]>,
    inHand: MessageInHand,
  ): Promise<Look> {
    const { message, request, attempt, log, gone, waits } = inHand;
    const { store } = this.deps;
    const claimMs = this.deps.backend.timeoutMs + CLAIM_SLACK_MS;
    // The claim's token is its slot's: the hold fences every later change by it.
    let hold: ClaimHold | null = null;
    const tryClaim = async (slot: SlotAsk): Promise<SlotTry<SlotClaim>> => {
      const sentAt = performance.now();
      const claim = await store
        .claimWithSlot(request.id, claimMs, slot, attempt)
        .catch((error: unknown) => {
          giveBackUnanswered(store, request.id, slot.token, claimMs);
          throw error;
        });
      if (claim.result === "ok") {
        hold = new ClaimHold(store, metaOfRequest(request), slot.token, claimMs, sentAt);
        hold.called = claim.called;
        if (claim.reached) hold.reached = claim.reached;
        return { outcome: "admitted", value: claim };
      }
      if (claim.result === "busy") return { outcome: "busy", retryInMs: claim.retryInMs };
      return { outcome: "settled", value: claim };
    };
    // Asked in the same turn as the claim: both go out in one write, one round trip. It only
    // decides whether a `processing` notice is sent, so a look-up that failed sends one: read
    // after the claim, its failure would otherwise fail a message whose slot and claim are
    // taken, and the slot's lease would be renewed for as long as the worker lives.
    const listening = (
      this.deps.listened ? this.deps.listened(request.client) : Promise.resolve(true)
    ).catch(() => true);
    let taken: { permit: CallPermit | null; value: SlotClaim };
    try {
      taken = await this.traces.step(request.id, "sluice.limit_wait", () =>
        claiming(request, tryClaim, () => waits.signal()),
      );
    } catch (error) {
      // The delivery's channel closed while it waited for a slot: the broker has it again. The
      // drain began: it goes back for another worker, as from every other wait.
      if (gone.aborted || (this.deps.draining ?? this.deps.shutdown).aborted) return "requeue";
      if (waits.expiryFired && this.expiries.expired(request)) {
        return await this.expireUnclaimed(inHand, await listening);
      }
      if (error instanceof GateShutError) return gateShut(log, error);
      throw error;
    }
    const listened = await listening;
    const { permit, value: claim } = taken;
    if (permit && claim.result === "ok" && hold) {
      return this.backendCall.callClaimed(
        claimedOf(inHand, listened, permit, claim.previous, hold),
      );
    }
    await permit?.release();
    if (claim.result === "claimed") return this.parking.parkOrWait(request, attempt, message, log);
    if (claim.result === "stale") return this.dropStale(attempt, log);
    if (claim.result !== "view") throw new Error(`unexpected claim result ${claim.result}`);
    return this.decide(inHand, claim.view, listened);
  }

  /** What the long way decides from the first look at the record, up to the claim. */
  private async decide(
    inHand: MessageInHand,
    peeked: RequestView | "refused" | null,
    listened: boolean,
  ): Promise<Look> {
    const { message, request, log } = inHand;
    const { store } = this.deps;
    let current = peeked;
    if (current === "refused") {
      // The adapter could not get the broker's confirm in time and told its caller 503: the
      // broker took the message after all, but the caller will resubmit. Never process it.
      // A marker a discard left in place of an abandoned replay: an operator withdrew it.
      const discarded = await store.refusedByDiscard(request.id);
      log.warn(
        discarded
          ? "replay discarded by an operator; dead-lettered"
          : "submission refused to its caller; dead-lettered",
      );
      await this.deadLetter.publish(message.content, "no_transaction", request.id, {
        error: discarded
          ? "the submission was discarded by an operator (its dead letter was discarded while this replay's publish awaited the broker's confirm)"
          : "the submission was refused to its caller (no broker confirm in time)",
        attempts: 0,
      });
      return "ack";
    }
    if (!current) {
      // An accepted request whose record is gone (Redis lost its data, or retention passed
      // while it waited): the request carries what the record needs, so write it again.
      await store.rebuild(metaOfRequest(request));
      current = await store.peek(request.id);
      if (!current || current === "refused") throw new Error("transaction record not rebuilt");
      log.warn("transaction record was missing; rebuilt from the request");
    }
    if (current.answer) {
      // The backend already answered an earlier copy, whose worker could not finish publishing
      // (broker lost, channel closed, crash): publish that answer, never call again. Its
      // outcome may be stored already (a sync caller's, stored with the answer): the answer
      // stays beside it until the response worker has stored the final response.
      await this.answers.publishKept(
        message.content,
        request,
        current.answer,
        current.deadLettered,
        log,
        "",
      );
      log.info("answer recorded by an earlier attempt; published again");
      return "ack";
    }
    if (isTerminal(current.state) || current.processedAt !== null) {
      // A cancel's own notice may have been lost between Redis and the broker: repeat it.
      if (current.state === "cancelled") void this.notices.publish(request.id, "cancelled");
      log.info({ state: current.state }, "already processed; skipped");
      return "ack";
    }
    // Checked here too, so a message that expired in the queue does not wait for a slot; the
    // check that counts is the one right before the call. Only a message nobody claimed yet
    // expires here: one whose worker died mid-call may have reached the backend.
    if (this.expiries.expired(request) && current.state === "accepted") {
      return this.expireUnclaimed(inHand, listened);
    }
    return this.claimAndCall(inHand, listened, current.state === "accepted");
  }

  /**
   * Waits for the gate and a slot, then claims the message (taking over a lapsed claim) and
   * calls. `expiring`: the message was never claimed, so its expiry ends the wait; a message
   * another worker claimed may have reached the backend and is called once that claim lapses,
   * expired or not (its wait ended by the expiry, it would be ended `expired`: never sent).
   */
  private async claimAndCall(
    inHand: MessageInHand,
    listened: boolean,
    expiring: boolean,
  ): Promise<Look> {
    const { message, request, attempt, log, gone, waits } = inHand;
    const { store } = this.deps;
    let permit: CallPermit;
    try {
      // The gate (windows, pause) and an in-flight slot; the rate token comes right before the call.
      const ends = expiring
        ? waits.signal()
        : eitherSignal(this.deps.draining ?? this.deps.shutdown, gone);
      permit = await this.traces.step(request.id, "sluice.limit_wait", () =>
        this.deps.guard(request, ends),
      );
    } catch (error) {
      // The delivery's channel closed while it waited for a slot, or the drain began.
      if (gone.aborted || (this.deps.draining ?? this.deps.shutdown).aborted) return "requeue";
      if (waits.expiryFired && this.expiries.expired(request)) {
        return this.expireUnclaimed(inHand, listened);
      }
      if (error instanceof GateShutError) return gateShut(log, error);
      throw error;
    }
    let claim: Awaited<ReturnType<TransactionStore["transition"]>>;
    const claimMs = this.deps.backend.timeoutMs + CLAIM_SLACK_MS;
    const hold = new ClaimHold(
      store,
      metaOfRequest(request),
      randomUUID(),
      claimMs,
      performance.now(),
    );
    try {
      // A claim that lapsed (its worker died) is taken over: that worker's copy is this one.
      claim = await store.transition(request.id, ["accepted", "processing"], "processing", {
        claimMs,
        token: hold.token,
        attempt,
      });
    } catch (error) {
      giveBackUnanswered(store, request.id, hold.token, claimMs);
      await permit.release();
      throw error;
    }
    if (claim.result === "claimed") {
      await permit.release();
      return this.parking.parkOrWait(request, attempt, message, log);
    }
    if (claim.result === "stale") {
      await permit.release();
      return this.dropStale(attempt, log);
    }
    if (claim.result === "processed" || claim.result === "missing") {
      // The lapsed claim's worker recorded the backend's answer after this copy's look (and
      // died before its ack, or its answer still waits for the response worker): that answer
      // is published, as for any copy that finds it, and the backend is not called again.
      // Or the record is gone again (Redis lost its data since this look): it is written
      // again from the request, as the first look does; acked, this copy was the last one.
      await permit.release();
      return this.decide(inHand, await store.peek(request.id), listened);
    }
    if (claim.result !== "ok") {
      await permit.release();
      // Cancelled meanwhile, or already finished.
      if (claim.previous === "cancelled") void this.notices.publish(request.id, "cancelled");
      log.info({ state: claim.previous, result: claim.result }, "not claimed; skipped");
      return "ack";
    }
    const previous = claim.previous ?? "accepted";
    hold.called = claim.called;
    if (claim.reached) hold.reached = claim.reached;
    return this.backendCall.callClaimed(claimedOf(inHand, listened, permit, previous, hold));
  }

  /**
   * A delivery older than the retry copy parked since (see `retryLater`): the original, back
   * because its channel closed before its ack, or a copy parked beside another worker's claim.
   * The parked copy carries the message on, after its backoff; called here, this one would
   * skip the backoff and count no attempt.
   */
  private dropStale(attempt: number, log: MessageLog): Settlement {
    log.info({ attempt }, "a later attempt of the message is parked; this copy is dropped");
    return "ack";
  }

  /**
   * Ends `expired` a message nobody claimed yet. A message another worker claimed is not
   * expired: that worker may have reached the backend. Its copy here may be the only one left
   * (the broker hands a dead worker's delivery out again while that worker's claim still
   * lasts), so it waits for that claim like any copy: parked (or, ordered, in line) until the
   * claim ends, then taken over and called should the claim have lapsed.
   *
   * The claim lasts `CLAIM_SLACK_MS` and is not renewed: from it to the answer's record there
   * are only Redis commands (on the connection a renewal would take), the record is fenced by
   * the claim's token (a worker whose claim was taken over keeps nothing), and this claim never
   * calls the backend (marked so, a taker judges the expiry itself). Once the answer is
   * recorded no copy calls the backend, claim or not.
   */
  private async expireUnclaimed(inHand: MessageInHand, listened: boolean): Promise<Look> {
    const { message, request, attempt, log } = inHand;
    const { store } = this.deps;
    const hold = new ClaimHold(
      store,
      metaOfRequest(request),
      randomUUID(),
      CLAIM_SLACK_MS,
      performance.now(),
    );
    const claimed = await store.transition(request.id, ["accepted"], "processing", {
      claimMs: CLAIM_SLACK_MS,
      token: hold.token,
      // Taken over should this worker stand still past the claim, the message is known never
      // to have been sent: the taker judges its expiry, instead of calling it as one that
      // may have reached the backend.
      by: EXPIRY_CLAIM,
    });
    if (claimed.result === "claimed")
      return this.parking.parkOrWait(request, attempt, message, log);
    if (claimed.result !== "ok") {
      // Ended meanwhile, or its record gone or refused: decided from the record as it is now.
      return this.decide(inHand, await store.peek(request.id), listened);
    }
    if (listened) void this.notices.publish(request.id, "processing");
    await this.expiries.expire({ request, message, log, hold });
    return "ack";
  }
}
