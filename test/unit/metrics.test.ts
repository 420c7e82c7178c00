import { expect } from "chai";
import {
  METRICS_CONTENT_TYPE,
  metrics,
  metricsText,
  registry,
  watchDependency,
  watchRedisEviction,
} from "../../shared/observability/metrics";

describe("metrics", () => {
  const expected: Record<string, { type: string; labels: string[] }> = {
    sluice_queue_depth_messages: { type: "gauge", labels: ["queue"] },
    sluice_queue_high_water: { type: "gauge", labels: ["queue"] },
    sluice_queue_consumers: { type: "gauge", labels: ["queue"] },
    sluice_queue_gate_open: { type: "gauge", labels: ["queue"] },
    sluice_requests_total: { type: "counter", labels: ["protocol", "service", "outcome"] },
    sluice_request_duration_seconds: { type: "histogram", labels: ["protocol", "service"] },
    sluice_end_to_end_seconds: { type: "histogram", labels: ["service"] },
    sluice_backend_calls_total: { type: "counter", labels: ["backend", "outcome"] },
    sluice_backend_call_duration_seconds: { type: "histogram", labels: ["backend"] },
    sluice_rate_limit_wait_seconds: { type: "histogram", labels: ["backend"] },
    sluice_backend_rate_limit: { type: "gauge", labels: ["backend"] },
    sluice_sync_waiters: { type: "gauge", labels: [] },
    sluice_callback_deliveries_total: { type: "counter", labels: ["outcome"] },
    sluice_callback_attempts_set_apart: { type: "gauge", labels: [] },
    sluice_callback_jobs_in_hand: { type: "gauge", labels: [] },
    sluice_dead_letters_total: { type: "counter", labels: ["backend", "reason"] },
    sluice_messages_expired_total: { type: "counter", labels: ["backend"] },
    sluice_backpressure_rejections_total: { type: "counter", labels: ["reason"] },
    sluice_http_parser_refusals_total: { type: "counter", labels: ["reason"] },
    sluice_tls_handshake_refusals_total: { type: "counter", labels: ["reason"] },
    sluice_dependency_up: { type: "gauge", labels: ["dependency"] },
    sluice_dependency_connect_failures_total: { type: "counter", labels: ["dependency", "reason"] },
    sluice_redis_evicting: { type: "gauge", labels: [] },
  };

  it("registers every contract metric with its exact type and label set", async () => {
    for (const [name, want] of Object.entries(expected)) {
      const metric = registry.getSingleMetric(name);
      expect(metric, name).to.not.equal(undefined);
      const labelNames = (metric as unknown as { labelNames: string[] }).labelNames;
      expect([...labelNames].sort(), name).to.deep.equal([...want.labels].sort());
      expect(String((await metric!.get()).type), name).to.equal(want.type);
    }
    const ours = registry
      .getMetricsAsArray()
      .map((m) => m.name)
      .filter((n) => n.startsWith("sluice_"));
    expect(ours.sort()).to.deep.equal(Object.keys(expected).sort());
  });

  it("says at each scrape whether each watched dependency is reached", async () => {
    let up = true;
    watchDependency("rabbitmq", () => up);
    expect(await metricsText()).to.match(/^sluice_dependency_up\{dependency="rabbitmq"\} 1$/m);
    up = false;
    expect(await metricsText()).to.match(/^sluice_dependency_up\{dependency="rabbitmq"\} 0$/m);
  });

  it("says at each scrape whether Redis evicts when full", async () => {
    let evicting = true;
    watchRedisEviction(() => evicting);
    expect(await metricsText()).to.match(/^sluice_redis_evicting 1$/m);
    evicting = false;
    expect(await metricsText()).to.match(/^sluice_redis_evicting 0$/m);
  });

  it("uses no identifier or URL as a label", () => {
    for (const metric of registry.getMetricsAsArray()) {
      const labelNames = (metric as unknown as { labelNames: string[] }).labelNames ?? [];
      for (const label of labelNames) {
        expect(["id", "xroadId", "url", "client", "callback"], metric.name).not.to.include(label);
      }
    }
  });

  it("exposes default process metrics and updates in Prometheus text", async () => {
    metrics.requests.inc({ protocol: "rest", service: "t-metrics", outcome: "accepted" });
    metrics.requestDuration.observe({ protocol: "rest", service: "t-metrics" }, 0.002);
    metrics.backendRateLimit.set({ backend: "t-metrics" }, 50);
    const text = await metricsText();
    expect(text).to.include("process_cpu_user_seconds_total");
    expect(text).to.include("nodejs_eventloop_lag_seconds");
    expect(text).to.match(
      /sluice_requests_total\{protocol="rest",service="t-metrics",outcome="accepted"\} 1/,
    );
    expect(text).to.include(
      'sluice_request_duration_seconds_bucket{le="0.001",protocol="rest",service="t-metrics"} 0',
    );
    expect(text).to.include(
      'sluice_request_duration_seconds_bucket{le="0.0025",protocol="rest",service="t-metrics"} 1',
    );
    expect(text).to.include(
      'sluice_request_duration_seconds_bucket{le="30",protocol="rest",service="t-metrics"} 1',
    );
    expect(text).to.include('sluice_backend_rate_limit{backend="t-metrics"} 50');
    expect(METRICS_CONTENT_TYPE).to.match(/^text\/plain/);
  });
});
