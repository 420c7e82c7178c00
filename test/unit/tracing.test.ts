import { expect } from "chai";
import { execFileSync } from "node:child_process";
import path from "node:path";
import {
  contextFrom,
  exportRequested,
  headersOf,
  messageAttributes,
  startTracing,
  traceHeadersIn,
} from "../../shared/observability/tracing";

const TRACING = path.resolve(__dirname, "..", "..", "shared", "observability", "tracing.js");
const PARENT = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

describe("tracing", () => {
  const quiet = { warn: () => undefined };
  before(() => {
    startTracing({ role: "test", instanceId: "t", version: "0", log: quiet, env: {} });
  });

  it("exports only when the standard environment names an OTLP endpoint", () => {
    expect(exportRequested({})).to.equal(false);
    expect(exportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318" })).to.equal(true);
    expect(
      exportRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "http://c:4318/v1/traces" }),
    ).to.equal(true);
    expect(
      exportRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318", OTEL_SDK_DISABLED: "true" }),
    ).to.equal(false);
    expect(
      exportRequested({
        OTEL_EXPORTER_OTLP_ENDPOINT: "http://c:4318",
        OTEL_TRACES_EXPORTER: "none",
      }),
    ).to.equal(false);
  });

  it("passes a caller's trace context on unchanged when nothing is recorded", () => {
    const ctx = contextFrom({ traceparent: PARENT, tracestate: "a=1", other: "x" });
    expect(headersOf(ctx)).to.deep.equal({ traceparent: PARENT, tracestate: "a=1" });
    // AMQP may hand header values over as bytes.
    expect(headersOf(contextFrom({ traceparent: Buffer.from(PARENT) }))).to.deep.equal({
      traceparent: PARENT,
    });
  });

  it("starts no trace from a missing or malformed traceparent", () => {
    expect(headersOf(contextFrom(undefined))).to.deep.equal({});
    expect(headersOf(contextFrom({ traceparent: "00-zz-yy-01" }))).to.deep.equal({});
    expect(headersOf(contextFrom({ traceparent: `${PARENT}-extra!` }))).to.deep.equal({});
  });

  it("keeps only the trace headers of a message's headers", () => {
    expect(
      traceHeadersIn({ traceparent: PARENT, "x-sluice-attempt": 2, tracestate: "a=1" }),
    ).to.deep.equal({ traceparent: PARENT, tracestate: "a=1" });
  });

  it("names a message by its ids only", () => {
    expect(
      messageAttributes({
        id: "m",
        xroadId: "x",
        client: "EE/GOV/1/a",
        service: "s",
        backend: null,
      }),
    ).to.deep.equal({
      "sluice.message.id": "m",
      "xroad.message.id": "x",
      "xroad.client": "EE/GOV/1/a",
      "xroad.service.code": "s",
    });
  });

  it("loads the SDK only when exporting", () => {
    const script = (env: string) =>
      `const t = require(${JSON.stringify(TRACING)});` +
      `const r = t.startTracing({ role: "x", instanceId: "i", version: "0", log: { warn() {} }, env: ${env} });` +
      `const loaded = Object.keys(require.cache).some((k) => k.includes("sdk-trace-base"));` +
      `process.stdout.write(JSON.stringify({ exporting: r.exporting, loaded }));` +
      `r.shutdown();`;
    const off = JSON.parse(
      execFileSync(process.execPath, ["-e", script("{}")], { encoding: "utf8" }),
    );
    expect(off).to.deep.equal({ exporting: false, loaded: false });
    const on = JSON.parse(
      execFileSync(
        process.execPath,
        ["-e", script(`{ OTEL_EXPORTER_OTLP_ENDPOINT: "http://127.0.0.1:9" }`)],
        { encoding: "utf8" },
      ),
    );
    expect(on).to.deep.equal({ exporting: true, loaded: true });
  });
});
