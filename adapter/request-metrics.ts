// Counting and timing one ingress request, the same way for every protocol route; unknown
// services share one label so callers cannot grow the metric's label set. The access log
// line of the request gets the same outcome.

import type { Context } from "koa";
import { metrics } from "../shared/observability/metrics";
import { noteAccess } from "./access-log";

export function observeRequest(
  ctx: Context,
  protocol: "rest" | "soap",
  service: string | null,
  outcome: string,
  started: bigint,
): void {
  noteAccess(ctx, { outcome });
  const labels = { protocol, service: service ?? "unknown" };
  metrics.requests.inc({ ...labels, outcome });
  metrics.requestDuration.observe(labels, Number(process.hrtime.bigint() - started) / 1e9);
}
