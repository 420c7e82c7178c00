// Distributed tracing with OpenTelemetry: one trace per message, from the caller's
// `traceparent` (or a new trace) through the adapter, the queue, the worker, the backend call,
// the response worker and each delivery. Trace context travels in W3C `traceparent` /
// `tracestate` headers: on HTTP, and in the headers of every AMQP message.
//
// Spans are recorded and exported over OTLP/HTTP only when OTEL_EXPORTER_OTLP_ENDPOINT (or
// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is set. Otherwise the SDK is never loaded and the API's
// no-op tracer costs next to nothing, while a caller's trace context is still passed on, so
// the legacy system and callback receivers see the caller's trace id.

import {
  diag,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type DiagLogger,
  type Span,
  type TimeInput,
} from "@opentelemetry/api";
// The propagator alone, not the package's index: that loads the whole SDK core, about 0.6 MB
// of heap in every process, while the SDK is loaded only when spans are exported (below).
import { W3CTraceContextPropagator } from "@opentelemetry/core/build/src/trace/W3CTraceContextPropagator";
import { HEADERS } from "../protocol/names";

export { ROOT_CONTEXT, SpanKind, type Context, type Span };

/** AMQP header carrying when a message was put on its queue (epoch ms): the queue wait's start. */
export const ENQUEUED_AT_HEADER = HEADERS.enqueuedAt;
/** The W3C trace context headers, the same names on HTTP and in AMQP message headers. */
export const TRACE_HEADERS = ["traceparent", "tracestate"] as const;

/** Trace context as headers: `traceparent` and, when there is one, `tracestate`. */
export type TraceHeaders = Record<string, string>;

export interface TracingOptions {
  role: string;
  /** `service.instance.id` of the spans: the process's unique instance id. */
  instanceId: string;
  version: string;
  /** Where the exporter's own complaints go (at most one line a minute). */
  log: { warn(details: object, message: string): void };
  env?: NodeJS.ProcessEnv;
}

export interface Tracing {
  /** Whether spans are recorded and exported (an OTLP endpoint is configured). */
  readonly exporting: boolean;
  /** Sends the spans still buffered; call before the process exits. */
  shutdown(): Promise<void>;
}

const propagator = new W3CTraceContextPropagator();
let propagatorSet = false;
/** Set once the SDK is installed: until then every span is a no-op and need not be made. */
let recording = false;

/**
 * Whether spans are recorded in this process. When not, a hot path skips making spans and their
 * attributes altogether and only passes on a caller's trace context.
 */
export function tracingRecords(): boolean {
  return recording;
}

function usePropagator(): void {
  if (propagatorSet) return;
  propagation.setGlobalPropagator(propagator);
  propagatorSet = true;
}

/** Whether the standard OTel environment asks for OTLP trace export. */
export function exportRequested(env: NodeJS.ProcessEnv = process.env): boolean {
  if ((env.OTEL_SDK_DISABLED ?? "").trim().toLowerCase() === "true") return false;
  const exporter = (env.OTEL_TRACES_EXPORTER ?? "otlp").trim().toLowerCase();
  if (exporter === "none") return false;
  return Boolean(
    env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim(),
  );
}

/**
 * Sets up tracing for this process: always the W3C propagator (a caller's trace context is
 * passed on), and the SDK with an OTLP/HTTP exporter only when the environment asks for it.
 */
export function startTracing(options: TracingOptions): Tracing {
  usePropagator();
  const env = options.env ?? process.env;
  if (!exportRequested(env)) return { exporting: false, shutdown: async () => undefined };

  // Loaded only here: a process that does not export never pays for the SDK.
  const sdk =
    require("@opentelemetry/sdk-trace-base") as typeof import("@opentelemetry/sdk-trace-base");
  const { OTLPTraceExporter } =
    require("@opentelemetry/exporter-trace-otlp-http") as typeof import("@opentelemetry/exporter-trace-otlp-http");
  const resources =
    require("@opentelemetry/resources") as typeof import("@opentelemetry/resources");

  diag.setLogger(throttledDiag(options.log));
  // OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES are honoured; Sluice adds who it is.
  const resource = resources
    .defaultResource()
    .merge(resources.resourceFromAttributes({ "service.name": "sluice" }))
    .merge(resources.detectResources({ detectors: [resources.envDetector] }))
    .merge(
      resources.resourceFromAttributes({
        "service.version": options.version,
        "service.instance.id": options.instanceId,
        "sluice.role": options.role,
      }),
    );
  const provider = new sdk.BasicTracerProvider({
    resource,
    // Batch size and delay from OTEL_BSP_*, the sampler from OTEL_TRACES_SAMPLER.
    spanProcessors: [new sdk.BatchSpanProcessor(new OTLPTraceExporter())],
  });
  trace.setGlobalTracerProvider(provider);
  recording = true;
  return {
    exporting: true,
    shutdown: () => provider.shutdown().catch(() => undefined),
  };
}

/** The exporter's diagnostics as log lines, at most one a minute (a collector may be down long). */
function throttledDiag(log: TracingOptions["log"]): DiagLogger {
  let lastAt = 0;
  const report = (message: string, ...args: unknown[]) => {
    const now = Date.now();
    if (now - lastAt < 60_000) return;
    lastAt = now;
    const detail = args.map((a) => (a instanceof Error ? a.message : String(a))).join(" ");
    log.warn({ err: `${message} ${detail}`.trim().slice(0, 500) }, "trace export problem");
  };
  const quiet = () => undefined;
  return { error: report, warn: report, info: quiet, debug: quiet, verbose: quiet };
}

function tracer() {
  return trace.getTracer("sluice");
}

/**
 * The trace context in a set of headers (HTTP request headers, AMQP message headers, a
 * callback job's), or the root context (a new trace) when there is none or it is malformed.
 */
export function contextFrom(headers: Record<string, unknown> | undefined | null): Context {
  if (!headers) return ROOT_CONTEXT;
  const carrier: Record<string, string> = {};
  for (const name of TRACE_HEADERS) {
    const value = headers[name];
    if (typeof value === "string") carrier[name] = value;
    else if (Buffer.isBuffer(value)) carrier[name] = value.toString("latin1");
    else if (Array.isArray(value) && typeof value[0] === "string") carrier[name] = value[0];
  }
  if (!carrier.traceparent) return ROOT_CONTEXT;
  return propagation.extract(ROOT_CONTEXT, carrier);
}

/** The headers that carry `ctx` on: empty when there is no trace to carry. */
export function headersOf(ctx: Context): TraceHeaders {
  const carrier: TraceHeaders = {};
  propagation.inject(ctx, carrier);
  return carrier;
}

/** Just the trace headers of a set of headers, to pass them on unchanged (retries). */
export function traceHeadersIn(headers: Record<string, unknown> | undefined): TraceHeaders {
  const kept: TraceHeaders = {};
  for (const name of TRACE_HEADERS) {
    const value = headers?.[name];
    if (typeof value === "string") kept[name] = value;
    else if (Buffer.isBuffer(value)) kept[name] = value.toString("latin1");
  }
  return kept;
}

/** What identifies a message on its spans; never a body or a user id. */
export interface MessageRefs {
  id?: string | null;
  xroadId?: string | null;
  client?: string | null;
  service?: string | null;
  backend?: string | null;
}

export function messageAttributes(refs: MessageRefs): Attributes {
  const attributes: Attributes = {};
  if (refs.id) attributes["sluice.message.id"] = refs.id;
  if (refs.xroadId) attributes["xroad.message.id"] = refs.xroadId;
  if (refs.client) attributes["xroad.client"] = refs.client;
  if (refs.service) attributes["xroad.service.code"] = refs.service;
  if (refs.backend) attributes["sluice.backend"] = refs.backend;
  return attributes;
}

/** Starts a span below `parent` (ROOT_CONTEXT: a new trace). */
export function startSpan(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Attributes = {},
  startTime?: TimeInput,
): Span {
  return tracer().startSpan(name, { kind, attributes, startTime }, parent);
}

/** `parent` with `span` as the current span: what children and injected headers descend from. */
export function contextWith(parent: Context, span: Span): Context {
  return trace.setSpan(parent, span);
}

/** Ends a span, marked as an error when `error` is given. */
export function endSpan(span: Span, error?: unknown, attributes: Attributes = {}): void {
  if (!span.isRecording()) return;
  span.setAttributes(attributes);
  if (error !== undefined && error !== null) {
    const code = (error as { code?: unknown }).code;
    span.setStatus({
      code: SpanStatusCode.ERROR,
      message: typeof code === "string" ? code : (error as Error)?.name,
    });
  }
  span.end();
}

/** Runs `work` in a span below `parent`; the span ends with `work`, as an error if it throws. */
export async function inSpan<T>(
  name: string,
  kind: SpanKind,
  parent: Context,
  attributes: Attributes,
  work: (ctx: Context, span: Span) => Promise<T>,
): Promise<T> {
  const span = startSpan(name, kind, parent, attributes);
  try {
    const result = await work(contextWith(parent, span), span);
    endSpan(span);
    return result;
  } catch (error) {
    endSpan(span, error);
    throw error;
  }
}
