// Every request of a suite on a connection of its own, so that no request is sent on a kept-alive
// connection at the moment the server closes it as idle.

import http from "node:http";
import https from "node:https";
import { Agent, type Dispatcher, getGlobalDispatcher, setGlobalDispatcher } from "undici";

/**
 * In the enclosing describe block, `fetch` (and undici's `request` without a dispatcher, which
 * sends on the same global pool) opens a new connection per request and closes it after the
 * answer. A kept-alive connection is reused while the client believes it idle for
 * less than the server's keep-alive timeout (5 s, announced in `Keep-Alive`): on a loaded
 * machine the client's idle timer runs late, the request goes out on a connection the server
 * has just closed, and fetch fails with "other side closed" or ECONNRESET, whatever was sent.
 */
export function freshConnectionPerFetch(): void {
  let previous: Dispatcher | undefined;
  let agent: Agent | undefined;
  before(() => {
    // Node's own fetch sends through the dispatcher undici's setGlobalDispatcher sets.
    previous = getGlobalDispatcher();
    // pipelining 0: no request ever shares or reuses a connection.
    agent = new Agent({ pipelining: 0 });
    setGlobalDispatcher(agent);
  });
  after(async () => {
    if (previous) setGlobalDispatcher(previous);
    await agent?.close();
  });
}

/**
 * In the enclosing describe block, Node's own HTTP client opens a new connection per request and
 * closes it after the answer: `http.request`, `http.get` and their https twins when not given a
 * pool of their own, and the `soap` package's clients, which send through them (by axios) unless
 * a call names one. Node 20's global pools keep connections for 5 s, as long as Sluice's ports
 * keep them open: a request after a pause of about that long races the server's close, and on a
 * loaded machine fails with "socket hang up" or ECONNRESET, whatever was sent.
 */
export function freshConnectionPerNodeRequest(): void {
  // keepAlive false: each connection is closed once its answer is read, never pooled.
  globalNodePools({ keepAlive: false });
}

/**
 * In the enclosing describe block, Node's global http and https pools are ones made with
 * `options`, and the process's own are put back after it.
 */
export function globalNodePools(options: http.AgentOptions): void {
  let previous: { http: http.Agent; https: https.Agent } | undefined;
  before(() => {
    previous = { http: http.globalAgent, https: https.globalAgent };
    http.globalAgent = new http.Agent(options);
    https.globalAgent = new https.Agent(options);
  });
  after(() => {
    if (!previous) return;
    http.globalAgent.destroy();
    https.globalAgent.destroy();
    http.globalAgent = previous.http;
    https.globalAgent = previous.https;
  });
}
