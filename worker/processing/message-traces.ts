// The trace context of each message a worker has in hand, by id: the spans of its processing
// steps, its backend call and its responses descend from it.

import {
  headersOf,
  inSpan,
  messageAttributes,
  ROOT_CONTEXT,
  SpanKind,
  type Context,
  type TraceHeaders,
} from "../../shared/observability/tracing";

/** A message's trace context in the worker, and whether its spans are recorded. */
export interface MessageTrace {
  context: Context;
  recording: boolean;
  /** Its trace headers, once asked for. */
  headers?: TraceHeaders;
}

/** The trace of a message not in hand (a dead letter of an unreadable one): a new trace. */
const UNTRACED: MessageTrace = { context: ROOT_CONTEXT, recording: false };

export class MessageTraces {
  /** The trace context of each message in hand, by id: its spans and answers descend from it. */
  private readonly traces = new Map<string, MessageTrace>();

  constructor(private readonly backend: string) {}

  /** Takes the message in hand: its steps' spans descend from `trace` until it is let go. */
  set(id: string, trace: MessageTrace): void {
    this.traces.set(id, trace);
  }

  delete(id: string): void {
    this.traces.delete(id);
  }

  traceOf(id: string): MessageTrace {
    return this.traces.get(id) ?? UNTRACED;
  }

  /** The trace context headers the message's calls and responses carry on (made once). */
  traceHeadersOf(id: string): TraceHeaders {
    const trace = this.traceOf(id);
    if (trace === UNTRACED) return {};
    trace.headers ??= headersOf(trace.context);
    return trace.headers;
  }

  /** Runs one step of the message's processing in its own span, when the message's is recorded. */
  step<T>(id: string, name: string, work: () => Promise<T>): Promise<T> {
    const trace = this.traceOf(id);
    if (!trace.recording) return work();
    return inSpan(
      name,
      SpanKind.INTERNAL,
      trace.context,
      messageAttributes({ id, backend: this.backend }),
      work,
    );
  }
}
