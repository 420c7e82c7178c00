// The status document of a message, as `GET /messages/<id>` answers it and as callbacks and
// hub events carry it (docs/semantics.md "Status and results").

import { jsonDepthExceeds, MAX_ANSWER_JSON_DEPTH } from "../protocol/json-depth";
import { inexactJsonNumber } from "../protocol/json-numbers";
import type { StoredResponse, Transaction } from "./transaction-store";
import type { ErrorInfo } from "../protocol/errors";

export interface StatusDocument {
  id: string;
  /**
   * The X-Road client that sent the message. Every client's callbacks and hub events are signed
   * with the same secret and may be aimed at any allowed receiver, so the signature says only
   * that Sluice sent a document; this says whose message it is (docs/callbacks.md, "Whose
   * message a callback is about").
   */
  client: string;
  xroadId: string | null;
  service: string;
  state: string;
  delivery: string;
  createdAt: string;
  updatedAt: string;
  history: Array<{ state: string; at: string }>;
  responses: Array<{
    seq: number;
    final: boolean;
    status: number;
    contentType: string;
    /** The backend's own headers (ETag, Location, ...), when it sent any. */
    headers?: Record<string, string | string[]>;
    body: unknown;
    bodyEncoding?: "base64";
  }>;
  error: ErrorInfo | null;
  /** Set on an operator's replay of a dead letter: the original's id. */
  replayOf?: string;
  /** Set on a dead letter an operator replayed: the replay's id. */
  replayedAs?: string;
}

const JSON_TYPE = /^application\/(?:[\w.+-]+\+)?json\b/i;

/** JSON answers are embedded as JSON, text as a string, bytes as base64 (flagged). */
function responseBody(response: StoredResponse): { body: unknown; bodyEncoding?: "base64" } {
  if (response.bodyEncoding === "base64") return { body: response.body, bodyEncoding: "base64" };
  if (JSON_TYPE.test(response.contentType) && response.body !== "") {
    // An answer nested millions deep took seconds to parse (and could not be serialised
    // again) on every read of the status, callback and event: it is embedded as text.
    if (jsonDepthExceeds(response.body, MAX_ANSWER_JSON_DEPTH)) return { body: response.body };
    let body: unknown;
    try {
      body = JSON.parse(response.body);
    } catch {
      return { body: response.body };
    }
    // Parsed and written again, 12345678901234567890 became 12345678901234567000: an answer
    // with a number a double does not hold is embedded as its text, the digits as sent.
    return { body: inexactJsonNumber(response.body) === null ? body : response.body };
  }
  return { body: response.body };
}

export function statusDocument(tx: Transaction): StatusDocument {
  return {
    id: tx.id,
    client: tx.client,
    xroadId: tx.xroadId,
    service: tx.service,
    state: tx.state,
    delivery: tx.delivery,
    createdAt: new Date(tx.createdAt).toISOString(),
    updatedAt: new Date(tx.updatedAt).toISOString(),
    history: tx.history.map((entry) => ({
      state: entry.state,
      at: new Date(entry.at).toISOString(),
    })),
    responses: tx.responses.map((response) => ({
      seq: response.seq,
      final: response.final,
      status: response.status,
      contentType: response.contentType,
      ...(response.headers ? { headers: response.headers } : {}),
      ...responseBody(response),
    })),
    error: tx.error,
    ...(tx.replayOf ? { replayOf: tx.replayOf } : {}),
    ...(tx.replayedAs ? { replayedAs: tx.replayedAs } : {}),
  };
}
