// One trace per message across the three roles as separate processes, exported over OTLP/HTTP
// to a real receiver started here: adapter → queue → worker → backend → response worker →
// callback, the backend and the callback receiver each seeing that trace in `traceparent`.

import { expect } from "chai";
import { randomBytes, randomUUID } from "node:crypto";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { gunzipSync } from "node:zlib";
import { CallbackReceiver } from "../integration/callback-receiver";
import { call, eventually, Harness } from "../support/harness";
import { RecordingBackend } from "./recording-backend";

const SECRET = `whsec_${randomBytes(32).toString("base64")}`;
const CLIENT = "EE/GOV/70000001/case-app";

interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  attributes: Record<string, unknown>;
  resource: Record<string, unknown>;
}

type OtlpAttribute = { key: string; value: Record<string, unknown> };

function attributesOf(list: OtlpAttribute[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) out[key] = Object.values(value)[0];
  return out;
}

/** An OTLP/HTTP trace receiver (JSON encoding, as the OTLP/HTTP exporter sends by default). */
class OtlpReceiver {
  readonly spans: ReceivedSpan[] = [];
  readonly contentTypes = new Set<string>();
  private constructor(private readonly server: Server) {}

  static async start(): Promise<OtlpReceiver> {
    const server = createServer();
    const receiver = new OtlpReceiver(server);
    server.on("request", (req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (chunk: Buffer) => chunks.push(chunk));
      req.on("end", () => {
        let body = Buffer.concat(chunks);
        if (req.headers["content-encoding"] === "gzip") body = gunzipSync(body);
        receiver.contentTypes.add(String(req.headers["content-type"]));
        if (req.method !== "POST" || req.url !== "/v1/traces") {
          res.writeHead(404).end();
          return;
        }
        receiver.take(JSON.parse(body.toString("utf8")));
        res.writeHead(200, { "content-type": "application/json" }).end("{}");
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return receiver;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  private take(request: any): void {
    for (const resourceSpans of request.resourceSpans ?? []) {
      const resource = attributesOf(resourceSpans.resource?.attributes);
      for (const scopeSpans of resourceSpans.scopeSpans ?? []) {
        for (const span of scopeSpans.spans ?? []) {
          this.spans.push({
            traceId: span.traceId,
            spanId: span.spanId,
            parentSpanId: span.parentSpanId ?? "",
            name: span.name,
            attributes: attributesOf(span.attributes),
            resource,
          });
        }
      }
    }
  }

  ofTrace(traceId: string): ReceivedSpan[] {
    return this.spans.filter((span) => span.traceId === traceId);
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

const MESSAGE_SPANS = [
  "sluice.intake",
  "sluice.publish",
  "sluice.queue_wait",
  "sluice.process",
  "sluice.limit_wait",
  "sluice.rate_limit_wait",
  "sluice.backend_call",
  "sluice.response",
  "sluice.delivery",
];

describe("tracing: one trace per message over OTLP", function () {
  this.timeout(60_000);
  let otlp: OtlpReceiver;
  let backend: RecordingBackend;
  let hooks: CallbackReceiver;
  // The standard OTel variables: the endpoint, and a short batch delay for the test.
  const env = async () => ({
    OTEL_EXPORTER_OTLP_ENDPOINT: otlp.url,
    OTEL_BSP_SCHEDULE_DELAY: "100",
  });
  const harness = Harness.suite({
    sim: false,
    config: async () => {
      otlp = await OtlpReceiver.start();
      backend = await RecordingBackend.start();
      hooks = await CallbackReceiver.start({ tls: false });
      return {
        services: {
          notify: { protocols: ["rest"], reply: { mode: "callback" }, backend: "legacy" },
        },
        backends: {
          legacy: {
            translator: "rest-json",
            url: backend.url,
            rate: { limit: 50, per: "1s" },
            retry: { attempts: 1, backoff: ["1s"] },
          },
        },
        callbacks: hooks.loopbackCallbacks(SECRET),
      };
    },
    // One after the other: three cold starts at once can outlast the start timeout on a busy machine.
    roles: ["response-worker", "worker", "adapter"].map((role) => ({ role, env })),
  });
  const { roles } = harness;

  before(() => {
    for (const proc of Object.values(roles)) {
      expect(proc.lines.find((l) => l.msg === "sluice ready")?.tracing).to.equal("otlp");
    }
  });
  after(async () => {
    await hooks?.close();
    await backend?.close();
    await otlp?.close();
  });

  const submit = (headers: Record<string, string>, marker: string) =>
    call(`${roles.adapter.url}/rest/notify/cases`, {
      body: JSON.stringify({ secret: marker }),
      client: CLIENT,
      headers: { "X-Callback-Url": hooks.url("/hooks/traced"), ...headers },
    });

  it("continues the caller's trace from intake to callback, across all three roles", async () => {
    const traceId = randomBytes(16).toString("hex");
    const callerSpan = randomBytes(8).toString("hex");
    const xroadId = randomUUID();
    const marker = `body-${randomUUID()}`;
    const answer = await submit(
      { traceparent: `00-${traceId}-${callerSpan}-01`, "X-Road-Id": xroadId },
      marker,
    );
    expect(answer.status).to.equal(202);
    const id = answer.json.id as string;

    const spans = await eventually(
      async () => {
        const found = otlp.ofTrace(traceId);
        const names = new Set(found.map((s) => s.name));
        return MESSAGE_SPANS.every((name) => names.has(name)) ? found : undefined;
      },
      30_000,
      "every span of the message in one trace",
    );
    const byName = (name: string) => spans.find((s) => s.name === name)!;
    const intake = byName("sluice.intake");
    expect(intake.parentSpanId).to.equal(callerSpan);
    expect(intake.resource["sluice.role"]).to.equal("adapter");
    expect(intake.attributes).to.include({
      "sluice.message.id": id,
      "xroad.message.id": xroadId,
      "xroad.client": CLIENT,
      "xroad.service.code": "notify",
      "http.response.status_code": 202,
    });
    // Each hop descends from the one before it, across processes.
    expect(byName("sluice.publish").parentSpanId).to.equal(intake.spanId);
    expect(byName("sluice.process").parentSpanId).to.equal(byName("sluice.publish").spanId);
    expect(byName("sluice.queue_wait").parentSpanId).to.equal(byName("sluice.publish").spanId);
    const call = byName("sluice.backend_call");
    expect(call.parentSpanId).to.equal(byName("sluice.process").spanId);
    expect(byName("sluice.rate_limit_wait").parentSpanId).to.equal(call.spanId);
    expect(call.resource["sluice.role"]).to.equal("worker");
    expect(call.attributes).to.include({
      "sluice.message.id": id,
      "sluice.backend": "legacy",
      "sluice.outcome": "completed",
      "http.response.status_code": 200,
    });
    const response = byName("sluice.response");
    expect(response.parentSpanId).to.equal(byName("sluice.process").spanId);
    expect(response.resource["sluice.role"]).to.equal("response-worker");
    const delivery = byName("sluice.delivery");
    expect(delivery.parentSpanId).to.equal(response.spanId);
    expect(delivery.attributes).to.include({
      "sluice.message.id": id,
      "sluice.delivery.kind": "callback",
      "sluice.outcome": "delivered",
    });

    // The legacy system and the callback receiver were called within that trace.
    const seen = backend.calls.find((c) => c.path === "/cases");
    expect(seen?.headers.traceparent).to.equal(`00-${traceId}-${call.spanId}-01`);
    const hook = hooks.calls.find((c) => c.path === "/hooks/traced");
    expect(hook?.headers.traceparent).to.equal(`00-${traceId}-${delivery.spanId}-01`);

    // Identifiers only: no span carries the message body.
    expect(JSON.stringify(spans)).to.not.include(marker);
  });

  it("starts a new trace for a caller that sent none, and the backend sees it", async () => {
    const xroadId = randomUUID();
    const answer = await submit({ "X-Road-Id": xroadId }, "plain");
    expect(answer.status).to.equal(202);
    const intake = await eventually(
      async () =>
        otlp.spans.find(
          (s) => s.name === "sluice.intake" && s.attributes["xroad.message.id"] === xroadId,
        ),
      20_000,
      "the intake span",
    );
    expect(intake.parentSpanId).to.equal("");
    const call = await eventually(
      async () => otlp.ofTrace(intake.traceId).find((s) => s.name === "sluice.backend_call"),
      20_000,
      "the backend call span",
    );
    const seen = backend.calls.find(
      (c) => c.headers.traceparent === `00-${intake.traceId}-${call.spanId}-01`,
    );
    expect(seen, "a backend call carrying the new trace").to.not.equal(undefined);
  });
});
