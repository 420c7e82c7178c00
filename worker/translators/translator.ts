// The translator interface: the only thing a translator depends on. A backend's translator
// turns one request message into a call of the legacy system and its answer into responses.
//
// Outcome rules (the worker reads them from what a translator returns or throws):
// - return responses       → `completed` (several responses are delivered in order; the last is final)
// - throw BackendRejectedError    → `rejected`, never retried
// - throw BackendUnavailableError → retried per the backend's schedule (honours retryAfterMs), then `failed`
//   (BackendTimeoutError: the same, counted as a timeout)
// - throw BackendRedirectError    → `failed` at once (redirects are never followed)
// - throw BackendAnswerError      → `failed` at once, its message in the status document (an
//                                   answer that is not this message's, e.g. a header echo mismatch)
// - throw anything else    → a poison message: dead-lettered at once, transaction `failed`

import type { BackendResponse } from "../../shared/protocol/errors";
import type { RequestMessage } from "../../shared/protocol/envelope";

export {
  BackendAnswerError,
  BackendRedirectError,
  BackendRejectedError,
  BackendTimeoutError,
  BackendUnavailableError,
} from "../../shared/protocol/errors";
export type { BackendResponse } from "../../shared/protocol/errors";
export type { RequestMessage } from "../../shared/protocol/envelope";

/** What a translator learns about the backend it serves (from the configuration). */
export interface TranslatorBackend {
  name: string;
  url: string;
  timeoutMs: number;
  /** Free-form options from the backend's `options:` block in the configuration. */
  options: Record<string, unknown>;
  /**
   * The backend's `tls` (PEM): CAs to verify it, Sluice's client certificate and key. Current
   * after a SIGHUP reload; new connections should use the new material. Absent when not set.
   */
  clientTls?: ClientTls;
  /** xroad-rest and xroad-soap only: whom to call through the security server at `url`. */
  xroad?: XroadConsumer;
  /** Where the translator tells the operator of what it did (the worker's log); absent elsewhere. */
  log?: TranslatorLog;
}

/** The part of the worker's logger a translator writes to. */
export interface TranslatorLog {
  info(details: object, message: string): void;
}

/** The consumer direction (docs/consumer.md): a remote X-Road service called as a client. */
export interface XroadConsumer {
  /** The remote service, `INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICECODE[/VERSION]`. */
  service: string;
  /** The X-Road client Sluice names (`securityServer.client`). */
  client: string;
  /** Sluice services (by code) that name a client of their own, which then counts instead. */
  serviceClients: Record<string, string>;
}

/** The PEM material of a backend's `tls` block (`crl`: revocation lists of the CAs in `ca`). */
export interface ClientTlsMaterial {
  ca?: Buffer[];
  crl?: Buffer[];
  cert?: Buffer;
  key?: Buffer;
}

export interface ClientTls {
  readonly current: ClientTlsMaterial;
  onChange(listener: (material: ClientTlsMaterial) => void): void;
}

/** A call's deadline: its signal, and whether the backend's timeout (not a shutdown) aborted it. */
export interface CallDeadline {
  /** The call's `signal`. */
  readonly signal: AbortSignal;
  /** True once the backend's timeout has aborted `signal`; false when a shutdown did. */
  readonly timedOut: boolean;
}

export interface TranslatorCall {
  /** Aborted when the backend's timeout passes or the worker shuts down. */
  signal: AbortSignal;
  /**
   * The deadline `signal` belongs to: it already counts the backend's `timeoutMs` from the
   * call's start, so a translator need not time the call again. Always set by the worker; a
   * caller from elsewhere (a test, a translator wrapping another) may leave it out, and the
   * built-in translators then time the call themselves.
   */
  deadline?: CallDeadline;
  /** Sent to the backend as `Idempotency-Key` so an idempotent backend absorbs redelivery. */
  idempotencyKey: string;
  /** 1 for the first try, 2 for the first retry, ... */
  attempt: number;
  /**
   * W3C trace context of this call (`traceparent`, `tracestate` when there is one): send them
   * as HTTP headers so the legacy system's traces join the message's. Empty when untraced.
   */
  traceHeaders?: Record<string, string>;
  /** The same context for OpenTelemetry code (spans of the translator's own). */
  traceContext?: import("@opentelemetry/api").Context;
}

export interface Translator {
  /** Calls the legacy system for one request; see the outcome rules above. */
  call(request: RequestMessage, call: TranslatorCall): Promise<BackendResponse[]>;
  /** Releases connections (keep-alive pools, SOAP clients) on shutdown. */
  close?(): Promise<void>;
}

/** A translator module exports `createTranslator` (default export works too). */
export type TranslatorFactory = (backend: TranslatorBackend) => Translator | Promise<Translator>;

/**
 * Closes every translator, each whatever another's close throws (a custom module's): one that
 * threw left the rest's connection pools open, and the process waited on their sockets. The
 * first failure is thrown once all are closed.
 */
export async function closeTranslators(translators: Iterable<Translator>): Promise<void> {
  const closing = [...translators].map((translator) =>
    Promise.resolve().then(() => translator.close?.()),
  );
  const failed = (await Promise.allSettled(closing)).find((r) => r.status === "rejected");
  if (failed) throw (failed as PromiseRejectedResult).reason;
}
