// The HTTP plumbing both simulators (legacy-sim, xroad-sim) share: the simulator, not Node,
// deciding how long a call may take, 400 for what Node cannot parse. Their TLS options are the
// service port's (serverTlsOptions, shared/config/tls-files.ts).

import type http from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";

export interface SimulatorAddress {
  port: number;
  /** e.g. `https://127.0.0.1:41234` or `http://[::1]:41234` (no trailing slash). */
  url: string;
}

/**
 * Sets up a simulator's server and listens on `host` (default 127.0.0.1) and `port` (default 0,
 * a free one); rejects when it cannot listen.
 */
export async function listenSimulator(
  server: http.Server | https.Server,
  options: { host?: string; port?: number },
): Promise<SimulatorAddress> {
  // Node's defaults would cut a paused or slow call; the simulator's settings (latency, pause,
  // a service's timeout) decide when calls end.
  server.requestTimeout = 0;
  server.headersTimeout = 60_000;
  server.keepAliveTimeout = 65_000;
  server.on("clientError", (_error, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\n\r\n");
    else socket.destroy();
  });

  const host = options.host ?? "127.0.0.1";
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const scheme = server instanceof https.Server ? "https" : "http";
  const urlHost = host.includes(":") ? `[${host}]` : host;
  return { port, url: `${scheme}://${urlHost}:${port}` };
}
