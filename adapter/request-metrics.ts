// Counting and timing one ingress request, the same way for every protocol route; unknown
// services share one label so callers cannot grow the metric's label set. The access log
// line of the request gets the same outcome.

import type { Context } from "koa";
import { metrics } from "../shared/observability/metrics";
import { noteAccess } from "./access-log";

interface ServiceLabels {
  /** The histogram's labels. */
  labels: { protocol: string; service: string };
  /** The counter's labels, by outcome. */
  byOutcome: Map<string, { protocol: string; service: string; outcome: string }>;
}

/**
 * Label objects made once per protocol, service and outcome, not three objects per request.
 * Bounded as the metrics' own label sets are: configured services (and "unknown") and the
 * routes' fixed outcomes.
 */
const LABELS = { rest: new Map<string, ServiceLabels>(), soap: new Map<string, ServiceLabels>() };

function labelsOf(protocol: "rest" | "soap", service: string): ServiceLabels {
  const known = LABELS[protocol];
  let entry = known.get(service);
  if (entry === undefined) {
    entry = { labels: { protocol, service }, byOutcome: new Map() };
    known.set(service, entry);
  }
  return entry;
}

export function observeRequest(
  ctx: Context,
  protocol: "rest" | "soap",
  service: string | null,
  outcome: string,
  started: bigint,
): void {
  noteAccess(ctx, { outcome });
  const { labels, byOutcome } = labelsOf(protocol, service ?? "unknown");
  let counted = byOutcome.get(outcome);
  if (counted === undefined) {
    counted = { protocol, service: labels.service, outcome };
    byOutcome.set(outcome, counted);
  }
  metrics.requests.inc(counted);
  metrics.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
}
