// `GET /messages/<id>` (status and results) and `DELETE /messages/<id>` (cancel before the
// backend saw it). Only the client that sent a message may see or cancel it, and a consumer-direction
// message only from inside; to anyone else it does not exist (404), so ids cannot be probed.

import type { Context } from "koa";
import type { Logger } from "pino";
import { terminalWake } from "../shared/protocol/codec";
import { SluiceError, type ErrorInfo } from "../shared/protocol/errors";
import { logUnlessOutage } from "../shared/runtime/outage";
import type { StateNotices } from "../shared/protocol/state-notice";
import { conflictMessage } from "../shared/operator/operator-cancel";
import { statusDocument } from "../shared/store/status-document";
import {
  isTerminal,
  type Transaction,
  type TransactionStore,
} from "../shared/store/transaction-store";
import { issuedIdOf } from "../shared/protocol/message-id";
import { noteAccess } from "./access-log";
import { answerError } from "./error-answer";
import { refuseWhileStoreDown, storeUnavailable } from "./store-unavailable";
import { headerCount, readClient, throughSecurityServer } from "./xroad-client";
import { observeRequest } from "./request-metrics";
import { errorOutcome } from "./route-intake";
import { DEFAULT_STATUS_SERVICE } from "../shared/config/config";

export interface StatusRouteDeps {
  store: TransactionStore;
  log: Logger;
  /** Seconds a caller should wait before polling a message that is not finished. */
  pollAfter(tx: Transaction): number;
  /**
   * Tells the response worker of a cancel, so the callback and hub listeners hear of it now.
   * Without it they hear of it when a worker reaches the message and skips it.
   */
  notices?: Pick<StateNotices, "publish">;
  /**
   * Sends a cancel's wake to the reply queues of the adapter instances (`unreached`) holding a
   * waiting caller that its Redis wake reached no subscriber of (`wakeUnheard`). Without it
   * such a caller gets its 409 when that subscription is back, or at its deadline.
   */
  wakeUnheard?(unreached: string[], wake: string, id: string): Promise<void>;
  /**
   * The client a service takes a caller without `X-Road-Client` for (its `client`, consumer
   * direction): such a caller reads and cancels that service's messages as that client.
   */
  defaultClient?(service: string): string | null;
  /**
   * Whether a message is of the consumer direction (docs/consumer.md): to a caller that came
   * through a security server such a message does not exist. Without it, every message is
   * of the provider direction.
   */
  consumerDirection?(tx: Pick<Transaction, "service" | "backend">): boolean;
  /**
   * False while Redis is disconnected or silent (the heartbeat): reads and cancels are then
   * refused at once, as submissions are, not after redisCommandTimeout.
   */
  storeReady?(): boolean;
}

async function ownTransaction(
  ctx: Context,
  deps: StatusRouteDeps,
  id: string,
): Promise<Transaction> {
  // The id asked for is part of the audit trail, found or not.
  const issued = issuedIdOf(id);
  if (issued !== null) noteAccess(ctx, { id: issued });
  return clientTransaction(deps, callerOf(ctx, deps), id, throughSecurityServer(ctx.req));
}

/** The caller's client id, or null when it sent none and some service names a default. */
function callerOf(ctx: Context, deps: StatusRouteDeps): string | null {
  if (deps.defaultClient === undefined || headerCount(ctx.req, "x-road-client") > 0) {
    return readClient(ctx.req);
  }
  return null;
}

/**
 * The caller's own message `named`, or 404. An X-Road client (`viaXroad`) may share its client id
 * with a local system, so the local system's consumer-direction messages are not its own: they
 * are as unknown to it as a missing id, read no further than their fields.
 */
async function clientTransaction(
  deps: StatusRouteDeps,
  caller: string | null,
  named: string,
  viaXroad = false,
): Promise<Transaction> {
  const id = issuedIdOf(named);
  if (id === null) throw new SluiceError("NotFound", "no such message");
  refuseWhileStoreDown(deps.storeReady);
  // Without the header, only a message of a service that names a client is the caller's: any
  // other id is as unknown as a missing one, so ids cannot be probed this way either.
  const owns = (found: Transaction): boolean =>
    found.client === (caller ?? deps.defaultClient?.(found.service)) &&
    !(viaXroad && deps.consumerDirection?.(found) === true);
  let tx: Transaction | null;
  try {
    tx = await deps.store.get(id, owns);
  } catch (error) {
    throw storeUnavailable(error);
  }
  if (!tx || !owns(tx)) throw new SluiceError("NotFound", "no such message", { messageId: null });
  return tx;
}

/**
 * A message's status as its own client reads it (REST and the SOAP status operation):
 * `retryAfter` while it is not finished; reading a finished one delivers its outcome, unless
 * the read sends no body (`deliver` false: a HEAD, whose answer holds no outcome).
 */
export async function readOwnStatus(
  deps: StatusRouteDeps,
  client: string | null,
  id: string,
  deliver = true,
  viaXroad = false,
): Promise<{ tx: Transaction; retryAfter: number | null }> {
  const tx = await clientTransaction(deps, client, id, viaXroad);
  if (!isTerminal(tx.state)) return { tx, retryAfter: deps.pollAfter(tx) };
  if (deliver && tx.replyMode !== "callback" && tx.delivery === "pending") {
    // Without a callback (ack mode, or a sync wait that ended in 202) the outcome is
    // delivered when its owner reads it.
    const marked = await deps.store
      .setDelivery(tx.id, "delivered", ["pending"])
      .catch((error: unknown) => {
        logUnlessOutage(deps.log, error, "could not mark an outcome delivered");
        return false;
      });
    if (marked) {
      tx.delivery = "delivered";
      tx.history.push({ state: "delivered", at: Date.now() });
    }
  }
  return { tx, retryAfter: null };
}

/** A handler of `/messages/<id>`: its answer set on `ctx`, or thrown. */
type StatusHandler = (ctx: Context & { params: { id: string } }) => Promise<void>;

/**
 * `handler` as a route of the status resource. A status document (or its 404) is one client's,
 * told apart by `X-Road-Client` alone, which no cache keys on: no proxy or client cache may keep
 * any of its answers. Each is counted in `sluice_requests_total` under `label` (the status
 * service's name, which no configured service may take), `done` when it succeeded: one label
 * whatever id was asked for, so polling and floods of unknown ids show on the metrics without
 * growing their label set.
 */
function statusResource(
  deps: StatusRouteDeps,
  label: string,
  done: string,
  handler: StatusHandler,
): StatusHandler {
  return async (ctx) => {
    const started = process.hrtime.bigint();
    let outcome = done;
    ctx.set("Cache-Control", "no-store");
    try {
      await handler(ctx);
    } catch (error) {
      outcome = errorOutcome(answerError(ctx, error, deps.log));
    } finally {
      observeRequest(ctx, "rest", label, outcome, started);
    }
  };
}

export function statusRoute(deps: StatusRouteDeps, label = DEFAULT_STATUS_SERVICE): StatusHandler {
  return statusResource(deps, label, "status", async (ctx) => {
    // The router answers a HEAD with this GET route: its answer carries no outcome, so it
    // delivers none (`delivery` says whether the outcome reached the caller).
    const { tx, retryAfter } = await readOwnStatus(
      deps,
      callerOf(ctx, deps),
      ctx.params.id,
      ctx.method !== "HEAD",
      throughSecurityServer(ctx.req),
    );
    ctx.set("X-Sluice-Id", tx.id);
    if (retryAfter !== null) ctx.set("Retry-After", String(retryAfter));
    ctx.status = 200;
    ctx.body = statusDocument(tx);
  });
}

/** Who a cancel through this route is made by, as the record keeps it. */
const CLIENT = "client";
const CANCELLED: ErrorInfo = { code: "Cancelled", message: "cancelled by the client" };

export function cancelRoute(deps: StatusRouteDeps, label = DEFAULT_STATUS_SERVICE): StatusHandler {
  return statusResource(deps, label, "cancelled", async (ctx) => {
    const tx = await ownTransaction(ctx, deps, ctx.params.id);
    ctx.set("X-Sluice-Id", tx.id);
    // A Redis failure from here on is a 503, not an internal error: the cancel may or may
    // not have run, and the client's retry (idempotent, below) finds out which.
    const wake = terminalWake({ id: tx.id, state: "cancelled", error: CANCELLED });
    const { result, previous, changedBy, unreached } = await deps.store
      .transition(tx.id, ["accepted"], "cancelled", { error: CANCELLED, by: CLIENT, wake })
      .catch((error: unknown) => {
        throw storeUnavailable(error);
      });
    // A cancel is idempotent: the client retrying one whose answer it lost (a cut
    // connection, a 503 after Redis ran it) is told it is cancelled, as it asked. Only the
    // message's own client cancels through this route, so "by the client" is this client;
    // a cancel by the operator, or any other state, stays a conflict.
    // Expired (its retention ran out) since it was read: as unknown as a missing one.
    if (result === "missing") {
      throw new SluiceError("NotFound", "no such message", { messageId: null });
    }
    const repeated = result === "conflict" && previous === "cancelled" && changedBy === CLIENT;
    if (result !== "ok" && !repeated) {
      throw new SluiceError("Conflict", conflictMessage(previous), {
        messageId: tx.id,
      });
    }
    // Neither fails the cancel: the state is in Redis, a caller whose wake is lost reads it
    // (docs/reliability.md), and a worker repeats a lost notice. A repeat sends both again
    // (the first may have stopped before them); listeners hear of it once. Its notice only
    // until the first was told: a client repeating its cancel in a loop would otherwise put
    // a notice on the responses queue each time.
    if (unreached.length > 0) await deps.wakeUnheard?.(unreached, wake, tx.id);
    if (!repeated || !(await deps.store.wasTold(tx.id).catch(() => false))) {
      await deps.notices?.publish(tx.id, "cancelled");
    }
    const updated = await deps.store.get(tx.id).catch((error: unknown) => {
      throw storeUnavailable(error);
    });
    ctx.status = 200;
    ctx.body = updated ? statusDocument(updated) : { id: tx.id, state: "cancelled" };
  });
}
