// Counting and timing one ingress request, the same way for every protocol route; unknown
// services share one label so callers cannot grow the metric's label set. The access log
// line of the request gets the same outcome.

import type { Context } from "koa";
import type { CounterSeries, HistogramSeries } from "../shared/observability/bound-series";
import { metrics } from "../shared/observability/metrics";
import { noteAccess } from "./access-log";

interface ServiceSeries {
  /** The request duration's series of the protocol and service. */
  duration: HistogramSeries;
  /** The request counter's series, by outcome. */
  byOutcome: Map<string, CounterSeries>;
}

/**
 * Metric series bound once per protocol, service and outcome, not looked up by their labels on
 * every request. Bounded as the metrics' own label sets are: configured services (and
 * "unknown") and the routes' fixed outcomes.
 */
const SERIES = { rest: new Map<string, ServiceSeries>(), soap: new Map<string, ServiceSeries>() };

function seriesOf(protocol: "rest" | "soap", service: string): ServiceSeries {
  const known = SERIES[protocol];
  let entry = known.get(service);
  if (entry === undefined) {
    entry = { duration: metrics.requestDuration.bind({ protocol, service }), byOutcome: new Map() };
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
  const { duration, byOutcome } = seriesOf(protocol, service ?? "unknown");
  let counted = byOutcome.get(outcome);
  if (counted === undefined) {
    counted = metrics.requestCounts.bind({ protocol, service: service ?? "unknown", outcome });
    byOutcome.set(outcome, counted);
  }
  counted.inc();
  duration.observe(Number(process.hrtime.bigint() - started) / 1e9);
}
