// The admin port of every role: Prometheus metrics, liveness, readiness, and the few operator
// endpoints roles register (e.g. pausing a backend). Plain node:http: it must stay up when all
// else is busy.

import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import { METRICS_CONTENT_TYPE, metricsText } from "./metrics";

export type ReadinessCheck = () => string | null; // null = ready, else the reason
export type AdminHandler = (
  match: RegExpMatchArray,
  req: http.IncomingMessage,
) => Promise<{ status: number; body: unknown }>;

export class AdminServer {
  private readonly server: http.Server;
  private readonly checks = new Map<string, ReadinessCheck>();
  private readonly routes: Array<{ method: string; pattern: RegExp; handler: AdminHandler }> = [];
  private draining = false;

  constructor(private readonly log: Logger) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((error: unknown) => {
        this.log.error({ err: (error as Error).message }, "admin request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end('{"type":"Internal","message":"internal error"}');
      });
    });
  }

  /** A named readiness condition; /readyz answers 503 while any returns a reason. */
  addCheck(name: string, check: ReadinessCheck): void {
    this.checks.set(name, check);
  }

  addRoute(method: string, pattern: RegExp, handler: AdminHandler): void {
    this.routes.push({ method, pattern, handler });
  }

  setDraining(): void {
    this.draining = true;
  }

  notReady(): string[] {
    const reasons: string[] = this.draining ? ["draining"] : [];
    for (const [name, check] of this.checks) {
      const reason = check();
      if (reason) reasons.push(`${name}: ${reason}`);
    }
    return reasons;
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = (req.url ?? "/").split("?")[0];
    if (req.method === "GET" && url === "/metrics") {
      const text = await metricsText();
      res.writeHead(200, { "content-type": METRICS_CONTENT_TYPE });
      res.end(text);
      return;
    }
    if (req.method === "GET" && url === "/healthz") return json(res, 200, { status: "ok" });
    if (req.method === "GET" && url === "/readyz") {
      const reasons = this.notReady();
      return json(res, reasons.length ? 503 : 200, {
        status: reasons.length ? "not ready" : "ready",
        reasons,
      });
    }
    for (const route of this.routes) {
      const match = url.match(route.pattern);
      if (match && req.method === route.method) {
        req.resume();
        const answer = await route.handler(match, req);
        return json(res, answer.status, answer.body);
      }
    }
    json(res, 404, { type: "NotFound", message: "no such admin endpoint" });
  }

  async listen(port: number, host: string): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => resolve());
    });
    return (this.server.address() as AddressInfo).port;
  }

  async close(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}

function json(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}
