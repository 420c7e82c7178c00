// A legacy backend for end-to-end tests that records what it was sent (paths and headers):
// `/moved` answers a redirect, `/slow` answers after 400 ms, anything else 200 with JSON.

import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class RecordingBackend {
  readonly calls: Array<{ path: string; headers: IncomingHttpHeaders }> = [];
  private constructor(private readonly server: Server) {}

  static async start(): Promise<RecordingBackend> {
    const server = createServer();
    const backend = new RecordingBackend(server);
    server.on("request", (req, res) => {
      req.resume();
      req.on("end", () => {
        backend.calls.push({ path: req.url ?? "", headers: req.headers });
        if (req.url?.endsWith("/moved")) {
          // A query value and user information an operator must not be shown (a token).
          res
            .writeHead(302, { location: "http://sso:secret@elsewhere.example/login?ticket=t0k3n" })
            .end();
          return;
        }
        const delay = req.url?.endsWith("/slow") ? 400 : 0;
        setTimeout(() => {
          res.writeHead(200, { "content-type": "application/json" });
          res.end(JSON.stringify({ ok: true }));
        }, delay);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    return backend;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}
