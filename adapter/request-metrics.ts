// Counting and timing one ingress request, the same way for every protocol route; unknown
// services share one label so callers cannot grow the metric's label set.

import { metrics } from "../shared/metrics";

export function observeRequest(
  protocol: "rest" | "soap",
  service: string | null,
  outcome: string,
  started: bigint,
): void {
  const labels = { protocol, service: service ?? "unknown" };
  metrics.requests.inc({ ...labels, outcome });
  metrics.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
}
