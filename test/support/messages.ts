// Requests, records and dead letters as Sluice's roles write them, for tests that seed the
// broker and Redis themselves: a REST request of client TEST_CLIENT to service svc on
// backend b (as in oneBackendConfig), answered by ack, unless a test says otherwise.

import { randomUUID } from "node:crypto";
import type { ConsumeMessage } from "amqplib";
import type { DeadCallbacks } from "../../shared/operator/dead-callbacks";
import type { DeadLetter, DeadLetters } from "../../shared/operator/dead-letters";
import { requestCodec } from "../../shared/protocol/codec";
import type { RequestMessage, ResponseMessage } from "../../shared/protocol/envelope";
import type { TransactionMeta, TransactionStore } from "../../shared/store/transaction-store";

export const TEST_CLIENT = "EE/GOV/1/app";

/** A request message (a new id, created now, never expiring) with `fields` laid over. */
export function requestMessage(fields: Partial<RequestMessage> = {}): RequestMessage {
  return {
    id: randomUUID(),
    xroadId: null,
    service: "svc",
    backend: "b",
    protocol: "rest",
    client: TEST_CLIENT,
    replyMode: "ack",
    method: "POST",
    path: "/",
    query: "",
    xroadHeaders: {},
    headers: {},
    contentType: "application/json",
    body: "{}",
    bodyEncoding: "utf8",
    createdAt: Date.now(),
    expiresAt: null,
    owner: null,
    callback: null,
    ...fields,
  };
}

/** `request` as a worker's consumer first gets it from the broker (no retry headers yet). */
export function deliveryOf(request: RequestMessage): ConsumeMessage {
  return {
    content: requestCodec.encode(request),
    fields: {},
    properties: { headers: {} },
  } as unknown as ConsumeMessage;
}

/** Message `id`'s final response, a backend's JSON 200 produced now, with `fields` laid over. */
export function responseMessage(
  id: string,
  fields: Partial<ResponseMessage> = {},
): ResponseMessage {
  return {
    id,
    seq: 1,
    final: true,
    outcome: "completed",
    status: 200,
    contentType: "application/json",
    body: "{}",
    producedAt: Date.now(),
    ...fields,
  };
}

/** A record's fixed part, as the adapter creates it, with `fields` laid over. */
export function transactionMeta(fields: Partial<TransactionMeta> = {}): TransactionMeta {
  return {
    id: randomUUID(),
    xroadId: null,
    service: "svc",
    backend: "b",
    client: TEST_CLIENT,
    protocol: "rest",
    replyMode: "ack",
    owner: null,
    callback: null,
    createdAt: Date.now(),
    expiresAt: null,
    ...fields,
  };
}

/**
 * A request whose record `store` holds as the adapter leaves it (accepted, created now), and its
 * delivery as a worker's consumer first gets it.
 */
export async function acceptedRequest(
  store: TransactionStore,
): Promise<{ request: RequestMessage; delivery: ConsumeMessage }> {
  const meta = transactionMeta();
  await store.create(meta);
  const request = requestMessage({ id: meta.id, createdAt: meta.createdAt });
  return { request, delivery: deliveryOf(request) };
}

/**
 * Records `request` as dead-lettered (retries exhausted after one call, now, unless `entry`
 * says otherwise) and returns its id.
 */
export async function recordDeadLetter(
  deadLetters: DeadLetters,
  request: RequestMessage,
  entry: Partial<Omit<DeadLetter, "replayedAs">> = {},
): Promise<string> {
  await deadLetters.record(
    {
      id: request.id,
      reason: "retries_exhausted",
      backend: request.backend,
      service: request.service,
      client: request.client,
      xroadId: request.xroadId,
      at: Date.now(),
      error: "HTTP 500",
      attempts: 1,
      ...entry,
    },
    requestCodec.encode(request),
  );
  return request.id;
}

/**
 * A callback-mode message to `target` (https://cb.example.org/hooks/1 unless given), created
 * `at` (now unless given), whose record `store` holds and whose final callback died at `at`:
 * its id, the entry handed to `deadCallbacks`, and whether that recorded it (false: it had).
 */
export async function recordDeadCallback(
  store: TransactionStore,
  deadCallbacks: DeadCallbacks,
  { at = Date.now(), target = "https://cb.example.org/hooks/1" } = {},
): Promise<{ id: string; entry: Parameters<DeadCallbacks["record"]>[0]; recorded: boolean }> {
  const meta = transactionMeta({ replyMode: "callback", callback: target, createdAt: at });
  await store.create(meta);
  const entry = deadCallbackEntry(meta.id, { at, target });
  return { id: meta.id, entry, recorded: await deadCallbacks.record(entry) };
}

/**
 * What the response worker records when message `id`'s final callback died (retries used up,
 * now, unless `fields` say otherwise), for DeadCallbacks.record.
 */
export function deadCallbackEntry(
  id: string,
  fields: Partial<Parameters<DeadCallbacks["record"]>[0]> = {},
): Parameters<DeadCallbacks["record"]>[0] {
  return {
    id,
    webhookId: `msg_${id}.1`,
    target: "https://cb.example.org/hooks/1",
    receiver: "https://cb.example.org",
    reason: "exhausted",
    attempts: 7,
    failure: "the receiver answered 500",
    status: 500,
    at: Date.now(),
    ...fields,
  };
}
