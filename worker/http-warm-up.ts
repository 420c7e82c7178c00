// Prepares the process's HTTP client before a worker takes rate tokens: undici compiles its
// HTTP parser on the first connection, which stalls the process for up to a second when cold.

import http from "node:http";
import type { AddressInfo } from "node:net";
import { request } from "undici";

/**
 * Makes one request to a throwaway loopback server, so the compile happens now and not during
 * the first backend call, when tokens granted meanwhile would reach the backend late and together.
 */
export async function warmUpHttpClient(): Promise<void> {
  const server = http.createServer((_req, res) => res.end("ok"));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const answer = await request(`http://127.0.0.1:${port}/`, { headersTimeout: 5_000 });
    await answer.body.text();
  } catch {
    // Only an optimisation: the first backend call pays the cost instead.
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
